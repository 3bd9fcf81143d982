/**
 * `io.l5d.tracelog`: every sampled span written as one log line at the configured level:
 *   `<LEVEL> tracelog <router> <KIND> <traceId>.<spanId><:<parentId> "<name>" <status> <duration>us`
 * `host` is accepted for config compatibility (Linkerd documents it but does not use it).
 */
import type { PluginSpec } from '../config/schema.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import type { FinishedSpan, SpanSink } from './tracing.js';

export const TRACELOG_LEVELS = ['ALL', 'CRITICAL', 'DEBUG', 'ERROR', 'FATAL', 'INFO', 'OFF', 'TRACE', 'WARNING'] as const;

export interface TracelogConfig {
  readonly host?: string;
  readonly sampleRate?: number;
  readonly level?: (typeof TRACELOG_LEVELS)[number];
}

export function formatTraceLine(level: string, s: FinishedSpan): string {
  const parent = s.parentId ?? s.spanId;
  const err = s.error === null ? '' : ` error=${JSON.stringify(s.error)}`;
  return `${level} tracelog ${s.service} ${s.kind} ${s.traceId}.${s.spanId}<:${parent} ${JSON.stringify(s.name)} ${s.status} ${s.durationUs}us${err}`;
}

export function createTracelogTelemeter(cfg: TracelogConfig, ctx: TelemeterContext): Telemeter {
  const level = cfg.level ?? 'INFO';
  const log = ctx.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const sink: SpanSink = {
    record: (s) => {
      if (level !== 'OFF') log(formatTraceLine(level, s));
    },
  };
  return { kind: 'io.l5d.tracelog', adminRoutes: [], spanSink: sink, sampleRate: cfg.sampleRate ?? 1, close: async () => {} };
}

export const tracelogSpec: PluginSpec<TracelogConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.tracelog',
  fields: {
    host: { type: 'string', default: 'localhost', doc: 'Accepted for compatibility; unused' },
    sampleRate: { type: 'number', default: 1, min: 0, max: 1 },
    level: { type: { enum: TRACELOG_LEVELS }, default: 'INFO' },
  },
  create: createTracelogTelemeter,
};

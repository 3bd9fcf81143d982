/**
 * `io.l5d.statsd` (experimental in Linkerd too): pushes metrics to a StatsD server over UDP.
 * Linkerd sends every counter increment and timing as it happens (sampled by `sampleRate`);
 * Meshwork keeps the request path free of socket work instead: every `gaugeIntervalMs` it
 * sends counter deltas (`|c`), gauges (`|g`), and each stat's last-interval summary as gauges
 * (`<name>.p50|g` …). `sampleRate` is accepted for config compatibility and applied as the
 * StatsD `@rate` of counter lines only when below 1. Names: `<prefix>.<scope>.<scope>…`, each
 * scope with characters outside `[A-Za-z0-9_-]` replaced by `_`.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { PluginSpec } from '../config/schema.js';
import type { MetricsRegistry } from './metrics-registry.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';

export interface StatsDConfig {
  readonly experimental?: boolean;
  readonly prefix?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly gaugeIntervalMs?: number;
  readonly sampleRate?: number;
}

function statsdName(prefix: string, path: readonly string[]): string {
  const parts = path.map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_'));
  return prefix.length > 0 ? `${prefix}.${parts.join('.')}` : parts.join('.');
}

/** The lines one export sends; `last` keeps counter values between exports for deltas. */
export function statsdLines(metrics: MetricsRegistry, prefix: string, last: Map<string, number>, sampleRate = 1): string[] {
  const lines: string[] = [];
  const rate = sampleRate < 1 ? `|@${sampleRate}` : '';
  metrics.forEach((path, m) => {
    const name = statsdName(prefix, path);
    if (m.kind === 'counter') {
      const prev = last.get(name) ?? 0;
      last.set(name, m.value);
      const delta = m.value - prev;
      if (delta !== 0) lines.push(`${name}:${delta}|c${rate}`);
    } else if (m.kind === 'gauge') {
      lines.push(`${name}:${m.value}|g`);
    } else if (m.snapshotted !== null && m.snapshotted.count > 0) {
      const s = m.snapshotted;
      lines.push(
        `${name}.count:${s.count}|g`, `${name}.avg:${s.avg}|g`, `${name}.min:${s.min}|g`, `${name}.max:${s.max}|g`,
        `${name}.p50:${s.p50}|g`, `${name}.p95:${s.p95}|g`, `${name}.p99:${s.p99}|g`,
      );
    }
  });
  return lines;
}

export function createStatsDTelemeter(cfg: StatsDConfig, ctx: TelemeterContext): Telemeter {
  const prefix = cfg.prefix ?? 'linkerd';
  const host = cfg.hostname ?? '127.0.0.1';
  const port = cfg.port ?? 8125;
  const interval = cfg.gaugeIntervalMs ?? 10_000;
  const sampleRate = cfg.sampleRate ?? 0.01;
  const last = new Map<string, number>();
  const socket: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('error', () => {}); // a missing StatsD server must never take the proxy down
  socket.unref();
  /** Resolves when every datagram of this export has left (or failed). */
  const flush = (): Promise<void> => {
    const lines = statsdLines(ctx.metrics, prefix, last, sampleRate);
    const batches: string[] = [];
    // Datagrams stay under a typical 1432-byte MTU payload.
    let batch = '';
    for (const l of lines) {
      if (batch.length + l.length + 1 > 1400 && batch.length > 0) {
        batches.push(batch);
        batch = '';
      }
      batch = batch.length === 0 ? l : `${batch}\n${l}`;
    }
    if (batch.length > 0) batches.push(batch);
    return Promise.all(batches.map((b) => new Promise<void>((resolve) => socket.send(b, port, host, () => resolve())))).then(() => undefined);
  };
  const timer = setInterval(() => void flush(), interval);
  timer.unref();
  return {
    kind: 'io.l5d.statsd',
    adminRoutes: [],
    close: async () => {
      clearInterval(timer);
      await flush();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

export const statsdSpec: PluginSpec<StatsDConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.statsd',
  experimental: true,
  fields: {
    experimental: { type: 'boolean', required: true, doc: 'Must be true: this telemeter is experimental' },
    prefix: { type: 'string', default: 'linkerd' },
    hostname: { type: 'string', default: '127.0.0.1' },
    port: { type: 'int', default: 8125, min: 1, max: 65535 },
    gaugeIntervalMs: { type: 'int', default: 10000, min: 1 },
    sampleRate: { type: 'number', default: 0.01, min: 0, max: 1 },
  },
  create: createStatsDTelemeter,
};

/**
 * `io.l5d.recentRequests`: keeps the last `capacity` sampled requests in a ring buffer for the
 * dashboard's `/requests` page, which reads `/requests.json`. A request is recorded when its
 * server span finishes; the client span(s) it made (which finish first) add the client name and
 * the endpoint.
 */
import type { PluginSpec } from '../config/schema.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import { json } from './telemeter.js';
import type { FinishedSpan, SpanSink } from './tracing.js';

export interface RecentRequestsConfig {
  readonly sampleRate?: number;
  readonly capacity?: number;
}

export interface RecentRequest {
  /** Epoch milliseconds when the request arrived. */
  readonly timestamp: number;
  readonly router: string;
  readonly method: string;
  readonly path: string;
  /** The logical name (`l5d.dst.service` tag), e.g. `/svc/users`. */
  readonly logicalName: string | null;
  /** The client name (bound id) of the last attempt. */
  readonly client: string | null;
  readonly endpoint: string | null;
  readonly status: number;
  readonly durationMs: number;
  readonly traceId: string;
  readonly error: string | null;
}

export class RecentRequests implements SpanSink {
  private readonly ring: (RecentRequest | undefined)[];
  private next = 0;
  /** Client spans waiting for their server span, keyed by parent (server) span id; bounded. */
  private readonly pending = new Map<string, FinishedSpan>();

  constructor(readonly capacity: number) {
    this.ring = new Array<RecentRequest | undefined>(Math.max(1, capacity));
  }

  record(s: FinishedSpan): void {
    if (s.kind === 'CLIENT') {
      if (s.parentId === null) return;
      if (this.pending.size >= this.ring.length * 8) {
        const oldest = this.pending.keys().next().value;
        if (oldest !== undefined) this.pending.delete(oldest);
      }
      this.pending.set(s.parentId, s);
      return;
    }
    const c = this.pending.get(s.spanId);
    if (c !== undefined) this.pending.delete(s.spanId);
    const sp = s.name.indexOf(' ');
    this.ring[this.next] = {
      timestamp: Math.round(s.startUs / 1000),
      router: s.service,
      method: sp < 0 ? s.name : s.name.slice(0, sp),
      path: sp < 0 ? '' : s.name.slice(sp + 1),
      logicalName: s.tags['l5d.dst.service'] ?? null,
      client: c?.name ?? s.tags['l5d.dst.client'] ?? null,
      endpoint: c?.remote ? `${c.remote.ip}:${c.remote.port}` : null,
      status: s.status,
      durationMs: Math.round(s.durationUs / 100) / 10,
      traceId: s.traceId,
      error: s.error ?? c?.error ?? null,
    };
    this.next = (this.next + 1) % this.ring.length;
  }

  /** Newest first. */
  list(): RecentRequest[] {
    const out: RecentRequest[] = [];
    for (let i = 1; i <= this.ring.length; i++) {
      const r = this.ring[(this.next - i + this.ring.length) % this.ring.length];
      if (r !== undefined) out.push(r);
    }
    return out;
  }
}

export function createRecentRequestsTelemeter(cfg: RecentRequestsConfig, _ctx: TelemeterContext): Telemeter {
  const rr = new RecentRequests(cfg.capacity ?? 10);
  return {
    kind: 'io.l5d.recentRequests',
    adminRoutes: [{ path: '/requests.json', navLabel: 'requests', handle: () => json(200, rr.list()) }],
    spanSink: rr,
    sampleRate: cfg.sampleRate ?? 1,
    close: async () => {},
  };
}

export const recentRequestsSpec: PluginSpec<RecentRequestsConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.recentRequests',
  fields: {
    sampleRate: { type: 'number', required: true, min: 0, max: 1 },
    capacity: { type: 'int', default: 10, min: 1 },
  },
  create: createRecentRequestsTelemeter,
};

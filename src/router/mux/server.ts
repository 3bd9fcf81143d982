/**
 * One `servers[]` entry of a mux router: Finagle's plain mux server (src/protocol/mux, without
 * ThriftMux's downgrade to framed thrift: a peer that does not speak mux is disconnected).
 * Each Tdispatch (or Treq) goes to the router with its destination, dtab and contexts (all
 * dropped under `clearContext`, as Linkerd clears a caller's context); the router's failure is
 * answered with an Rdispatch error carrying its message, a nack with a nack.
 *
 * Requests over `maxConcurrentRequests` are nacked (Finagle's server rejects them so, and a mux
 * client sends them elsewhere).
 * `serverSession` expiry and the close drain a session with Tdrain (the mux server does it); a
 * request may take `timeoutMs` before such a drain cuts it off. Metrics as the other servers':
 * `rt/<label>/server/<ip>/<port>/...`, with Finagle's `mux/draining` and `mux/drained`, and
 * `read_timeout` / `write_timeout` for connections `socketOptions.readTimeoutMs` /
 * `writeTimeoutMs` closed (the mux server applies them).
 */
import type { TlsOptions } from 'node:tls';
import type { Counter, Metrics } from '../../telemetry/metrics.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, MuxError, MuxServer, type MuxDispatchInfo } from '../../protocol/mux/index.js';
import { messageServerSettings, type MessageServerSettings } from '../router-config.js';
import { countServerRequest, serverStats, type ServerStats } from '../server-stats.js';
import { transportTimeoutCounter } from '../transport-timeout-counters.js';
import type { TransportTimeout } from '../../protocol/transport-watch.js';
import { MAX_MUX_MESSAGE_BYTES, type MuxRequest, type MuxRouter } from './router.js';

type Obj = Readonly<Record<string, unknown>>;

/** Linkerd's mux default server port. */
export const MUX_DEFAULT_PORT = 4141;

export type MuxServerSettings = MessageServerSettings;

export function muxServerSettings(cfg: Obj, tls: TlsOptions | undefined): MuxServerSettings {
  return messageServerSettings(cfg, tls, MUX_DEFAULT_PORT);
}

const NO_FIELDS = { dst: '', dtab: [], contexts: [] } as const;

export class MuxRouterServer {
  private mux: MuxServer | null = null;
  private m: ServerStats | undefined;
  /** Finagle's `<server>/mux/draining` and `mux/drained` counters (set once listening). */
  private drains: Record<'draining' | 'drained', Counter> | undefined;
  /** Finagle's `read_timeout` / `write_timeout` (set once listening, when either timeout is set). */
  private countTimeout: ((kind: TransportTimeout) => void) | undefined;

  constructor(
    readonly router: MuxRouter,
    readonly options: MuxServerSettings,
    private readonly metrics: Metrics,
  ) {}

  get inFlight(): number {
    return this.m?.inflight ?? 0;
  }

  async listen(): Promise<{ ip: string; port: number }> {
    const o = this.options;
    const mux = new MuxServer({
      ip: o.ip,
      port: o.port,
      ...(o.tls !== undefined ? { tls: o.tls } : {}),
      downgrade: false,
      maxFrameSize: MAX_MUX_MESSAGE_BYTES,
      socket: o.socket,
      onTransportTimeout: (kind) => this.countTimeout?.(kind),
      idleTimeMs: o.idleTimeMs ?? 0,
      lifeTimeMs: o.lifeTimeMs,
      // A drain never cuts short a request its server lets run for timeoutMs.
      drainTimeoutMs: Math.max(DEFAULT_DRAIN_TIMEOUT_MS, o.timeoutMs),
      onDrain: (event) => this.drains?.[event].incr(),
      handler: (body: Buffer, signal: AbortSignal, info?: MuxDispatchInfo) => this.serve(body, signal, info),
    });
    this.mux = mux;
    const a = await mux.listen();
    this.m = serverStats(this.metrics, this.router.label, o.ip, a.port, () => mux.connectionCount);
    const scope = this.m.scope;
    this.countTimeout = transportTimeoutCounter(this.metrics, scope, o.socket);
    this.drains = {
      draining: this.metrics.counter([...scope, 'mux', 'draining']),
      drained: this.metrics.counter([...scope, 'mux', 'drained']),
    };
    return { ip: o.ip, port: a.port };
  }

  private async serve(body: Buffer, signal: AbortSignal, info: MuxDispatchInfo | undefined): Promise<Buffer> {
    const started = Date.now();
    const m = this.m!;
    m.inflight++;
    let ok = false;
    try {
      const max = this.options.maxConcurrentRequests;
      if (max > 0 && m.inflight > max) throw new MuxError('MESH_ERR_MUX_NACK', `max concurrent requests (${max}) exceeded`, { rejected: true, retryable: true });
      const f = info === undefined || this.options.clearContext ? NO_FIELDS : info;
      const req: MuxRequest = { body, dst: f.dst, dtab: f.dtab, contexts: f.contexts ?? NO_FIELDS.contexts };
      const reply = await this.router.route(req, signal, this.options.timeoutMs);
      ok = true;
      return reply;
    } finally {
      m.inflight--;
      countServerRequest(this.metrics, m, undefined, Date.now() - started, ok);
    }
  }

  /** Mux sessions are told to drain (Tdrain) at once; what is left after `graceMs` is closed. */
  async close(graceMs: number): Promise<void> {
    // The mux server's drain alone: a session is served until its client's Rdrain, and what it
    // sends after that is nacked by the mux server.
    await this.mux?.close(graceMs);
  }
}

/**
 * The engine's minimal proxy mode: the `/svc => /$/inet/host/port` case with no router. Each
 * request goes to the pool chosen by its Host header (one table lookup), or to the default
 * upstream. Built for measuring the engine's own cost against HAProxy.
 */
import { createHttp1Server, type Http1Exchange, type Http1Server } from './server.js';
import { Http1Pool, type Http1PoolOptions } from './pool.js';
import type { Http1Limits } from './limits.js';
import { Http1Error } from './errors.js';

export interface Http1ProxyOptions {
  /** Host header value -> upstream. */
  routes?: Readonly<Record<string, { host: string; port: number }>>;
  /** Where requests with an unknown Host go; without it they get 502 with l5d-err. */
  upstream?: { host: string; port: number };
  pool?: Omit<Http1PoolOptions, 'host' | 'port'>;
  limits?: Partial<Http1Limits>;
}

export interface Http1Proxy {
  readonly server: Http1Server;
  readonly pools: readonly Http1Pool[];
  close(): Promise<void>;
}

export function createHttp1Proxy(opts: Http1ProxyOptions): Http1Proxy {
  const pools: Http1Pool[] = [];
  const mk = (u: { host: string; port: number }) => { const p = new Http1Pool({ ...opts.pool, ...u }); pools.push(p); return p; };
  const fallback = opts.upstream ? mk(opts.upstream) : null;
  const table = new Map<string, Http1Pool>();
  for (const [host, u] of Object.entries(opts.routes ?? {})) table.set(host.toLowerCase(), mk(u));
  const noRoute = (ex: Http1Exchange) => ex.fail(new Http1Error('MESH_ERR_HTTP1_UPSTREAM_CONNECT', `no route for host ${ex.head.header('host') ?? ''}`));
  // Decided once: with no routes the Host header is never decoded.
  const handler: (ex: Http1Exchange) => void = table.size === 0
    ? (fallback !== null ? (ex) => fallback.dispatch(ex) : noRoute)
    : (ex) => {
        const p = table.get((ex.head.header('host') ?? '').toLowerCase()) ?? fallback;
        if (p !== null) p.dispatch(ex);
        else noRoute(ex);
      };
  const server = createHttp1Server(handler, opts.limits);
  return {
    server,
    pools,
    async close() {
      await server.close();
      for (const p of pools) p.close();
    },
  };
}

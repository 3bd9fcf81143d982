/**
 * Builds a tcp router and its servers from a validated `routers[i]` entry (called by the linker).
 */
import { buildServers, messageRouterDeps, type MessageBuildDeps } from '../message-build.js';
import type { DtabLike } from '../router-base.js';
import { TcpRouter } from './router.js';
import { TcpRouterServer, tcpServerSettings } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltTcpRouter<D extends DtabLike> {
  readonly router: TcpRouter<D>;
  readonly servers: TcpRouterServer[];
}

export type TcpBuildDeps<D extends DtabLike> = MessageBuildDeps<D>;

export function buildTcpRouter<D extends DtabLike>(rc: Obj, deps: TcpBuildDeps<D>): BuiltTcpRouter<D> {
  // No tracer: a connection carries no trace context to continue or pass on.
  const router = new TcpRouter<D>(messageRouterDeps(rc, { ...deps, tracer: null }, 'tcp'));
  const sniInDst = rc['sniInDst'] === true;
  const servers = buildServers(rc, deps, (sc, tls) => new TcpRouterServer(router as unknown as TcpRouter, tcpServerSettings(sc, tls, sniInDst), deps.metrics));
  return { router, servers };
}

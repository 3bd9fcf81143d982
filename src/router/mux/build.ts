/**
 * Builds a mux router and its servers from a validated `routers[i]` entry (called by the linker).
 */
import { buildServers, messageRouterDeps, type MessageBuildDeps } from '../message-build.js';
import type { DtabLike } from '../router-base.js';
import { MuxRouter } from './router.js';
import { MuxRouterServer, muxServerSettings } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltMuxRouter<D extends DtabLike> {
  readonly router: MuxRouter<D>;
  readonly servers: MuxRouterServer[];
}

export type MuxBuildDeps<D extends DtabLike> = MessageBuildDeps<D>;

export function buildMuxRouter<D extends DtabLike>(rc: Obj, deps: MuxBuildDeps<D>): BuiltMuxRouter<D> {
  const router = new MuxRouter<D>(messageRouterDeps(rc, deps, 'mux'));
  const servers = buildServers(rc, deps, (sc, tls) => new MuxRouterServer(router as unknown as MuxRouter, muxServerSettings(sc, tls), deps.metrics));
  return { router, servers };
}

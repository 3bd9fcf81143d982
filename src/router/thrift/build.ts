/**
 * Builds a thrift or thriftmux router and its servers from a validated `routers[i]` entry
 * (called by the linker). Keys the thrift routers do not build yet are refused at validation
 * with "not supported yet" and their key path (config/router-fields.ts), never ignored.
 */
import { buildServers, messageRouterDeps, type MessageBuildDeps } from '../message-build.js';
import type { DtabLike } from '../router-base.js';
import { ThriftRouter } from './router.js';
import { ThriftMuxRouterServer, ThriftRouterServer, thriftServerOptions } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltThriftRouter<D extends DtabLike> {
  readonly router: ThriftRouter<D>;
  readonly servers: (ThriftRouterServer | ThriftMuxRouterServer)[];
}

export interface ThriftBuildDeps<D extends DtabLike> extends MessageBuildDeps<D> {
  readonly protocol: 'thrift' | 'thriftmux';
}

export function buildThriftRouter<D extends DtabLike>(rc: Obj, deps: ThriftBuildDeps<D>): BuiltThriftRouter<D> {
  const router = new ThriftRouter<D>({ ...messageRouterDeps(rc, deps, deps.protocol), protocol: deps.protocol });
  const servers = buildServers(rc, deps, (sc, tls): ThriftRouterServer | ThriftMuxRouterServer => {
    const opts = thriftServerOptions(sc, tls);
    return deps.protocol === 'thrift' ? new ThriftRouterServer(router as unknown as ThriftRouter, opts, deps.metrics) : new ThriftMuxRouterServer(router as unknown as ThriftRouter, opts, deps.metrics);
  });
  return { router, servers };
}

/**
 * Builds a thrift or thriftmux router and its servers from a validated `routers[i]` entry
 * (called by the linker). Keys the thrift routers do not build yet are refused at validation
 * with "not supported yet" and their key path (config/router-fields.ts), never ignored.
 */
import { TlsFiles } from '../../config/tls.js';
import type { DtabLike } from '../router.js';
import { ThriftRouter, type ThriftRouterDeps } from './router.js';
import { ThriftMuxRouterServer, ThriftRouterServer, thriftServerOptions } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltThriftRouter<D extends DtabLike> {
  readonly router: ThriftRouter<D>;
  readonly servers: (ThriftRouterServer | ThriftMuxRouterServer)[];
}

/** The router's deps except what the `routers[i]` entry itself gives (label, config). */
export interface ThriftBuildDeps<D extends DtabLike> extends Omit<ThriftRouterDeps<D>, 'label' | 'config' | 'tlsFiles'> {
  readonly index: number;
  readonly tlsFiles: TlsFiles;
}

export function buildThriftRouter<D extends DtabLike>(rc: Obj, deps: ThriftBuildDeps<D>): BuiltThriftRouter<D> {
  const i = deps.index;
  const router = new ThriftRouter<D>({
    label: String(rc['label'] ?? deps.protocol),
    protocol: deps.protocol,
    baseDtab: deps.baseDtab,
    dstPrefix: deps.dstPrefix,
    readPath: deps.readPath,
    parseDtab: deps.parseDtab,
    bind: deps.bind,
    metrics: deps.metrics,
    config: rc,
    tlsFiles: deps.tlsFiles,
    tracer: deps.tracer ?? null,
  });
  const servers: (ThriftRouterServer | ThriftMuxRouterServer)[] = [];
  const list = (rc['servers'] as readonly Obj[] | undefined) ?? [];
  list.forEach((sc, j) => {
    const tlsOpts = deps.tlsFiles.serverOptions(sc['tls'] as Obj | undefined | null, `routers[${i}].servers[${j}].tls`);
    const opts = thriftServerOptions(sc, tlsOpts);
    servers.push(deps.protocol === 'thrift' ? new ThriftRouterServer(router as unknown as ThriftRouter, opts, deps.metrics) : new ThriftMuxRouterServer(router as unknown as ThriftRouter, opts, deps.metrics));
  });
  return { router, servers };
}

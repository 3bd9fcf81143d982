/**
 * Builds a tcp router and its servers from a validated `routers[i]` entry (called by the linker).
 */
import { TlsFiles } from '../../config/tls.js';
import type { DtabLike } from '../router.js';
import { TcpRouter, type TcpRouterDeps } from './router.js';
import { TcpRouterServer, tcpServerSettings } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltTcpRouter<D extends DtabLike> {
  readonly router: TcpRouter<D>;
  readonly servers: TcpRouterServer[];
}

/** The router's deps except what the `routers[i]` entry itself gives (label, config). */
export interface TcpBuildDeps<D extends DtabLike> extends Omit<TcpRouterDeps<D>, 'label' | 'config' | 'tlsFiles' | 'tracer'> {
  readonly index: number;
  readonly tlsFiles: TlsFiles;
}

export function buildTcpRouter<D extends DtabLike>(rc: Obj, deps: TcpBuildDeps<D>): BuiltTcpRouter<D> {
  const i = deps.index;
  // No tracer: a connection carries no trace context to continue or pass on.
  const router = new TcpRouter<D>({
    label: String(rc['label'] ?? 'tcp'),
    baseDtab: deps.baseDtab,
    dstPrefix: deps.dstPrefix,
    readPath: deps.readPath,
    parseDtab: deps.parseDtab,
    bind: deps.bind,
    metrics: deps.metrics,
    config: rc,
    tlsFiles: deps.tlsFiles,
  });
  const list = (rc['servers'] as readonly Obj[] | undefined) ?? [];
  const servers = list.map((sc, j) => {
    const tlsOpts = deps.tlsFiles.serverOptions(sc['tls'] as Obj | undefined | null, `routers[${i}].servers[${j}].tls`);
    return new TcpRouterServer(router as unknown as TcpRouter, tcpServerSettings(sc, tlsOpts, rc['sniInDst'] === true), deps.metrics);
  });
  return { router, servers };
}

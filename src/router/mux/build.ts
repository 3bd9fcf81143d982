/**
 * Builds a mux router and its servers from a validated `routers[i]` entry (called by the linker).
 */
import { TlsFiles } from '../../config/tls.js';
import type { DtabLike } from '../router.js';
import { MuxRouter, type MuxRouterDeps } from './router.js';
import { MuxRouterServer, muxServerSettings } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltMuxRouter<D extends DtabLike> {
  readonly router: MuxRouter<D>;
  readonly servers: MuxRouterServer[];
}

/** The router's deps except what the `routers[i]` entry itself gives (label, config). */
export interface MuxBuildDeps<D extends DtabLike> extends Omit<MuxRouterDeps<D>, 'label' | 'config' | 'tlsFiles'> {
  readonly index: number;
  readonly tlsFiles: TlsFiles;
}

export function buildMuxRouter<D extends DtabLike>(rc: Obj, deps: MuxBuildDeps<D>): BuiltMuxRouter<D> {
  const i = deps.index;
  const router = new MuxRouter<D>({
    label: String(rc['label'] ?? 'mux'),
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
  const list = (rc['servers'] as readonly Obj[] | undefined) ?? [];
  const servers = list.map((sc, j) => {
    const tlsOpts = deps.tlsFiles.serverOptions(sc['tls'] as Obj | undefined | null, `routers[${i}].servers[${j}].tls`);
    return new MuxRouterServer(router as unknown as MuxRouter, muxServerSettings(sc, tlsOpts), deps.metrics);
  });
  return { router, servers };
}

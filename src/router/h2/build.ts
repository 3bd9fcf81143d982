/**
 * Builds an h2 router and its servers from a validated `routers[i]` entry (called by the
 * linker). Keys the h2 router does not build yet are refused at validation with "not supported
 * yet" and their key path (config/router-fields.ts), never ignored.
 */
import type { Activity, BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import type { Path } from '../../naming/path.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { Tracer } from '../../telemetry/tracing.js';
import { TlsFiles } from '../../config/tls.js';
import type { Identifier } from '../identifiers/identifier.js';
import type { DtabLike } from '../router-base.js';
import { createH2Identifier } from './identifiers.js';
import { H2Router } from './router.js';
import { H2RouterServer, h2ServerOptions } from './server.js';

type Obj = Readonly<Record<string, unknown>>;

export interface BuiltH2Router<D extends DtabLike> {
  readonly router: H2Router<D>;
  readonly identifier: Identifier;
  readonly servers: H2RouterServer[];
}

export interface H2BuildDeps<D extends DtabLike> {
  readonly file: string | undefined;
  readonly index: number;
  readonly baseDtab: D;
  readonly dstPrefix: Path;
  readonly parseDtab: (s: string) => D;
  readonly bind: (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  readonly metrics: Metrics;
  readonly tlsFiles: TlsFiles;
  /** The telemeters' tracer (null: no tracing telemeter). */
  readonly tracer: Tracer | null;
}

export function buildH2Router<D extends DtabLike>(rc: Obj, deps: H2BuildDeps<D>): BuiltH2Router<D> {
  const identifier = createH2Identifier(rc['identifier'] as readonly Obj[] | undefined, { dstPrefix: deps.dstPrefix, baseDtab: deps.baseDtab });
  try {
    return assemble(rc, deps, identifier);
  } catch (e) {
    // An identifier may already watch something (io.l5d.ingress): a config problem found now
    // must not leave that watch keeping the process alive.
    identifier.close?.();
    throw e;
  }
}

function assemble<D extends DtabLike>(rc: Obj, deps: H2BuildDeps<D>, identifier: Identifier): BuiltH2Router<D> {
  const i = deps.index;
  const label = String(rc['label'] ?? 'h2');
  const router = new H2Router<D>({
    label,
    baseDtab: deps.baseDtab,
    identifier,
    parseDtab: deps.parseDtab,
    bind: deps.bind,
    metrics: deps.metrics,
    config: rc,
    configKey: `routers[${i}]`,
    tlsFiles: deps.tlsFiles,
    tracer: deps.tracer,
  });
  const servers: H2RouterServer[] = [];
  const list = (rc['servers'] as readonly Obj[] | undefined) ?? [];
  list.forEach((sc, j) => {
    const merged: Record<string, unknown> = { ...sc };
    if (merged['maxCallDepth'] === undefined && typeof rc['maxCallDepth'] === 'number') merged['maxCallDepth'] = rc['maxCallDepth'];
    const tlsOpts = deps.tlsFiles.serverOptions(sc['tls'] as Obj | undefined | null, `routers[${i}].servers[${j}].tls`);
    servers.push(new H2RouterServer(router as unknown as H2Router, h2ServerOptions(merged, tlsOpts), deps.metrics));
  });
  return { router, identifier, servers };
}

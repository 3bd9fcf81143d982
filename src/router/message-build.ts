/**
 * What building a message router (thrift, thriftmux, mux, tcp) from a validated `routers[i]`
 * entry has in common: its deps from the entry and the linker's, and one server per `servers[]`
 * entry with that server's TLS read. Each protocol's build.ts says which classes to make.
 */
import type { TlsOptions } from 'node:tls';
import type { TlsFiles } from '../config/tls.js';
import type { MessageRouterDeps } from './message-router.js';
import type { DtabLike } from './router-base.js';

type Obj = Readonly<Record<string, unknown>>;

/** The router's deps except what the `routers[i]` entry itself gives (label, config). */
export interface MessageBuildDeps<D extends DtabLike> extends Omit<MessageRouterDeps<D>, 'label' | 'config' | 'tlsFiles'> {
  readonly index: number;
  readonly tlsFiles: TlsFiles;
}

/** The router's deps: `label` from the entry (default `defaultLabel`), the rest from `deps`. */
export function messageRouterDeps<D extends DtabLike>(rc: Obj, deps: MessageBuildDeps<D>, defaultLabel: string): MessageRouterDeps<D> {
  return {
    label: String(rc['label'] ?? defaultLabel),
    baseDtab: deps.baseDtab,
    dstPrefix: deps.dstPrefix,
    readPath: deps.readPath,
    parseDtab: deps.parseDtab,
    bind: deps.bind,
    metrics: deps.metrics,
    config: rc,
    tlsFiles: deps.tlsFiles,
    tracer: deps.tracer ?? null,
  };
}

/** One server per `servers[]` entry, made by `make` with the entry and its TLS options. */
export function buildServers<S>(rc: Obj, deps: { readonly index: number; readonly tlsFiles: TlsFiles }, make: (sc: Obj, tls: TlsOptions | undefined) => S): S[] {
  const list = (rc['servers'] as readonly Obj[] | undefined) ?? [];
  return list.map((sc, j) => make(sc, deps.tlsFiles.serverOptions(sc['tls'] as Obj | undefined | null, `routers[${deps.index}].servers[${j}].tls`)));
}

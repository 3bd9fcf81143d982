/**
 * Router interpreters that bind through namerd instead of the local namers, by kind. The router
 * passes `base ++ local` to bind(); every kind sends that dtab to namerd unchanged, as Linkerd
 * does (see the evidence in mesh.ts and namerd-http.ts).
 *
 * Each kind's module is loaded only when a router uses it (loadInterpreterKinds): io.l5d.mesh
 * brings the gRPC stack (~15 MB resident), which a router following namerd over thrift or HTTP
 * should not pay.
 */
import type { Activity } from '../naming/activity.js';
import type { BoundName } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import type { ConfigWhere } from './errors.js';

export interface RemoteInterpreter {
  bind(dtab: Dtab, path: Path): Activity<NameTree<BoundName>>;
  /** namerd's delegation JSON for the dtab playground, where the interface offers it. */
  delegate?(dtab: Dtab, path: Path, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

type Factory = (config: Readonly<Record<string, unknown>>, readPath: (s: string) => Path, where?: ConfigWhere) => RemoteInterpreter;

const LOADERS: Readonly<Record<string, () => Promise<Factory>>> = {
  'io.l5d.mesh': async () => {
    const { MeshInterpreter } = await import('./mesh.js');
    return (c, r, w) => new MeshInterpreter(c as never, r, w);
  },
  'io.l5d.namerd.http': async () => {
    const { NamerdHttpInterpreter } = await import('./namerd-http.js');
    return (c, r, w) => new NamerdHttpInterpreter(c as never, r, w);
  },
  'io.l5d.namerd': async () => {
    const { NamerdThriftInterpreter } = await import('./namerd-thrift.js');
    return (c, r, w) => new NamerdThriftInterpreter(c as never, r, w);
  },
};

const loaded = new Map<string, Factory>();

/** The kinds this module builds. */
export const REMOTE_INTERPRETER_KINDS: readonly string[] = Object.keys(LOADERS);

/** Loads the modules of `kinds` (others are ignored); namerdInterpreter needs its kind loaded. */
export async function loadInterpreterKinds(kinds: Iterable<string>): Promise<void> {
  for (const kind of kinds) {
    const load = LOADERS[kind];
    if (load !== undefined && !loaded.has(kind)) loaded.set(kind, await load());
  }
}

/** The interpreter for a router's `interpreter:` block, or undefined when it binds locally. */
export function namerdInterpreter(config: Readonly<Record<string, unknown>>, readPath: (s: string) => Path, where?: ConfigWhere): RemoteInterpreter | undefined {
  const kind = config['kind'];
  if (typeof kind !== 'string' || !Object.hasOwn(LOADERS, kind)) return undefined;
  const make = loaded.get(kind);
  if (make === undefined) throw new Error(`interpreter ${kind}: its module was not loaded (loadInterpreterKinds)`);
  return make(config, readPath, where);
}

export type { MeshInterpreter } from './mesh.js';
export type { NamerdHttpInterpreter } from './namerd-http.js';
export type { NamerdThriftInterpreter } from './namerd-thrift.js';

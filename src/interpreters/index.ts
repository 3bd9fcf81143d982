/**
 * Router interpreters that bind through namerd instead of the local namers, by kind. The router
 * passes `base ++ local` to bind(); both kinds send that dtab to namerd unchanged, as Linkerd
 * does (see the evidence in mesh.ts and namerd-http.ts).
 */
import type { Activity } from '../naming/activity.js';
import type { BoundName } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import type { ConfigWhere } from './errors.js';
import { MeshInterpreter } from './mesh.js';
import { NamerdHttpInterpreter } from './namerd-http.js';

export interface RemoteInterpreter {
  bind(dtab: Dtab, path: Path): Activity<NameTree<BoundName>>;
  /** namerd's delegation JSON for the dtab playground, where the interface offers it. */
  delegate?(dtab: Dtab, path: Path, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

/** The interpreter for a router's `interpreter:` block, or undefined when it binds locally. */
export function namerdInterpreter(config: Readonly<Record<string, unknown>>, readPath: (s: string) => Path, where?: ConfigWhere): RemoteInterpreter | undefined {
  switch (config['kind']) {
    case 'io.l5d.mesh':
      return new MeshInterpreter(config as never, readPath, where);
    case 'io.l5d.namerd.http':
      return new NamerdHttpInterpreter(config as never, readPath, where);
    default:
      return undefined;
  }
}

export { MeshInterpreter, NamerdHttpInterpreter };

/** Binding with only the built-in `/$/` namers and an empty dtab (Linkerd's NameInterpreter.global). */
import type { Activity as ActivityContract, BoundName } from '../naming/contracts.js';
import { bind, type DtabLookup } from '../naming/binder.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { globalNamer } from '../namers/builtin/index.js';

const EMPTY_DTAB: DtabLookup = { lookup: () => NEG };
const NAMERS = { configured: [], global: globalNamer };

export function bindGlobal(path: Path): ActivityContract<NameTree<BoundName>> {
  return bind(EMPTY_DTAB, path, NAMERS);
}

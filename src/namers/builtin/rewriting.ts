/**
 * Rewriting namers answer a path with another path to bind again through the dtab (or `Neg`
 * when the path does not have the expected shape). Their answers never change.
 */
import { Activity } from '../../naming/activity.js';
import type { Name, NameNamer } from '../../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';

const NEG_ACTIVITY: Activity<NameTree<Name>> = Activity.value<NameTree<Name>>(NEG);

export class RewritingNamer implements NameNamer {
  constructor(private readonly rewrite: (path: Path) => Path | undefined) {}

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return NEG_ACTIVITY;
    const out = this.rewrite(path);
    return out === undefined ? NEG_ACTIVITY : Activity.value<NameTree<Name>>(leaf<Name>(out));
  }
}

/** The first `n` elements as text when the path has at least `n` elements. */
export function firstElems(path: Path, n: number): string[] | undefined {
  return path.size < n ? undefined : path.take(n).utf8Elems;
}

export function textPath(elems: readonly string[], rest: Path): Path {
  return Path.utf8(...elems).concat(rest);
}

/**
 * An in-memory namer whose answers are set by hand: for tests, benchmarks and demos.
 * `set(path, tree)` changes what `lookup(path)` answers, and every observer sees it.
 */
import { Activity, MutableActivity, ok } from '../naming/activity.js';
import { nameTreeEquals } from '../naming/bound.js';
import type { Name, NameNamer } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';

export class MemoryNamer implements NameNamer {
  private readonly answers = new Map<string, MutableActivity<NameTree<Name>>>();
  /** How many lookups were made (tests check caching). */
  lookups = 0;

  private slot(path: Path): MutableActivity<NameTree<Name>> {
    const key = path.show();
    let a = this.answers.get(key);
    if (!a) {
      a = Activity.mutable<NameTree<Name>>(ok(NEG), nameTreeEquals);
      this.answers.set(key, a);
    }
    return a;
  }

  set(path: Path, tree: NameTree<Name>): void {
    this.slot(path).setValue(tree);
  }

  fail(path: Path, error: Error): void {
    this.slot(path).setFailed(error);
  }

  pending(path: Path): void {
    this.slot(path).setPending();
  }

  /** Observers currently watching `path` (0 once every subscription is closed). */
  observers(path: Path): number {
    return this.answers.get(path.show())?.observerCount ?? 0;
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    this.lookups++;
    return this.slot(path);
  }
}

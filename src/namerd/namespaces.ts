/**
 * namerd's view of names per namespace: each namespace's dtab comes from the store (a missing
 * namespace is the empty dtab, as namerd does), and binding, address resolution and
 * delegation go through the configured namers. Activities are cached per (namespace, path,
 * extra dtab) so that every watcher of the same name shares one binding.
 */
import { Activity } from '../naming/activity.js';
import type { Addr } from '../naming/addr.js';
import { boundTreeEquals, addrEquals } from '../naming/bound.js';
import type { ActivityState, BoundName, Var } from '../naming/contracts.js';
import { bind, type ConfiguredNamers } from '../naming/binder.js';
import { delegate, type DelegateTree } from '../naming/delegator.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { async as asyncVar, mutable, value as constVar, type MutableVar } from '../naming/var.js';
import { Dtab } from '../naming/dtab.js';
import type { DtabStore, VersionedDtab } from './stores/store.js';

type BoundTree = NameTree<BoundName>;

/**
 * Names requested through the APIs are cached so watchers share one binding; the caches are
 * dropped wholesale past this size so that clients asking for endless distinct names cannot
 * grow namerd without bound (live observers keep their activities).
 */
const MAX_CACHED = 10_000;

export class Namespaces {
  private readonly bindCache = new Map<string, Activity<BoundTree>>();
  private readonly dtabCache = new Map<string, Activity<Dtab>>();
  private readonly boundByKey = new Map<string, readonly string[]>();
  /** The bound ids of every binding namerd currently serves (namerd's `/api/1/bound-names`). */
  readonly boundNames: MutableVar<readonly string[]> = mutable<readonly string[]>([], sameStrings);

  constructor(
    readonly store: DtabStore,
    readonly namers: ConfiguredNamers,
  ) {}

  /** The namespace's dtab over time; a namespace that does not exist is the empty dtab. */
  dtab(ns: string): Activity<Dtab> {
    let act = this.dtabCache.get(ns);
    if (!act) {
      act = Activity.from(this.store.observe(ns)).map(
        (v: VersionedDtab | null) => (v === null ? Dtab.empty : (v.dtab as unknown as Dtab)),
        (a, b) => a === b || a.show() === b.show(),
      );
      if (this.dtabCache.size >= MAX_CACHED) this.dtabCache.clear();
      this.dtabCache.set(ns, act);
    }
    return act;
  }

  /** Binds `path` through the namespace's dtab followed by `extra` (request dentries). */
  bind(ns: string, path: Path, extra: Dtab = Dtab.empty): Activity<BoundTree> {
    const key = `${ns}\u0000${path.show()}\u0000${extra.show()}`;
    let act = this.bindCache.get(key);
    if (!act) {
      act = this.dtab(ns)
        .flatMap((d) => bind(extra.size === 0 ? d : d.concat(extra), path, this.namers), boundTreeEquals)
        .map((tree) => {
          this.noteBound(key, tree);
          return tree;
        }, boundTreeEquals);
      if (this.bindCache.size >= MAX_CACHED) {
        this.bindCache.clear();
        this.boundByKey.clear();
      }
      this.bindCache.set(key, act);
    }
    return act;
  }

  private noteBound(key: string, tree: BoundTree): void {
    const ids: string[] = [];
    const walk = (t: BoundTree): void => {
      if (t.type === 'leaf') ids.push(t.value.id.show());
      else if (t.type === 'alt') t.trees.forEach(walk);
      else if (t.type === 'union') t.trees.forEach((w) => walk(w.tree));
    };
    walk(tree);
    this.boundByKey.set(key, ids);
    const all = new Set<string>();
    for (const v of this.boundByKey.values()) for (const id of v) all.add(id);
    this.boundNames.update([...all].sort());
  }

  /**
   * The Addr of a bound id (`/#/io.l5d.fs/users`): the id is bound through the namers alone
   * and must come back as one leaf.
   */
  addr(ns: string, id: Path): Var<Addr> {
    return flattenToAddr(this.bind(ns, id), id, true);
  }

  private readonly idCache = new Map<string, Var<Addr>>();

  /** The Addr of a bound id through the namers alone (the mesh Resolver, which has no namespace). */
  addrOf(id: Path): Var<Addr> {
    const key = id.show();
    let v = this.idCache.get(key);
    if (!v) {
      v = flattenToAddr(Activity.from(bind(Dtab.empty, id, this.namers)), id, true);
      if (this.idCache.size >= MAX_CACHED) this.idCache.clear();
      this.idCache.set(key, v);
    }
    return v;
  }

  /** Bind and then resolve a logical name to one Addr (namerd's `/api/1/resolve`). */
  resolve(ns: string, path: Path, extra: Dtab = Dtab.empty): Var<Addr> {
    return flattenToAddr(this.bind(ns, path, extra), path, false);
  }

  async delegate(ns: string, path: Path, extra: Dtab = Dtab.empty, timeoutMs = 2000): Promise<DelegateTree<BoundName>> {
    const base = await this.dtab(ns).toPromise(timeoutMs);
    return delegate(extra.size === 0 ? base : base.concat(extra), path, this.namers, { timeoutMs });
  }
}

/**
 * A bound tree as one Addr over time. A leaf's Addr is followed; a union is merged (the
 * addresses of every branch that is bound) unless `leafOnly`; Neg/Fail/Empty map to Linkerd's
 * Addr.Neg / Addr.Failed / Addr.Bound().
 */
export function flattenToAddr(act: Activity<BoundTree>, path: Path, leafOnly: boolean): Var<Addr> {
  return asyncVar<Addr>(
    { type: 'pending' },
    (update) => {
      let inner: { close(): void } | undefined;
      const outer = act.states.observe((s: ActivityState<BoundTree>) => {
        inner?.close();
        inner = undefined;
        if (s.type === 'pending') return update({ type: 'pending' });
        if (s.type === 'failed') return update({ type: 'failed', cause: s.error });
        const leaves = collectLeaves(s.value);
        if (leaves === 'neg') return update({ type: 'neg' });
        if (leaves === 'fail') return update({ type: 'failed', cause: new Error('name tree failed') });
        if (leaves.length === 0) return update({ type: 'bound', addrs: [], meta: {} });
        if (leafOnly && !(s.value.type === 'leaf')) {
          return update({ type: 'failed', cause: new Error(`${path.show()} is not a concrete bound id`) });
        }
        const vars = leaves.map((l) => l.addr);
        const merged = vars.length === 1 ? vars[0]! : mergeAddrs(vars);
        inner = merged.observe(update);
      });
      return {
        close() {
          inner?.close();
          outer.close();
        },
      };
    },
    addrEquals,
  );
}

function collectLeaves(t: BoundTree): BoundName[] | 'neg' | 'fail' {
  switch (t.type) {
    case 'leaf':
      return [t.value];
    case 'neg':
      return 'neg';
    case 'fail':
      return 'fail';
    case 'empty':
      return [];
    case 'alt': {
      for (const b of t.trees) {
        const r = collectLeaves(b);
        if (r !== 'neg') return r;
      }
      return 'neg';
    }
    case 'union': {
      const out: BoundName[] = [];
      let any = false;
      for (const w of t.trees) {
        const r = collectLeaves(w.tree);
        if (r === 'neg' || r === 'fail') continue;
        any = true;
        out.push(...r);
      }
      return any ? out : 'neg';
    }
  }
}

function mergeAddrs(vars: readonly Var<Addr>[]): Var<Addr> {
  return asyncVar<Addr>(
    { type: 'pending' },
    (update) => {
      const latest: Addr[] = vars.map(() => ({ type: 'pending' }));
      const emit = (): void => {
        const bound = latest.filter((a): a is Extract<Addr, { type: 'bound' }> => a.type === 'bound');
        if (bound.length > 0) {
          update({ type: 'bound', addrs: bound.flatMap((b) => b.addrs), meta: {} });
        } else if (latest.some((a) => a.type === 'pending')) {
          update({ type: 'pending' });
        } else {
          const failed = latest.find((a) => a.type === 'failed');
          update(failed ?? { type: 'neg' });
        }
      };
      const subs = vars.map((v, i) =>
        v.observe((a) => {
          latest[i] = a;
          emit();
        }),
      );
      return { close: () => subs.forEach((s) => s.close()) };
    },
    addrEquals,
  );
}

export const constAddr = (a: Addr): Var<Addr> => constVar(a);

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Linkerd's binding cache: a bound tree per (dtab, logical name), kept subscribed while it is
 * used so the request path reads the latest tree without rebinding. Entries idle for
 * `idleTtlSecs` (or pushed out by the `trees` capacity, least recently used first) are closed.
 */
import type { ActivityState, Closable } from '../naming/contracts.js';
import type { BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';

export type BoundTree = NameTree<BoundName>;

/** Binds a path under a dtab (already base ++ local) — the router's interpreter. */
export type BindFn = (dtabKey: string, path: Path) => { states: { sample(): ActivityState<BoundTree>; observe(fn: (s: ActivityState<BoundTree>) => void): Closable } };

export class BoundEntry {
  state: ActivityState<BoundTree> = { type: 'pending' };
  lastUsed = Date.now();
  private sub: Closable | undefined;
  private waiters: Array<() => void> = [];

  constructor(
    /** The dtab part of the key (the full dtab text) and the name's text. */
    readonly dtabKey: string,
    readonly pathKey: string,
  ) {}

  start(bind: BindFn, dtabKey: string, path: Path): void {
    this.sub = bind(dtabKey, path).states.observe((s) => {
      this.state = s;
      if (s.type !== 'pending' && this.waiters.length > 0) {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      }
    });
  }

  /** Resolves when the state is no longer pending, or after `timeoutMs` (state still pending). */
  settled(timeoutMs: number): Promise<void> {
    if (this.state.type !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(done);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        }, timeoutMs);
      }
    });
  }

  close(): void {
    this.sub?.close();
    this.sub = undefined;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/**
 * Entries are found by dtab text, then by name text: both strings are reused from request to
 * request (the router's dtab text, a Path's cached `show()`), so a lookup hashes nothing new
 * and builds no key. `order` holds every entry, least recently used first.
 */
export class BindingCache {
  private readonly byDtab = new Map<string, Map<string, BoundEntry>>();
  private readonly order = new Set<BoundEntry>();
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly bind: BindFn,
    private readonly capacity: number,
    private readonly idleTtlMs: number,
  ) {
    if (idleTtlMs > 0 && Number.isFinite(idleTtlMs)) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(Math.max(idleTtlMs / 2, 50), 60_000));
      this.sweeper.unref();
    }
  }

  get size(): number {
    return this.order.size;
  }

  /** The entry for (dtab, path); `dtabKey` is the full dtab text, part of the cache key. */
  get(dtabKey: string, path: Path, now = Date.now()): BoundEntry {
    const pathKey = path.show();
    let names = this.byDtab.get(dtabKey);
    let e = names?.get(pathKey);
    if (e !== undefined) {
      // Move to the back (Set order is our LRU order), at most once a second per entry.
      if (now - e.lastUsed > 1000) {
        this.order.delete(e);
        this.order.add(e);
      }
      e.lastUsed = now;
      return e;
    }
    if (names === undefined) {
      names = new Map();
      this.byDtab.set(dtabKey, names);
    }
    e = new BoundEntry(dtabKey, pathKey);
    names.set(pathKey, e);
    this.order.add(e);
    e.start(this.bind, dtabKey, path);
    while (this.order.size > this.capacity) this.drop(this.order.values().next().value as BoundEntry);
    return e;
  }

  private drop(e: BoundEntry): void {
    e.close();
    this.order.delete(e);
    const names = this.byDtab.get(e.dtabKey);
    if (names === undefined) return;
    names.delete(e.pathKey);
    if (names.size === 0) this.byDtab.delete(e.dtabKey);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleTtlMs;
    for (const e of this.order) if (e.lastUsed < cutoff) this.drop(e);
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const e of this.order) e.close();
    this.order.clear();
    this.byDtab.clear();
  }
}

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

  constructor(readonly key: string) {}

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

export class BindingCache {
  private readonly entries = new Map<string, BoundEntry>();
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
    return this.entries.size;
  }

  /** The entry for (dtab, path); `dtabKey` is the full dtab text, part of the cache key. */
  get(dtabKey: string, path: Path): BoundEntry {
    const key = dtabKey + '\n' + path.show();
    let e = this.entries.get(key);
    if (e !== undefined) {
      const now = Date.now();
      // Move to the back (Map order is our LRU order), at most once a second per entry.
      if (now - e.lastUsed > 1000) {
        this.entries.delete(key);
        this.entries.set(key, e);
      }
      e.lastUsed = now;
      return e;
    }
    e = new BoundEntry(key);
    this.entries.set(key, e);
    e.start(this.bind, dtabKey, path);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.get(oldest)!.close();
      this.entries.delete(oldest);
    }
    return e;
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleTtlMs;
    for (const [k, e] of this.entries) {
      if (e.lastUsed < cutoff) {
        e.close();
        this.entries.delete(k);
      }
    }
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const e of this.entries.values()) e.close();
    this.entries.clear();
  }
}

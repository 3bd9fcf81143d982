/**
 * Observable values (Finagle's Var). A Var always has a value; observers get it at once and
 * then on every change. Derived vars (map, flatMap, collect, async) are lazy: they subscribe
 * upstream when their first observer arrives and close upstream when the last one leaves, so
 * a namer watch lives exactly as long as somebody is interested in its answer.
 */
import type { Closable, Var as VarContract } from './contracts.js';

export type Equality<T> = (a: T, b: T) => boolean;

export const sameValue = <T>(a: T, b: T): boolean => Object.is(a, b);

export const NOOP_CLOSABLE: Closable = Object.freeze({ close(): void {} });

interface Observer<T> {
  readonly fn: (value: T) => void;
  closed: boolean;
  /** The version of the value this observer saw last; -1 before the first. */
  seen: number;
}

/**
 * The shared machinery: observer bookkeeping, de-duplication and lazy start/stop. Subclasses
 * implement `start` (subscribe upstream, call `set` at least once synchronously) and `stop`.
 */
export abstract class BaseVar<T> implements VarContract<T> {
  private observers: Observer<T>[] = [];
  private version = 0;
  private hasValue = false;
  private current: T | undefined;

  constructor(protected readonly eq: Equality<T> = sameValue) {}

  /** How many observers are attached now (tests use it to prove nothing leaks). */
  get observerCount(): number {
    return this.observers.length;
  }

  protected abstract start(): void;
  protected abstract stop(): void;

  /** Publishes a value; identical consecutive values (by `eq`) are dropped. */
  protected set(value: T): void {
    if (this.hasValue && this.eq(this.current as T, value)) return;
    this.hasValue = true;
    this.current = value;
    const v = ++this.version;
    const obs = this.observers;
    for (let i = 0; i < obs.length; i++) {
      const o = obs[i]!;
      if (o.closed || o.seen >= v) continue;
      // A newer value set by an observer re-entrantly supersedes this one.
      if (v !== this.version) return;
      o.seen = v;
      o.fn(value);
    }
  }

  protected get hasCurrent(): boolean {
    return this.hasValue;
  }

  protected get currentValue(): T {
    return this.current as T;
  }

  sample(): T {
    if (this.observers.length > 0 && this.hasValue) return this.current as T;
    let out: T | undefined;
    const c = this.observe((v) => {
      out = v;
    });
    c.close();
    return out as T;
  }

  observe(fn: (value: T) => void): Closable {
    const o: Observer<T> = { fn, closed: false, seen: -1 };
    // Copy on write so a `set` iterating the old list is not disturbed.
    this.observers = [...this.observers, o];
    if (this.observers.length === 1) this.start();
    if (!o.closed && o.seen < this.version && this.hasValue) {
      o.seen = this.version;
      fn(this.current as T);
    }
    return {
      close: () => {
        if (o.closed) return;
        o.closed = true;
        this.observers = this.observers.filter((x) => x !== o);
        if (this.observers.length === 0) this.stop();
      },
    };
  }

  map<U>(f: (value: T) => U, eq?: Equality<U>): BaseVar<U> {
    return map(this, f, eq);
  }

  flatMap<U>(f: (value: T) => VarContract<U>, eq?: Equality<U>): BaseVar<U> {
    return flatMap(this, f, eq);
  }
}

/**
 * A Var that never changes (Finagle's `Var.value`). It keeps no observer list: binding creates
 * many of these per request path, so they are as small as possible.
 */
export class ConstVar<T> implements VarContract<T> {
  constructor(readonly value: T) {}
  sample(): T {
    return this.value;
  }
  observe(fn: (value: T) => void): Closable {
    fn(this.value);
    return NOOP_CLOSABLE;
  }
  map<U>(f: (value: T) => U): ConstVar<U> {
    return new ConstVar(f(this.value));
  }
  flatMap<U>(f: (value: T) => VarContract<U>): VarContract<U> {
    return f(this.value);
  }
}

/** A Var with a witness: `update` publishes a new value to every observer. */
export class MutableVar<T> extends BaseVar<T> {
  constructor(initial: T, eq?: Equality<T>) {
    super(eq);
    this.set(initial);
  }
  update(value: T): void {
    this.set(value);
  }
  override sample(): T {
    return this.currentValue;
  }
  protected start(): void {}
  protected stop(): void {}
}

/**
 * A Var fed by a producer that runs only while observed (Finagle's `Var.async`): `run` is
 * called on the first observer with an `update` function and returns what to close when the
 * last observer leaves. The last value is kept across restarts.
 */
export class AsyncVar<T> extends BaseVar<T> {
  private running: Closable | undefined;

  constructor(
    initial: T,
    private readonly run: (update: (value: T) => void) => Closable,
    eq?: Equality<T>,
  ) {
    super(eq);
    this.set(initial);
  }

  protected start(): void {
    let stopped = false;
    const closable = this.run((v) => {
      if (!stopped) this.set(v);
    });
    this.running = {
      close: () => {
        stopped = true;
        closable.close();
      },
    };
  }

  protected stop(): void {
    const r = this.running;
    this.running = undefined;
    r?.close();
  }
}

class MapVar<T, U> extends BaseVar<U> {
  private upstream: Closable | undefined;
  constructor(
    private readonly parent: VarContract<T>,
    private readonly f: (value: T) => U,
    eq?: Equality<U>,
  ) {
    super(eq);
  }
  protected start(): void {
    this.upstream = this.parent.observe((v) => this.set(this.f(v)));
  }
  protected stop(): void {
    const u = this.upstream;
    this.upstream = undefined;
    u?.close();
  }
}

class FlatMapVar<T, U> extends BaseVar<U> {
  private outer: Closable | undefined;
  private inner: Closable | undefined;
  private generation = 0;
  constructor(
    private readonly parent: VarContract<T>,
    private readonly f: (value: T) => VarContract<U>,
    eq?: Equality<U>,
  ) {
    super(eq);
  }
  protected start(): void {
    this.outer = this.parent.observe((v) => {
      const gen = ++this.generation;
      const next = this.f(v);
      const prev = this.inner;
      // Subscribe to the new inner var before closing the old one so that shared upstream
      // watches (e.g. the same namer lookup) are not torn down and rebuilt needlessly.
      this.inner = next.observe((u) => {
        if (gen === this.generation) this.set(u);
      });
      prev?.close();
    });
  }
  protected stop(): void {
    this.generation++;
    const o = this.outer;
    const i = this.inner;
    this.outer = undefined;
    this.inner = undefined;
    o?.close();
    i?.close();
  }
}

class CollectVar<T> extends BaseVar<readonly T[]> {
  private subs: Closable[] = [];
  constructor(private readonly vars: readonly VarContract<T>[]) {
    super(arrayEquals);
  }
  protected start(): void {
    const values = new Array<T>(this.vars.length);
    let ready = false;
    this.subs = this.vars.map((v, i) =>
      v.observe((x) => {
        values[i] = x;
        if (ready) this.set(values.slice());
      }),
    );
    ready = true;
    this.set(values.slice());
  }
  protected stop(): void {
    const subs = this.subs;
    this.subs = [];
    for (const s of subs) s.close();
  }
}

function arrayEquals<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export function value<T>(v: T): ConstVar<T> {
  return new ConstVar(v);
}

export function mutable<T>(initial: T, eq?: Equality<T>): MutableVar<T> {
  return new MutableVar(initial, eq);
}

export function async<T>(initial: T, run: (update: (value: T) => void) => Closable, eq?: Equality<T>): AsyncVar<T> {
  return new AsyncVar(initial, run, eq);
}

export function map<T, U>(v: VarContract<T>, f: (value: T) => U, eq?: Equality<U>): BaseVar<U> {
  return new MapVar(v, f, eq);
}

/** True when `v` can never change, so combinators may compute eagerly. */
export function isConstant(v: VarContract<unknown>): v is ConstVar<unknown> {
  return v instanceof ConstVar;
}

export function flatMap<T, U>(v: VarContract<T>, f: (value: T) => VarContract<U>, eq?: Equality<U>): BaseVar<U> {
  return new FlatMapVar(v, f, eq);
}

/** A Var of the current values of all `vars`, in order (Finagle's `Var.collect`). */
export function collect<T>(vars: readonly VarContract<T>[]): BaseVar<readonly T[]> {
  return new CollectVar(vars);
}

/** The first value for which `pred` holds, or a rejection after `timeoutMs`. */
export function firstMatching<T>(v: VarContract<T>, pred: (value: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let sub: Closable | undefined;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      sub?.close();
      reject(new Error(`no matching value within ${timeoutMs} ms`));
    }, timeoutMs);
    sub = v.observe((x) => {
      if (done || !pred(x)) return;
      done = true;
      clearTimeout(timer);
      // The subscription may not be assigned yet when the value arrives synchronously.
      queueMicrotask(() => sub?.close());
      resolve(x);
    });
    if (done) sub.close();
  });
}

/** Namespace-style access mirroring Finagle (`Var.value(x)`, `Var.mutable(x)`, ...). */
export const Var = { value, mutable, async, map, flatMap, collect, firstMatching };

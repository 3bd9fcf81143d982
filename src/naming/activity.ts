/**
 * Activity: an observable computation that is pending, ok or failed (Finagle's Activity).
 * It is a thin wrapper around a Var of states; combinators are lazy like the Vars beneath.
 */
import type { Activity as ActivityContract, ActivityState, Closable, Var as VarContract } from './contracts.js';
import { BaseVar, ConstVar, MutableVar, type Equality, collect, firstMatching, flatMap, isConstant, map, sameValue } from './var.js';

export type { ActivityState };

export const PENDING: ActivityState<never> = Object.freeze({ type: 'pending' });

export function ok<T>(value: T): ActivityState<T> {
  return { type: 'ok', value };
}

export function failed(error: Error): ActivityState<never> {
  return { type: 'failed', error };
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Equality of states given an equality of values; failures are equal when their messages are. */
export function stateEquals<T>(eq: Equality<T> = sameValue): Equality<ActivityState<T>> {
  return (a, b) => {
    if (a === b) return true;
    if (a.type !== b.type) return false;
    if (a.type === 'ok') return eq(a.value, (b as { value: T }).value);
    if (a.type === 'failed') {
      const be = (b as { error: Error }).error;
      return a.error === be || (a.error.message === be.message && a.error.constructor === be.constructor);
    }
    return true;
  };
}

export class Activity<T> implements ActivityContract<T> {
  constructor(readonly states: VarContract<ActivityState<T>>) {}

  static value<T>(v: T): Activity<T> {
    return new Activity<T>(new ConstVar<ActivityState<T>>(ok(v)));
  }

  static pending<T>(): Activity<T> {
    return new Activity<T>(new ConstVar<ActivityState<T>>(PENDING));
  }

  static exception<T>(e: Error): Activity<T> {
    return new Activity<T>(new ConstVar<ActivityState<T>>(failed(e)));
  }

  /** An Activity with a witness (starts pending unless told otherwise). */
  static mutable<T>(initial: ActivityState<T> = PENDING, eq?: Equality<T>): MutableActivity<T> {
    return new MutableActivity<T>(initial, eq);
  }

  /** Wraps any Activity-shaped object so the combinators are available. */
  static from<T>(a: ActivityContract<T>): Activity<T> {
    return a instanceof Activity ? a : new Activity(a.states);
  }

  /** All ok → ok of the list; else the first failure; else pending (Finagle's `collect`). */
  static collect<T>(acts: readonly ActivityContract<T>[], eq?: Equality<readonly T[]>): Activity<readonly T[]> {
    if (acts.length === 0) return Activity.value<readonly T[]>([]);
    const states = map(
      collect(acts.map((a) => a.states)),
      (ss): ActivityState<readonly T[]> => {
        const out: T[] = [];
        let pending = false;
        for (const s of ss) {
          if (s.type === 'failed') return s;
          if (s.type === 'pending') pending = true;
          else out.push(s.value);
        }
        return pending ? PENDING : ok(out);
      },
      stateEquals(eq ?? arrayIdentical),
    );
    return new Activity(states);
  }

  sample(): ActivityState<T> {
    return this.states.sample();
  }

  map<U>(f: (value: T) => U, eq?: Equality<U>): Activity<U> {
    // A constant activity maps eagerly (most of a bind is constant dtab answers).
    if (isConstant(this.states)) {
      const s = this.states.value as ActivityState<T>;
      if (s.type !== 'ok') return this as unknown as Activity<U>;
      try {
        return Activity.value(f(s.value));
      } catch (e) {
        return Activity.exception(toError(e));
      }
    }
    return new Activity(
      map(
        this.states,
        (s): ActivityState<U> => {
          if (s.type !== 'ok') return s;
          try {
            return ok(f(s.value));
          } catch (e) {
            return failed(toError(e));
          }
        },
        stateEquals(eq),
      ),
    );
  }

  flatMap<U>(f: (value: T) => ActivityContract<U>, eq?: Equality<U>): Activity<U> {
    if (isConstant(this.states)) {
      const s = this.states.value as ActivityState<T>;
      if (s.type !== 'ok') return this as unknown as Activity<U>;
      let inner: ActivityContract<U>;
      try {
        inner = f(s.value);
      } catch (e) {
        return Activity.exception(toError(e));
      }
      // The inner activity is the answer; only a changing one needs de-duplication.
      return isConstant(inner.states) ? Activity.from(inner) : Activity.from(inner).dedup(eq);
    }
    return new Activity(
      flatMap(
        this.states,
        (s): VarContract<ActivityState<U>> => {
          if (s.type !== 'ok') return new ConstVar<ActivityState<U>>(s);
          try {
            return f(s.value).states;
          } catch (e) {
            return new ConstVar<ActivityState<U>>(failed(toError(e)));
          }
        },
        stateEquals(eq),
      ),
    );
  }

  /** Both values at once; failed if either failed, pending if either is pending. */
  join<U>(other: ActivityContract<U>): Activity<readonly [T, U]> {
    const both = Activity.collect<unknown>([this as ActivityContract<unknown>, other as ActivityContract<unknown>]);
    return both.map((vs) => [vs[0] as T, vs[1] as U] as const, (a, b) => Object.is(a[0], b[0]) && Object.is(a[1], b[1]));
  }

  /** Re-emits states only when they differ by `eq` (Linkerd's `dedup`). */
  dedup(eq?: Equality<T>): Activity<T> {
    if (isConstant(this.states)) return this;
    return new Activity(map(this.states, (s) => s, stateEquals(eq)));
  }

  /** Observes the states; shorthand for `states.observe`. */
  observe(fn: (state: ActivityState<T>) => void): Closable {
    return this.states.observe(fn);
  }

  /** The first non-pending state as a promise: resolves with ok values, rejects with failures. */
  toPromise(timeoutMs = 5000): Promise<T> {
    return firstMatching(this.states, (s) => s.type !== 'pending', timeoutMs).then((s) => {
      if (s.type === 'ok') return s.value;
      throw (s as { error: Error }).error;
    });
  }
}

function arrayIdentical<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export class MutableActivity<T> extends Activity<T> {
  private readonly witness: MutableVar<ActivityState<T>>;
  constructor(initial: ActivityState<T>, eq?: Equality<T>) {
    const w = new MutableVar<ActivityState<T>>(initial, stateEquals(eq));
    super(w);
    this.witness = w;
  }
  update(state: ActivityState<T>): void {
    this.witness.update(state);
  }
  setValue(v: T): void {
    this.witness.update(ok(v));
  }
  setFailed(e: Error): void {
    this.witness.update(failed(e));
  }
  setPending(): void {
    this.witness.update(PENDING);
  }
  get observerCount(): number {
    return this.witness.observerCount;
  }
}

/** Observer count of a Var if it tracks one (BaseVar), for leak checks. */
export function observerCountOf(v: VarContract<unknown>): number {
  return v instanceof BaseVar ? v.observerCount : 0;
}

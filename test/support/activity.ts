/** Test helpers that wait with a deadline: for an Activity state that matches, or for a promise to settle. */
import type { Activity, ActivityState } from '../../src/naming/contracts.js';

/**
 * Resolves with the first state (the current one included) for which `match` is true;
 * rejects after `timeoutMs` with the last state seen, so a failing test says what it saw.
 */
export function waitForState<T>(
  act: Activity<T>,
  match: (s: ActivityState<T>) => boolean,
  timeoutMs = 5000,
  what = 'state',
): Promise<ActivityState<T>> {
  return new Promise((resolve, reject) => {
    let last: ActivityState<T> | undefined;
    let done = false;
    let handle: { close(): void } | undefined;
    const timer = setTimeout(() => {
      done = true;
      handle?.close();
      reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last state: ${describe(last)}`));
    }, timeoutMs);
    handle = act.states.observe((s) => {
      last = s;
      if (done || !match(s)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => handle?.close());
      resolve(s);
    });
    if (done) handle.close();
  });
}

/** Waits for an `ok` state whose value satisfies `match`; returns that value. */
export async function waitForValue<T>(act: Activity<T>, match: (v: T) => boolean, timeoutMs = 5000, what = 'value'): Promise<T> {
  const s = await waitForState(act, (st) => st.type === 'ok' && match(st.value), timeoutMs, what);
  return (s as { value: T }).value;
}

/** Records every state an activity emits, until closed. */
export function record<T>(act: Activity<T>): { states: ActivityState<T>[]; close(): void } {
  const states: ActivityState<T>[] = [];
  const h = act.states.observe((s) => states.push(s));
  return { states, close: () => h.close() };
}

export function describe(s: ActivityState<unknown> | undefined): string {
  if (s === undefined) return 'none';
  if (s.type === 'failed') return `failed(${(s.error as { code?: string }).code ?? ''} ${s.error.message})`;
  if (s.type === 'pending') return 'pending';
  const v = s.value as { dtab?: { show(): string }; version?: string } | null;
  if (v !== null && typeof v === 'object' && v.dtab !== undefined) return `ok(${v.dtab.show()} @${v.version})`;
  return `ok(${JSON.stringify(s.value)})`;
}

/** 'pending' if `p` has not settled within `ms`, else its value (or the error it rejected with). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending' | Error> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([p.catch((e: Error) => e), pending]);
  } finally {
    clearTimeout(timer);
  }
}

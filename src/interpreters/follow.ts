/**
 * What every namerd-backed interpreter shares: naming namerd by `/$/inet/<host>/<port>`, the
 * reconnect backoff, the bound-tree states they answer with, and a Var that follows a server
 * stream while it is observed, keeping the last value whenever the stream breaks.
 */
import type { Addr } from '../naming/addr.js';
import { boundTreeEquals } from '../naming/bound.js';
import type { ActivityState, BoundName, Closable, Var } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { async as asyncVar, type Equality } from '../naming/var.js';
import { interpreterConfigError, type ConfigWhere } from './errors.js';

export type BoundTree = NameTree<BoundName>;
export type TreeState = ActivityState<BoundTree>;

export const PENDING_STATE: TreeState = Object.freeze({ type: 'pending' });
export const ADDR_PENDING: Addr = Object.freeze({ type: 'pending' });

/** Bound-tree states are equal when their trees are; failures when their messages are. */
export const treeStateEquals = (a: TreeState, b: TreeState): boolean => {
  if (a === b) return true;
  if (a.type !== b.type) return false;
  if (a.type === 'ok') return boundTreeEquals(a.value, (b as typeof a).value);
  if (a.type === 'failed') return a.error.message === (b as typeof a).error.message;
  return true;
};

export interface InetTarget {
  readonly host: string;
  readonly port: number;
}

/** `dst` must name namerd directly: `/$/inet/<host>/<port>`. */
export function inetTarget(dst: Path, where?: ConfigWhere): InetTarget {
  const e = dst.utf8Elems;
  if (e.length === 4 && e[0] === '$' && e[1] === 'inet' && /^\d+$/.test(e[3]!) && Number(e[3]) <= 65535) {
    return { host: e[2]!, port: Number(e[3]) };
  }
  throw interpreterConfigError(where, 'dst', dst.show(), "/$/inet/<host>/<port> naming namerd's interface");
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
  /** Source of jitter in [0, 1); tests pass a constant to make waits exact. */
  readonly random?: () => number;
}

/** Linkerd's defaults: `Retry(5, 10.minutes)` (NamerdHttpInterpreterInitializer, MeshInterpreterInitializer). */
export const DEFAULT_BASE_SECONDS = 5;
export const DEFAULT_MAX_SECONDS = 600;
/** A zero base would retry a dead namerd in a tight loop; this is the least we wait. */
export const MIN_BACKOFF_MS = 10;

/** The longest delay a Node timer takes; past it setTimeout fires after 1 ms (a tight loop). */
export const MAX_TIMER_MS = 2_147_483_647;

export function backoffFrom(retry: { readonly baseSeconds?: number; readonly maxSeconds?: number } | undefined): Backoff {
  const baseMs = Math.min(MAX_TIMER_MS, Math.max(MIN_BACKOFF_MS, (retry?.baseSeconds ?? DEFAULT_BASE_SECONDS) * 1000));
  const maxMs = Math.min(MAX_TIMER_MS, Math.max(baseMs, (retry?.maxSeconds ?? DEFAULT_MAX_SECONDS) * 1000));
  return { baseMs, maxMs };
}

/** The longest wait before reconnect attempt `n` (0-based): base, 2·base, 4·base, … capped at max. */
export function backoffCeiling(b: Backoff, n: number): number {
  return n >= 52 ? b.maxMs : Math.min(b.maxMs, b.baseMs * 2 ** n);
}

/**
 * The wait before reconnect attempt `n`. Linkerd's namerd interpreters use Finagle's
 * Backoff.exponentialJittered: first exactly base, then "full jitter" drawn in [0, ceiling), and
 * max once the ceiling reaches it. We keep the first wait and the jitter, but never wait less
 * than base (a dead namerd is not hammered) and keep jittering at the cap, so a fleet of
 * routers does not reconnect to a restarted namerd in step.
 */
export function backoffDelay(b: Backoff, n: number): number {
  const ceiling = backoffCeiling(b, n);
  if (n === 0 || ceiling <= b.baseMs) return ceiling;
  return Math.round(b.baseMs + (b.random ?? Math.random)() * (ceiling - b.baseMs));
}

/** Receives one stream's messages; calls after `end` (or after the Var closed) are ignored. */
export interface StreamSink<T> {
  value(v: T): void;
  end(error?: Error): void;
}

/** Opens one stream to namerd; closing it must stop the stream without calling `end`. */
export type OpenStream<T> = (sink: StreamSink<T>) => Closable;

/** Counters a test (or the admin page) can read: how often the stream was (re)opened. */
export interface FollowStats {
  opened: number;
  ended: number;
}

/**
 * A Var that, while observed, follows the streams `open` returns: each value is published
 * (identical ones dropped by `eq`); when a stream ends or fails the last value stays, and a
 * new stream opens after `backoffDelay(attempt)`. A stream that delivered a value resets the
 * attempt count, so a namerd that comes back after a restart is retried from `baseMs` again.
 */
export function followStream<T>(initial: T, open: OpenStream<T>, eq: Equality<T>, backoff: Backoff, stats?: FollowStats): Var<T> {
  return asyncVar<T>(
    initial,
    (update) => {
      let closed = false;
      let current: Closable | undefined;
      let timer: NodeJS.Timeout | undefined;
      let attempt = 0;
      const connect = (): void => {
        timer = undefined;
        if (closed) return;
        let ended = false;
        if (stats) stats.opened++;
        const sink: StreamSink<T> = {
          value(v: T): void {
            if (ended || closed) return;
            attempt = 0;
            update(v);
          },
          end(): void {
            if (ended || closed) return;
            ended = true;
            if (stats) stats.ended++;
            current = undefined;
            timer = setTimeout(connect, backoffDelay(backoff, attempt++));
            timer.unref();
          },
        };
        try {
          const c = open(sink);
          if (!ended) current = c;
        } catch (e) {
          sink.end(e as Error);
        }
      };
      connect();
      return {
        close(): void {
          closed = true;
          if (timer) clearTimeout(timer);
          timer = undefined;
          const c = current;
          current = undefined;
          c?.close();
        },
      };
    },
    eq,
  );
}

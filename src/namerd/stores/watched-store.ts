/**
 * The part every store shares: one backend watch per store feeding a namespace cache, and
 * observers (list, one namespace) derived from that cache. A backend supplies a watch loop
 * that reports full snapshots, single changes and outages, plus direct reads and writes.
 *
 * Each namespace's state object is built once per stored version and handed to every
 * observer, so 1,000 watchers of one namespace cost one parse and one identity check each.
 */
import type { ActivityState, Closable, Var } from '../../naming/contracts.js';
import { Activity } from '../../naming/activity.js';
import {
  NamerdError,
  NamespaceInvalidError,
  StoreClosedError,
  StoredDtabInvalidError,
  StoreUnavailableError,
} from '../errors.js';
import { readStoredDtab, showDtab, type Dtab } from './dtab-codec.js';
import type { DtabStore, VersionedDtab } from './store.js';

/** A namespace's stored text and its opaque version, as the backend reports them. */
export interface RawEntry {
  readonly text: string;
  readonly version: string;
}

/** How a backend's watch loop reports what it sees. Calls after the watch stopped are ignored. */
export interface WatchSink {
  /** A complete listing: replaces everything known so far; marks the store as reachable. */
  reset(entries: Iterable<readonly [string, RawEntry]>): void;
  upsert(ns: string, entry: RawEntry): void;
  remove(ns: string): void;
  /** The backend is unreachable now; the loop keeps trying on its own. */
  down(error: Error): void;
}

type NsState = ActivityState<VersionedDtab | null>;
type ListState = ActivityState<readonly string[]>;

const PENDING: ActivityState<never> = Object.freeze({ type: 'pending' });
const OK_ABSENT: NsState = Object.freeze({ type: 'ok', value: null });

interface CacheEntry {
  readonly text: string;
  readonly version: string;
  readonly state: NsState;
}

interface Observer<T> {
  readonly fn: (s: T) => void;
  last: T | undefined;
}

export interface WatchedStoreOptions {
  /** Deadline for each read or write; past it the call rejects with STORE_UNAVAILABLE. */
  readonly requestTimeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/** Namespace names every store accepts: they become keys, znodes and URL path segments. */
const NS_NAME = /^[A-Za-z0-9_.:-]+$/;

export abstract class WatchedStore implements DtabStore {
  abstract readonly kind: string;
  protected readonly requestTimeoutMs: number;

  private status: 'pending' | 'ok' | 'failed' = 'pending';
  private failedState: ActivityState<never> | undefined;
  private entries = new Map<string, CacheEntry>();
  private listState: ListState = PENDING;
  private readonly nsObservers = new Map<string, Set<Observer<NsState>>>();
  private readonly listObservers = new Set<Observer<ListState>>();
  private refs = 0;
  private generation = 0;
  private stopWatch: (() => void) | undefined;
  private closed = false;

  constructor(opts: WatchedStoreOptions = {}) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  // ---- what a backend provides ----
  /** Starts the watch loop; returns a function that stops it. */
  protected abstract startWatch(sink: WatchSink): () => void;
  protected abstract readRaw(ns: string): Promise<RawEntry | null>;
  protected abstract readNames(): Promise<string[]>;
  protected abstract writeCreate(ns: string, text: string): Promise<void>;
  protected abstract writeUpdate(ns: string, text: string, version: string): Promise<void>;
  protected abstract writePut(ns: string, text: string): Promise<void>;
  protected abstract writeDelete(ns: string): Promise<void>;
  protected abstract closeBackend(): Promise<void>;

  /** Stores with stricter naming rules (k8s object names) override this. */
  protected checkNamespace(ns: string): void {
    if (!NS_NAME.test(ns) || ns === '.' || ns === '..') {
      throw new NamespaceInvalidError(ns, "one or more of the characters A-Z a-z 0-9 _ . : - (not '.' or '..')");
    }
  }

  // ---- DtabStore ----
  list(): Activity<readonly string[]> {
    return new Activity(new ListVar(this));
  }

  observe(ns: string): Activity<VersionedDtab | null> {
    // A name no write could create is failed at once, as `get` rejects it (not pending for good).
    try {
      this.checkNamespace(ns);
    } catch (e) {
      return Activity.exception(e as Error);
    }
    return new Activity(new NsVar(this, ns));
  }

  names(): Promise<string[]> {
    return this.call(async () => (await this.readNames()).sort());
  }

  get(ns: string): Promise<VersionedDtab | null> {
    return this.call(async () => {
      const raw = await this.readRaw(ns);
      if (raw === null) return null;
      const st = parseEntry(ns, raw);
      if (st.type === 'failed') throw st.error;
      return st.type === 'ok' ? st.value : null;
    }, ns);
  }

  create(ns: string, dtab: Dtab): Promise<void> {
    return this.call(() => this.writeCreate(ns, showDtab(dtab)), ns);
  }

  update(ns: string, dtab: Dtab, version: string): Promise<void> {
    return this.call(() => this.writeUpdate(ns, showDtab(dtab), version), ns);
  }

  put(ns: string, dtab: Dtab): Promise<void> {
    return this.call(() => this.writePut(ns, showDtab(dtab)), ns);
  }

  delete(ns: string): Promise<void> {
    return this.call(() => this.writeDelete(ns), ns);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    // Observers still attached learn that no more updates will come.
    this.status = 'failed';
    this.failedState = Object.freeze({ type: 'failed', error: new StoreClosedError(this.kind) });
    this.listState = this.failedState;
    emit(this.listObservers, this.listState);
    for (const set of this.nsObservers.values()) emit(set, this.failedState);
    await this.closeBackend();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- plumbing ----
  /** Runs one backend call under the store's deadline, mapping unknown failures to UNAVAILABLE. */
  private async call<T>(op: () => Promise<T>, ns?: string): Promise<T> {
    if (this.closed) throw new StoreClosedError(this.kind);
    if (ns !== undefined) this.checkNamespace(ns);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(this.kind, `timeout after ${this.requestTimeoutMs}ms`)),
        this.requestTimeoutMs,
      );
    });
    try {
      return await Promise.race([op(), deadline]);
    } catch (e) {
      throw this.classify(e);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Backend errors that are not already namerd errors mean the backend is unreachable. */
  protected classify(e: unknown): NamerdError {
    if (e instanceof NamerdError) return e;
    return new StoreUnavailableError(this.kind, unavailableReason(e), e);
  }

  private acquire(): void {
    if (this.refs++ === 0 && !this.closed) this.start();
  }

  private release(): void {
    if (--this.refs === 0) this.stop();
  }

  private start(): void {
    const gen = ++this.generation;
    const live = () => gen === this.generation;
    const sink: WatchSink = {
      reset: (entries) => live() && this.onReset(entries),
      upsert: (ns, entry) => live() && this.onUpsert(ns, entry),
      remove: (ns) => live() && this.onRemove(ns),
      down: (error) => live() && this.onDown(error),
    };
    this.stopWatch = this.startWatch(sink);
  }

  private stop(): void {
    this.generation++;
    const stop = this.stopWatch;
    this.stopWatch = undefined;
    this.status = 'pending';
    this.failedState = undefined;
    this.entries = new Map();
    this.listState = PENDING;
    stop?.();
  }

  nsState(ns: string): NsState {
    if (this.status === 'pending') return PENDING;
    if (this.status === 'failed') return this.failedState!;
    return this.entries.get(ns)?.state ?? OK_ABSENT;
  }

  currentListState(): ListState {
    return this.listState;
  }

  private onReset(list: Iterable<readonly [string, RawEntry]>): void {
    const before = this.entries;
    const next = new Map<string, CacheEntry>();
    for (const [ns, raw] of list) {
      const old = before.get(ns);
      next.set(ns, old !== undefined && old.version === raw.version && old.text === raw.text ? old : makeEntry(ns, raw));
    }
    const wasOk = this.status === 'ok';
    this.status = 'ok';
    this.failedState = undefined;
    this.entries = next;
    if (!wasOk || !sameKeys(before, next)) this.refreshList();
    for (const [ns, set] of this.nsObservers) {
      if (!wasOk || before.get(ns) !== next.get(ns)) emit(set, this.nsState(ns));
    }
  }

  private onUpsert(ns: string, raw: RawEntry): void {
    if (this.status !== 'ok') return; // a snapshot (reset) always comes first
    const old = this.entries.get(ns);
    if (old !== undefined && old.version === raw.version && old.text === raw.text) return;
    this.entries.set(ns, makeEntry(ns, raw));
    if (old === undefined) this.refreshList();
    const set = this.nsObservers.get(ns);
    if (set !== undefined) emit(set, this.nsState(ns));
  }

  private onRemove(ns: string): void {
    if (this.status !== 'ok' || !this.entries.delete(ns)) return;
    this.refreshList();
    const set = this.nsObservers.get(ns);
    if (set !== undefined) emit(set, OK_ABSENT);
  }

  private onDown(error: Error): void {
    // With a snapshot in hand, observers keep it: proxies route on the last known dtab.
    if (this.status === 'ok') return;
    const err = error instanceof NamerdError ? error : new StoreUnavailableError(this.kind, unavailableReason(error), error);
    this.status = 'failed';
    this.failedState = Object.freeze({ type: 'failed', error: err });
    this.listState = this.failedState;
    emit(this.listObservers, this.listState);
    for (const set of this.nsObservers.values()) emit(set, this.failedState);
  }

  private refreshList(): void {
    this.listState = Object.freeze({ type: 'ok', value: Object.freeze([...this.entries.keys()].sort()) });
    emit(this.listObservers, this.listState);
  }

  /** @internal used by the observer Vars */
  addNsObserver(ns: string, obs: Observer<NsState>): void {
    let set = this.nsObservers.get(ns);
    if (set === undefined) this.nsObservers.set(ns, (set = new Set()));
    set.add(obs);
    this.acquire();
  }

  /** @internal */
  removeNsObserver(ns: string, obs: Observer<NsState>): void {
    const set = this.nsObservers.get(ns);
    if (set === undefined || !set.delete(obs)) return;
    if (set.size === 0) this.nsObservers.delete(ns);
    this.release();
  }

  /** @internal */
  addListObserver(obs: Observer<ListState>): void {
    this.listObservers.add(obs);
    this.acquire();
  }

  /** @internal */
  removeListObserver(obs: Observer<ListState>): void {
    if (this.listObservers.delete(obs)) this.release();
  }
}

function emit<T>(set: Iterable<Observer<T>>, state: T): void {
  for (const obs of set) {
    if (obs.last === state) continue;
    obs.last = state;
    try {
      obs.fn(state);
    } catch (e) {
      // One observer's bug must not stop the others hearing of the change, nor stop namerd.
      const err = e instanceof Error ? e : new Error(String(e));
      process.emitWarning(`dtab observer threw: ${err.message}`, { code: 'MESH_WARN_DTAB_OBSERVER_THREW', detail: err.stack });
    }
  }
}

function sameKeys(a: Map<string, unknown>, b: Map<string, unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (!b.has(k)) return false;
  return true;
}

function makeEntry(ns: string, raw: RawEntry): CacheEntry {
  return { text: raw.text, version: raw.version, state: parseEntry(ns, raw) };
}

function parseEntry(ns: string, raw: RawEntry): NsState {
  try {
    return Object.freeze({ type: 'ok', value: Object.freeze({ dtab: readStoredDtab(raw.text), version: raw.version }) });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return Object.freeze({ type: 'failed', error: new StoredDtabInvalidError(ns, raw.text, reason) });
  }
}

/** A short cause for STORE_UNAVAILABLE: the socket error code when there is one. */
export function unavailableReason(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return code;
  if (err?.cause !== undefined && err.cause !== e) {
    const inner = unavailableReason(err.cause);
    if (inner !== 'unknown') return inner;
  }
  return typeof err?.message === 'string' && err.message !== '' ? err.message : 'unknown';
}

class NsVar implements Var<NsState> {
  constructor(
    private readonly store: WatchedStore,
    private readonly ns: string,
  ) {}

  sample(): NsState {
    return this.store.nsState(this.ns);
  }

  observe(fn: (value: NsState) => void): Closable {
    const obs: Observer<NsState> = { fn, last: undefined };
    this.store.addNsObserver(this.ns, obs);
    emit([obs], this.store.nsState(this.ns));
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        this.store.removeNsObserver(this.ns, obs);
      },
    };
  }
}

class ListVar implements Var<ListState> {
  constructor(private readonly store: WatchedStore) {}

  sample(): ListState {
    return this.store.currentListState();
  }

  observe(fn: (value: ListState) => void): Closable {
    const obs: Observer<ListState> = { fn, last: undefined };
    this.store.addListObserver(obs);
    emit([obs], this.store.currentListState());
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        this.store.removeListObserver(obs);
      },
    };
  }
}

/** A retry delay that doubles from `minMs` to `maxMs`, for watch loops. */
export class Backoff {
  private next: number;
  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.next = minMs;
  }
  take(): number {
    const d = this.next;
    this.next = Math.min(this.maxMs, this.next * 2);
    return d;
  }
  reset(): void {
    this.next = this.minMs;
  }
}

export interface RetryOptions {
  /** Watch-loop retry delay bounds after a failure. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

/** `/namerd/dtabs/` and `namerd/dtabs` both mean `/namerd/dtabs`. */
export function normalizePrefix(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : '/' + trimmed;
}

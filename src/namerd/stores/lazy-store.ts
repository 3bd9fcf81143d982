/**
 * A store whose implementation module is loaded on first use, so that naming a storage kind
 * in a config (or validating one) does not load etcd3/gRPC or the ZooKeeper client.
 */
import { Activity } from '../../naming/activity.js';
import type { ActivityState, Closable, Var } from '../../naming/contracts.js';
import { StoreClosedError, StoreUnavailableError } from '../errors.js';
import type { Dtab, DtabStore, VersionedDtab } from './store.js';

const PENDING: ActivityState<never> = Object.freeze({ type: 'pending' });

export class LazyDtabStore implements DtabStore {
  private loaded: Promise<DtabStore> | undefined;
  private inner: DtabStore | undefined;
  private closed = false;

  constructor(
    readonly kind: string,
    private readonly load: () => Promise<DtabStore>,
  ) {}

  private store(): Promise<DtabStore> {
    if (this.closed) return Promise.reject(new StoreClosedError(this.kind));
    this.loaded ??= this.load().then(
      (s) => (this.inner = s),
      (e: unknown) => {
        this.loaded = undefined;
        throw new StoreUnavailableError(this.kind, `store module failed to load: ${e instanceof Error ? e.message : String(e)}`, e);
      },
    );
    return this.loaded;
  }

  private activity<T>(pick: (s: DtabStore) => Activity<T>): Activity<T> {
    if (this.inner !== undefined) return pick(this.inner);
    return new Activity<T>(new LoadingVar(this.store(), pick));
  }

  list(): Activity<readonly string[]> {
    return this.activity((s) => s.list());
  }
  observe(ns: string): Activity<VersionedDtab | null> {
    return this.activity((s) => s.observe(ns));
  }
  async names(): Promise<string[]> {
    return (await this.store()).names();
  }
  async get(ns: string): Promise<VersionedDtab | null> {
    return (await this.store()).get(ns);
  }
  async create(ns: string, dtab: Dtab): Promise<void> {
    return (await this.store()).create(ns, dtab);
  }
  async update(ns: string, dtab: Dtab, version: string): Promise<void> {
    return (await this.store()).update(ns, dtab, version);
  }
  async put(ns: string, dtab: Dtab): Promise<void> {
    return (await this.store()).put(ns, dtab);
  }
  async delete(ns: string): Promise<void> {
    return (await this.store()).delete(ns);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const s = await this.loaded?.catch(() => undefined);
    await s?.close();
  }
}

/** Pending until the store is loaded, then the store's own states. */
class LoadingVar<T> implements Var<ActivityState<T>> {
  constructor(
    private readonly store: Promise<DtabStore>,
    private readonly pick: (s: DtabStore) => Activity<T>,
  ) {}

  sample(): ActivityState<T> {
    return PENDING;
  }

  observe(fn: (value: ActivityState<T>) => void): Closable {
    let open = true;
    let inner: Closable | undefined;
    fn(PENDING);
    this.store.then(
      (s) => {
        if (open) inner = this.pick(s).states.observe(fn);
      },
      (e: unknown) => {
        if (open) fn({ type: 'failed', error: e instanceof Error ? e : new Error(String(e)) });
      },
    );
    return {
      close: () => {
        open = false;
        inner?.close();
      },
    };
  }
}

/**
 * `io.l5d.inMemory`: dtabs held in this process, for tests and demos. Versions come from one
 * store-wide counter so a namespace never gets a version it had before.
 */
import type { PluginSpec } from '../../config/schema.js';
import { inMemoryFields } from './fields.js';
import { DtabExistsError, DtabNotFoundError, DtabVersionMismatchError } from '../errors.js';
import { readStoredDtab } from './dtab-codec.js';
import type { DtabStore, StoreContext } from './store.js';
import { WatchedStore, type RawEntry, type WatchedStoreOptions, type WatchSink } from './watched-store.js';

export const KIND = 'io.l5d.inMemory';

export interface InMemoryConfig {
  readonly namespaces?: Readonly<Record<string, string>>;
}

export class InMemoryDtabStore extends WatchedStore {
  readonly kind = KIND;
  private readonly data = new Map<string, RawEntry>();
  private counter = 0;
  private sink: WatchSink | undefined;

  /** `namespaces` maps a namespace to dtab text; each must parse (checked here, at build time). */
  constructor(namespaces: Readonly<Record<string, string>> = {}, opts: WatchedStoreOptions = {}) {
    super(opts);
    for (const [ns, text] of Object.entries(namespaces)) {
      this.checkNamespace(ns);
      this.data.set(ns, { text: readStoredDtab(text).show(), version: this.nextVersion() });
    }
  }

  private nextVersion(): string {
    return String(++this.counter);
  }

  private write(ns: string, text: string): void {
    const entry = { text, version: this.nextVersion() };
    this.data.set(ns, entry);
    this.sink?.upsert(ns, entry);
  }

  protected startWatch(sink: WatchSink): () => void {
    this.sink = sink;
    sink.reset(this.data);
    return () => {
      if (this.sink === sink) this.sink = undefined;
    };
  }

  protected async readRaw(ns: string): Promise<RawEntry | null> {
    return this.data.get(ns) ?? null;
  }

  protected async readNames(): Promise<string[]> {
    return [...this.data.keys()];
  }

  protected async writeCreate(ns: string, text: string): Promise<void> {
    if (this.data.has(ns)) throw new DtabExistsError(ns);
    this.write(ns, text);
  }

  protected async writeUpdate(ns: string, text: string, version: string): Promise<void> {
    const cur = this.data.get(ns);
    if (cur === undefined) throw new DtabNotFoundError(ns);
    if (cur.version !== version) throw new DtabVersionMismatchError(ns, version);
    this.write(ns, text);
  }

  protected async writePut(ns: string, text: string): Promise<void> {
    this.write(ns, text);
  }

  protected async writeDelete(ns: string): Promise<void> {
    if (!this.data.delete(ns)) throw new DtabNotFoundError(ns);
    this.sink?.remove(ns);
  }

  protected async closeBackend(): Promise<void> {
    this.sink = undefined;
  }

  /** Test hook: stores text as-is, as a foreign writer could, without parsing it. */
  putRawForTest(ns: string, text: string): void {
    this.write(ns, text);
  }
}

export const inMemoryStorage: PluginSpec<InMemoryConfig, DtabStore, StoreContext> = {
  category: 'storage',
  kind: KIND,
  fields: inMemoryFields,
  create: (config) => new InMemoryDtabStore(config.namespaces ?? {}),
};

/**
 * `io.l5d.etcd`: each namespace is the key `<pathPrefix>/<ns>` in etcd's v3 key space, its
 * value the dtab text. The version is the key's `mod_revision`: cluster-wide and never reused,
 * so a delete + create can not make an old ETag valid again. Every write is one transaction.
 *
 * One prefix watch feeds the cache; it starts from the revision of the listing it follows, so
 * nothing between the two is missed, and etcd3's watch manager resumes from the last revision
 * seen after an outage.
 */
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions, type IKeyValue, type Watcher } from 'etcd3';
import type { PluginSpec } from '../../config/schema.js';
import { etcdFields } from './fields.js';
import { DtabExistsError, DtabNotFoundError, DtabVersionMismatchError } from '../errors.js';
import type { DtabStore, StoreContext } from './store.js';
import {
  Backoff,
  WatchedStore,
  type RawEntry,
  type RetryOptions,
  type WatchedStoreOptions,
  type WatchSink,
  normalizePrefix,
} from './watched-store.js';

export const KIND = 'io.l5d.etcd';

export interface EtcdTlsConfig {
  readonly disableValidation?: boolean;
  readonly commonName?: string;
  readonly trustCerts?: readonly string[];
  readonly clientAuth?: { readonly certPath: string; readonly keyPath: string };
}

export interface EtcdConfig {
  readonly host?: string;
  readonly port?: number;
  readonly pathPrefix?: string;
  readonly tls?: EtcdTlsConfig;
}

export interface EtcdStoreOptions extends WatchedStoreOptions, RetryOptions {}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;

/**
 * etcd3's default policies retry and then open a circuit breaker for five seconds; a dtab
 * store wants neither (a write must not be replayed behind the caller's back, and a store
 * that is back must take writes at once), so calls go straight through.
 */
const passThrough = {
  execute: <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T) =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal })),
} as unknown as Policy;

/** A cockatiel-shaped backoff for etcd3's watch reconnects, doubling from min to max. */
function watchBackoff(minMs: number, maxMs: number): NonNullable<FaultHandling['watchBackoff']> {
  const at = (ms: number): { duration: number; next(): unknown } => ({
    duration: ms,
    next: () => at(Math.min(maxMs, ms * 2)),
  });
  return { next: () => at(minMs) } as unknown as NonNullable<FaultHandling['watchBackoff']>;
}

export class EtcdDtabStore extends WatchedStore {
  readonly kind = KIND;
  private readonly client: Etcd3;
  /** `<pathPrefix>/`: every namespace key starts with it. */
  private readonly dir: string;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  /** Watch cancellations in flight: the client may only close once they are done. */
  private readonly cancelling = new Set<Promise<void>>();

  constructor(config: EtcdConfig, opts: EtcdStoreOptions = {}) {
    super(opts);
    const host = config.host ?? 'localhost';
    const port = config.port ?? 2379;
    this.dir = normalizePrefix(config.pathPrefix ?? '/namerd/dtabs') + '/';
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    const timeout = this.requestTimeoutMs;
    const options: IOptions = {
      hosts: `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
      dialTimeout: timeout,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      faultHandling: {
        host: () => passThrough,
        global: passThrough,
        watchBackoff: watchBackoff(this.retryMinMs, this.retryMaxMs),
      },
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': this.retryMinMs,
        'grpc.max_reconnect_backoff_ms': this.retryMaxMs,
        ...(config.tls?.commonName ? { 'grpc.ssl_target_name_override': config.tls.commonName } : {}),
      },
    };
    if (config.tls) {
      const ca = config.tls.trustCerts?.map((p) => readFileSync(p, 'utf8')).join('\n');
      options.credentials = {
        // No trustCerts: grpc's default (system) roots, which it uses when given null.
        rootCertificate: ca === undefined ? (null as unknown as Buffer) : Buffer.from(ca),
        ...(config.tls.clientAuth
          ? { certChain: readFileSync(config.tls.clientAuth.certPath), privateKey: readFileSync(config.tls.clientAuth.keyPath) }
          : {}),
      };
    }
    this.client = new Etcd3(options);
  }

  private key(ns: string): string {
    return this.dir + ns;
  }

  /** The namespace a key names, or undefined for keys nested deeper (not ours). */
  private nsOf(key: Buffer): string | undefined {
    const rest = key.toString('utf8').slice(this.dir.length);
    return rest === '' || rest.includes('/') ? undefined : rest;
  }

  private entry(kv: IKeyValue): RawEntry {
    return { text: kv.value.toString('utf8'), version: kv.mod_revision };
  }

  protected startWatch(sink: WatchSink): () => void {
    let stopped = false;
    let watcher: Watcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const backoff = new Backoff(this.retryMinMs, this.retryMaxMs);
    const retry = (e: unknown) => {
      if (stopped) return;
      sink.down(e instanceof Error ? e : new Error(String(e)));
      timer = setTimeout(run, backoff.take());
    };
    const run = async (): Promise<void> => {
      try {
        const res = await this.client.getAll().prefix(this.dir).exec();
        if (stopped) return;
        const entries: [string, RawEntry][] = [];
        for (const kv of res.kvs) {
          const ns = this.nsOf(kv.key);
          if (ns !== undefined) entries.push([ns, this.entry(kv)]);
        }
        sink.reset(entries);
        const from = (BigInt(res.header.revision) + 1n).toString();
        // watcher() (not create()) hands the watcher over at once, so a stop that comes
        // before etcd acknowledges it can still cancel it.
        const w = this.client.watch().prefix(this.dir).startRevision(from).watcher();
        watcher = w;
        w.on('connected', () => backoff.reset());
        w.on('put', (kv) => {
          const ns = this.nsOf(kv.key);
          if (ns !== undefined) sink.upsert(ns, this.entry(kv));
        });
        w.on('delete', (kv) => {
          const ns = this.nsOf(kv.key);
          if (ns !== undefined) sink.remove(ns);
        });
        w.on('disconnected', (err) => sink.down(err));
        // A watch etcd cancelled (e.g. its revision was compacted away): list again.
        w.on('error', (err) => {
          watcher = undefined;
          this.cancel(w);
          retry(err);
        });
      } catch (e) {
        retry(e);
      }
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (watcher !== undefined) this.cancel(watcher);
      watcher = undefined;
    };
  }

  /** etcd3 keeps reconnecting a watcher that was never cancelled, even after close(). */
  private cancel(w: Watcher): void {
    const p: Promise<void> = w
      .cancel()
      .catch(() => {})
      .finally(() => this.cancelling.delete(p));
    this.cancelling.add(p);
  }

  protected async readRaw(ns: string): Promise<RawEntry | null> {
    const res = await this.client.get(this.key(ns)).exec();
    const kv = res.kvs[0];
    return kv === undefined ? null : this.entry(kv);
  }

  protected async readNames(): Promise<string[]> {
    const keys = await this.client.getAll().prefix(this.dir).keys();
    const out: string[] = [];
    for (const key of keys) {
      const ns = this.nsOf(Buffer.from(key));
      if (ns !== undefined) out.push(ns);
    }
    return out;
  }

  protected async writeCreate(ns: string, text: string): Promise<void> {
    const key = this.key(ns);
    const res = await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(text)).commit();
    if (!res.succeeded) throw new DtabExistsError(ns);
  }

  protected async writeUpdate(ns: string, text: string, version: string): Promise<void> {
    const key = this.key(ns);
    if (!/^[1-9][0-9]{0,18}$/.test(version)) {
      if ((await this.readRaw(ns)) === null) throw new DtabNotFoundError(ns);
      throw new DtabVersionMismatchError(ns, version);
    }
    const res = await this.client
      .if(key, 'Mod', '==', version)
      .then(this.client.put(key).value(text))
      .else(this.client.get(key))
      .commit();
    if (res.succeeded) return;
    const found = res.responses[0]?.response_range?.kvs.length ?? 0;
    if (found === 0) throw new DtabNotFoundError(ns);
    throw new DtabVersionMismatchError(ns, version);
  }

  protected async writePut(ns: string, text: string): Promise<void> {
    await this.client.put(this.key(ns)).value(text).exec();
  }

  protected async writeDelete(ns: string): Promise<void> {
    const res = await this.client.delete().key(this.key(ns)).exec();
    if (Number(res.deleted) === 0) throw new DtabNotFoundError(ns);
  }

  protected async closeBackend(): Promise<void> {
    if (this.cancelling.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((r) => (timer = setTimeout(r, this.requestTimeoutMs)));
      await Promise.race([Promise.all(this.cancelling), bound]);
      clearTimeout(timer);
    }
    this.client.close();
  }
}

export const etcdStorage: PluginSpec<EtcdConfig, DtabStore, StoreContext> = {
  category: 'storage',
  kind: KIND,
  fields: etcdFields,
  create: (config) => new EtcdDtabStore(config),
};

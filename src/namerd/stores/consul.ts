/**
 * `io.l5d.consul`: each namespace is the KV key `<pathPrefix>/<ns>`, its value the dtab text;
 * the version is the key's ModifyIndex and writes use Consul's `?cas=` (cas=0: create only).
 *
 * Watching is one blocking query on the prefix (`?recurse&index=&wait=`), following Consul's
 * rules for the index: start at 0 (a plain read), reset to 0 when it goes backwards (a
 * restored snapshot or a new cluster), never block on less than 1, and start over from 0
 * after an error.
 */
import type { PluginSpec } from '../../config/schema.js';
import { consulFields } from './fields.js';
import type { ConnectionOptions } from 'node:tls';
import { TlsFiles, clientTlsOptions } from '../../config/tls.js';
import {
  DtabExistsError,
  DtabNotFoundError,
  DtabVersionMismatchError,
  StoreProtocolError,
  StoreUnavailableError,
} from '../errors.js';
import { HttpClient, type HttpResult } from './http-client.js';
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

export const KIND = 'io.l5d.consul';

export type ConsistencyMode = 'default' | 'stale' | 'consistent';

export interface ConsulConfig {
  readonly host?: string;
  readonly port?: number;
  readonly pathPrefix?: string;
  readonly token?: string;
  readonly datacenter?: string;
  readonly readConsistencyMode?: ConsistencyMode;
  readonly writeConsistencyMode?: ConsistencyMode;
  readonly failFast?: boolean;
  readonly backoff?: { readonly minMs?: number; readonly maxMs?: number; readonly kind?: string; readonly ms?: number };
  /** Linkerd's namer TLS block: HTTPS to Consul (files read when the store is made). */
  readonly tls?: Readonly<Record<string, unknown>> | null;
}

export interface ConsulStoreOptions extends WatchedStoreOptions, RetryOptions {
  /** How long one blocking query may be held by Consul (its `wait`). */
  readonly blockingWaitMs?: number;
  /** Where the `tls` block sits, for errors about its files (default `storage.tls`). */
  readonly tlsAt?: { readonly file?: string; readonly keyPath: string };
}

interface KvEntry {
  Key?: string;
  Value?: string | null;
  ModifyIndex?: number;
}

/** Where the next blocking query starts, given the last index and the one just answered. */
export function nextIndex(last: number, answered: number | undefined): number {
  if (answered === undefined || !Number.isFinite(answered)) return 0;
  if (answered < 1) return 1;
  return answered < last ? 0 : answered;
}

export class ConsulDtabStore extends WatchedStore {
  readonly kind = KIND;
  private readonly http: HttpClient;
  /** `namerd/dtabs/`: Consul keys have no leading slash. */
  private readonly dir: string;
  private readonly headers: Record<string, string>;
  private readonly readQuery: string;
  private readonly writeQuery: string;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly waitMs: number;

  constructor(config: ConsulConfig, opts: ConsulStoreOptions = {}) {
    super(opts);
    this.http = new HttpClient(config.host ?? 'localhost', config.port ?? 8500, consulTls(config.tls, opts.tlsAt ?? { keyPath: 'storage.tls' }));
    this.dir = normalizePrefix(config.pathPrefix ?? '/namerd/dtabs').slice(1) + '/';
    this.headers = config.token ? { 'x-consul-token': config.token } : {};
    const dc = config.datacenter ? `dc=${encodeURIComponent(config.datacenter)}` : '';
    const mode = (m: ConsistencyMode | undefined) => (m === 'stale' || m === 'consistent' ? m : '');
    this.readQuery = [dc, mode(config.readConsistencyMode)].filter(Boolean).join('&');
    this.writeQuery = [dc, mode(config.writeConsistencyMode)].filter(Boolean).join('&');
    this.retryMinMs = opts.retryMinMs ?? config.backoff?.minMs ?? config.backoff?.ms ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? config.backoff?.maxMs ?? config.backoff?.ms ?? 10000;
    this.waitMs = opts.blockingWaitMs ?? 30000;
  }

  private url(key: string, query: string, extra = ''): string {
    const q = [extra, query].filter(Boolean).join('&');
    return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${q ? `?${q}` : ''}`;
  }

  private unexpected(r: HttpResult, what: string): Error {
    if (r.status >= 500 || r.status === 429) return new StoreUnavailableError(KIND, `http ${r.status} ${r.body.trim().slice(0, 100)}`.trim());
    if (r.status === 403) return new StoreUnavailableError(KIND, 'http 403 permission denied (check token)');
    return new StoreProtocolError(KIND, `${what}: http ${r.status} ${r.body.slice(0, 200)}`);
  }

  private kvList(r: HttpResult): KvEntry[] {
    try {
      const v = JSON.parse(r.body) as unknown;
      if (!Array.isArray(v)) throw new Error('not a list');
      return v as KvEntry[];
    } catch {
      throw new StoreProtocolError(KIND, 'KV answer is not a JSON list');
    }
  }

  /** The namespace a key names; undefined for the prefix itself or deeper keys. */
  private nsOf(key: string | undefined): string | undefined {
    if (typeof key !== 'string' || !key.startsWith(this.dir)) return undefined;
    const rest = key.slice(this.dir.length);
    return rest === '' || rest.includes('/') ? undefined : rest;
  }

  private raw(e: KvEntry): RawEntry {
    return { text: e.Value ? Buffer.from(e.Value, 'base64').toString('utf8') : '', version: String(e.ModifyIndex ?? 0) };
  }

  protected startWatch(sink: WatchSink): () => void {
    const abort = new AbortController();
    const backoff = new Backoff(this.retryMinMs, this.retryMaxMs);
    let timer: NodeJS.Timeout | undefined;
    const loop = async (): Promise<void> => {
      let index = 0;
      while (!abort.signal.aborted) {
        try {
          const blocking = index > 0 ? `index=${index}&wait=${Math.ceil(this.waitMs / 1000)}s` : '';
          const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(Math.ceil(this.waitMs * 1.1) + this.requestTimeoutMs)]);
          const r = await this.http.request('GET', this.url(this.dir, this.readQuery, ['recurse', blocking].filter(Boolean).join('&')), {
            headers: this.headers,
            signal,
          });
          if (r.status !== 200 && r.status !== 404) throw this.unexpected(r, 'watch');
          const list: [string, RawEntry][] = [];
          if (r.status === 200) {
            for (const e of this.kvList(r)) {
              const ns = this.nsOf(e.Key);
              if (ns !== undefined) list.push([ns, this.raw(e)]);
            }
          }
          sink.reset(list);
          backoff.reset();
          const h = r.headers['x-consul-index'];
          index = nextIndex(index, typeof h === 'string' ? Number(h) : undefined);
        } catch (e) {
          if (abort.signal.aborted) return;
          index = 0;
          sink.down(e instanceof Error ? e : new Error(String(e)));
          await new Promise<void>((res) => (timer = setTimeout(res, backoff.take())));
        }
      }
    };
    void loop();
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }

  private async readEntry(ns: string): Promise<KvEntry | null> {
    const r = await this.http.request('GET', this.url(this.dir + ns, this.readQuery), { headers: this.headers });
    if (r.status === 404) return null;
    if (r.status !== 200) throw this.unexpected(r, 'get');
    return this.kvList(r)[0] ?? null;
  }

  protected async readRaw(ns: string): Promise<RawEntry | null> {
    const e = await this.readEntry(ns);
    return e === null ? null : this.raw(e);
  }

  protected async readNames(): Promise<string[]> {
    const r = await this.http.request('GET', this.url(this.dir, this.readQuery, 'keys&separator=%2F'), { headers: this.headers });
    if (r.status === 404) return [];
    if (r.status !== 200) throw this.unexpected(r, 'list');
    let keys: unknown;
    try {
      keys = JSON.parse(r.body);
    } catch {
      throw new StoreProtocolError(KIND, 'key list is not JSON');
    }
    if (!Array.isArray(keys)) throw new StoreProtocolError(KIND, 'key list is not a list');
    return keys.flatMap((k) => {
      const ns = this.nsOf(k as string);
      return ns === undefined ? [] : [ns];
    });
  }

  private async casPut(ns: string, text: string, cas: string | undefined): Promise<boolean> {
    const r = await this.http.request('PUT', this.url(this.dir + ns, this.writeQuery, cas === undefined ? '' : `cas=${cas}`), {
      body: text,
      headers: { ...this.headers, 'content-type': 'text/plain; charset=utf-8' },
    });
    if (r.status !== 200) throw this.unexpected(r, 'put');
    const answer = r.body.trim();
    if (answer !== 'true' && answer !== 'false') throw new StoreProtocolError(KIND, `put answered ${JSON.stringify(answer.slice(0, 50))}`);
    return answer === 'true';
  }

  protected async writeCreate(ns: string, text: string): Promise<void> {
    if (!(await this.casPut(ns, text, '0'))) throw new DtabExistsError(ns);
  }

  protected async writeUpdate(ns: string, text: string, version: string): Promise<void> {
    // cas=0 means "create if absent", so only positive indexes are versions.
    if (/^[1-9][0-9]{0,18}$/.test(version) && (await this.casPut(ns, text, version))) return;
    if ((await this.readEntry(ns)) === null) throw new DtabNotFoundError(ns);
    throw new DtabVersionMismatchError(ns, version);
  }

  protected async writePut(ns: string, text: string): Promise<void> {
    await this.casPut(ns, text, undefined);
  }

  protected async writeDelete(ns: string): Promise<void> {
    // Delete exactly what we saw, so "not found" is never reported for a key that exists.
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await this.readEntry(ns);
      if (e === null) throw new DtabNotFoundError(ns);
      const r = await this.http.request('DELETE', this.url(this.dir + ns, this.writeQuery, `cas=${e.ModifyIndex ?? 0}`), {
        headers: this.headers,
      });
      if (r.status !== 200) throw this.unexpected(r, 'delete');
      if (r.body.trim() === 'true') return;
    }
    throw new StoreUnavailableError(KIND, `delete of '${ns}' kept racing with other writers`);
  }

  protected async closeBackend(): Promise<void> {
    this.http.close();
  }
}

/** The `tls` block as node:tls options (undefined when absent or `enabled: false`). */
function consulTls(tls: ConsulConfig['tls'], at: { readonly file?: string; readonly keyPath: string }): ConnectionOptions | undefined {
  if (tls === undefined || tls === null || tls['enabled'] === false) return undefined;
  const files = new TlsFiles(at.file);
  files.loadClient(tls, at.keyPath);
  return clientTlsOptions(tls, files);
}

export const consulStorage: PluginSpec<ConsulConfig, DtabStore, StoreContext> = {
  category: 'storage',
  kind: KIND,
  fields: consulFields,
  create: (config, ctx) => new ConsulDtabStore(config, { tlsAt: { ...(ctx?.file !== undefined ? { file: ctx.file } : {}), keyPath: 'storage.tls' } }),
};

/**
 * `io.l5d.k8s`: each namespace is a `DTab` custom resource (`dtabs.l5d.io/v1alpha1`) in one
 * Kubernetes namespace, holding its dentries as `[{prefix, dst}]`; the version is the object's
 * resourceVersion, so Kubernetes does the compare-and-set (409 Conflict → version mismatch).
 * Talk to the API through `kubectl proxy` (plain HTTP), as Linkerd's store does.
 *
 * Watching is list + watch: list, then watch from the list's resourceVersion, re-watching
 * from the last event's resourceVersion when a stream ends; a 410 Gone means that history is
 * lost, so it lists again.
 */
import type { PluginSpec } from '../../config/schema.js';
import { k8sFields } from './fields.js';
import {
  DtabExistsError,
  DtabNotFoundError,
  DtabVersionMismatchError,
  NamespaceInvalidError,
  StoreProtocolError,
  StoreUnavailableError,
} from '../errors.js';
import { dentriesOf, readStoredDtab } from './dtab-codec.js';
import { HttpClient, type HttpResult } from './http-client.js';
import type { DtabStore, StoreContext } from './store.js';
import {
  Backoff,
  WatchedStore,
  type RawEntry,
  type RetryOptions,
  type WatchedStoreOptions,
  type WatchSink,
} from './watched-store.js';

export const KIND = 'io.l5d.k8s';
export const API_GROUP = 'l5d.io';
export const API_VERSION = 'v1alpha1';
export const RESOURCE_KIND = 'DTab';
export const PLURAL = 'dtabs';

export interface K8sConfig {
  readonly host?: string;
  readonly port?: number;
  readonly namespace?: string;
}

export interface K8sStoreOptions extends WatchedStoreOptions, RetryOptions {}

interface DTabObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; resourceVersion?: string };
  dentries?: unknown;
}

interface WatchEvent {
  type?: string;
  object?: DTabObject & { code?: number; reason?: string; message?: string };
}

/** Kubernetes object names: DNS-1123 subdomains. */
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The stored text of a DTab object: its dentries as a dtab (checked later, by the cache). */
function textOf(obj: DTabObject): string {
  const ds = obj.dentries;
  if (!Array.isArray(ds)) return `<dentries is not a list: ${JSON.stringify(ds)}>`;
  return ds
    .map((d: { prefix?: unknown; dst?: unknown }) =>
      typeof d?.prefix === 'string' && typeof d?.dst === 'string' ? `${d.prefix}=>${d.dst}` : `<bad dentry ${JSON.stringify(d)}>`,
    )
    .join(';');
}

class GoneError extends Error {}

export class K8sDtabStore extends WatchedStore {
  readonly kind = KIND;
  private readonly http: HttpClient;
  private readonly base: string;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(config: K8sConfig, opts: K8sStoreOptions = {}) {
    super(opts);
    this.http = new HttpClient(config.host ?? 'localhost', config.port ?? 8001);
    this.base = `/apis/${API_GROUP}/${API_VERSION}/namespaces/${encodeURIComponent(config.namespace ?? 'default')}/${PLURAL}`;
    this.retryMinMs = opts.retryMinMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
  }

  protected override checkNamespace(ns: string): void {
    if (ns.length > 253 || !K8S_NAME.test(ns)) {
      throw new NamespaceInvalidError(ns, 'a Kubernetes object name: lower case a-z 0-9 - and ., starting and ending alphanumeric');
    }
  }

  private object(ns: string, text: string, resourceVersion?: string): string {
    const metadata: Record<string, string> = { name: ns };
    if (resourceVersion !== undefined) metadata['resourceVersion'] = resourceVersion;
    return JSON.stringify({
      apiVersion: `${API_GROUP}/${API_VERSION}`,
      kind: RESOURCE_KIND,
      metadata,
      dentries: dentriesOf(readStoredDtab(text)),
    });
  }

  private entry(obj: DTabObject): [string, RawEntry] | undefined {
    const name = obj.metadata?.name;
    const rv = obj.metadata?.resourceVersion;
    if (typeof name !== 'string' || typeof rv !== 'string') return undefined;
    return [name, { text: textOf(obj), version: rv }];
  }

  /** 5xx and transport failures mean the API is unavailable; other surprises are protocol errors. */
  private unexpected(r: HttpResult, what: string): Error {
    if (r.status >= 500 || r.status === 429) return new StoreUnavailableError(KIND, `http ${r.status}`);
    return new StoreProtocolError(KIND, `${what}: http ${r.status} ${r.body.slice(0, 200)}`);
  }

  private parse<T>(r: HttpResult, what: string): T {
    try {
      return JSON.parse(r.body) as T;
    } catch {
      throw new StoreProtocolError(KIND, `${what}: body is not JSON`);
    }
  }

  private async listAll(signal?: AbortSignal): Promise<{ items: DTabObject[]; resourceVersion: string }> {
    const r = await this.http.request('GET', this.base, { signal });
    if (r.status === 404) return { items: [], resourceVersion: '' };
    if (r.status !== 200) throw this.unexpected(r, 'list');
    const list = this.parse<{ items?: DTabObject[]; metadata?: { resourceVersion?: string } }>(r, 'list');
    return { items: Array.isArray(list.items) ? list.items : [], resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  protected startWatch(sink: WatchSink): () => void {
    const abort = new AbortController();
    const backoff = new Backoff(this.retryMinMs, this.retryMaxMs);
    let timer: NodeJS.Timeout | undefined;
    let rv: string | undefined;

    const watchOnce = async (): Promise<void> => {
      if (rv === undefined) {
        const list = await this.listAll(abort.signal);
        const entries: [string, RawEntry][] = [];
        for (const item of list.items) {
          const e = this.entry(item);
          if (e) entries.push(e);
        }
        sink.reset(entries);
        rv = list.resourceVersion;
      }
      const path = `${this.base}?watch=true&allowWatchBookmarks=true${rv ? `&resourceVersion=${encodeURIComponent(rv)}` : ''}`;
      const r = await this.http.stream(
        path,
        (line) => {
          let ev: WatchEvent;
          try {
            ev = JSON.parse(line) as WatchEvent;
          } catch {
            throw new StoreProtocolError(KIND, 'watch event is not JSON');
          }
          const obj = ev.object ?? {};
          if (ev.type === 'ERROR') {
            if (obj.code === 410) throw new GoneError(obj.message ?? 'gone');
            throw new StoreProtocolError(KIND, `watch error ${obj.code ?? ''} ${obj.message ?? ''}`);
          }
          const newRv = obj.metadata?.resourceVersion;
          if (typeof newRv === 'string') rv = newRv;
          const e = this.entry(obj);
          if (e === undefined) return;
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') sink.upsert(e[0], e[1]);
          else if (ev.type === 'DELETED') sink.remove(e[0]);
          backoff.reset();
        },
        { signal: abort.signal },
      );
      if (r.status === 410) throw new GoneError('gone');
      if (r.status !== 200) throw this.unexpected(r, 'watch');
    };

    const loop = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          await watchOnce();
          // The server ended the stream (a watch timeout): watch again from where we are.
        } catch (e) {
          if (abort.signal.aborted) return;
          if (e instanceof GoneError) {
            rv = undefined; // history is gone: list again, at once
            continue;
          }
          sink.down(e instanceof Error ? e : new Error(String(e)));
          await new Promise<void>((r) => (timer = setTimeout(r, backoff.take())));
        }
      }
    };
    void loop();
    return () => {
      clearTimeout(timer);
      abort.abort();
    };
  }

  protected async readRaw(ns: string): Promise<RawEntry | null> {
    const r = await this.http.request('GET', `${this.base}/${ns}`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw this.unexpected(r, 'get');
    const e = this.entry(this.parse<DTabObject>(r, 'get'));
    if (e === undefined) throw new StoreProtocolError(KIND, 'get: object without name or resourceVersion');
    return e[1];
  }

  protected async readNames(): Promise<string[]> {
    const list = await this.listAll();
    return list.items.flatMap((i) => (typeof i.metadata?.name === 'string' ? [i.metadata.name] : []));
  }

  protected async writeCreate(ns: string, text: string): Promise<void> {
    const r = await this.http.request('POST', this.base, { body: this.object(ns, text) });
    if (r.status === 409) throw new DtabExistsError(ns);
    if (r.status !== 201 && r.status !== 200) throw this.unexpected(r, 'create');
  }

  protected async writeUpdate(ns: string, text: string, version: string): Promise<void> {
    const r = await this.http.request('PUT', `${this.base}/${ns}`, { body: this.object(ns, text, version) });
    if (r.status === 409) throw new DtabVersionMismatchError(ns, version);
    if (r.status === 404) throw new DtabNotFoundError(ns);
    if (r.status !== 200 && r.status !== 201) throw this.unexpected(r, 'update');
  }

  protected async writePut(ns: string, text: string): Promise<void> {
    // Kubernetes does not create on PUT: update what is there, or create; go round again if
    // another writer gets in between.
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.readRaw(ns);
      try {
        if (cur === null) await this.writeCreate(ns, text);
        else await this.writeUpdate(ns, text, cur.version);
        return;
      } catch (e) {
        if (!(e instanceof DtabExistsError || e instanceof DtabVersionMismatchError || e instanceof DtabNotFoundError)) throw e;
      }
    }
    throw new StoreUnavailableError(KIND, `put of '${ns}' kept racing with other writers`);
  }

  protected async writeDelete(ns: string): Promise<void> {
    const r = await this.http.request('DELETE', `${this.base}/${ns}`);
    if (r.status === 404) throw new DtabNotFoundError(ns);
    if (r.status !== 200 && r.status !== 202) throw this.unexpected(r, 'delete');
  }

  protected async closeBackend(): Promise<void> {
    this.http.close();
  }
}

export const k8sStorage: PluginSpec<K8sConfig, DtabStore, StoreContext> = {
  category: 'storage',
  kind: KIND,
  fields: k8sFields,
  create: (config) => new K8sDtabStore(config),
};

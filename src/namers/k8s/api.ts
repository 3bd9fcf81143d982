/**
 * A small Kubernetes API client: list + watch of one named core/v1 object (its collection
 * `/api/v1/namespaces/<ns>/<plural>` narrowed by `fieldSelector=metadata.name=<name>`: a GET of
 * the object's own path answers once, whatever `?watch=true` says) or of a collection
 * (`/apis/<group>/<version>[/namespaces/<ns>]/<plural>`: the list's items, kept up to date by
 * the watch), newline-delimited JSON watch events (ADDED/MODIFIED/DELETED/ERROR).
 *
 * - an ERROR event with code 410 (Gone/Expired) re-lists and watches from the new version;
 * - a watch stream that ends is resumed from the last seen resourceVersion (no re-list); one
 *   that ends at once without an event is resumed after the backoff, so a server that does not
 *   stream is not asked again in a tight loop;
 * - a refused or broken connection retries with exponential backoff (bounded), resuming
 *   from the last seen resourceVersion (a 410 then re-lists);
 * - a collection may name several API paths, tried in order while the server answers 404
 *   (an API group it does not serve, e.g. `networking.k8s.io/v1` before `extensions/v1beta1`);
 * - one shared watch per path however many observers; it is closed when the last observer
 *   leaves (AsyncVar semantics).
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Closable } from '../../naming/contracts.js';
import { AsyncVar } from '../../naming/var.js';
import { K8sError } from './errors.js';

export interface K8sObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly [k: string]: unknown };
  readonly [k: string]: unknown;
}

export type ObjectState =
  | { readonly type: 'pending' }
  | { readonly type: 'found'; readonly object: K8sObject }
  | { readonly type: 'missing' }
  | { readonly type: 'failed'; readonly error: Error };

export const OBJ_PENDING: ObjectState = Object.freeze({ type: 'pending' });
export const OBJ_MISSING: ObjectState = Object.freeze({ type: 'missing' });

/**
 * A collection's state: its objects in the order the API server listed them, those added
 * later after them (a modified object moves to the end, as Linkerd's IngressCache keeps them).
 * `path` is the API path that answered.
 */
export type CollectionState =
  | { readonly type: 'pending' }
  | { readonly type: 'found'; readonly items: readonly K8sObject[]; readonly path: string }
  | { readonly type: 'failed'; readonly error: Error };

export const COLLECTION_PENDING: CollectionState = Object.freeze({ type: 'pending' });

export const BACKOFF_START_MS = 50;
export const BACKOFF_MAX_MS = 2000;
/** A watch that ends sooner than this without an event is resumed after the backoff, not at once. */
const QUICK_END_MS = 1000;

function stateEquals(a: ObjectState, b: ObjectState): boolean {
  if (a === b) return true;
  if (a.type !== b.type) return false;
  if (a.type === 'found') return a.object.metadata.resourceVersion === (b as { object: K8sObject }).object.metadata.resourceVersion;
  if (a.type === 'failed') return a.error.message === (b as { error: Error }).error.message;
  return true;
}

/** How one watched resource reads the list answer and the watch events. */
interface Shape<S> {
  /**
   * The list answered: its state and the resourceVersion to watch from, `'next'` to try the
   * next path at once, or an error (reported, then retried with backoff).
   */
  listed(status: number, body: unknown, path: string, lastPath: boolean): { state: S; rv: string } | 'next' | Error;
  /** One ADDED/MODIFIED/DELETED event: the new state, or undefined when nothing changed. */
  event(type: string, obj: K8sObject): S | undefined;
  failed(error: Error): S;
}

/** One named object, read from its collection's list narrowed to that name (and its watch). */
function namedShape(name: string): Shape<ObjectState> {
  return {
    listed(status, body, path) {
      if (status !== 200) return new K8sError('MESH_ERR_K8S_API', `GET ${path}: HTTP ${status}`);
      const list = body as { metadata?: { resourceVersion?: string }; items?: unknown } | undefined;
      if (list === undefined || !Array.isArray(list.items)) return new K8sError('MESH_ERR_K8S_API', `GET ${path}: not a list`);
      const obj = (list.items as K8sObject[]).find((o) => o?.metadata?.name === name);
      return { state: obj === undefined ? OBJ_MISSING : { type: 'found', object: obj }, rv: list.metadata?.resourceVersion ?? '' };
    },
    event(type, obj) {
      if (obj.metadata?.name !== name) return undefined;
      if (type === 'ADDED' || type === 'MODIFIED') return { type: 'found', object: obj };
      if (type === 'DELETED') return OBJ_MISSING;
      return undefined;
    },
    failed: (error) => ({ type: 'failed', error }),
  };
}

const itemKey = (o: K8sObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** A collection's shape: its items by namespace/name, in list-then-arrival order. */
function collectionShape(): Shape<CollectionState> {
  let items = new Map<string, K8sObject>();
  let at = '';
  const found = (): CollectionState => ({ type: 'found', items: [...items.values()], path: at });
  return {
    listed(status, body, path, lastPath) {
      if (status === 404 && !lastPath) return 'next';
      if (status !== 200) return new K8sError('MESH_ERR_K8S_API', `GET ${path}: HTTP ${status}`);
      const list = body as { metadata?: { resourceVersion?: string }; items?: unknown } | undefined;
      if (list === undefined || !Array.isArray(list.items)) return new K8sError('MESH_ERR_K8S_API', `GET ${path}: not a list`);
      items = new Map();
      for (const o of list.items as K8sObject[]) if (o?.metadata?.name !== undefined) items.set(itemKey(o), o);
      at = path;
      return { state: found(), rv: list.metadata?.resourceVersion ?? '' };
    },
    event(type, obj) {
      if (obj.metadata?.name === undefined) return undefined;
      const k = itemKey(obj);
      if (type === 'ADDED' || type === 'MODIFIED') {
        items.delete(k);
        items.set(k, obj);
      } else if (type === 'DELETED') {
        if (!items.delete(k)) return undefined;
      } else return undefined;
      return found();
    },
    failed: (error) => ({ type: 'failed', error }),
  };
}

export class K8sApi {
  private readonly watches = new Map<string, AsyncVar<ObjectState>>();
  private readonly collections = new Map<string, AsyncVar<CollectionState>>();

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /** The shared, lazily started watch of one named object (its collection, narrowed to its name). */
  object(namespace: string, plural: string, name: string): AsyncVar<ObjectState> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
    let v = this.watches.get(path);
    if (!v) {
      v = new AsyncVar<ObjectState>(OBJ_PENDING, (update) => this.run([path], namedShape(name), update), stateEquals);
      this.watches.set(path, v);
    }
    return v;
  }

  /**
   * The shared, lazily started list + watch of a collection, at the first of `paths` the
   * server serves (each `/apis/<group>/<version>[/namespaces/<ns>]/<plural>`).
   */
  collection(paths: readonly string[]): AsyncVar<CollectionState> {
    const key = paths.join(' ');
    let v = this.collections.get(key);
    if (!v) {
      v = new AsyncVar<CollectionState>(COLLECTION_PENDING, (update) => this.run(paths, collectionShape(), update));
      this.collections.set(key, v);
    }
    return v;
  }

  private run<S>(paths: readonly string[], shape: Shape<S>, update: (s: S) => void): Closable {
    let closed = false;
    let rv: string | undefined;
    let at = 0;
    let backoff = BACKOFF_START_MS;
    let req: ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;

    const retry = (): void => {
      // A broken exchange can report on both request and response: retry once.
      if (closed || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        if (rv === undefined) list();
        else watch();
      }, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    };

    const list = (): void => {
      if (closed) return;
      const path = paths[at]!;
      req = request({ host: this.host, port: this.port, path, method: 'GET', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => retry());
        res.on('end', () => {
          if (closed) return;
          const status = res.statusCode ?? 0;
          let body: unknown;
          if (status === 200) {
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              body = undefined;
            }
          }
          const r = shape.listed(status, body, path, at === paths.length - 1);
          if (r === 'next') {
            at++;
            return list();
          }
          if (r instanceof Error) {
            // Every path is tried again from the first: the server may serve it by then.
            at = 0;
            update(shape.failed(r));
            return retry();
          }
          rv = r.rv;
          update(r.state);
          backoff = BACKOFF_START_MS;
          watch();
        });
      });
      req.on('error', () => retry());
      req.end();
    };

    const watch = (): void => {
      if (closed) return;
      const path = paths[at]!;
      const q = `${path.includes('?') ? '&' : '?'}watch=true${rv ? `&resourceVersion=${encodeURIComponent(rv)}` : ''}`;
      let relist = false;
      let events = 0;
      const started = Date.now();
      req = request({ host: this.host, port: this.port, path: path + q, method: 'GET', agent: false }, (res: IncomingMessage) => {
        if (res.statusCode === 410) {
          res.resume();
          rv = undefined;
          return list();
        }
        if (res.statusCode !== 200) {
          res.resume();
          return retry();
        }
        // The backoff starts over once the stream proves itself (an event, or a long life).
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line.length === 0 || closed) continue;
            let ev: { type?: string; object?: K8sObject & { code?: number } };
            try {
              ev = JSON.parse(line) as typeof ev;
            } catch {
              continue;
            }
            const o = ev.object;
            if (!o) continue;
            if (ev.type === 'ERROR') {
              if (o.code === 410) relist = true;
              continue;
            }
            events++;
            backoff = BACKOFF_START_MS;
            if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
            const next = shape.event(ev.type ?? '', o);
            if (next !== undefined) update(next);
          }
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          if (closed) return;
          if (relist) {
            rv = undefined;
            list();
          } else if (res.complete && (events > 0 || Date.now() - started >= QUICK_END_MS)) {
            backoff = BACKOFF_START_MS;
            watch();
          } else retry();
        });
      });
      req.on('error', () => retry());
      req.end();
    };

    list();
    return {
      close: () => {
        closed = true;
        if (timer) clearTimeout(timer);
        req?.destroy();
      },
    };
  }
}

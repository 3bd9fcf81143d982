/**
 * A small Kubernetes API client: get + watch of one named core/v1 object
 * (`/api/v1/namespaces/<ns>/<plural>/<name>`, then `?watch=true&resourceVersion=<rv>`),
 * newline-delimited JSON watch events (ADDED/MODIFIED/DELETED/ERROR).
 *
 * - an ERROR event with code 410 (Gone/Expired) re-lists and watches from the new version;
 * - a watch stream that ends is resumed from the last seen resourceVersion (no re-list);
 * - a refused or broken connection retries with exponential backoff (bounded), resuming
 *   from the last seen resourceVersion (a 410 then re-lists);
 * - one shared watch per (namespace, plural, name) however many observers; it is closed
 *   when the last observer leaves (AsyncVar semantics).
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

export const BACKOFF_START_MS = 50;
export const BACKOFF_MAX_MS = 2000;

function stateEquals(a: ObjectState, b: ObjectState): boolean {
  if (a === b) return true;
  if (a.type !== b.type) return false;
  if (a.type === 'found') return a.object.metadata.resourceVersion === (b as { object: K8sObject }).object.metadata.resourceVersion;
  if (a.type === 'failed') return a.error.message === (b as { error: Error }).error.message;
  return true;
}

export class K8sApi {
  private readonly watches = new Map<string, AsyncVar<ObjectState>>();

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /** The shared, lazily started watch of one named object. */
  object(namespace: string, plural: string, name: string): AsyncVar<ObjectState> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
    let v = this.watches.get(path);
    if (!v) {
      v = new AsyncVar<ObjectState>(OBJ_PENDING, (update) => this.run(path, update), stateEquals);
      this.watches.set(path, v);
    }
    return v;
  }

  private run(path: string, update: (s: ObjectState) => void): Closable {
    let closed = false;
    let rv: string | undefined;
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
      req = request({ host: this.host, port: this.port, path, method: 'GET', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => retry());
        res.on('end', () => {
          if (closed) return;
          const status = res.statusCode ?? 0;
          if (status === 200) {
            let obj: K8sObject;
            try {
              obj = JSON.parse(Buffer.concat(chunks).toString('utf8')) as K8sObject;
            } catch {
              update({ type: 'failed', error: new K8sError('MESH_ERR_K8S_API', `GET ${path}: invalid JSON`) });
              return retry();
            }
            rv = obj.metadata.resourceVersion;
            update({ type: 'found', object: obj });
          } else if (status === 404) {
            // No version to resume from: the watch starts with the object's current state.
            rv = '';
            update(OBJ_MISSING);
          } else {
            update({ type: 'failed', error: new K8sError('MESH_ERR_K8S_API', `GET ${path}: HTTP ${status}`) });
            return retry();
          }
          backoff = BACKOFF_START_MS;
          watch();
        });
      });
      req.on('error', () => retry());
      req.end();
    };

    const watch = (): void => {
      if (closed) return;
      const q = rv ? `?watch=true&resourceVersion=${encodeURIComponent(rv)}` : '?watch=true';
      let relist = false;
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
        backoff = BACKOFF_START_MS;
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
            if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') update({ type: 'found', object: o });
            else if (ev.type === 'DELETED') update(OBJ_MISSING);
          }
        });
        res.on('error', () => undefined);
        res.on('close', () => {
          if (closed) return;
          if (relist) {
            rv = undefined;
            list();
          } else if (res.complete) watch();
          else retry();
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

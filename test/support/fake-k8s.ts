/**
 * An in-test Kubernetes API server for namespaced custom resources, following the API
 * conventions the k8s namer and dtab store rely on:
 * - list returns `metadata.resourceVersion`; every write bumps one cluster-wide counter;
 * - `?watch=true&resourceVersion=N` on a collection streams ADDED/MODIFIED/DELETED events after
 *   N as newline-delimited JSON; without a resourceVersion (or "0") it first sends ADDED for
 *   every object; a resourceVersion older than the compaction floor gets a 410 ERROR event;
 * - `fieldSelector=metadata.name=<name>` narrows a collection's list and watch to one name
 *   (other field selectors: 400); a GET of one object's own path answers the object once,
 *   `?watch=true` or not, as the API server does (a watch of one object is a narrowed list);
 * - POST of an existing name → 409 AlreadyExists; PUT with a stale `metadata.resourceVersion`
 *   → 409 Conflict; missing objects → 404 NotFound; all errors are `Status` objects.
 * `stop()` / `start()` keep the port and the data; `compact()` forgets history.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { closeTracked, listenTracked } from './process.js';

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface WatchEvent {
  readonly rv: number;
  readonly key: string; // `<namespace>/<plural>`
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: K8sObject;
}

interface Watcher {
  /** `<namespace>/<plural>`, or `*` and `/<plural>` for a watch across namespaces. */
  readonly key: string;
  readonly res: ServerResponse;
  /** Set for a watch narrowed to one name (`fieldSelector=metadata.name=<name>`). */
  readonly name?: string;
}

/**
 * A list or watch's `fieldSelector`: the name it narrows to (`metadata.name=<name>` or `==`),
 * undefined without one, or an Error for a selector this server, like the API server for
 * most fields, does not support (a 400).
 */
function nameSelector(params: URLSearchParams): string | undefined | Error {
  const sel = params.get('fieldSelector');
  if (sel === null || sel === '') return undefined;
  const m = /^metadata\.name==?(.+)$/.exec(sel);
  return m === null ? new Error(`field label not supported: ${sel.split(/[!=]/)[0]}`) : m[1]!;
}

const PATH = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;
/** A collection across namespaces: `/apis/<group>/<version>/<plural>` (list and watch). */
const ALL_NAMESPACES_PATH = /^\/apis\/([^/]+)\/([^/]+)\/([^/]+)$/;
/** core/v1 (Endpoints, Services, ...): `/api/v1/namespaces/<ns>/<plural>[/<name>]`. */
const CORE_PATH = /^\/api\/(v1)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;

export class FakeK8s {
  port = 0;
  readonly host = '127.0.0.1';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly objects = new Map<string, Map<string, K8sObject>>();
  private history: WatchEvent[] = [];
  private floor = 0;
  private rv = 0;
  private uid = 0;
  private readonly watchers = new Set<Watcher>();
  /** Every request as `METHOD path?query`, for assertions. */
  readonly requests: string[] = [];
  /**
   * API groups this server does not serve, as `<group>/<version>` (say
   * `extensions/v1beta1`, removed in Kubernetes 1.22): their paths answer 404.
   */
  readonly unserved = new Set<string>();
  /** Milliseconds every request waits before it is answered (a slow API server). */
  delayMs = 0;
  /** Ends each watch stream right after the events it has at its start (a proxy or server that does not stream). */
  watchEndsAtOnce = false;

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => this.handle(req, res));
    this.port = await listenTracked(server, this.sockets, this.port, this.host);
    this.server = server;
  }

  /** Closes the listener and every open connection (watches included). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    this.watchers.clear();
    await closeTracked(s, this.sockets);
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  /** Ends every open watch stream cleanly, as the API server does when a watch times out. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Forgets all events so far: watches from an older resourceVersion get 410 Gone. */
  compact(): void {
    this.floor = this.rv;
    this.history = [];
  }

  /** Writes an object as another client would (works while stopped, too). */
  putObject(namespace: string, plural: string, obj: K8sObject): K8sObject {
    const key = `${namespace}/${plural}`;
    const col = this.collection(key);
    const existing = col.get(obj.metadata.name);
    const stored = this.stamp(namespace, obj, existing?.metadata.uid);
    col.set(stored.metadata.name, stored);
    this.record(key, existing ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  getObject(namespace: string, plural: string, name: string): K8sObject | undefined {
    return this.objects.get(`${namespace}/${plural}`)?.get(name);
  }

  private collection(key: string): Map<string, K8sObject> {
    let col = this.objects.get(key);
    if (!col) this.objects.set(key, (col = new Map()));
    return col;
  }

  private stamp(namespace: string, obj: K8sObject, uid?: string): K8sObject {
    this.rv++;
    return {
      ...obj,
      metadata: { ...obj.metadata, namespace, resourceVersion: String(this.rv), uid: uid ?? `uid-${++this.uid}` },
    };
  }

  private record(key: string, type: WatchEvent['type'], object: K8sObject): void {
    const ev: WatchEvent = { rv: Number(object.metadata.resourceVersion), key, type, object };
    this.history.push(ev);
    const line = JSON.stringify({ type, object }) + '\n';
    const across = '*/' + key.slice(key.indexOf('/') + 1);
    for (const w of this.watchers) if ((w.key === key || w.key === across) && (w.name === undefined || w.name === object.metadata.name)) w.res.write(line);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.delayMs > 0) {
      req.pause();
      setTimeout(() => {
        req.resume();
        this.answer(req, res);
      }, this.delayMs);
      return;
    }
    this.answer(req, res);
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const all = ALL_NAMESPACES_PATH.exec(url.pathname);
    if (all !== null) {
      if (this.unserved.has(`${all[1]}/${all[2]}`) || req.method !== 'GET') return status(res, 404, 'NotFound', `the server could not find the requested resource`);
      req.resume();
      const key = `*/${all[3]}`;
      const only = nameSelector(url.searchParams);
      if (only instanceof Error) return status(res, 400, 'BadRequest', only.message);
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') return this.watch(res, key, url.searchParams.get('resourceVersion'), only);
      return json(res, 200, { kind: 'List', apiVersion: `${all[1]}/${all[2]}`, metadata: { resourceVersion: String(this.rv) }, items: this.across(all[3]!).filter((o) => only === undefined || o.metadata.name === only) });
    }
    const core = CORE_PATH.exec(url.pathname);
    const m = core ? ([core[0], '', core[1], core[2], core[3], core[4]] as unknown as RegExpExecArray) : PATH.exec(url.pathname);
    if (!m) return status(res, 404, 'NotFound', `the server could not find the requested resource`);
    const [, group, version, namespace, plural, name] = m as unknown as [string, string, string, string, string, string | undefined];
    if (this.unserved.has(`${group}/${version}`)) return status(res, 404, 'NotFound', `the server could not find the requested resource`);
    const key = `${namespace}/${plural}`;
    const col = this.collection(key);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let obj: K8sObject | undefined;
      if (body !== '') {
        try {
          obj = JSON.parse(body) as K8sObject;
        } catch {
          return status(res, 400, 'BadRequest', 'invalid JSON body');
        }
      }
      const method = req.method ?? 'GET';
      if (name === undefined && method === 'GET') {
        const only = nameSelector(url.searchParams);
        if (only instanceof Error) return status(res, 400, 'BadRequest', only.message);
        const watch = url.searchParams.get('watch');
        if (watch === 'true' || watch === '1') return this.watch(res, key, url.searchParams.get('resourceVersion'), only);
        return json(res, 200, {
          kind: 'List',
          apiVersion: `${group}/${version}`,
          metadata: { resourceVersion: String(this.rv) },
          items: [...col.values()].filter((o) => only === undefined || o.metadata.name === only),
        });
      }
      if (name === undefined && method === 'POST') {
        if (!obj?.metadata?.name) return status(res, 422, 'Invalid', 'metadata.name: Required value');
        if (col.has(obj.metadata.name)) return status(res, 409, 'AlreadyExists', `${plural} "${obj.metadata.name}" already exists`);
        const stored = this.stamp(namespace, obj);
        col.set(stored.metadata.name, stored);
        this.record(key, 'ADDED', stored);
        return json(res, 201, stored);
      }
      if (name === undefined) return status(res, 405, 'MethodNotAllowed', 'method not allowed');
      const cur = col.get(name);
      if (method === 'GET') return cur ? json(res, 200, cur) : status(res, 404, 'NotFound', `${plural} "${name}" not found`);
      if (method === 'PUT') {
        if (!cur) return status(res, 404, 'NotFound', `${plural} "${name}" not found`);
        const want = obj?.metadata?.resourceVersion;
        if (want !== undefined && want !== '' && want !== cur.metadata.resourceVersion) {
          return status(res, 409, 'Conflict', `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
        }
        const stored = this.stamp(namespace, { ...obj!, metadata: { ...obj!.metadata, name } }, cur.metadata.uid);
        col.set(name, stored);
        this.record(key, 'MODIFIED', stored);
        return json(res, 200, stored);
      }
      if (method === 'DELETE') {
        if (!cur) return status(res, 404, 'NotFound', `${plural} "${name}" not found`);
        col.delete(name);
        this.rv++;
        const gone = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(this.rv) } };
        this.record(key, 'DELETED', gone);
        return json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: plural } });
      }
      return status(res, 405, 'MethodNotAllowed', 'method not allowed');
    });
  }

  /** Deletes an object as another client would (works while stopped, too). */
  deleteObject(namespace: string, plural: string, name: string): boolean {
    const key = `${namespace}/${plural}`;
    const cur = this.collection(key).get(name);
    if (!cur) return false;
    this.collection(key).delete(name);
    this.rv++;
    this.record(key, 'DELETED', { ...cur, metadata: { ...cur.metadata, resourceVersion: String(this.rv) } });
    return true;
  }

  /** Every namespace's objects of one plural, in the order they were first written. */
  private across(plural: string): K8sObject[] {
    const out: K8sObject[] = [];
    for (const [k, col] of this.objects) if (k.slice(k.indexOf('/') + 1) === plural) out.push(...col.values());
    return out;
  }

  private watch(res: ServerResponse, key: string, rvParam: string | null, name: string | undefined): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (rvParam === null || rvParam === '' || rvParam === '0') {
      const current = key.startsWith('*/') ? this.across(key.slice(2)) : [...this.collection(key).values()];
      for (const o of current) if (name === undefined || o.metadata.name === name) res.write(JSON.stringify({ type: 'ADDED', object: o }) + '\n');
    } else {
      const from = Number(rvParam);
      if (!Number.isInteger(from) || from < this.floor) {
        res.end(
          JSON.stringify({
            type: 'ERROR',
            object: {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              message: `too old resource version: ${rvParam} (${this.floor})`,
              reason: 'Expired',
              code: 410,
            },
          }) + '\n',
        );
        return;
      }
      const across = key.startsWith('*/') ? key.slice(1) : undefined;
      for (const ev of this.history) if ((ev.key === key || (across !== undefined && ev.key.endsWith(across))) && ev.rv > from && (name === undefined || ev.object.metadata.name === name)) res.write(JSON.stringify({ type: ev.type, object: ev.object }) + '\n');
    }
    if (this.watchEndsAtOnce) {
      res.end();
      return;
    }
    const w: Watcher = name === undefined ? { key, res } : { key, res, name };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export async function startFakeK8s(): Promise<FakeK8s> {
  const k = new FakeK8s();
  await k.start();
  return k;
}

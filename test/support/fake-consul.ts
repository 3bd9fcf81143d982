/**
 * An in-test Consul agent serving the KV API the way Consul does:
 * - `GET /v1/kv/<key>` (JSON list of {LockIndex, Key, Flags, Value (base64), CreateIndex,
 *   ModifyIndex}), `?recurse`, `?keys[&separator=/]`, `?raw`; 404 with an empty body when
 *   nothing matches; every read answers `X-Consul-Index`;
 * - blocking reads: `?index=N&wait=10s` hold the request until the matching keys' index
 *   (deletes included) passes N or the wait ends;
 * - `PUT` (body = value) and `DELETE`, both with `?cas=<ModifyIndex>` (cas=0: only if absent),
 *   answering `true` / `false`;
 * - ACL token (`X-Consul-Token` header or `?token=`) → 403 "Permission denied" when wrong;
 *   `?dc=` other than ours → 500 "No path to datacenter".
 * And the catalog of `setService`: `GET /v1/catalog/service/<name>` (entries with Node, Address,
 * Datacenter, NodeMeta, ServiceID, ServiceName, ServiceAddress, ServicePort, ServiceTags,
 * ServiceMeta) and `GET /v1/health/service/<name>` (entries {Node: {Node, Address, Datacenter,
 * Meta}, Service: {ID, Service, Address, Port, Tags, Meta}, Checks}), `?tag=`, `?passing`, with
 * blocking reads as above; `GET /v1/agent/self` ({Config: {Datacenter, NodeName, Server
 * [, Domain]}, [DebugConfig: {DNSDomain, Datacenter},] Meta}: `Domain` only when the `domain`
 * option is set, as Consul 0.x agents reported it; 1.x agents leave it out and report
 * DebugConfig.DNSDomain, given with `dnsDomain`), whose next answers `failAgentSelf` can turn
 * into errors.
 * With `tls` it serves HTTPS. `stop()` / `start()` keep port and data; `restoreWithIndex(n)` simulates a snapshot restore
 * that moves the index backwards.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { closeTracked, listenTracked } from './process.js';

interface KvEntry {
  LockIndex: number;
  Key: string;
  Flags: number;
  Value: string | null;
  CreateIndex: number;
  ModifyIndex: number;
}

interface Blocked {
  readonly matches: (key: string) => boolean;
  readonly after: number;
  readonly wake: () => void;
}

/** One catalog entry of a service (Consul's Node Address vs ServiceAddress). */
export interface FakeServiceInstance {
  readonly address: string;
  readonly port: number;
  readonly serviceAddress?: string;
  readonly node?: string;
  readonly tags?: readonly string[];
  /** The service instance's Meta (ServiceMeta / Service.Meta). */
  readonly meta?: Readonly<Record<string, string>>;
  /** The node's Meta (NodeMeta / Node.Meta). */
  readonly nodeMeta?: Readonly<Record<string, string>>;
  readonly status?: 'passing' | 'warning' | 'critical' | 'maintenance';
}

/** Service changes share the KV change table under a key no KV path can have. */
const SVC_KEY = '\u0000service/';

export interface FakeConsulOptions {
  readonly token?: string;
  readonly datacenter?: string;
  readonly startIndex?: number;
  /** The agent's DNS domain as /v1/agent/self's Config.Domain reports it (e.g. `consul.`); absent: left out. */
  readonly domain?: string;
  /** The agent's DNS domain as a Consul 1.x agent reports it, in DebugConfig.DNSDomain; absent: left out. */
  readonly dnsDomain?: string;
  /** Serve HTTPS with this certificate (Consul's `verify_incoming` setups); absent: HTTP. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

export class FakeConsul {
  port = 0;
  readonly host = '127.0.0.1';
  readonly datacenter: string;
  readonly token: string | undefined;
  readonly domain: string | undefined;
  readonly dnsDomain: string | undefined;
  /** Statuses the next /v1/agent/self reads answer with, in order. */
  private readonly agentFailures: number[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly kv = new Map<string, KvEntry>();
  /** Last index at which each key changed, deletes included (Consul's tombstones). */
  private readonly changed = new Map<string, number>();
  private index: number;
  private readonly blocked = new Set<Blocked>();
  private readonly services = new Map<string, readonly FakeServiceInstance[]>();
  readonly requests: string[] = [];

  private readonly tls: FakeConsulOptions['tls'];

  constructor(opts: FakeConsulOptions = {}) {
    this.tls = opts.tls;
    this.token = opts.token;
    this.datacenter = opts.datacenter ?? 'dc1';
    this.domain = opts.domain;
    this.dnsDomain = opts.dnsDomain;
    this.index = opts.startIndex ?? 1;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    const server = this.tls === undefined ? createServer(handler) : createHttpsServer(this.tls, handler);
    this.port = await listenTracked(server, this.sockets, this.port, this.host);
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const b of this.blocked) b.wake();
    this.blocked.clear();
    await closeTracked(s, this.sockets);
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get currentIndex(): number {
    return this.index;
  }

  /** Writes a value as another client would (works while stopped, too). */
  set(key: string, value: string): void {
    this.write(key, value);
  }

  getValue(key: string): string | undefined {
    const e = this.kv.get(key);
    return e ? Buffer.from(e.Value ?? '', 'base64').toString('utf8') : undefined;
  }

  /** Replaces the data set and sets the index back, as restoring an older snapshot does. */
  restoreWithIndex(index: number, data: Readonly<Record<string, string>>): void {
    this.kv.clear();
    this.changed.clear();
    this.index = index;
    for (const [k, v] of Object.entries(data)) {
      const e: KvEntry = { LockIndex: 0, Key: k, Flags: 0, Value: Buffer.from(v).toString('base64'), CreateIndex: index, ModifyIndex: index };
      this.kv.set(k, e);
      this.changed.set(k, index);
    }
  }

  private write(key: string, value: string): KvEntry {
    const idx = ++this.index;
    const prev = this.kv.get(key);
    const e: KvEntry = {
      LockIndex: 0,
      Key: key,
      Flags: 0,
      Value: value === '' ? null : Buffer.from(value).toString('base64'),
      CreateIndex: prev?.CreateIndex ?? idx,
      ModifyIndex: idx,
    };
    this.kv.set(key, e);
    this.touch(key, idx);
    return e;
  }

  /** Registers (replaces) a service's instances; an empty list deregisters it. */
  setService(name: string, instances: readonly FakeServiceInstance[]): void {
    const idx = ++this.index;
    if (instances.length === 0) this.services.delete(name);
    else this.services.set(name, instances);
    this.touch(SVC_KEY + name, idx);
  }

  /** The next /v1/agent/self reads answer these statuses (5xx: "agent unavailable"), one each. */
  failAgentSelf(...statuses: number[]): void {
    this.agentFailures.push(...statuses);
  }

  private agentSelf(res: ServerResponse): void {
    const fail = this.agentFailures.shift();
    if (fail !== undefined) return text(res, fail, fail === 403 ? 'Permission denied' : 'agent unavailable');
    const config: Record<string, unknown> = { Datacenter: this.datacenter, NodeName: 'fake-agent', Server: true };
    if (this.domain !== undefined) config['Domain'] = this.domain;
    const self: Record<string, unknown> = { Config: config, Meta: {} };
    if (this.dnsDomain !== undefined) self['DebugConfig'] = { DNSDomain: this.dnsDomain, Datacenter: this.datacenter };
    return json(res, 200, self, {});
  }

  private readService(res: ServerResponse, health: boolean, name: string, q: URLSearchParams): void {
    const key = SVC_KEY + name;
    const matches = (k: string) => k === key;
    const after = Number(q.get('index') ?? '0');
    const answer = () => {
      if (res.destroyed) return;
      const headers = { 'x-consul-index': String(this.indexFor(matches)), 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' };
      const tag = q.get('tag');
      const all = (this.services.get(name) ?? []).filter((i) => tag === null || (i.tags ?? []).includes(tag));
      if (!health) {
        return json(res, 200, all.map((i) => ({
          Node: i.node ?? 'n', Address: i.address, Datacenter: this.datacenter, NodeMeta: i.nodeMeta ?? {}, ServiceID: name, ServiceName: name,
          ServiceAddress: i.serviceAddress ?? '', ServicePort: i.port, ServiceTags: i.tags ?? [], ServiceMeta: i.meta ?? {},
        })), headers);
      }
      const passing = q.has('passing');
      const out = all.filter((i) => !passing || (i.status ?? 'passing') === 'passing').map((i) => ({
        Node: { Node: i.node ?? 'n', Address: i.address, Datacenter: this.datacenter, Meta: i.nodeMeta ?? {} },
        Service: { ID: name, Service: name, Address: i.serviceAddress ?? '', Port: i.port, Tags: i.tags ?? [], Meta: i.meta ?? {} },
        Checks: [{ CheckID: 'serfHealth', Status: i.status ?? 'passing' }],
      }));
      return json(res, 200, out, headers);
    };
    this.answerBlocking(res, matches, after, q, answer);
  }

  /**
   * A blocking query: answers at once unless `index` (`after`) is still current for the keys
   * `matches`; then holds the answer until one of them changes or `wait` ends.
   */
  private answerBlocking(res: ServerResponse, matches: (key: string) => boolean, after: number, q: URLSearchParams, answer: () => void): void {
    if (after > 0 && this.indexFor(matches) <= after) {
      const waitMs = Math.min(parseWait(q.get('wait') ?? '5m'), 600000);
      let done = false;
      const b: Blocked = {
        matches,
        after,
        wake: () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.blocked.delete(b);
          answer();
        },
      };
      const timer = setTimeout(b.wake, waitMs);
      this.blocked.add(b);
      res.on('close', () => {
        done = true;
        clearTimeout(timer);
        this.blocked.delete(b);
      });
      return;
    }
    answer();
  }

  private remove(key: string): void {
    const idx = ++this.index;
    this.kv.delete(key);
    this.touch(key, idx);
  }

  private touch(key: string, idx: number): void {
    this.changed.set(key, idx);
    for (const b of [...this.blocked]) if (b.matches(key) && idx > b.after) b.wake();
  }

  /** The index a read of these keys reports: the latest change among them, else the table's. */
  private indexFor(matches: (key: string) => boolean): number {
    let max = 0;
    for (const [k, i] of this.changed) if (matches(k) && i > max) max = i;
    return max > 0 ? max : this.index;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const q = url.searchParams;
    if (this.token !== undefined && (req.headers['x-consul-token'] ?? q.get('token')) !== this.token) {
      return text(res, 403, 'Permission denied');
    }
    const dc = q.get('dc');
    if (dc !== null && dc !== this.datacenter) return text(res, 500, `No path to datacenter`);
    if (url.pathname === '/v1/catalog/datacenters') return json(res, 200, [this.datacenter], {});
    if (url.pathname === '/v1/agent/self') return req.method === 'GET' ? this.agentSelf(res) : text(res, 405, 'method not allowed');
    const svc = /^\/v1\/(catalog|health)\/service\/([^/]+)$/.exec(url.pathname);
    if (svc) return this.readService(res, svc[1] === 'health', decodeURIComponent(svc[2]!), q);
    if (!url.pathname.startsWith('/v1/kv/')) return text(res, 404, 'not found');
    const key = decodeURIComponent(url.pathname.slice('/v1/kv/'.length));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const method = req.method ?? 'GET';
      if (method === 'GET') return this.read(req, res, key, q);
      if (method === 'PUT') {
        const cas = q.get('cas');
        if (cas !== null) {
          const cur = this.kv.get(key);
          const want = Number(cas);
          if (!(want === 0 ? cur === undefined : cur?.ModifyIndex === want)) return text(res, 200, 'false');
        }
        this.write(key, body);
        return text(res, 200, 'true');
      }
      if (method === 'DELETE') {
        if (q.has('recurse')) {
          for (const k of [...this.kv.keys()]) if (k.startsWith(key)) this.remove(k);
          return text(res, 200, 'true');
        }
        const cas = q.get('cas');
        const cur = this.kv.get(key);
        if (cas !== null && cur?.ModifyIndex !== Number(cas)) return text(res, 200, 'false');
        if (cur) this.remove(key);
        return text(res, 200, 'true');
      }
      return text(res, 405, 'method not allowed');
    });
  }

  private read(req: IncomingMessage, res: ServerResponse, key: string, q: URLSearchParams): void {
    const prefix = q.has('recurse') || q.has('keys');
    const matches = prefix ? (k: string) => k.startsWith(key) : (k: string) => k === key;
    const after = Number(q.get('index') ?? '0');
    const answer = () => {
      if (res.destroyed) return;
      const idx = this.indexFor(matches);
      const headers = { 'x-consul-index': String(idx), 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' };
      const found = [...this.kv.values()].filter((e) => matches(e.Key)).sort((a, b) => (a.Key < b.Key ? -1 : 1));
      if (found.length === 0) {
        res.writeHead(404, headers);
        return res.end();
      }
      if (q.has('keys')) {
        const sep = q.get('separator');
        const keys = new Set<string>();
        for (const e of found) {
          const rest = e.Key.slice(key.length);
          const cut = sep ? rest.indexOf(sep) : -1;
          keys.add(cut >= 0 ? key + rest.slice(0, cut + sep!.length) : e.Key);
        }
        return json(res, 200, [...keys], headers);
      }
      if (q.has('raw')) {
        res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' });
        return res.end(Buffer.from(found[0]!.Value ?? '', 'base64'));
      }
      return json(res, 200, found, headers);
    };
    this.answerBlocking(res, matches, after, q, answer);
  }
}

/** Consul durations: `10s`, `500ms`, `1m`. */
function parseWait(s: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) return 300000;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60000 : n * 1000;
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, code: number, body: unknown, headers: Record<string, string>): void {
  const t = JSON.stringify(body);
  res.writeHead(code, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(t) });
  res.end(t);
}

export async function startFakeConsul(opts: FakeConsulOptions = {}): Promise<FakeConsul> {
  const c = new FakeConsul(opts);
  await c.start();
  return c;
}

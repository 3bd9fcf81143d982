/**
 * `io.l5d.httpController`: namerd's HTTP API, as Linkerd's namerd serves it.
 *   GET  /api/1/dtabs                         namespaces (JSON list)
 *   HEAD|GET|POST|PUT|DELETE /api/1/dtabs/<ns> one dtab (JSON dentries or application/dtab),
 *        ETag = base64 of the store version, If-Match on PUT for compare-and-set
 *   GET  /api/1/bind/<ns>?path=&dtab=         bound tree JSON
 *   GET  /api/1/addr/<ns>?path=               Addr JSON of a bound id
 *   GET  /api/1/resolve/<ns>?path=&dtab=      Addr JSON of a logical name
 *   GET  /api/1/delegate/<ns>?path=&dtab=     delegation tree JSON (also /api/1/delegate?dtab=)
 *   GET  /api/1/bound-names                   bound ids namerd is serving
 * Every GET takes `?watch=true`: one JSON document per line per change, duplicates dropped.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { Dtab } from '../naming/dtab.js';
import { readDtab, readPath, showNameTree } from '../naming/index.js';
import type { Path } from '../naming/path.js';
import type { Closable, Var } from '../naming/contracts.js';
import type { Activity } from '../naming/activity.js';
import { addrToJson } from '../naming/bound.js';
import { boundTreeToJson, delegate, delegateTreeToJson, stringifyDelegateJson } from '../naming/delegator.js';
import { HOST_CHECK_OFF, answerClientErrors, lingerBeforeClose, refuseMissingHost, requestUrl } from '../admin/client-errors.js';
import { NamerError } from '../namers/errors.js';
import { NamerdError, NamespaceInvalidError } from './errors.js';
import type { Namespaces } from './namespaces.js';

export interface HttpControllerOptions {
  readonly ip: string;
  readonly port: number;
  /** Serve HTTPS with these options (the interface's `tls` block). */
  readonly tls?: TlsOptions;
  /** Longest a request body may be (dtabs are small). */
  readonly maxBodyBytes?: number;
}

const requireBuiltin = createRequire(import.meta.url);

const JSON_TYPE = 'application/json';
const DTAB_TYPE = 'application/dtab';
const API = '/api/1';

type Codec = { type: string; write(d: Dtab): string; read(body: string): Dtab };

const jsonCodec: Codec = {
  type: JSON_TYPE,
  write: (d) => JSON.stringify(dtabToJson(d)),
  read: (body) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw new BadRequest(`invalid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new BadRequest('expected a JSON list of {"prefix","dst"} dentries');
    const text = parsed
      .map((d: unknown, i) => {
        const o = d as { prefix?: unknown; dst?: unknown };
        if (typeof o !== 'object' || o === null || typeof o.prefix !== 'string' || typeof o.dst !== 'string') {
          throw new BadRequest(`dentry ${i}: expected {"prefix": string, "dst": string}`);
        }
        return `${o.prefix}=>${o.dst}`;
      })
      .join(';');
    return parseDtab(text);
  },
};

const textCodec = (type: string): Codec => ({ type, write: (d) => d.show(), read: parseDtab });

function codecFor(contentType: string | undefined): Codec | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === JSON_TYPE) return jsonCodec;
  if (ct === DTAB_TYPE || ct === 'text/plain') return textCodec(ct);
  return undefined;
}

function acceptCodec(accept: string | undefined): Codec {
  for (const t of (accept ?? '').split(',')) {
    const c = codecFor(t);
    if (c) return c;
  }
  return jsonCodec;
}

export function dtabToJson(d: Dtab): { prefix: string; dst: string }[] {
  return d.dentries.map((e) => ({ prefix: e.prefix.show(), dst: showNameTree(e.dst) }));
}

class BadRequest extends Error {}

function parseDtab(text: string): Dtab {
  try {
    return readDtab(text);
  } catch (e) {
    throw new BadRequest(`Invalid dtab: ${(e as Error).message}`);
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequest(`malformed percent-encoding in namespace '${s}'`);
  }
}

function parsePathParam(q: URLSearchParams): Path {
  const p = q.get('path');
  if (p === null) throw new BadRequest('missing required query parameter: path');
  try {
    return readPath(p);
  } catch (e) {
    throw new BadRequest(`Invalid path: ${p}\n${(e as Error).message}`);
  }
}

function extraDtab(q: URLSearchParams): Dtab {
  const d = q.get('dtab');
  return d === null || d.trim() === '' ? Dtab.empty : parseDtab(d);
}

export const versionToEtag = (v: string): string => Buffer.from(v, 'utf8').toString('base64');
export const etagToVersion = (e: string): string => Buffer.from(e.replace(/^"|"$/g, ''), 'base64').toString('utf8');

function statusOf(e: unknown): number {
  if (e instanceof BadRequest) return 400;
  if (e instanceof NamerdError) {
    switch (e.code) {
      case 'MESH_ERR_DTAB_EXISTS':
        return 409;
      case 'MESH_ERR_DTAB_NOT_FOUND':
        return 404;
      case 'MESH_ERR_DTAB_VERSION_MISMATCH':
        return 412;
      case 'MESH_ERR_STORE_UNAVAILABLE':
      case 'MESH_ERR_STORE_CLOSED':
        return 503;
      case 'MESH_ERR_NAMESPACE_INVALID':
      case 'MESH_ERR_DTAB_INVALID':
        return 400;
      default:
        return 500;
    }
  }
  // A bind that fails on the name the client asked for (`/$/inet/host/notaport`, a namer kind
  // that does not exist) is the request's fault; a namer whose backend is away is not.
  if (e instanceof NamerError) {
    if (e.code === 'MESH_ERR_UNKNOWN_NAMER' || e.code === 'MESH_ERR_NAMER_BAD_PATH') return 400;
    if (e.code === 'MESH_ERR_NAMER_UNAVAILABLE') return 503;
  }
  return 500;
}

function send(res: ServerResponse, status: number, body = '', type = 'text/plain'): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.statusCode = status;
  if (body !== '') res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // The rest is read and dropped, not cut off: destroying the request would reset the
        // connection before the client, still sending, could read the 400 saying why.
        reject(new BadRequest(`body larger than ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Streams a value over time as newline-delimited JSON; the observation is closed when the
 * client goes away. `render` returns undefined for states that are not shown (pending).
 */
function streamVar<T>(req: IncomingMessage, res: ServerResponse, v: Var<T>, render: (t: T) => Promise<string | undefined> | string | undefined, type = JSON_TYPE): void {
  // No framing field of our own: Node frames it chunked for HTTP/1.1 and to the close for an
  // HTTP/1.0 client, which cannot read chunked.
  res.writeHead(200, { 'content-type': type });
  // The head goes out now, so a watcher knows its watch is open before the first change.
  res.flushHeaders();
  let last: string | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  const sub: Closable = v.observe((t) => {
    chain = chain.then(async () => {
      if (closed) return;
      let line: string | undefined;
      try {
        line = await render(t);
      } catch (e) {
        line = JSON.stringify({ error: (e as Error).message });
      }
      if (line === undefined || line === last || closed) return;
      last = line;
      res.write(line + '\n');
    });
  });
  const stop = (): void => {
    closed = true;
    sub.close();
  };
  req.on('close', stop);
  res.on('close', stop);
}

function activityVar<T>(act: Activity<T>): Var<{ type: 'pending' } | { type: 'ok'; value: T } | { type: 'failed'; error: Error }> {
  return act.states;
}

export class HttpController {
  private server: Server | undefined;
  private readonly maxBody: number;

  constructor(
    private readonly namespaces: Namespaces,
    private readonly options: HttpControllerOptions,
  ) {
    this.maxBody = options.maxBodyBytes ?? 1 << 20;
  }

  async listen(): Promise<AddressInfo> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      if (refuseMissingHost(req, res)) return;
      this.handle(req, res).catch((e: unknown) => send(res, statusOf(e), (e as Error).message + '\n'));
    };
    const tls = this.options.tls;
    // node:https only when an interface serves TLS (it brings node:tls with it).
    const server: Server = tls === undefined ? createServer(HOST_CHECK_OFF, handler) : (requireBuiltin('node:https') as typeof import('node:https')).createServer({ ...HOST_CHECK_OFF, ...tls }, handler);
    answerClientErrors(server);
    lingerBeforeClose(server);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.ip, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Exposed for the admin server, which mounts the same API. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Not a URL (Node's parser lets `http://[::1` through), or one with a fragment: a 400.
    const url = requestUrl(req.url, 'http://namerd');
    if (typeof url === 'string') throw new BadRequest(url);
    const path = url.pathname;
    const q = url.searchParams;
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    const method = req.method ?? 'GET';

    if (path === `${API}/dtabs` || path === `${API}/dtabs/`) {
      if (method !== 'GET' && method !== 'HEAD') return send(res, 405, `method ${method} not allowed\n`);
      if (watch) return streamVar(req, res, activityVar(this.namespaces.store.list()), (s) => (s.type === 'ok' ? JSON.stringify(s.value) : undefined));
      const names = await this.namespaces.store.names();
      return send(res, 200, JSON.stringify(names), JSON_TYPE);
    }
    if (path.startsWith(`${API}/dtabs/`)) return this.dtabs(decodeSegment(path.slice(`${API}/dtabs/`.length)), method, req, res, watch);

    if (method !== 'GET') return send(res, 405, `method ${method} not allowed\n`);
    const route = /^\/api\/1\/(bind|addr|resolve|delegate)(?:\/(.+))?$/.exec(path);
    if (route) {
      const kind = route[1]!;
      const ns = route[2] !== undefined ? decodeSegment(route[2]) : undefined;
      const name = parsePathParam(q);
      const extra = extraDtab(q);
      if (kind === 'delegate') {
        const render = async (): Promise<string> => {
          const tree =
            ns === undefined
              ? await delegate(extra, name, this.namespaces.namers, { timeoutMs: 2000 })
              : await this.namespaces.delegate(ns, name, extra);
          return stringifyDelegateJson(await delegateTreeToJson(tree, { showTree: showNameTree }));
        };
        if (watch && ns !== undefined) {
          return streamVar(req, res, activityVar(this.namespaces.dtab(ns)), (s) => (s.type === 'ok' ? render() : undefined));
        }
        return send(res, 200, await render(), JSON_TYPE);
      }
      if (ns === undefined) return send(res, 404, `namespace required: ${API}/${kind}/<namespace>\n`);
      if (kind === 'bind') {
        const act = this.namespaces.bind(ns, name, extra);
        const render = async (s: ReturnType<typeof act.sample>): Promise<string | undefined> => {
          if (s.type === 'pending') return undefined;
          if (s.type === 'failed') return JSON.stringify({ type: 'fail', message: s.error.message });
          return JSON.stringify(await boundTreeToJson(s.value));
        };
        if (watch) return streamVar(req, res, act.states, render);
        const tree = await act.toPromise(5000);
        return send(res, 200, JSON.stringify(await boundTreeToJson(tree)), JSON_TYPE);
      }
      const addr = kind === 'addr' ? this.namespaces.addr(ns, name) : this.namespaces.resolve(ns, name, extra);
      const render = (a: ReturnType<typeof addr.sample>): string | undefined =>
        a.type === 'pending' ? undefined : JSON.stringify(addrToJson(a));
      if (watch) return streamVar(req, res, addr, render);
      const first = await firstNonPending(addr, 5000);
      return send(res, 200, render(first) ?? JSON.stringify({ type: 'pending' }), JSON_TYPE);
    }
    if (path === `${API}/bound-names`) {
      const v = this.namespaces.boundNames;
      if (watch) return streamVar(req, res, v, (names) => JSON.stringify(names));
      return send(res, 200, JSON.stringify(v.sample()), JSON_TYPE);
    }
    return send(res, 404, `not found: ${path}\n`);
  }

  private async dtabs(ns: string, method: string, req: IncomingMessage, res: ServerResponse, watch: boolean): Promise<void> {
    const store = this.namespaces.store;
    switch (method) {
      case 'GET':
      case 'HEAD': {
        const codec = acceptCodec(req.headers.accept);
        if (watch && method === 'GET') {
          const act = store.observe(ns);
          const first = act.states.sample();
          // A name the store refuses is a 400, as for a plain GET, not a stream that stays silent.
          if (first.type === 'failed' && first.error instanceof NamespaceInvalidError) throw first.error;
          return streamVar(
            req,
            res,
            activityVar(act),
            (s) => (s.type === 'ok' && s.value !== null ? codec.write(s.value.dtab as unknown as Dtab) : undefined),
            codec.type,
          );
        }
        const v = await store.get(ns);
        if (v === null) return send(res, 404, method === 'HEAD' ? '' : `dtab namespace '${ns}' does not exist\n`);
        res.setHeader('etag', versionToEtag(v.version));
        if (method === 'HEAD') return send(res, 200);
        return send(res, 200, codec.write(v.dtab as unknown as Dtab) + '\n', codec.type);
      }
      case 'POST':
      case 'PUT': {
        const codec = codecFor(req.headers['content-type']);
        if (!codec) {
          return send(res, 400, `unsupported content type '${req.headers['content-type'] ?? ''}'; use application/json, application/dtab or text/plain\n`);
        }
        const dtab = codec.read(await readBody(req, this.maxBody));
        if (method === 'POST') {
          await store.create(ns, dtab as never);
        } else {
          const ifMatch = req.headers['if-match'];
          if (typeof ifMatch === 'string') await store.update(ns, dtab as never, etagToVersion(ifMatch));
          else await store.put(ns, dtab as never);
        }
        return send(res, 204);
      }
      case 'DELETE':
        await store.delete(ns);
        return send(res, 204);
      default:
        res.setHeader('allow', 'GET, HEAD, POST, PUT, DELETE');
        return send(res, 405, `method ${method} not allowed\n`);
    }
  }
}

function firstNonPending<T extends { type: string }>(v: Var<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve) => {
    let sub: Closable | undefined;
    let done = false;
    const timer = setTimeout(() => finish(v.sample()), timeoutMs);
    const finish = (t: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => sub?.close());
      resolve(t);
    };
    sub = v.observe((t) => {
      if (t.type !== 'pending') finish(t);
    });
    if (done) sub.close();
  });
}

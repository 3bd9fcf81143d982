/**
 * `io.l5d.namerd.http`: a router interpreter that asks namerd's HTTP API (io.l5d.httpController)
 * instead of binding with local namers, as Linkerd's StreamingNamerClient does:
 *   bind(dtab, path)  follows GET /api/1/bind/<ns>?path=<path>&watch=true&dtab=<dtab>
 *   addr(id)          follows GET /api/1/addr/<ns>?path=<id>&watch=true
 * Each answer is one JSON document per line. One stream per (dtab, path) and per bound id is
 * shared by every observer and closed with the last one. When namerd goes away or a stream
 * ends, the last state stays in place (requests keep routing) and the stream reconnects with
 * exponential backoff from `retry.baseSeconds` up to `retry.maxSeconds`.
 *
 * Which dtab is sent: Linkerd sends the dtab the router hands its interpreter, and the router
 * hands it `baseDtab ++ localDtab` — the router's `dtab:` followed by the request's dentries:
 *   router/core/.../finagle/buoyant/Dst.scala:18  `namer.bind(baseDtab ++ localDtab, path)`
 *   router/http/.../MethodAndHostIdentifier.scala:27 (and the other identifiers)
 *     `Dst.Path(prefix ++ path, baseDtab(), Dtab.local)`, baseDtab = the router's `dtab`
 *     (linkerd/core/.../Router.scala:158 `RoutingFactory.BaseDtab(() => dtab)`)
 *   namerd/iface/control-http/.../StreamingNamerClient.scala:78-83 sends `"dtab" -> dtab.show`
 * (linkerd/linkerd at 1.7.5). namerd then binds with `<namespace dtab> ++ <that dtab>`. Our
 * router passes the same `base ++ local` to the interpreter, so it is sent unchanged.
 */
import { request as httpRequest, Agent as HttpAgent, type ClientRequest, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { Activity } from '../naming/activity.js';
import type { Addr, Address } from '../naming/addr.js';
import { addrEquals } from '../naming/bound.js';
import type { BoundName, Closable, Var } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import { EMPTY, FAIL, NEG, alt, leaf, union, weighted } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { InterpreterError, interpreterConfigError, type ConfigWhere } from './errors.js';
import { commonNameCheck, readTls, requireBuiltin, type NamerdTlsConfig } from './tls.js';
import { ADDR_PENDING, PENDING_STATE, backoffFrom, followStream, inetTarget, treeStateEquals, type Backoff, type BoundTree, type FollowStats, type InetTarget, type StreamSink, type TreeState } from './follow.js';

/** Past this many names the caches are dropped (live observers keep their streams). */
const MAX_CACHED = 10_000;
/** A single streamed document larger than this is refused (a bound tree is small). */
const MAX_LINE_BYTES = 8 << 20;
/** How much of an error response body is kept for the message. */
const MAX_ERROR_BODY = 4096;

export type { NamerdTlsConfig };

export interface NamerdHttpInterpreterConfig {
  readonly dst: string;
  readonly namespace?: string;
  readonly retry?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
  readonly tls?: NamerdTlsConfig;
}


interface Transport {
  readonly request: typeof httpRequest;
  readonly options: Record<string, unknown>;
}

export class NamerdHttpInterpreter {
  readonly namespace: string;
  readonly backoff: Backoff;
  /** Streams opened and ended, for tests and the admin page. */
  readonly stats: FollowStats = { opened: 0, ended: 0 };
  private readonly target: InetTarget;
  private readonly transport: Transport;
  private readonly bindPrefix: string;
  private readonly addrPrefix: string;
  private readonly addrs = new Map<string, Var<Addr>>();
  private readonly binds = new Map<string, Activity<BoundTree>>();
  private readonly open = new Set<ClientRequest>();

  constructor(
    config: NamerdHttpInterpreterConfig,
    private readonly readPath: (s: string) => Path,
    where?: ConfigWhere,
  ) {
    this.target = inetTarget(readPath(config.dst), where);
    this.namespace = config.namespace ?? 'default';
    if (this.namespace === '') throw interpreterConfigError(where, 'namespace', '', 'a non-empty namerd namespace');
    this.backoff = backoffFrom(config.retry);
    const ns = encodeURIComponent(this.namespace);
    this.bindPrefix = `/api/1/bind/${ns}?watch=true&path=`;
    this.addrPrefix = `/api/1/addr/${ns}?watch=true&path=`;
    this.transport = makeTransport(this.target, config.tls, where);
  }

  /** The Addr of a bound id, shared per id. */
  addr(id: Path): Var<Addr> {
    const key = id.show();
    let v = this.addrs.get(key);
    if (!v) {
      const url = this.addrPrefix + encodeURIComponent(key);
      v = followStream<Addr>(
        ADDR_PENDING,
        (sink) =>
          this.stream(url, sink, (line) => addrFromJson(JSON.parse(line)), (e): Addr => ({ type: 'failed', cause: e })),
        addrEquals,
        this.backoff,
        this.stats,
      );
      if (this.addrs.size >= MAX_CACHED) this.addrs.clear();
      this.addrs.set(key, v);
    }
    return v;
  }

  /** The bound tree of `path` under `dtab` (sent whole as namerd's request dtab), shared per key. */
  bind(dtab: Dtab, path: Path): Activity<BoundTree> {
    const dtabText = dtab.show();
    const pathText = path.show();
    const key = `${dtabText}\u0000${pathText}`;
    let act = this.binds.get(key);
    if (!act) {
      const url = this.bindPrefix + encodeURIComponent(pathText) + '&dtab=' + encodeURIComponent(dtabText);
      const states = followStream<TreeState>(
        PENDING_STATE,
        (sink) => this.stream(url, sink, (line) => this.treeState(line), (e): TreeState => ({ type: 'failed', error: e })),
        treeStateEquals,
        this.backoff,
        this.stats,
      );
      act = new Activity(states);
      if (this.binds.size >= MAX_CACHED) this.binds.clear();
      this.binds.set(key, act);
    }
    return act;
  }

  /**
   * The dtab playground for a router that follows namerd (Linkerd's StreamingNamerClient
   * `delegate`): namerd explains `path` under its namespace dtab followed by `dtab`, and its
   * JSON (`GET /api/1/delegate/<ns>?path=&dtab=`) is returned as namerd wrote it.
   */
  delegate(dtab: Dtab, path: Path, timeoutMs = 5000): Promise<unknown> {
    const url =
      `/api/1/delegate/${encodeURIComponent(this.namespace)}?path=` + encodeURIComponent(path.show()) + '&dtab=' + encodeURIComponent(dtab.show());
    return new Promise((resolve, reject) => {
      const req = this.transport.request({ ...this.transport.options, path: url, method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs });
      req.on('timeout', () => req.destroy(new InterpreterError('MESH_ERR_INTERPRETER_STREAM', `namerd did not answer ${url.slice(0, url.indexOf('?'))} within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.on('response', (res: IncomingMessage) => {
        res.setEncoding('utf8');
        let body = '';
        res.on('data', (c: string) => {
          if (body.length <= MAX_LINE_BYTES) body += c;
        });
        res.on('error', reject);
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `namerd answered ${res.statusCode} to ${url.slice(0, url.indexOf('?'))}: ${body.slice(0, MAX_ERROR_BODY).trim()}`));
            return;
          }
          try {
            resolve(JSON.parse(body));
          } catch (e) {
            reject(new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `unreadable answer from namerd: ${(e as Error).message}`));
          }
        });
      });
      req.end();
    });
  }

  /** Ends every open stream (observers keep their last state). */
  close(): void {
    for (const r of this.open) r.destroy();
    this.open.clear();
  }

  private treeState(line: string): TreeState {
    const j = JSON.parse(line) as Record<string, unknown>;
    // namerd's controller writes a failed binding as a root `fail` node with a message (a
    // tree's Fail node has none), and an answer it could not render as `{"error": ...}`.
    if (typeof j['error'] === 'string') return { type: 'failed', error: new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', j['error']) };
    if (j['type'] === 'fail' && typeof j['message'] === 'string') {
      return { type: 'failed', error: new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', j['message']) };
    }
    return { type: 'ok', value: this.treeFromJson(j) };
  }

  private treeFromJson(j: unknown): BoundTree {
    if (typeof j !== 'object' || j === null) throw shapeError('a bound tree node', j);
    const o = j as Record<string, unknown>;
    switch (o['type']) {
      case 'leaf': {
        const b = o['bound'] as Record<string, unknown> | undefined;
        if (!b || typeof b['id'] !== 'string') throw shapeError('a leaf with bound.id', j);
        const id = this.readPath(b['id']);
        const residual = typeof b['path'] === 'string' ? this.readPath(b['path']) : this.readPath('/');
        return leaf<BoundName>({ id, residual, addr: this.addr(id) });
      }
      case 'alt':
        if (!Array.isArray(o['alt'])) throw shapeError('an alt with a list', j);
        return alt(...o['alt'].map((t) => this.treeFromJson(t)));
      case 'union':
        if (!Array.isArray(o['union'])) throw shapeError('a union with a list', j);
        return union(
          ...o['union'].map((w: Record<string, unknown>) => {
            if (typeof w?.['weight'] !== 'number') throw shapeError('a weighted branch', w);
            return weighted(w['weight'], this.treeFromJson(w['tree']));
          }),
        );
      case 'neg':
        return NEG;
      case 'fail':
        return FAIL;
      case 'empty':
        return EMPTY;
      // Linkerd's namerd renders a bound tree through its delegate-tree JSON; accept its wrappers.
      case 'delegate':
        return this.treeFromJson(o['delegate']);
      case 'transformation':
        return this.treeFromJson(o['tree']);
      case 'exception':
        throw new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', String(o['message'] ?? 'exception'));
      default:
        throw shapeError('a bound tree node type', o['type']);
    }
  }

  /**
   * One watch request: every line becomes a value (a line that cannot be read becomes the
   * failure `onError` makes of it). A non-200 answer: 4xx is namerd refusing the request, so
   * it is published as a failure; otherwise the last state is kept. Either way the stream
   * ends and followStream reconnects after the backoff.
   */
  private stream<T>(url: string, sink: StreamSink<T>, parse: (line: string) => T, onError: (e: Error) => T): Closable {
    const req = this.transport.request({ ...this.transport.options, path: url, method: 'GET', headers: { accept: 'application/json' } });
    this.open.add(req);
    let done = false;
    const finish = (e?: Error): void => {
      if (done) return;
      done = true;
      this.open.delete(req);
      sink.end(e);
    };
    req.on('error', (e) => finish(e));
    req.on('close', () => finish(new InterpreterError('MESH_ERR_INTERPRETER_STREAM', 'namerd stream closed')));
    req.on('response', (res: IncomingMessage) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c: string) => {
          if (body.length < MAX_ERROR_BODY) body += c;
        });
        res.on('end', () => {
          const e = new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `namerd answered ${res.statusCode} to ${url.slice(0, url.indexOf('?'))}: ${body.slice(0, MAX_ERROR_BODY).trim()}`);
          if (res.statusCode! >= 400 && res.statusCode! < 500) sink.value(onError(e));
          finish(e);
        });
        return;
      }
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') {
            let v: T;
            try {
              v = parse(line);
            } catch (e) {
              v = onError(e instanceof InterpreterError ? e : new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `unreadable answer from namerd: ${(e as Error).message}`));
            }
            sink.value(v);
          }
          nl = buf.indexOf('\n');
        }
        if (buf.length > MAX_LINE_BYTES) {
          req.destroy(new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `namerd sent a line longer than ${MAX_LINE_BYTES} bytes`));
        }
      });
      res.on('end', () => finish(new InterpreterError('MESH_ERR_INTERPRETER_STREAM', 'namerd ended the stream')));
      res.on('error', (e) => finish(e));
    });
    req.end();
    return {
      close: () => {
        done = true;
        this.open.delete(req);
        req.destroy();
      },
    };
  }
}

function shapeError(expected: string, found: unknown): InterpreterError {
  return new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `unreadable bound tree from namerd: expected ${expected}, found ${JSON.stringify(found)}`);
}

/** Linkerd's Addr JSON (what `/api/1/addr` streams) as an Addr. */
export function addrFromJson(j: unknown): Addr {
  const o = (j ?? {}) as Record<string, unknown>;
  switch (o['type']) {
    case 'bound': {
      if (!Array.isArray(o['addrs'])) throw new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `bound Addr without addrs: ${JSON.stringify(j)}`);
      const addrs: Address[] = o['addrs'].map((a: Record<string, unknown>) => {
        if (typeof a?.['ip'] !== 'string' || typeof a['port'] !== 'number') {
          throw new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `address without ip/port: ${JSON.stringify(a)}`);
        }
        return { host: a['ip'], port: a['port'], meta: (a['meta'] as Record<string, unknown>) ?? {} };
      });
      return { type: 'bound', addrs, meta: (o['meta'] as Record<string, unknown>) ?? {} };
    }
    case 'neg':
      return { type: 'neg' };
    case 'pending':
      return { type: 'pending' };
    case 'failed':
      return { type: 'failed', cause: new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', String(o['cause'] ?? 'failed')) };
    default:
      throw new InterpreterError('MESH_ERR_INTERPRETER_RESPONSE', `unreadable Addr from namerd: ${JSON.stringify(j)}`);
  }
}

/** Plain HTTP, or HTTPS when `tls` is on (its files are read once, here). */
function makeTransport(target: InetTarget, tls: NamerdTlsConfig | undefined, where: ConfigWhere | undefined): Transport {
  const base = { host: target.host, port: target.port };
  const m = readTls(tls, where);
  // One socket per watch: streams never finish, so there is nothing to keep alive.
  if (!m) return { request: httpRequest, options: { ...base, agent: new HttpAgent({ keepAlive: false }) } };
  const { request: httpsRequest, Agent: HttpsAgent } = requireBuiltin('node:https') as typeof import('node:https');
  const opts: Record<string, unknown> = { rejectUnauthorized: m.rejectUnauthorized };
  if (m.ca) opts['ca'] = m.ca;
  if (m.cert) opts['cert'] = m.cert;
  if (m.key) opts['key'] = m.key;
  const cn = m.commonName;
  if (cn !== undefined) {
    if (isIP(cn) === 0) opts['servername'] = cn;
    opts['checkServerIdentity'] = commonNameCheck(cn);
  }
  return { request: httpsRequest as unknown as typeof httpRequest, options: { ...base, ...opts, agent: new HttpsAgent({ keepAlive: false }) } };
}

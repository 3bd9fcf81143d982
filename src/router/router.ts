/**
 * One HTTP router (a `routers[]` entry): identifies each request, binds its logical name
 * under `base ++ l5d-ctx-dtab ++ l5d-dtab`, and sends it through the service stack of that
 * name and the client stack of the chosen bound id. Stacks are built once per name / id and
 * cached; the request path reads snapshots.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Activity, BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import type { Counter, Metrics, Stat } from '../telemetry/metrics.js';
import type { IdentifyRequest, IdentifyResult } from './identifiers/identifier.js';
import { createClassifier } from './classifiers/index.js';
import { BindingCache } from './binding-cache.js';
import { Client, type ClassifyFn, type ClientParams } from './client.js';
import { errorResponse, rawErrorResponse, respondWithError } from './error-responder.js';
import { RouterError, noBrokersMessage } from './errors.js';
import { BodyKind, Exchange, type UpstreamResponse } from './exchange.js';
import * as H from './headers.js';
import { accrualFactory, balancerFactory, requeueBudgetFactory, retryBackoff, retryBudgetFactory } from './plugin-adapters.js';
import { PrefixConfigs } from './service-config.js';
import { ServiceStack } from './service-stack.js';

type Obj = Readonly<Record<string, unknown>>;

export type IdentifyFn = (req: IdentifyRequest) => IdentifyResult;

/** A parsed dtab as the router needs it (the naming core's Dtab satisfies this). */
export interface DtabLike {
  readonly size: number;
  show(): string;
  concat(other: DtabLike): DtabLike;
}

export interface RouterDeps<D extends DtabLike = DtabLike> {
  readonly label: string;
  readonly baseDtab: D;
  readonly identify: IdentifyFn;
  readonly parseDtab: (s: string) => D;
  readonly bind: (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  /** Applies interpreter transformers to a bound tree activity (identity when none). */
  readonly metrics: Metrics;
  /** The raw `routers[i]` config (validated and defaulted by src/config). */
  readonly config: Obj;
}

class ReqView implements IdentifyRequest {
  constructor(private readonly req: IncomingMessage) {}
  get method(): string {
    return this.req.method ?? 'GET';
  }
  get url(): string {
    return this.req.url ?? '/';
  }
  get httpVersion(): string {
    return this.req.httpVersion;
  }
  header(name: string): string | undefined {
    const v = this.req.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

/** Per-server settings the router needs while handling a request. */
export interface ServerContext {
  readonly clearContext: boolean;
  readonly addForwardedHeader: Obj | undefined;
  readonly scope: readonly string[];
  readonly requests: Counter;
  readonly success: Counter;
  readonly failures: Counter;
  readonly latency: Stat;
  readonly statusCounters: Map<number, Counter>;
  readonly localAddress: string;
  readonly localPort: number;
  /** Requests that already passed this many proxies (`Via` entries) are refused (loops). */
  readonly maxCallDepth: number;
}

const BUFFER_LIMIT = 64 * 1024;

export class Router<D extends DtabLike = DtabLike> {
  readonly label: string;
  private readonly bindings: BindingCache;
  private readonly dtabs = new Map<string, D>();
  private readonly services = new Map<string, ServiceStack>();
  private readonly clients = new Map<string, Client>();
  private readonly clientConfigs: PrefixConfigs;
  private readonly serviceConfigs: PrefixConfigs;
  private readonly bindingTimeoutMs: number;
  private readonly clientCapacity: number;
  private readonly clientIdleMs: number;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private readonly baseDtabText: string;
  private readonly maxInitialLineBytes: number;
  private readonly maxHeadersBytes: number;

  constructor(private readonly deps: RouterDeps<D>) {
    this.label = deps.label;
    const cfg = deps.config;
    const cache = (cfg['bindingCache'] as Obj | undefined) ?? {};
    const num = (o: Obj, k: string, d: number): number => (typeof o[k] === 'number' ? (o[k] as number) : d);
    this.bindingTimeoutMs = num(cfg, 'bindingTimeoutMs', 10_000);
    this.maxInitialLineBytes = num(cfg, 'maxInitialLineKB', 4) * 1024;
    this.maxHeadersBytes = num(cfg, 'maxHeadersKB', 8) * 1024;
    const idleTtlMs = num(cache, 'idleTtlSecs', 600) * 1000;
    this.clientCapacity = num(cache, 'clients', 1000);
    this.clientIdleMs = idleTtlMs;
    this.baseDtabText = deps.baseDtab.show();
    this.bindings = new BindingCache(
      (dtabKey, path) => deps.bind(this.dtabs.get(dtabKey) ?? deps.baseDtab, path),
      num(cache, 'trees', 1000),
      idleTtlMs,
    );
    this.dtabs.set(this.baseDtabText, deps.baseDtab);
    this.clientConfigs = new PrefixConfigs(cfg['client'] as Obj | undefined);
    this.serviceConfigs = new PrefixConfigs(cfg['service'] as Obj | undefined);
    if (idleTtlMs > 0) {
      this.sweeper = setInterval(() => this.sweepClients(), Math.min(Math.max(idleTtlMs / 2, 50), 60_000));
      this.sweeper.unref();
    }
  }

  get limits(): { maxInitialLineBytes: number; maxHeadersBytes: number } {
    return { maxInitialLineBytes: this.maxInitialLineBytes, maxHeadersBytes: this.maxHeadersBytes };
  }

  /** Handles one request from a server; never throws (errors become responses). */
  handle(req: IncomingMessage, res: ServerResponse | undefined, srv: ServerContext, upgrade?: { socket: Duplex; head: Buffer }): void {
    const started = Date.now();
    srv.requests.incr();
    let ex: Exchange | undefined;
    const finish = (status: number): void => {
      srv.latency.add(Date.now() - started);
      if (status >= 500) srv.failures.incr();
      else srv.success.incr();
      let c = srv.statusCounters.get(status);
      if (c === undefined) {
        c = this.deps.metrics.counter([...srv.scope, 'status', String(status)]);
        srv.statusCounters.set(status, c);
      }
      c.incr();
    };
    const fail = (err: unknown): void => {
      const r = errorResponse(err, srv.clearContext);
      finish(r.status);
      if (res !== undefined) respondWithError(res, err, srv.clearContext);
      else if (upgrade !== undefined) {
        upgrade.socket.end(rawErrorResponse(err, srv.clearContext));
      }
    };
    try {
      ex = this.prepare(req, res, srv, upgrade);
    } catch (err) {
      fail(err);
      return;
    }
    const exchange = ex;
    if (res !== undefined) {
      res.once('close', () => {
        if (!res.writableFinished) {
          exchange.aborted = true;
          exchange.cancel?.();
        }
      });
    }
    this.dispatch(exchange).then(
      (rsp) => {
        finish(rsp.status);
        if (rsp.upgraded !== undefined && upgrade !== undefined) this.spliceUpgrade(rsp, upgrade, srv);
        else if (res !== undefined) this.writeResponse(rsp, res, srv);
        else if (upgrade !== undefined) this.writeRawResponse(rsp, upgrade.socket, srv);
      },
      fail,
    );
  }

  /** Reads the request head into an Exchange: headers edited, context read, name identified. */
  private prepare(req: IncomingMessage, res: ServerResponse | undefined, srv: ServerContext, upgrade: { socket: Duplex; head: Buffer } | undefined): Exchange {
    const raw = req.rawHeaders;
    const out: string[] = [];
    let ctxDtab = '';
    let userDtab = '';
    let via: string[] | undefined;
    let deadlines: string[] | undefined;
    let trace: string | undefined;
    let sample: number | undefined;
    let connectionTokens: string[] | undefined;
    let contentLength = -1;
    let chunked = false;
    let expectContinue = false;
    const clear = srv.clearContext;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      const value = raw[i + 1]!;
      if (lower.charCodeAt(0) === 108 /* l */ && lower.startsWith('l5d-')) {
        if (lower === H.H_DTAB) {
          if (!clear) userDtab = userDtab === '' ? value : userDtab + ';' + value;
        } else if (lower === H.H_CTX_DTAB) {
          if (!clear) ctxDtab = ctxDtab === '' ? value : ctxDtab + ';' + value;
        } else if (lower === H.H_CTX_TRACE) {
          if (!clear) trace = value;
        } else if (lower === H.H_CTX_DEADLINE) {
          if (!clear) (deadlines ??= []).push(value);
        } else if (lower === H.H_SAMPLE) {
          const n = Number(value);
          if (!clear && value.trim() !== '' && Number.isFinite(n)) sample = n;
        } else if (lower.startsWith('l5d-ctx-')) {
          if (!clear) out.push(name, value);
        } else if (lower === H.H_DST_SERVICE || lower === H.H_DST_CLIENT || lower === H.H_DST_RESIDUAL || lower === H.H_REQID) {
          // Set afresh by this router.
        } else if (!clear) {
          out.push(name, value);
        }
        continue;
      }
      if (lower === 'via') {
        (via ??= []).push(value);
        continue;
      }
      if (lower === 'connection') {
        for (const t of value.split(',')) (connectionTokens ??= []).push(t.trim().toLowerCase());
        continue;
      }
      if (lower === 'content-length') {
        contentLength = Number(value);
      } else if (lower === 'transfer-encoding') {
        chunked = true;
      } else if (lower === 'expect') {
        if (value.trim().toLowerCase() === '100-continue') expectContinue = true;
      }
      if (H.HOP_BY_HOP.has(lower) && !(upgrade !== undefined && lower === 'upgrade')) continue;
      out.push(name, value);
    }
    if (connectionTokens !== undefined) {
      for (let j = out.length - 2; j >= 0; j -= 2) {
        const l = out[j]!.toLowerCase();
        if (connectionTokens.includes(l) && !(upgrade !== undefined && l === 'upgrade')) out.splice(j, 2);
      }
    }
    if (upgrade !== undefined) out.push('Connection', 'Upgrade');

    const depth = via === undefined ? 0 : H.viaDepth(via);
    if (depth >= srv.maxCallDepth) {
      throw new RouterError('MESH_ERR_ROUTER_CALL_DEPTH', `Maximum call depth ${srv.maxCallDepth} exceeded: the request passed ${depth} proxies (routing loop?)`);
    }
    out.push('Via', via === undefined ? H.VIA_ENTRY : via.join(', ') + ', ' + H.VIA_ENTRY);

    // Request dtabs: base ++ l5d-ctx-dtab ++ l5d-dtab (request entries win).
    let localText = '';
    if (ctxDtab !== '' || userDtab !== '') {
      let local: D | undefined;
      try {
        const ctx = ctxDtab === '' ? undefined : this.deps.parseDtab(ctxDtab);
        const user = userDtab === '' ? undefined : this.deps.parseDtab(userDtab);
        local = ctx === undefined ? user : user === undefined ? ctx : (ctx.concat(user) as D);
      } catch (e) {
        const which = userDtab !== '' ? H.H_DTAB : H.H_CTX_DTAB;
        throw new RouterError('MESH_ERR_ROUTER_BAD_DTAB', `Invalid dtab in ${which} header: ${(e as Error).message}`);
      }
      if (local !== undefined && local.size > 0) {
        localText = local.show();
        const fullKey = this.baseDtabText + '\n' + localText;
        if (!this.dtabs.has(fullKey)) {
          if (this.dtabs.size > 10_000) this.dtabs.clear();
          this.dtabs.set(fullKey, this.deps.baseDtab.concat(local) as D);
        }
        out.push(H.H_CTX_DTAB, localText);
      }
    }

    const parentTrace = H.decodeTrace(trace);
    const t = H.childTrace(parentTrace, sample);
    out.push(H.H_CTX_TRACE, H.encodeTrace(t), H.H_REQID, t.traceId);
    if (deadlines !== undefined) {
      const d = H.parseDeadline(deadlines);
      if (d !== undefined) out.push(H.H_CTX_DEADLINE, H.formatDeadline(d.timestampNs, d.deadlineNs));
    }
    if (srv.addForwardedHeader !== undefined) {
      out.push('Forwarded', forwardedValue(srv.addForwardedHeader, req, srv, this.label));
    }

    const id = this.deps.identify(new ReqView(req));
    if (id.type === 'unidentified') {
      throw new RouterError('MESH_ERR_ROUTER_UNIDENTIFIED', `Unknown destination: ${req.method} ${req.url} / ${id.reason}`);
    }
    const url = id.rewrittenUrl ?? req.url ?? '/';
    if (id.rewrittenHost !== undefined) {
      // Proxy-form request: forwarded in origin-form with the authority as Host.
      let replaced = false;
      for (let j = 0; j < out.length; j += 2) {
        if (out[j]!.toLowerCase() === 'host') {
          out[j + 1] = id.rewrittenHost;
          replaced = true;
        }
      }
      if (!replaced) out.push('Host', id.rewrittenHost);
    }
    out.push(H.H_DST_SERVICE, id.dst.show());

    let bodyKind = BodyKind.None;
    if (upgrade === undefined && (chunked || contentLength > 0)) {
      bodyKind = !chunked && !expectContinue && contentLength <= BUFFER_LIMIT ? BodyKind.Buffered : BodyKind.Stream;
    }
    const ex = new Exchange(
      req,
      req.method ?? 'GET',
      url,
      out,
      bodyKind,
      expectContinue && bodyKind === BodyKind.Stream,
      res !== undefined ? () => res.writeContinue() : undefined,
      upgrade,
    );
    ex.dst = id.dst;
    ex.localDtab = localText;
    return ex;
  }

  private async dispatch(ex: Exchange): Promise<UpstreamResponse> {
    if (ex.bodyKind === BodyKind.Buffered) ex.body = await readBody(ex.inbound, BUFFER_LIMIT);
    const dst = ex.dst!;
    const key = dst.show();
    let svc = this.services.get(key);
    if (svc === undefined) {
      svc = this.makeService(dst);
      this.services.set(key, svc);
    }
    return svc.call(ex);
  }

  private makeService(dst: Path): ServiceStack {
    const p = this.serviceConfigs.paramsFor(dst);
    const retries = (p['retries'] as Obj | undefined) ?? {};
    const classifierCfg = p['responseClassifier'] as Obj | undefined;
    const classifier = createClassifier(classifierCfg);
    const classify: ClassifyFn = (method, status, err) => classifier.classify(method, status, err);
    const scope = ['rt', this.label, 'service', dst.show().slice(1)];
    return new ServiceStack({
      scope,
      metrics: this.deps.metrics,
      totalTimeoutMs: typeof p['totalTimeoutMs'] === 'number' ? (p['totalTimeoutMs'] as number) : 0,
      budget: retryBudgetFactory(retries['budget'] as Obj | undefined)(),
      backoff: retryBackoff(retries['backoff'] as Obj | undefined),
      classify,
      attempt: (ex) => this.attempt(ex, classify),
    });
  }

  /** One attempt: read the current bound tree, pick a branch, call that client. */
  private async attempt(ex: Exchange, classify: ClassifyFn): Promise<UpstreamResponse> {
    const dtabKey = ex.localDtab === '' ? this.baseDtabText : this.baseDtabText + '\n' + ex.localDtab;
    const entry = this.bindings.get(dtabKey, ex.dst!);
    if (entry.state.type === 'pending') await entry.settled(this.bindingTimeoutMs);
    const st = entry.state;
    if (st.type === 'pending') {
      throw new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${this.bindingTimeoutMs}ms binding timeout while resolving name: ${ex.dst!.show()}`, {
        interrupted: true,
      });
    }
    if (st.type === 'failed') {
      throw new RouterError('MESH_ERR_ROUTER_BINDING_FAILED', `failed to bind ${ex.dst!.show()}: ${st.error.message}`);
    }
    const bound = pickLeaf(st.value);
    const noBrokers = (): RouterError =>
      new RouterError('MESH_ERR_ROUTER_NO_BROKERS', noBrokersMessage(ex.dst!.show(), this.baseDtabText, ex.localDtab));
    if (bound === undefined) throw noBrokers();
    const idText = bound.id.show();
    const client = this.clientFor(idText, bound);
    ex.clientId = idText;
    ex.residual = bound.residual.show();
    ex.setHeader(H.H_DST_CLIENT, idText);
    if (bound.residual.isEmpty) ex.removeHeader(H.H_DST_RESIDUAL);
    else ex.setHeader(H.H_DST_RESIDUAL, ex.residual);
    return client.call(ex, classify, noBrokers);
  }

  private clientFor(idText: string, bound: BoundName): Client {
    let c = this.clients.get(idText);
    if (c !== undefined) return c;
    const p = this.clientConfigs.paramsFor(bound.id);
    const pool = (p['hostConnectionPool'] as Obj | undefined) ?? {};
    const session = (p['clientSession'] as Obj | undefined) ?? {};
    const n = (o: Obj, k: string, d: number): number => (typeof o[k] === 'number' ? (o[k] as number) : d);
    const params: ClientParams = {
      requestAttemptTimeoutMs: n(p, 'requestAttemptTimeoutMs', 0),
      pool: { maxSize: n(pool, 'maxSize', 0), minSize: n(pool, 'minSize', 0), idleTimeMs: n(pool, 'idleTimeMs', 0), maxWaiters: n(pool, 'maxWaiters', Infinity) },
      sessionIdleTimeMs: n(session, 'idleTimeMs', 0),
      failFast: p['failFast'] === true,
      balancer: balancerFactory(p['loadBalancer'] as Obj | undefined),
      accrual: accrualFactory(p['failureAccrual'] as Obj | undefined),
      requeueBudget: requeueBudgetFactory(p['requeueBudget'] as Obj | undefined),
      bindingTimeoutMs: this.bindingTimeoutMs,
    };
    c = new Client(idText, bound.addr, params, this.deps.metrics, ['rt', this.label, 'client', idText.slice(1)]);
    this.clients.set(idText, c);
    while (this.clients.size > this.clientCapacity) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.get(oldest)!.close();
      this.clients.delete(oldest);
    }
    return c;
  }

  private sweepClients(): void {
    const cutoff = Date.now() - this.clientIdleMs;
    for (const [k, c] of this.clients) {
      if (c.lastUsed < cutoff) {
        c.close();
        this.clients.delete(k);
      }
    }
  }

  private writeResponse(rsp: UpstreamResponse, res: ServerResponse, srv: ServerContext): void {
    const out = responseHeaders(rsp.rawHeaders, srv.clearContext);
    const body = rsp.body!;
    try {
      res.writeHead(rsp.status, rsp.statusMessage, out);
    } catch (e) {
      body.destroy();
      respondWithError(res, new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', `invalid response from upstream: ${(e as Error).message}`), srv.clearContext);
      return;
    }
    body.on('error', () => res.destroy());
    body.once('close', () => {
      if (!body.complete) res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) body.destroy();
    });
    body.pipe(res);
  }

  /** A non-101 answer to an upgrade request, written straight to the client socket. */
  private writeRawResponse(rsp: UpstreamResponse, socket: Duplex, srv: ServerContext): void {
    const out = responseHeaders(rsp.rawHeaders, srv.clearContext);
    let head = `HTTP/1.1 ${rsp.status} ${rsp.statusMessage}\r\n`;
    let hasLength = false;
    for (let i = 0; i < out.length; i += 2) {
      if (out[i]!.toLowerCase() === 'content-length') hasLength = true;
      head += `${out[i]}: ${out[i + 1]}\r\n`;
    }
    head += 'Connection: close\r\n\r\n';
    socket.write(head);
    const body = rsp.body!;
    if (!hasLength) {
      body.resume();
      socket.end();
      return;
    }
    body.pipe(socket);
    body.once('error', () => socket.destroy());
  }

  private spliceUpgrade(rsp: UpstreamResponse, up: { socket: Duplex; head: Buffer }, srv: ServerContext): void {
    const upstream = rsp.upgraded!;
    const out = responseHeaders(rsp.rawHeaders, srv.clearContext, true);
    let head = `HTTP/1.1 ${rsp.status} ${rsp.statusMessage}\r\n`;
    for (let i = 0; i < out.length; i += 2) head += `${out[i]}: ${out[i + 1]}\r\n`;
    up.socket.write(head + '\r\n');
    if (upstream.head.length > 0) up.socket.write(upstream.head);
    if (up.head.length > 0) upstream.socket.write(up.head);
    upstream.socket.pipe(up.socket);
    up.socket.pipe(upstream.socket);
    const kill = (): void => {
      upstream.socket.destroy();
      up.socket.destroy();
    };
    upstream.socket.once('error', kill);
    up.socket.once('error', kill);
    // A tunnel lives as long as both ends: when either goes away, the other is closed too.
    upstream.socket.once('close', kill);
    up.socket.once('close', kill);
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.bindings.close();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.services.clear();
  }
}

/** Evaluates a bound tree for one request: a weighted random choice through unions. */
export function pickLeaf(tree: NameTree<BoundName>, rng: () => number = Math.random): BoundName | undefined {
  for (let depth = 0; depth < 100; depth++) {
    switch (tree.type) {
      case 'leaf':
        return tree.value;
      case 'union': {
        let total = 0;
        for (const w of tree.trees) if (w.weight > 0) total += w.weight;
        if (total <= 0) return undefined;
        let r = rng() * total;
        let chosen = tree.trees[tree.trees.length - 1]!.tree;
        for (const w of tree.trees) {
          if (w.weight <= 0) continue;
          r -= w.weight;
          if (r < 0) {
            chosen = w.tree;
            break;
          }
        }
        tree = chosen;
        break;
      }
      case 'alt': {
        const next = tree.trees.find((t) => t.type !== 'neg');
        if (next === undefined) return undefined;
        tree = next;
        break;
      }
      default:
        return undefined;
    }
  }
  return undefined;
}

function responseHeaders(raw: readonly string[], clearContext: boolean, keepUpgrade = false): string[] {
  const out: string[] = [];
  let tokens: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'connection') {
      for (const t of raw[i + 1]!.split(',')) (tokens ??= []).push(t.trim().toLowerCase());
      if (keepUpgrade) out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (lower === 'transfer-encoding') continue;
    if (H.HOP_BY_HOP.has(lower) && !(keepUpgrade && lower === 'upgrade')) continue;
    if (clearContext && (lower === H.H_ERR || lower === H.H_RETRYABLE || lower === 'l5d-success-class')) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  if (tokens !== undefined && !keepUpgrade) {
    for (let j = out.length - 2; j >= 0; j -= 2) if (tokens.includes(out[j]!.toLowerCase())) out.splice(j, 2);
  }
  return out;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        req.destroy();
        reject(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'request body larger than its Content-Length'));
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('aborted', () => reject(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'client closed the request before its body was read', { interrupted: true })));
  });
}

const RANDOM_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function obfuscated(): string {
  let s = '_';
  for (let i = 0; i < 7; i++) s += RANDOM_CHARS[Math.floor(Math.random() * RANDOM_CHARS.length)];
  return s;
}

/** RFC 7239 `Forwarded` with Linkerd's labelers (ip, ip:port, requestRandom, router, static). */
function forwardedValue(cfg: Obj, req: IncomingMessage, srv: ServerContext, label: string): string {
  const lab = (k: Obj | undefined, ip: string, port: number): string => {
    const kind = (k?.['kind'] as string | undefined) ?? 'requestRandom';
    const host = ip.includes(':') ? `"[${ip}]"` : ip;
    switch (kind) {
      case 'ip':
        return host;
      case 'ip:port':
        return ip.includes(':') ? `"[${ip}]:${port}"` : `"${ip}:${port}"`;
      case 'router':
        return '_' + label.replace(/[^A-Za-z0-9._-]/g, '');
      case 'static':
        return '_' + String(k?.['label'] ?? '').replace(/[^A-Za-z0-9._-]/g, '');
      default:
        return obfuscated();
    }
  };
  const by = lab(cfg['by'] as Obj | undefined, srv.localAddress, srv.localPort);
  const forIp = req.socket.remoteAddress ?? 'unknown';
  const f = lab(cfg['for'] as Obj | undefined, forIp, req.socket.remotePort ?? 0);
  const host = req.headers.host;
  return `by=${by};for=${f}${host !== undefined ? `;host=${host}` : ''};proto=http`;
}

/**
 * Test support for router tests: tiny observables, a text-only dtab, loopback upstreams and a
 * router + server started on port 0. Naming is faked here so router behaviour is tested on
 * its own; test/e2e covers the real naming core through the CLI.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Addr } from '../../src/naming/addr.js';
import type { Activity, ActivityState, BoundName, Closable, Var } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { leaf } from '../../src/naming/name-tree.js';
import { Path } from '../../src/naming/path.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { createIdentifier } from '../../src/router/identifiers/index.js';
import { Router } from '../../src/router/router.js';
import type { DtabLike } from '../../src/router/router-base.js';
import { RouterServer, serverOptions } from '../../src/router/server.js';
import type { Tracer } from '../../src/telemetry/tracing.js';

export class TestVar<T> implements Var<T> {
  private observers = new Set<(v: T) => void>();
  constructor(private value: T) {}
  sample(): T {
    return this.value;
  }
  observe(fn: (v: T) => void): Closable {
    this.observers.add(fn);
    fn(this.value);
    return { close: () => void this.observers.delete(fn) };
  }
  set(v: T): void {
    this.value = v;
    for (const f of [...this.observers]) f(v);
  }
  get observerCount(): number {
    return this.observers.size;
  }
}

export function activity<T>(v: TestVar<ActivityState<T>>): Activity<T> {
  return { states: v };
}

export function okTree(t: NameTree<BoundName>): TestVar<ActivityState<NameTree<BoundName>>> {
  return new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'ok', value: t });
}

export function inetAddr(...ports: number[]): TestVar<Addr> {
  return new TestVar<Addr>({ type: 'bound', addrs: ports.map((port) => ({ host: '127.0.0.1', port, meta: {} })), meta: {} });
}

export function bound(id: string, addr: Var<Addr>, residual = Path.empty): BoundName {
  return { id: Path.fromElems(id.split('/').filter((e) => e !== '')), addr, residual };
}

export function boundLeaf(id: string, addr: Var<Addr>): NameTree<BoundName> {
  return leaf(bound(id, addr));
}

/**
 * The deps of a message router (tcp, thrift, mux) with label `label`: every name binds to `id`
 * (an io.l5d.fs name) at `addr`, names come from `dstPrefix` /svc, metrics go to a registry of
 * its own, and `config` joins the router's config (its `client`, say).
 */
export function messageRouterDeps(label: string, addr: Var<Addr>, config: Record<string, unknown> = {}, id = '/#/io.l5d.fs/web') {
  return {
    label,
    baseDtab: parseTextDtab('/svc=>/#/io.l5d.fs'),
    dstPrefix: Path.utf8('svc'),
    readPath: (s: string): Path => Path.utf8(...s.split('/').filter((e) => e !== '')),
    parseDtab: parseTextDtab,
    bind: (): Activity<NameTree<BoundName>> => activity(okTree(boundLeaf(id, addr))),
    metrics: new MetricsRegistry({ snapshotIntervalMs: 0 }),
    config: { label, ...config },
  };
}

/** A dtab that is only its text: enough for the router, which only shows and concatenates. */
export class TextDtab implements DtabLike {
  constructor(readonly text: string) {}
  get size(): number {
    return this.text === '' ? 0 : this.text.split(';').filter((s) => s.trim() !== '').length;
  }
  show(): string {
    return this.text;
  }
  concat(other: DtabLike): DtabLike {
    if (other.size === 0) return this;
    if (this.size === 0) return other;
    return new TextDtab(this.text + ';' + other.show());
  }
}

export function parseTextDtab(s: string): TextDtab {
  const text = s
    .split(';')
    .map((d) => d.replace(/\s+/g, ''))
    .filter((d) => d !== '');
  for (const d of text) if (!/^\/[^=]*=>.+$/.test(d)) throw new Error(`bad dentry '${d}'`);
  return new TextDtab(text.join(';'));
}

export interface Upstream {
  readonly port: number;
  readonly server: http.Server;
  requests: number;
  close(): Promise<void>;
}

export async function upstream(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Upstream> {
  const server = http.createServer();
  const u = {
    port: 0,
    server,
    requests: 0,
    close: async (): Promise<void> => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('request', (req, res) => {
    u.requests++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.port = (server.address() as AddressInfo).port;
  return u;
}

/** Replies with the received method, url and headers as JSON. */
export function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

export interface TestRouter {
  readonly port: number;
  readonly router: Router<TextDtab>;
  readonly server: RouterServer;
  readonly metrics: MetricsRegistry;
  readonly binds: string[];
  close(): Promise<void>;
}

/**
 * A router over a fake interpreter: `trees` maps `<dtab>|<path>` or just `<path>` to a bound
 * tree activity state var.
 */
export async function startRouter(opts: {
  trees: Record<string, TestVar<ActivityState<NameTree<BoundName>>>>;
  dtab?: string;
  config?: Record<string, unknown>;
  server?: Record<string, unknown>;
  label?: string;
  tracer?: Tracer;
}): Promise<TestRouter> {
  const metrics = new MetricsRegistry({ snapshotIntervalMs: 0 });
  const binds: string[] = [];
  const baseDtab = parseTextDtab(opts.dtab ?? '/svc=>/#/io.l5d.fs');
  const config: Record<string, unknown> = { label: opts.label ?? 'http', ...(opts.config ?? {}) };
  const identifier = createIdentifier(config['identifier'] as Record<string, unknown> | undefined, { dstPrefix: Path.utf8('svc') });
  const router = new Router<TextDtab>({
    label: config.label as string,
    baseDtab,
    identify: (r) => identifier.identify(r),
    parseDtab: parseTextDtab,
    bind: (dtab, path) => {
      binds.push(`${dtab.show()}|${path.show()}`);
      const v = opts.trees[`${dtab.show()}|${path.show()}`] ?? opts.trees[path.show()];
      if (v === undefined) return activity(new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'ok', value: { type: 'neg' } }));
      return activity(v);
    },
    metrics,
    config,
    tracer: opts.tracer ?? null,
  });
  const server = new RouterServer(router as unknown as Router, serverOptions({ ip: '127.0.0.1', port: 0, ...(opts.server ?? {}) }), metrics);
  const a = await server.listen();
  return {
    port: a.port,
    router,
    server,
    metrics,
    binds,
    close: async () => {
      await server.close(0);
      router.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes, returns everything the server wrote until it closed (bounded by `ms`). */
export function rawExchange(port: number, bytes: string | Buffer, ms = 2000, halfClose = false): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    // halfClose: the server sees the end of input instead of waiting for more bytes.
    if (halfClose) s.end(bytes);
    else s.write(bytes);
  });
}

/**
 * The admin server: Linkerd's admin endpoints, the dashboard, and whatever routes telemeters
 * and other areas add. Everything an endpoint needs from the rest of the process comes in as a
 * callback, so the server is wired the same way by `meshwork linkerd`, namerd and tests:
 *
 *   const admin = createAdminServer({ config: cfg.admin, metrics, routes: telemetry.adminRoutes,
 *     delegate, routers, configJson, clientState, boundNames, namerState, onShutdown });
 *   await admin.listen();  ...  await admin.close();
 *
 * Nothing changes state on GET: the only state-changing endpoint, `/admin/shutdown`, is POST
 * only and sits in the `control` security category.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MetricsRegistry } from '../telemetry/metrics-registry.js';
import { json, text, type AdminRequest, type AdminResponse, type AdminRoute } from '../telemetry/telemeter.js';
import { ADMIN_DEFAULT_IP, ADMIN_DEFAULT_PORT, ADMIN_DEFAULT_SHUTDOWN_GRACE_MS, type AdminConfig } from './config.js';
import { HOST_CHECK_OFF, answerClientErrors, lingerBeforeClose, refuseMissingHost, requestUrl } from './client-errors.js';
import { AdminError, DelegateRejection } from './errors.js';
import { SecurityFilter } from './security.js';
import { cpuProfileRoute } from './profile.js';

export type { AdminRequest, AdminResponse, AdminRoute } from '../telemetry/telemeter.js';

export interface RouterSummary {
  readonly label: string;
  readonly protocol?: string;
  /** The router's base dtab, shown in the playground. */
  readonly dtab?: string;
}

/**
 * Explains how `path` delegates under the router `namespace`'s dtab plus `dtab`, answering the
 * delegation tree JSON of docs/naming-semantics.md. `namespace` is undefined when the request
 * named none (Linkerd then uses the configured namers only). Throw `DelegateRejection` for
 * Linkerd's 400/501 answers.
 */
export type DelegateFn = (namespace: string | undefined, dtab: string, path: string) => unknown | Promise<unknown>;

export interface AdminServerOptions {
  readonly config?: AdminConfig;
  readonly metrics: MetricsRegistry;
  /** Extra routes (telemeters, namers, interpreters). A path may be claimed once. */
  readonly routes?: readonly AdminRoute[];
  readonly delegate?: DelegateFn;
  /** Routers for the dashboard and playground; derived from `rt/<label>` metrics when absent. */
  readonly routers?: () => readonly RouterSummary[];
  /** `/config.json`: the loaded config as JSON. */
  readonly configJson?: () => unknown;
  /** `/client_state.json`: `{ "<client name>": { "state": "bound", "addresses": ["ip:port"] } }`. */
  readonly clientState?: () => unknown | Promise<unknown>;
  /** `/bound-names.json`: bound ids known to enumerating namers. */
  readonly boundNames?: () => readonly string[] | Promise<readonly string[]>;
  /** `/namer_state/<prefix>.json`; return undefined for an unknown prefix (404). */
  readonly namerState?: (prefix: string) => unknown | Promise<unknown>;
  /** Called after `POST /admin/shutdown` was answered; absent: the endpoint answers 501. */
  readonly onShutdown?: (graceMs: number) => void | Promise<void>;
  /** `linkerd` or `namerd`, for `/admin/server_info`. */
  readonly appName?: string;
  readonly version?: string;
  /** Linkerd gives a delegation 2 s before answering 503. */
  readonly delegateTimeoutMs?: number;
  /** Used when `config.port` is absent (namerd: 9991). */
  readonly defaultPort?: number;
  /**
   * false: leave out linkerd's dashboard pages (`/`, `/delegator`, `/requests`, `/clients`) so
   * a process with its own UI (namerd) can serve `/` through `routes`; `/files/*` stays served
   * so such pages can reuse common.js, admin.css and delegator.js. Default true.
   */
  readonly dashboard?: boolean;
}

export interface AdminServer {
  /** Binds `ip:port` (loopback 127.0.0.1:9990 by default). */
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
  address(): AddressInfo | null;
  /** Base URL once listening, e.g. `http://127.0.0.1:9990`. */
  url(): string;
  addRoute(route: AdminRoute): void;
  /** The paths served, sorted (what `/admin` lists). */
  paths(): string[];
}

const MAX_BODY = 1 << 20;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html;charset=utf-8',
  '.css': 'text/css;charset=utf-8',
  '.js': 'text/javascript;charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** The dashboard files live in src/admin/assets; the compiled server runs from dist/src/admin. */
export function findAssetsDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'assets'), join(here, '..', '..', '..', 'src', 'admin', 'assets')];
  for (const c of candidates) if (existsSync(join(c, 'dashboard.html'))) return c;
  throw new AdminError('MESH_ERR_ADMIN_ASSETS_MISSING', `admin dashboard assets not found in ${candidates.join(' or ')}`, { candidates });
}

function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const dir = findAssetsDir();
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const f of readdirSync(dir)) {
    const type = CONTENT_TYPES[extname(f)];
    if (type !== undefined) out.set(f, { type, body: readFileSync(join(dir, f)) });
  }
  return out;
}

function isJsonType(ct: string | undefined): boolean {
  return ct !== undefined && ct.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
const TIMED_OUT = Symbol('timed out');

export function createAdminServer(opts: AdminServerOptions): AdminServer {
  const cfg = opts.config ?? {};
  const security = new SecurityFilter(cfg.security);
  const exact = new Map<string, AdminRoute>();
  const prefixes: AdminRoute[] = [];
  const startedAt = Date.now();
  const graceMs = cfg.shutdownGraceMs ?? ADMIN_DEFAULT_SHUTDOWN_GRACE_MS;
  let shuttingDown = false;

  const addRoute = (r: AdminRoute): void => {
    const taken = r.path.endsWith('/') && r.path !== '/' ? prefixes.some((p) => p.path === r.path) : exact.has(r.path);
    if (taken) throw new AdminError('MESH_ERR_ADMIN_ROUTE_CONFLICT', `admin route ${r.path} is already served`, { path: r.path });
    if (r.path.endsWith('/') && r.path !== '/') prefixes.push(r);
    else exact.set(r.path, r);
  };

  const routers = (): readonly RouterSummary[] => {
    if (opts.routers !== undefined) return opts.routers();
    const rt = opts.metrics.root.children.get('rt');
    return rt === undefined ? [] : [...rt.children.keys()].map((label) => ({ label }));
  };

  // ---- built-in endpoints ------------------------------------------------------------------
  const builtins: AdminRoute[] = [
    { path: '/admin/ping', handle: () => text(200, 'pong') },
    {
      path: '/admin/metrics.json',
      handle: (req) => {
        const q = req.query.get('q');
        let node = opts.metrics.root;
        let prefix: string[] = [];
        if (q !== null && q !== '') {
          const found = opts.metrics.resolveWithPath(q);
          if (found === undefined) return json(404, { error: `No such subtree: ${q}` });
          node = found.node;
          prefix = found.path;
        }
        const pretty = req.query.get('pretty') === '1' || req.query.get('pretty') === 'true';
        const tree = req.query.get('tree') === '1' || req.query.get('tree') === 'true';
        let value: Record<string, unknown> = tree ? opts.metrics.treeJson(node) : opts.metrics.flatJson(node, prefix);
        if (pretty && !tree) value = Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        return { status: 200, headers: { 'content-type': 'application/json;charset=utf-8' }, body: JSON.stringify(value, null, pretty ? 2 : undefined) };
      },
    },
    { path: '/config.json', handle: () => json(200, opts.configJson?.() ?? {}) },
    { path: '/admin/routers.json', handle: () => json(200, routers()) },
    {
      path: '/delegator.json',
      methods: ['GET', 'HEAD', 'POST'],
      handle: (req) => delegatorJson(req),
    },
    { path: '/client_state.json', handle: async () => json(200, (await opts.clientState?.()) ?? {}) },
    { path: '/bound-names.json', handle: async () => json(200, (await opts.boundNames?.()) ?? []) },
    {
      path: '/namer_state/',
      handle: async (req) => {
        const rest = req.path.slice('/namer_state/'.length);
        if (!rest.endsWith('.json') || rest.length <= 5) return text(404, `no namer state at ${req.path}`);
        const prefix = '/' + rest.slice(0, -5);
        const state = await opts.namerState?.(prefix);
        return state === undefined ? text(404, `no namer with prefix ${prefix}`) : json(200, state);
      },
    },
    {
      path: '/admin/server_info',
      handle: () =>
        json(200, {
          name: opts.appName ?? 'meshwork',
          version: opts.version ?? '0.1.0',
          node: process.version,
          pid: process.pid,
          start_time: new Date(startedAt).toISOString(),
          uptime: Date.now() - startedAt,
        }),
    },
    {
      path: '/admin/shutdown',
      methods: ['POST'],
      handle: () => {
        if (opts.onShutdown === undefined) return text(501, 'shutdown is not available in this process');
        shuttingDown = true;
        return text(200, 'shutting down');
      },
    },
    cpuProfileRoute(),
    { path: '/admin', handle: () => text(200, paths().join('\n') + '\n') },
    { path: '/admin/index.txt', handle: () => text(200, paths().join('\n') + '\n') },
  ];

  async function delegatorJson(req: AdminRequest): Promise<AdminResponse> {
    let ns: string | undefined;
    let dtab: string | undefined;
    let path: string | undefined;
    if (req.method === 'POST') {
      // Linkerd answered an empty 415; a client is told what to send instead.
      if (!isJsonType(req.headers['content-type'] as string | undefined)) return text(415, `Unsupported content type '${String(req.headers['content-type'] ?? '')}': a delegation request is application/json`);
      const raw = req.body.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const o = parsed as Record<string, unknown> | undefined;
      if (o === undefined || o === null || typeof o !== 'object' || typeof o['dtab'] !== 'string' || typeof o['path'] !== 'string') {
        return text(400, `Malformed delegation request: ${raw}`);
      }
      ns = typeof o['namespace'] === 'string' ? o['namespace'] : undefined;
      dtab = o['dtab'];
      path = o['path'];
    } else {
      ns = req.query.get('namespace') ?? undefined;
      dtab = req.query.get('dtab') ?? '';
      path = req.query.get('path') ?? undefined;
    }
    if (path === undefined || path === '') return text(400, 'Invalid path: a path is required');
    if (opts.delegate === undefined) return text(501, `Name Interpreter for ${ns ?? 'default'} cannot show delegations`);
    try {
      const tree = await withTimeout(Promise.resolve(opts.delegate(ns, dtab, path)), opts.delegateTimeoutMs ?? 2000);
      if (tree === TIMED_OUT) return text(503, 'Request timed out.');
      return json(200, tree);
    } catch (e) {
      if (e instanceof DelegateRejection) {
        if (e.reason === 'invalidDtab') return text(400, `Invalid dtab: ${e.message}`);
        if (e.reason === 'invalidPath') return text(400, `Invalid path: ${e.message}`);
        return text(501, `Name Interpreter for ${ns ?? 'default'} cannot show delegations`);
      }
      return text(500, (e as Error).message ?? String(e));
    }
  }

  for (const r of builtins) addRoute(r);

  // ---- dashboard pages and files (only when the UI is on: no assets loaded otherwise) -------
  if (security.uiEnabled) {
    const assets = loadAssets();
    const page = (file: string) => (): AdminResponse => {
      const a = assets.get(file)!;
      return { status: 200, headers: { 'content-type': a.type, 'cache-control': 'no-cache' }, body: a.body };
    };
    if (opts.dashboard !== false) {
      addRoute({ path: '/', handle: page('dashboard.html') });
      addRoute({ path: '/delegator', handle: page('delegator.html') });
      addRoute({ path: '/requests', handle: page('requests.html') });
      addRoute({ path: '/clients', handle: page('clients.html') });
    }
    addRoute({
      path: '/files/',
      handle: (req) => {
        const a = assets.get(req.path.slice('/files/'.length));
        if (a === undefined) return text(404, `no file ${req.path}`);
        return { status: 200, headers: { 'content-type': a.type, 'cache-control': 'no-cache' }, body: a.body };
      },
    });
  }
  for (const r of opts.routes ?? []) addRoute(r);

  function paths(): string[] {
    return [...exact.keys(), ...prefixes.map((p) => p.path)].sort();
  }

  function findRoute(path: string): AdminRoute | undefined {
    const r = exact.get(path);
    if (r !== undefined) return r;
    for (const p of prefixes) if (path.startsWith(p.path)) return p;
    return undefined;
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = requestUrl(req.url, 'http://admin');
    if (typeof url === 'string') return send(res, method, text(400, `${url}\n`));
    const path = url.pathname;
    if (!security.allows(path)) return send(res, method, text(403, `forbidden by admin security: ${path}\n`));
    const route = findRoute(path);
    if (route === undefined) return send(res, method, text(404, `not found: ${path}\n`));
    const methods = route.methods ?? ['GET', 'HEAD'];
    if (!methods.includes(method)) {
      return send(res, method, { status: 405, headers: { allow: methods.join(', '), 'content-type': 'text/plain;charset=utf-8' }, body: `method ${method} not allowed on ${path}\n` });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) return send(res, method, text(413, 'request body too large\n'));
      chunks.push(c);
    }
    const response = await route.handle({ method, path, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks) });
    send(res, method, response);
    if (shuttingDown && path === '/admin/shutdown' && opts.onShutdown !== undefined) {
      const fn = opts.onShutdown;
      res.on('finish', () => void Promise.resolve(fn(graceMs)).catch(() => {}));
    }
  }

  function send(res: ServerResponse, method: string, r: AdminResponse): void {
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
    res.writeHead(r.status, { ...r.headers, 'content-length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
  }

  let server: Server;
  const tlsOn = cfg.tls !== undefined && cfg.tls.enabled !== false;
  if (cfg.tls !== undefined && tlsOn) {
    const read = (path: string, key: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new AdminError('MESH_ERR_ADMIN_TLS', `admin.tls.${key}: found ${JSON.stringify(path)}; allowed: a readable PEM file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { key: `admin.tls.${key}` });
      }
    };
    const key = read(cfg.tls.keyPath, 'keyPath');
    let cert = read(cfg.tls.certPath, 'certPath');
    if (cfg.tls.intermediateCertsPath !== undefined) cert = Buffer.concat([cert, Buffer.from('\n'), read(cfg.tls.intermediateCertsPath, 'intermediateCertsPath')]);
    const ca = cfg.tls.caCertPath !== undefined ? read(cfg.tls.caCertPath, 'caCertPath') : undefined;
    if (cfg.tls.requireClientAuth === true && ca === undefined) {
      throw new AdminError('MESH_ERR_ADMIN_TLS', 'admin.tls.caCertPath: found undefined; allowed: the CA that signs client certificates (requireClientAuth is true)', { key: 'admin.tls.caCertPath' });
    }
    // Loaded only for a TLS admin port: node:https and node:tls hold ~1.3 MB resident.
    const { createServer: createHttpsServer } = createRequire(import.meta.url)('node:https') as typeof import('node:https');
    server = createHttpsServer({
      ...HOST_CHECK_OFF,
      key,
      cert,
      ...(ca !== undefined ? { ca } : {}),
      requestCert: cfg.tls.requireClientAuth === true,
      rejectUnauthorized: cfg.tls.requireClientAuth === true,
      ...(cfg.tls.ciphers !== undefined ? { ciphers: cfg.tls.ciphers.join(':') } : {}),
    });
  } else {
    server = createHttpServer(HOST_CHECK_OFF);
  }
  answerClientErrors(server);
  lingerBeforeClose(server);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (refuseMissingHost(req, res)) return;
    serve(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, req.method ?? 'GET', text(500, `${(e as Error).message ?? String(e)}\n`));
      else res.destroy();
    });
  });
  const scheme = tlsOn ? 'https' : 'http';

  return {
    listen: () =>
      new Promise<AddressInfo>((resolve, reject) => {
        server.once('error', reject);
        server.listen(cfg.port ?? opts.defaultPort ?? ADMIN_DEFAULT_PORT, cfg.ip ?? ADMIN_DEFAULT_IP, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    address: () => (server.listening ? (server.address() as AddressInfo) : null),
    url: () => {
      const a = server.address() as AddressInfo | null;
      if (a === null) return '';
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      return `${scheme}://${host}:${a.port}`;
    },
    addRoute,
    paths,
  };
}

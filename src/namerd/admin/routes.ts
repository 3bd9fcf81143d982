/**
 * namerd's admin page: `/` lists the namespaces of the dtab store, each with its dtab, and lets
 * an operator create, edit (compare-and-set on the store version) and delete them, with the
 * dtab playground beside the editor. The admin server runs in the namerd process, so these
 * routes talk to the store directly rather than through the HTTP controller (which may not be
 * configured, and would be another origin for the browser).
 *
 *   GET  /namespaces.json     [{"namespace","dtab","version"}] sorted by namespace; a stored
 *                             value that does not parse is {"namespace","error":{"code","message"}}
 *   POST /namespaces/create   {"namespace","dtab"}            201 {"namespace","dtab","version"}
 *   POST|PUT /namespaces/save {"namespace","dtab","version"}  200 {"namespace","dtab","version"}
 *   POST /namespaces/delete   {"namespace"[,"version"]}       200 {"namespace"}
 *   /delegator.json           (the admin server's) explains with namerd's namers: without a
 *                             namespace through the given dtab alone (the page sends the
 *                             edited, unsaved dtab), with one through its stored dtab ++ dtab.
 *
 * Errors are JSON `{"code","message"}`: 400 MESH_ERR_DTAB_INVALID (`Invalid dtab: <parser
 * message>`), MESH_ERR_NAMESPACE_INVALID or MESH_ERR_NAMERD_ADMIN_BODY; 404
 * MESH_ERR_DTAB_NOT_FOUND; 409 MESH_ERR_DTAB_EXISTS; 412 MESH_ERR_DTAB_VERSION_MISMATCH; 415
 * MESH_ERR_NAMERD_ADMIN_CONTENT_TYPE; 503 MESH_ERR_STORE_UNAVAILABLE.
 *
 * Security: the three writes change state, so they sit in the admin server's `control`
 * category with `/admin/shutdown` (refused with 403 when `admin.security.controlEnabled` is
 * false); `/namespaces.json` and the page are `ui`. Writes take only application/json, which a
 * cross-site form cannot send without a CORS preflight the admin server never grants.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDelegateInput } from '../../admin/delegate-input.js';
import type { AdminRequest, AdminResponse, AdminRoute, DelegateFn } from '../../admin/server.js';
import { delegate, delegateTreeToJson } from '../../naming/delegator.js';
import { Dtab } from '../../naming/dtab.js';
import { readDtab, showNameTree } from '../../naming/index.js';
import { DtabVersionMismatchError, NamerdError } from '../errors.js';
import type { Namespaces } from '../namespaces.js';
import { NamerdAdminError } from './errors.js';

export interface NamerdAdminPage {
  /** Pass to `createAdminServer({ routes, dashboard: false })`. */
  readonly routes: readonly AdminRoute[];
  /** Pass to `createAdminServer({ delegate })` for `/delegator.json`. */
  readonly delegate: DelegateFn;
}

export interface NamerdAdminPageOptions {
  /** How long a delegation may wait for namers and leaf Addrs (Linkerd: 2 s). */
  readonly delegateTimeoutMs?: number;
}

/** The page's files: `/` and these names under `/files/` (next to linkerd's common files). */
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html;charset=utf-8' },
  '/files/namerd-namespaces.js': { file: 'namespaces.js', type: 'text/javascript;charset=utf-8' },
  '/files/namerd-namespaces.css': { file: 'namespaces.css', type: 'text/css;charset=utf-8' },
};

/** The assets live in src/namerd/admin/assets; the compiled routes run from dist/src/namerd/admin. */
export function findPageAssetsDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'assets'), join(here, '..', '..', '..', '..', 'src', 'namerd', 'admin', 'assets')];
  for (const c of candidates) if (existsSync(join(c, 'index.html'))) return c;
  throw new NamerdAdminError('MESH_ERR_NAMERD_ADMIN_ASSETS_MISSING', `namerd admin page assets not found in ${candidates.join(' or ')}`, { candidates });
}

const JSON_TYPE = 'application/json;charset=utf-8';

function jsonResponse(status: number, value: unknown): AdminResponse {
  return { status, headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body: JSON.stringify(value) };
}

function errorResponse(status: number, code: string, message: string): AdminResponse {
  return jsonResponse(status, { code, message });
}

/** A request the route refuses before touching the store. */
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  MESH_ERR_DTAB_EXISTS: 409,
  MESH_ERR_DTAB_NOT_FOUND: 404,
  MESH_ERR_DTAB_VERSION_MISMATCH: 412,
  MESH_ERR_STORE_UNAVAILABLE: 503,
  MESH_ERR_STORE_CLOSED: 503,
  MESH_ERR_NAMESPACE_INVALID: 400,
  MESH_ERR_DTAB_INVALID: 400,
};

function failure(e: unknown): AdminResponse {
  if (e instanceof Refused) return errorResponse(e.status, e.code, e.message);
  if (e instanceof NamerdError) return errorResponse(STATUS_BY_CODE[e.code] ?? 500, e.code, e.message);
  const err = e as { code?: unknown; message?: unknown };
  return errorResponse(500, typeof err.code === 'string' ? err.code : 'MESH_ERR_INTERNAL', String(err.message ?? e));
}

/** The JSON object body of a write; every listed field must be a string (optional ones may be absent). */
function readBody(req: AdminRequest, required: readonly string[], optional: readonly string[] = []): Record<string, string> {
  const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    throw new Refused(415, 'MESH_ERR_NAMERD_ADMIN_CONTENT_TYPE', `expected content-type application/json, found '${ct}'`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body.toString('utf8'));
  } catch (e) {
    throw new Refused(400, 'MESH_ERR_NAMERD_ADMIN_BODY', `request body is not JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Refused(400, 'MESH_ERR_NAMERD_ADMIN_BODY', 'request body must be a JSON object');
  }
  const o = parsed as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const k of [...required, ...optional]) {
    const v = o[k];
    if (v === undefined && optional.includes(k)) continue;
    if (typeof v !== 'string') {
      throw new Refused(400, 'MESH_ERR_NAMERD_ADMIN_BODY', `field '${k}' must be a string, found ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
    }
    out[k] = v;
  }
  return out;
}

function parseDtab(text: string): Dtab {
  try {
    return readDtab(text);
  } catch (e) {
    throw new Refused(400, 'MESH_ERR_DTAB_INVALID', `Invalid dtab: ${(e as Error).message}`);
  }
}

export function namerdAdminPage(namespaces: Namespaces, options: NamerdAdminPageOptions = {}): NamerdAdminPage {
  const store = namespaces.store;
  const timeoutMs = options.delegateTimeoutMs ?? 2000;
  const dir = findPageAssetsDir();
  // Read once when namerd starts: the files are small and never change while it runs.
  const files = new Map(Object.entries(ASSETS).map(([path, a]) => [path, { type: a.type, body: readFileSync(join(dir, a.file)) }]));

  const current = async (ns: string): Promise<AdminResponse> => {
    const v = await store.get(ns);
    if (v === null) return errorResponse(404, 'MESH_ERR_DTAB_NOT_FOUND', `dtab namespace '${ns}' does not exist`);
    return jsonResponse(200, { namespace: ns, dtab: v.dtab.show(), version: v.version });
  };

  const list = async (): Promise<AdminResponse> => {
    try {
      const names = (await store.names()).sort();
      // one read per namespace, all at once: remote stores answer each in a round trip
      const rows = await Promise.all(
        names.map(async (ns) => {
          try {
            const v = await store.get(ns);
            return v === null ? undefined : { namespace: ns, dtab: v.dtab.show(), version: v.version };
          } catch (e) {
            if (e instanceof NamerdError && e.code === 'MESH_ERR_STORED_DTAB_INVALID') return { namespace: ns, error: { code: e.code, message: e.message } };
            throw e;
          }
        }),
      );
      // a namespace deleted between names() and get() is not listed
      return jsonResponse(200, rows.filter((r) => r !== undefined));
    } catch (e) {
      return failure(e);
    }
  };

  const create = async (req: AdminRequest): Promise<AdminResponse> => {
    try {
      const b = readBody(req, ['namespace', 'dtab']);
      await store.create(b['namespace']!, parseDtab(b['dtab']!));
      const r = await current(b['namespace']!);
      return r.status === 200 ? { ...r, status: 201 } : r;
    } catch (e) {
      return failure(e);
    }
  };

  const save = async (req: AdminRequest): Promise<AdminResponse> => {
    try {
      const b = readBody(req, ['namespace', 'dtab', 'version']);
      await store.update(b['namespace']!, parseDtab(b['dtab']!), b['version']!);
      return await current(b['namespace']!);
    } catch (e) {
      return failure(e);
    }
  };

  // Stores delete unconditionally; with a version the page asks "only if nobody changed it",
  // checked just before the delete (a write landing in between is not detected).
  const remove = async (req: AdminRequest): Promise<AdminResponse> => {
    try {
      const b = readBody(req, ['namespace'], ['version']);
      const ns = b['namespace']!;
      if (b['version'] !== undefined) {
        const v = await store.get(ns);
        if (v !== null && v.version !== b['version']) throw new DtabVersionMismatchError(ns, b['version']);
      }
      await store.delete(ns);
      return jsonResponse(200, { namespace: ns });
    } catch (e) {
      return failure(e);
    }
  };

  const asset = (req: AdminRequest): AdminResponse => {
    const f = files.get(req.path)!;
    return { status: 200, headers: { 'content-type': f.type, 'cache-control': 'no-cache' }, body: f.body };
  };

  const routes: AdminRoute[] = [
    ...Object.keys(ASSETS).map((path) => ({ path, handle: asset })),
    { path: '/namespaces.json', handle: list },
    { path: '/namespaces/create', methods: ['POST'], handle: create },
    { path: '/namespaces/save', methods: ['POST', 'PUT'], handle: save },
    { path: '/namespaces/delete', methods: ['POST'], handle: remove },
  ];

  const explain: DelegateFn = async (ns, dtabText, pathText) => {
    const { extra, path } = readDelegateInput(dtabText, pathText);
    const tree =
      ns === undefined || ns === ''
        ? await delegate(extra, path, namespaces.namers, { timeoutMs })
        : await namespaces.delegate(ns, path, extra, timeoutMs);
    return delegateTreeToJson(tree, { showTree: showNameTree, timeoutMs });
  };

  return { routes, delegate: explain };
}

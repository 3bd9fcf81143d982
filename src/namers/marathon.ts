/**
 * io.l5d.marathon: `/<app id>[/residual]`, where the app id may be several segments
 * (`/appgroup/usergroup/users`). Marathon's v2 API is polled every `ttlMs` (± `jitterMs`):
 * `GET <uriPrefix>/v2/apps` for the app ids, and, for each app a name binds to while it is
 * observed, `GET <uriPrefix>/v2/apps/<id>?embed=app.tasks` for its tasks. As Linkerd does:
 * - the name's segments are lower-cased and its shortest prefix that is an app id wins; the
 *   rest of the name is the residual; no app id → Neg;
 * - a task's address is its `host` and first of `ports`, or, for an app on its own IP
 *   (`ipAddress.discovery.ports`), the task's first `ipAddresses` entry and that port;
 * - `useHealthCheck`: only tasks whose `healthCheckResults` are all `alive: true`;
 * - an app without tasks is Neg; an error before the first answer fails the name, later
 *   errors keep the last answer.
 * Requests carry `Host: <host>`; a `tls` block makes them HTTPS (DC/OS strict mode). With
 * `DCOS_SERVICE_ACCOUNT_CREDENTIAL` set the namer logs in as a DC/OS service account
 * (marathon-auth.ts) and sends `Authorization: token=<token>`, logging in again once when Marathon
 * answers 401; otherwise `MARATHON_HTTP_AUTH_CREDENTIAL` (base64 `user:password`) adds HTTP basic
 * authentication. As in Linkerd, the DC/OS credential wins when both are set.
 */
import { Activity, PENDING, failed, ok, stateEquals } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { ActivityState, Name, NameNamer } from '../naming/contracts.js';
import { NEG, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import type { ConnectionOptions } from 'node:tls';
import { HttpClient, type HttpResult } from '../namerd/stores/http-client.js';
import { DCOS_AUTH_ENV, DcosLogin, parseDcosCredential, type DcosCredential } from './marathon-auth.js';
import { NamerError, namerConfigError } from './errors.js';
import { namerTlsFields } from '../config/router-fields.js';
import { addrLeaf, configuredPrefix, namerTls, type NamerContext, type NamerSpec } from './spec.js';

const KIND = 'io.l5d.marathon';
const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});
/** A poll that has not answered after this long counts as failed (default). */
const REQUEST_TIMEOUT_MS = 10_000;
/** Linkerd's environment variables for Marathon authentication. */
export const BASIC_AUTH_ENV = 'MARATHON_HTTP_AUTH_CREDENTIAL';
export { DCOS_AUTH_ENV };

export interface MarathonNamerOptions {
  /** Where Marathon is dialled (`dst`, else host and port). */
  readonly connectHost: string;
  readonly connectPort: number;
  /** The `Host` header of every request (`host`). */
  readonly host: string;
  /** Prepended to `/v2/...`: '' or a path without a trailing slash (`/marathon`). */
  readonly uriPrefix: string;
  readonly ttlMs: number;
  readonly jitterMs: number;
  readonly useHealthCheck: boolean;
  /** A poll not answered within this many ms fails (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** The `Authorization` header of basic authentication, when configured. */
  readonly authorization?: string;
  /** DC/OS service-account login; when set, `authorization` is not used. */
  readonly dcos?: DcosCredential;
  /** First and largest delay before another DC/OS login after a failed one (defaults 200 ms and 5 s). */
  readonly loginBackoffMs?: number;
  readonly maxLoginBackoffMs?: number;
  /** HTTPS to Marathon (the namer's `tls` block); absent: plain HTTP. */
  readonly tls?: ConnectionOptions;
}

interface MarathonTask {
  host?: unknown;
  ports?: unknown;
  ipAddresses?: { ipAddress?: unknown }[];
  healthCheckResults?: { alive?: unknown }[];
}

interface MarathonApp {
  id?: unknown;
  tasks?: MarathonTask[];
  ipAddress?: { discovery?: { ports?: { number?: unknown }[] } };
}

function setEquals(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** An app id as Marathon writes it (`/group/app`, `group/app`) in the form names are matched. */
export function appKey(id: string): string {
  return '/' + id.split('/').filter((s) => s !== '').join('/');
}

/** The app ids of a `GET /v2/apps` body. */
export function appIdsOf(body: string): Set<string> {
  const parsed = JSON.parse(body) as { apps?: MarathonApp[] } | null;
  const ids = new Set<string>();
  for (const app of parsed?.apps ?? []) if (typeof app.id === 'string' && app.id !== '') ids.add(appKey(app.id));
  return ids;
}

const isPort = (p: unknown): p is number => typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536;

/** The addresses of a `GET /v2/apps/<id>?embed=app.tasks` body. */
export function addrOf(body: string, useHealthCheck: boolean): Addr {
  const parsed = JSON.parse(body) as { app?: MarathonApp } | null;
  const app = parsed?.app;
  const ipPort = app?.ipAddress?.discovery?.ports?.[0]?.number;
  const seen = new Set<string>();
  const out: Address[] = [];
  for (const t of app?.tasks ?? []) {
    let host: string | undefined;
    let port: number | undefined;
    const ports = Array.isArray(t.ports) ? (t.ports as unknown[]) : [];
    if (typeof t.host === 'string' && t.host !== '' && isPort(ports[0])) {
      host = t.host;
      port = ports[0];
    } else {
      const ip = t.ipAddresses?.[0]?.ipAddress;
      if (typeof ip === 'string' && ip !== '' && isPort(ipPort)) {
        host = ip;
        port = ipPort;
      }
    }
    if (host === undefined || port === undefined) continue;
    // useHealthCheck: a task is healthy when it has results and every one says alive.
    if (useHealthCheck && !(Array.isArray(t.healthCheckResults) && t.healthCheckResults.every((r) => r.alive === true))) continue;
    const key = `${host}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ host, port, meta: EMPTY_META });
  }
  if (out.length === 0) return ADDR_NEG;
  out.sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
  return { type: 'bound', addrs: out, meta: EMPTY_META };
}

export class MarathonNamer implements NameNamer {
  readonly client: HttpClient;
  private readonly headers: Record<string, string>;
  private readonly apps: AsyncVar<ActivityState<ReadonlySet<string>>>;
  private readonly appsActivity: Activity<ReadonlySet<string>>;
  private readonly addrs = new Map<string, AsyncVar<Addr>>();
  private readonly login: DcosLogin | undefined;

  constructor(
    readonly prefix: Path,
    readonly opts: MarathonNamerOptions,
  ) {
    this.client = new HttpClient(opts.connectHost, opts.connectPort, opts.tls);
    this.headers = { host: opts.host };
    if (opts.dcos !== undefined) {
      this.login = new DcosLogin(this.client, opts.dcos, {
        host: opts.host,
        timeoutMs: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
        ...(opts.loginBackoffMs !== undefined ? { backoffMs: opts.loginBackoffMs } : {}),
        ...(opts.maxLoginBackoffMs !== undefined ? { maxBackoffMs: opts.maxLoginBackoffMs } : {}),
      });
    } else if (opts.authorization !== undefined) {
      this.headers['authorization'] = opts.authorization;
    }
    this.apps = new AsyncVar<ActivityState<ReadonlySet<string>>>(
      PENDING,
      (update) => this.poll('/apps', (body) => update(ok(appIdsOf(body))), (e) => update(failed(e)), () => this.apps.sample().type === 'ok'),
      stateEquals(setEquals),
    );
    this.appsActivity = new Activity(this.apps);
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return Activity.value<NameTree<Name>>(NEG);
    const segs = path.utf8Elems.map((s) => s.toLowerCase());
    return this.appsActivity.flatMap((ids) => {
      let key = '';
      for (let n = 1; n <= segs.length; n++) {
        key += '/' + segs[n - 1]!;
        if (!ids.has(key)) continue;
        const v = this.addr(key);
        return addrLeaf(boundName(this.prefix.concat(Path.utf8(...segs.slice(0, n))), v, path.drop(n)));
      }
      return Activity.value<NameTree<Name>>(NEG);
    });
  }

  /** The addresses of app `key` (`/group/app`), polled while observed. */
  addr(key: string): AsyncVar<Addr> {
    let v = this.addrs.get(key);
    if (v === undefined) {
      const answered = (): boolean => {
        const a = v!.sample();
        return a.type === 'bound' || a.type === 'neg';
      };
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => this.poll(`/apps${key}?embed=app.tasks`, (body) => update(addrOf(body, this.opts.useHealthCheck)), (cause) => update({ type: 'failed', cause }), answered),
        addrEquals,
      );
      this.addrs.set(key, v);
    }
    return v;
  }

  /** The next poll's delay: `ttlMs` moved by up to `jitterMs` either way. */
  nextDelay(): number {
    return Math.max(0, Math.round(this.opts.ttlMs + (Math.random() * 2 - 1) * this.opts.jitterMs));
  }

  /**
   * GETs `url` with the DC/OS token when logging in (first logging in if no token is held);
   * a 401 means the token expired: log in again and send the request once more, as Linkerd does.
   */
  private async get(url: string, signal: AbortSignal): Promise<HttpResult> {
    const login = this.login;
    if (login === undefined) return this.client.request('GET', url, { headers: this.headers, signal });
    const send = async (): Promise<{ token: string; r: HttpResult }> => {
      const token = await untilAborted(login.current(), signal);
      return { token, r: await this.client.request('GET', url, { headers: { ...this.headers, authorization: `token=${token}` }, signal }) };
    };
    const first = await send();
    if (first.r.status !== 401) return first.r;
    login.expire(first.token);
    return (await send()).r;
  }

  /**
   * Polls `<uriPrefix>/v2<path>` every ttl until closed: `onBody` gets each 200 answer's body
   * (parsing errors count as failures); `onFail` hears a failure only while `answered()` says
   * no good answer is held (one kept from before the var was last unobserved counts).
   */
  private poll(path: string, onBody: (body: string) => void, onFail: (e: Error) => void, answered: () => boolean): { close(): void } {
    const url = `${this.opts.uriPrefix}/v2${path}`;
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    let inflight: AbortController | undefined;
    const loop = (): void => {
      if (closed) return;
      const abort = new AbortController();
      inflight = abort;
      const limit = this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
      const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${limit} ms`)), limit);
      this.get(url, abort.signal)
        .then((r) => {
          if (r.status !== 200) throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `marathon GET ${url}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
          onBody(r.body);
        })
        .catch((e: unknown) => {
          if (closed) return;
          // A request our deadline aborted reports the deadline, not "This operation was aborted".
          const cause = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : e;
          const err = cause instanceof NamerError ? cause : new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `marathon GET ${url}: ${cause instanceof Error ? cause.message : String(cause)}`);
          if (!answered()) onFail(err);
        })
        .finally(() => {
          clearTimeout(deadline);
          if (closed) return;
          timer = setTimeout(loop, this.nextDelay());
          timer.unref();
        });
    };
    loop();
    return {
      close: () => {
        closed = true;
        inflight?.abort();
        if (timer !== undefined) clearTimeout(timer);
      },
    };
  }
}

/** A login shared by several polls, given up by a poll whose deadline passes or that is closed. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Authentication from Linkerd's environment variables: DC/OS service-account login when
 * `DCOS_SERVICE_ACCOUNT_CREDENTIAL` is set (it takes precedence, as in Linkerd), else basic
 * authentication from `MARATHON_HTTP_AUTH_CREDENTIAL`. An empty variable counts as unset.
 */
export function authFromEnv(env: NodeJS.ProcessEnv, ctx: NamerContext): { authorization?: string; dcos?: DcosCredential } {
  const dcos = env[DCOS_AUTH_ENV];
  if (dcos !== undefined && dcos !== '') return { dcos: parseDcosCredential(dcos, ctx) };
  const basic = env[BASIC_AUTH_ENV];
  return basic !== undefined && basic !== '' ? { authorization: `Basic ${basic}` } : {};
}

/** `dst` as Meshwork reads it: `/$/inet/<host>/<port>` only. */
function parseDst(dst: string, ctx: NamerContext): { host: string; port: number } {
  const m = /^\/\$\/inet\/([^/]+)\/(\d+)$/.exec(dst);
  const port = m ? Number(m[2]) : 0;
  if (!m || !(port > 0 && port < 65536)) {
    throw namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, `${ctx.keyPath ?? 'namer'}.dst`, dst, 'a path /$/inet/<host>/<port>');
  }
  return { host: m[1]!, port };
}

export const marathonNamerSpec: NamerSpec = {
  category: 'namer',
  kind: KIND,
  fields: {
    prefix: { type: 'path', default: '/io.l5d.marathon' },
    host: { type: 'string', default: 'marathon.mesos' },
    port: { type: 'int', min: 1, max: 65535, default: 80 },
    // `dst` and `jitterMs` are read by Linkerd's MarathonConfig though namer.md omits them.
    dst: { type: 'string', doc: 'Where Marathon is dialled, /$/inet/<host>/<port> (default: host and port).' },
    uriPrefix: { type: 'string', default: '' },
    ttlMs: { type: 'int', min: 0, default: 5000 },
    jitterMs: { type: 'int', min: 0, default: 50 },
    useHealthCheck: { type: 'boolean', default: false },
    tls: { type: { object: namerTlsFields } },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, KIND, ctx);
    const host = typeof config['host'] === 'string' ? config['host'] : 'marathon.mesos';
    const port = typeof config['port'] === 'number' ? config['port'] : 80;
    const target = typeof config['dst'] === 'string' ? parseDst(config['dst'], ctx) : { host, port };
    const rawPrefix = typeof config['uriPrefix'] === 'string' ? config['uriPrefix'] : '';
    const uriPrefix = rawPrefix.split('/').filter((s) => s !== '').map((s) => '/' + s).join('');
    const auth = authFromEnv(process.env, ctx);
    const tls = namerTls(config, ctx);
    const opts: MarathonNamerOptions = {
      connectHost: target.host,
      connectPort: target.port,
      host,
      uriPrefix,
      ttlMs: typeof config['ttlMs'] === 'number' ? config['ttlMs'] : 5000,
      jitterMs: typeof config['jitterMs'] === 'number' ? config['jitterMs'] : 50,
      useHealthCheck: config['useHealthCheck'] === true,
      ...auth,
      ...(tls !== undefined ? { tls } : {}),
    };
    return { prefix, namer: new MarathonNamer(prefix, opts) };
  },
};

/**
 * An in-test Marathon master serving the part of the v2 REST API a namer reads, the way
 * Marathon answers it:
 * - `GET <prefix>/v2/apps`: `{"apps": [...]}`, every app's definition without its tasks;
 * - `GET <prefix>/v2/apps/<group>/<app>?embed=app.tasks`: `{"app": {..., "tasks": [...]}}`,
 *   each task with `id`, `appId`, `host`, `ports`, `ipAddresses` and, when the app has health
 *   checks, `healthCheckResults`; an unknown app answers 404 `{"message": "App '/x' does not
 *   exist"}`;
 * - with `credentials` set, a request without `Authorization: Basic <credentials>` answers 401
 *   with `WWW-Authenticate`, as Marathon's basic access authentication does;
 * - `prefix` puts the API under a path, as DC/OS's admin router does with `/marathon`;
 * - `tls` serves HTTPS, as DC/OS in strict mode does;
 * - `enableDcosLogin` adds DC/OS's service-account login: `POST <path>` (default
 *   `/acs/api/v1/auth/login`) with `{"uid", "token"}` answers `{"token": <issued>}` when the
 *   token is an RS256 JWT whose signature the account's public key verifies, whose `uid` is the
 *   account's and whose `exp` is in the future, else 401; from then on the v2 API answers 401
 *   (`WWW-Authenticate: acsjwt`) unless a request carries `Authorization: token=<issued>`.
 *   `expireTokens()` forgets every issued token; `loginFailures` makes the next logins answer 500,
 *   `loginDelayMs` holds every login's answer that long.
 * Every request is recorded (method, URL, Host and Authorization headers), every login with its
 * JWT, answer and time; `failing` makes every request answer 503 until cleared, `stalled`
 * leaves them unanswered.
 */
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';

export interface FakeTask {
  readonly host?: string;
  readonly ports?: readonly number[];
  readonly ipAddresses?: readonly string[];
  /** One `alive` per health check; absent: the task reports no results. */
  readonly alive?: readonly boolean[];
}

export interface FakeApp {
  readonly tasks: readonly FakeTask[];
  /** IP-per-task networking: the app's `ipAddress.discovery.ports[0].number`. */
  readonly discoveryPort?: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly host: string | undefined;
  readonly authorization: string | undefined;
}

export interface DcosAccount {
  readonly uid: string;
  /** Verifies the login JWT's signature. */
  readonly publicKey: KeyObject;
  /** Where logins are POSTed; default `/acs/api/v1/auth/login`. */
  readonly path?: string;
}

export interface RecordedLogin {
  /** `Date.now()` when the login was answered. */
  readonly at: number;
  readonly host: string | undefined;
  /** The body's `uid` and `token` (the JWT), as sent. */
  readonly uid: unknown;
  readonly jwt: unknown;
  readonly status: number;
  /** Why a 401 was answered. */
  readonly reason?: string;
  /** The token issued on a 200. */
  readonly token?: string;
}

export class FakeMarathon {
  port = 0;
  readonly host = '127.0.0.1';
  readonly requests: RecordedRequest[] = [];
  failing = false;
  /** Take requests and never answer them (a hung master). */
  stalled = false;
  readonly logins: RecordedLogin[] = [];
  /** The next this-many logins answer 500. */
  loginFailures = 0;
  /** Logins are answered this many ms after they arrive (a slow IAM). */
  loginDelayMs = 0;
  private dcos: DcosAccount | undefined;
  private readonly tokens = new Set<string>();
  private readonly apps = new Map<string, FakeApp>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(
    readonly prefix = '',
    readonly credentials?: string,
    /** Serve HTTPS with this certificate (DC/OS strict mode); absent: HTTP. */
    tls?: { readonly cert: Buffer; readonly key: Buffer },
  ) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      const url = req.url ?? '/';
      this.requests.push({ method: req.method ?? '', url, host: req.headers.host, authorization: req.headers.authorization });
      const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
        res.end(text);
      };
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      const dcos = this.dcos;
      if (dcos !== undefined && req.method === 'POST' && path === (dcos.path ?? '/acs/api/v1/auth/login')) {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const answer = (): void => this.login(dcos, req, Buffer.concat(chunks).toString('utf8'), send);
          if (this.loginDelayMs > 0) setTimeout(answer, this.loginDelayMs);
          else answer();
        });
        return;
      }
      if (dcos !== undefined) {
        const m = /^token=(.+)$/.exec(req.headers.authorization ?? '');
        if (m === null || !this.tokens.has(m[1]!)) {
          send(401, { title: 'Invalid authentication credentials', description: 'The authentication token is missing, invalid or expired.' }, { 'www-authenticate': 'acsjwt' });
          return;
        }
      }
      if (this.credentials !== undefined && req.headers.authorization !== `Basic ${this.credentials}`) {
        send(401, { message: 'Invalid username or password.' }, { 'www-authenticate': 'Basic realm="Mesosphere Marathon"' });
        return;
      }
      if (this.stalled) return;
      if (this.failing) {
        send(503, { message: 'Marathon is not the leader' });
        return;
      }
      const base = `${this.prefix}/v2/apps`;
      if (req.method !== 'GET' || !(path === base || path.startsWith(base + '/'))) {
        send(404, { message: `Unknown resource ${path}` });
        return;
      }
      if (path === base) {
        send(200, { apps: [...this.apps.keys()].map((id) => this.definition(id)) });
        return;
      }
      const id = path.slice(base.length);
      const app = this.apps.get(id);
      if (app === undefined) {
        send(404, { message: `App '${id}' does not exist` });
        return;
      }
      const body: Record<string, unknown> = this.definition(id);
      if (query.getAll('embed').includes('app.tasks')) {
        body['tasks'] = app.tasks.map((t, i) => ({
          id: `${id.slice(1).replace(/\//g, '_')}.task-${i}`,
          appId: id,
          ...(t.host !== undefined ? { host: t.host } : {}),
          ports: t.ports ?? [],
          ipAddresses: (t.ipAddresses ?? []).map((ipAddress) => ({ ipAddress, protocol: 'IPv4' })),
          ...(t.alive !== undefined ? { healthCheckResults: t.alive.map((alive) => ({ alive, consecutiveFailures: alive ? 0 : 3, taskId: `task-${i}` })) } : {}),
          state: 'TASK_RUNNING',
        }));
      }
      send(200, { app: body });
    };
    this.server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /** Checks a login the way DC/OS's IAM does: the JWT's signature, `uid` and `exp`. */
  private login(account: DcosAccount, req: IncomingMessage, text: string, send: (status: number, body: unknown, headers?: Record<string, string>) => void): void {
    let body: { uid?: unknown; token?: unknown } = {};
    try {
      body = (JSON.parse(text) as typeof body | null) ?? {};
    } catch {
      // An unreadable body is refused below, like one without a token.
    }
    const record = (status: number, extra: { reason?: string; token?: string }): void => {
      this.logins.push({ at: Date.now(), host: req.headers.host, uid: body.uid, jwt: body.token, status, ...extra });
    };
    if (this.loginFailures > 0) {
      this.loginFailures--;
      record(500, {});
      send(500, { title: 'Internal Server Error', description: 'IAM is unavailable.' });
      return;
    }
    const reason = jwtProblem(account, body);
    if (reason !== undefined) {
      record(401, { reason });
      send(401, { title: 'Invalid authentication credentials', description: reason, code: 'ERR_INVALID_SERVICE_LOGIN_TOKEN' }, { 'www-authenticate': 'acsjwt' });
      return;
    }
    const token = `dcos-${this.logins.length + 1}-${randomBytes(6).toString('hex')}`;
    this.tokens.add(token);
    record(200, { token });
    send(200, { token });
  }

  enableDcosLogin(account: DcosAccount): void {
    this.dcos = account;
  }

  /** Every issued token stops being accepted (Marathon answers 401 until the namer logs in again). */
  expireTokens(): void {
    this.tokens.clear();
  }

  private definition(id: string): Record<string, unknown> {
    const app = this.apps.get(id)!;
    return {
      id,
      cmd: 'sleep 1000',
      instances: app.tasks.length,
      tasksRunning: app.tasks.length,
      ...(app.discoveryPort !== undefined ? { ipAddress: { discovery: { ports: [{ number: app.discoveryPort, name: 'http', protocol: 'tcp' }] } } } : {}),
    };
  }

  setApp(id: string, app: FakeApp): void {
    this.apps.set(id, app);
  }

  deleteApp(id: string): void {
    this.apps.delete(id);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Why a login body is refused, or undefined when its JWT is good. */
function jwtProblem(account: DcosAccount, body: { uid?: unknown; token?: unknown }): string | undefined {
  if (body.uid !== account.uid) return `unknown uid ${JSON.stringify(body.uid)}`;
  if (typeof body.token !== 'string') return 'no token';
  const parts = body.token.split('.');
  if (parts.length !== 3) return 'the token is not a JWT';
  const [h, c, sig] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: { uid?: unknown; exp?: unknown };
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return 'the JWT header or claims are not base64url JSON';
  }
  if (header.alg !== 'RS256') return `alg ${JSON.stringify(header.alg)}, not RS256`;
  if (!verify('sha256', Buffer.from(`${h}.${c}`), account.publicKey, Buffer.from(sig, 'base64url'))) return 'bad signature';
  if (claims.uid !== account.uid) return `claims uid ${JSON.stringify(claims.uid)}`;
  if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return `exp ${JSON.stringify(claims.exp)} is not in the future`;
  return undefined;
}

export async function startFakeMarathon(prefix = '', credentials?: string, tls?: { readonly cert: Buffer; readonly key: Buffer }): Promise<FakeMarathon> {
  const m = new FakeMarathon(prefix, credentials, tls);
  await m.start();
  return m;
}

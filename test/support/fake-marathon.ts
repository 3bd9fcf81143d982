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
 * - `tls` serves HTTPS, as DC/OS in strict mode does.
 * Every request is recorded (method, URL, Host and Authorization headers); `failing` makes
 * every request answer 503 until cleared, `stalled` leaves them unanswered.
 */
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

export class FakeMarathon {
  port = 0;
  readonly host = '127.0.0.1';
  readonly requests: RecordedRequest[] = [];
  failing = false;
  /** Take requests and never answer them (a hung master). */
  stalled = false;
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
      if (this.credentials !== undefined && req.headers.authorization !== `Basic ${this.credentials}`) {
        send(401, { message: 'Invalid username or password.' }, { 'www-authenticate': 'Basic realm="Mesosphere Marathon"' });
        return;
      }
      if (this.stalled) return;
      if (this.failing) {
        send(503, { message: 'Marathon is not the leader' });
        return;
      }
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
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

export async function startFakeMarathon(prefix = '', credentials?: string, tls?: { readonly cert: Buffer; readonly key: Buffer }): Promise<FakeMarathon> {
  const m = new FakeMarathon(prefix, credentials, tls);
  await m.start();
  return m;
}

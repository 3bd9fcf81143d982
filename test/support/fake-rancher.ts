/**
 * An in-test Rancher 1.x metadata service (rancher-metadata) serving the part of the
 * `2015-12-19` API a namer reads, the way the real one answers it:
 * - `GET /2015-12-19/version`: the metadata version, as text (or a JSON string when the request
 *   accepts only JSON); with `wait=true&value=<v>` the answer is held until the version differs
 *   from `<v>` or `maxWait` seconds pass (0 or unreadable: 60 s; at most 120 s), then the
 *   current version is answered;
 * - `GET /2015-12-19/containers`: every container of the environment, a JSON list of objects
 *   with the API's snake_case fields (`primary_ip`, `stack_name`, `service_name`, `state`,
 *   `ports` as `ip:public:private/proto`, ...); as text, an index list (`0=<name>`);
 * - an unknown API version answers 404 `Invalid version`, an unknown key 404 `Not found`.
 * Every change of the containers (setContainers) is a new version and wakes held requests.
 * Every request is recorded (URL, Host, Accept, arrival time). Failure modes: `mode = 'error'`
 * answers 500, `'reset'` destroys the connection (the API unreachable), `'badJson'` answers the
 * containers with a truncated JSON body; setting a mode also ends held requests that way.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface FakeContainer {
  readonly stack: string;
  readonly service: string;
  readonly ip: string;
  /** Default `running`. */
  readonly state?: string;
  /** Published ports, `ip:public:private/proto`. */
  readonly ports?: readonly string[];
}

export interface RecordedRequest {
  readonly url: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly host: string | undefined;
  readonly accept: string | undefined;
  readonly at: number;
}

export type FakeRancherMode = 'ok' | 'error' | 'reset' | 'badJson';

interface Held {
  readonly value: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly timer: NodeJS.Timeout;
}

const API = '/2015-12-19';

export class FakeRancher {
  port = 0;
  readonly host = '127.0.0.1';
  readonly requests: RecordedRequest[] = [];
  private containers: readonly FakeContainer[] = [];
  private serial = 0;
  private modeNow: FakeRancherMode = 'ok';
  private readonly held = new Set<Held>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  /** The current metadata version. */
  get version(): string {
    return `${this.serial}-fake`;
  }

  get mode(): FakeRancherMode {
    return this.modeNow;
  }

  set mode(m: FakeRancherMode) {
    this.modeNow = m;
    if (m === 'error' || m === 'reset') for (const h of [...this.held]) this.release(h);
  }

  /** Replaces every container; a new version that answers held version requests. */
  setContainers(cs: readonly FakeContainer[]): void {
    this.containers = cs;
    this.bump();
  }

  /** A new version (as Rancher's does for any metadata change), containers unchanged. */
  bump(): void {
    this.serial++;
    for (const h of [...this.held]) if (h.value !== this.version) this.release(h);
  }

  /** Version requests held open now. */
  get heldCount(): number {
    return this.held.size;
  }

  requestsTo(key: 'version' | 'containers'): RecordedRequest[] {
    return this.requests.filter((r) => r.path === `${API}/${key}`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    this.requests.push({ url, path, query, host: req.headers.host, accept: req.headers.accept, at: Date.now() });
    if (this.failed(req, res)) return;
    const segs = path.split('/').filter((s) => s !== '');
    if (req.method !== 'GET' || segs.length === 0) return this.error(req, res, 404, 'Not found');
    if (segs[0] !== API.slice(1) && segs[0] !== 'latest') return this.error(req, res, 404, 'Invalid version');
    const key = segs.slice(1).join('/');
    if (key === 'version') {
      const value = query.get('value');
      if (query.get('wait') === 'true' && value !== null && value === this.version) {
        const secs = /^\d+$/.test(query.get('maxWait') ?? '') ? Number(query.get('maxWait')) : 0;
        const waitS = secs === 0 ? 60 : Math.min(secs, 120);
        const h: Held = { value, req, res, timer: setTimeout(() => this.release(h), waitS * 1000) };
        this.held.add(h);
        res.once('close', () => {
          clearTimeout(h.timer);
          this.held.delete(h);
        });
        return;
      }
      return this.success(req, res, this.version);
    }
    if (key === 'containers') {
      if (this.modeNow === 'badJson') {
        const text = '[{"primary_ip": "10.42.0.1", "stack_na';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
        res.end(text);
        return;
      }
      return this.success(req, res, this.containers.map((c, i) => this.container(c, i)));
    }
    this.error(req, res, 404, 'Not found');
  }

  /** Answers a held version request with the current version (or the failure mode). */
  private release(h: Held): void {
    clearTimeout(h.timer);
    this.held.delete(h);
    if (this.failed(h.req, h.res)) return;
    this.success(h.req, h.res, this.version);
  }

  private failed(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.modeNow === 'reset') {
      req.socket.destroy();
      return true;
    }
    if (this.modeNow === 'error') {
      this.error(req, res, 500, 'Internal Server Error');
      return true;
    }
    return false;
  }

  private container(c: FakeContainer, i: number): Record<string, unknown> {
    const name = `${c.stack}-${c.service}-${i + 1}`;
    return {
      create_index: i + 1,
      health_state: 'healthy',
      host_uuid: 'a19e45b8-afa3-44e6-8d16-896cb71f9b5d',
      ips: [c.ip],
      labels: {
        'io.rancher.stack.name': c.stack,
        'io.rancher.stack_service.name': `${c.stack}/${c.service}`,
      },
      metadata_kind: 'container',
      name,
      ports: c.ports ?? [],
      primary_ip: c.ip,
      service_index: String(i + 1),
      service_name: c.service,
      stack_name: c.stack,
      start_count: 1,
      state: c.state ?? 'running',
      system: false,
      uuid: `uuid-${name}`,
    };
  }

  private json(req: IncomingMessage): boolean {
    // Text is the API's default; JSON only when the client asks for it.
    const accept = req.headers.accept ?? '';
    return accept.includes('json') && !accept.includes('text/plain');
  }

  private success(req: IncomingMessage, res: ServerResponse, val: unknown): void {
    let text: string;
    if (this.json(req)) text = JSON.stringify(val);
    else if (typeof val === 'string') text = val;
    else text = (val as { name: string }[]).map((c, i) => `${i}=${encodeURIComponent(c.name)}\n`).join('');
    res.writeHead(200, { 'content-type': this.json(req) ? 'application/json' : 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private error(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
    const text = this.json(req) ? JSON.stringify({ code: status, message, type: 'error' }) : message;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const h of [...this.held]) clearTimeout(h.timer);
    this.held.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startFakeRancher(): Promise<FakeRancher> {
  const r = new FakeRancher();
  await r.start();
  return r;
}

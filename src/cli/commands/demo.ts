/**
 * `meshwork demo` (`npm start`): a small mesh made of child processes of this one —
 *
 *   - services: hello (calls world through the outgoing router with `Host: world`) and world;
 *   - linkerd:  demo/linkerd.yaml — outgoing (4140) → incoming (4141) through `io.l5d.port`,
 *               io.l5d.fs over a temp copy of demo/disco, admin + dashboard on 9990;
 *   - namerd:   demo/namerd.yaml — in-memory `default` namespace, HTTP controller 4180,
 *               io.l5d.mesh 4321, admin 9991 (run by `meshwork namerd`).
 *
 * Ports are laid out from `MESHWORK_DEMO_BASE_PORT` (default 4140: outgoing = base,
 * incoming = base+1, namerd HTTP = base+40, mesh = base+181, admin = base+5850, namerd admin =
 * base+5851); `MESHWORK_DEMO_BASE_PORT=0` picks free ports (tests). SIGTERM / SIGINT stops every
 * child and exits 0 once they have all exited.
 *
 * The linkerd child is `meshwork demo --role linkerd FILE`: plain `meshwork linkerd` (with its
 * admin server and dashboard) that also stops when the demo's IPC channel closes.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command, CommandIO } from '../command.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const DEMO_DIR = join(ROOT, 'demo');
const BIN = join(ROOT, 'bin', 'meshwork.js');
const START_TIMEOUT_MS = 20_000;

const usage = `usage: meshwork demo

Starts a demo mesh as child processes: hello and world services, a linker with an outgoing
(4140) and an incoming (4141) router and the admin dashboard (9990), and a namerd (HTTP 4180,
mesh 4321, admin 9991). MESHWORK_DEMO_BASE_PORT moves every port (0: free ports).
Ctrl-C stops everything.
`;

/** The demo's port layout, relative to the outgoing router's port as Linkerd's defaults are. */
export const PORT_OFFSETS = {
  OUTGOING_PORT: 0,
  INCOMING_PORT: 1,
  NAMERD_HTTP_PORT: 40,
  NAMERD_MESH_PORT: 181,
  ADMIN_PORT: 5850,
  NAMERD_ADMIN_PORT: 5851,
} as const;
type PortName = keyof typeof PORT_OFFSETS;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function demoPorts(env: NodeJS.ProcessEnv): Promise<Record<PortName, number>> {
  const raw = env['MESHWORK_DEMO_BASE_PORT'] ?? (env['MESHWORK_DEMO_PORTS'] === '0' ? '0' : '4140');
  const base = Number(raw);
  if (!Number.isInteger(base) || base < 0 || base + PORT_OFFSETS.NAMERD_ADMIN_PORT > 65535) {
    throw new Error(`MESHWORK_DEMO_BASE_PORT: found '${raw}', allowed: 0 (free ports) or 1..${65535 - PORT_OFFSETS.NAMERD_ADMIN_PORT}`);
  }
  const out = {} as Record<PortName, number>;
  for (const k of Object.keys(PORT_OFFSETS) as PortName[]) out[k] = base === 0 ? await freePort() : base + PORT_OFFSETS[k];
  return out;
}

function fill(text: string, vars: Readonly<Record<string, string | number>>): string {
  return text.replace(/\$\{(\w+)\}/g, (m, k: string) => (vars[k] === undefined ? m : String(vars[k])));
}

/** A child of the demo; resolves `ready` once every expected stdout line was seen. */
interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
}

function startChild(name: string, args: string[], expect: RegExp[], io: CommandIO, env: NodeJS.ProcessEnv = process.env): { child: Child; ready: Promise<string> } {
  // The IPC channel lets a child notice that the demo died (see `followParent`).
  const proc = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms; output:\n${out}`)), START_TIMEOUT_MS);
    const onData = (c: Buffer): void => {
      out += c.toString();
      if (expect.every((re) => re.test(out))) {
        clearTimeout(timer);
        resolve(out);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
      io.stderr(`[${name}] ${c.toString()}`);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready; output:\n${out}`));
    });
  });
  ready.catch(() => undefined);
  return { child: { name, proc, exited }, ready };
}

async function runParent(io: CommandIO): Promise<number> {
  let ports: Record<PortName, number>;
  try {
    ports = await demoPorts(process.env);
  } catch (e) {
    io.stderr(`meshwork demo: ${(e as Error).message}\n`);
    return 2;
  }
  const work = mkdtempSync(join(tmpdir(), 'meshwork-demo-'));
  const disco = join(work, 'disco');
  const children: Child[] = [];
  let stopping: Promise<number> | undefined;
  const stop = (code: number): Promise<number> => {
    stopping ??= (async () => {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
      await Promise.all(children.map((c) => c.exited));
      rmSync(work, { recursive: true, force: true });
      return code;
    })();
    return stopping;
  };
  const signalled = new Promise<number>((resolve) => {
    const onSignal = (): void => void stop(0).then(resolve);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.once('SIGHUP', onSignal);
  });
  try {
    // 1. the services, told where the outgoing router listens
    const svc = startChild('services', ['demo', '--role', 'services'], [/^services hello 127\.0\.0\.1:\d+ world 127\.0\.0\.1:\d+$/m], io, {
      ...process.env,
      MESHWORK_DEMO_OUTGOING_PORT: String(ports.OUTGOING_PORT),
    });
    children.push(svc.child);
    const m = /^services hello 127\.0\.0\.1:(\d+) world 127\.0\.0\.1:(\d+)$/m.exec(await svc.ready)!;
    // 2. disco and configs in a temp dir
    const vars = { ...ports, HELLO_PORT: m[1]!, WORLD_PORT: m[2]!, DISCO_DIR: disco };
    mkdirSync(disco);
    for (const f of readdirSync(join(DEMO_DIR, 'disco'))) writeFileSync(join(disco, f), fill(readFileSync(join(DEMO_DIR, 'disco', f), 'utf8'), vars));
    for (const f of ['linkerd.yaml', 'namerd.yaml']) writeFileSync(join(work, f), fill(readFileSync(join(DEMO_DIR, f), 'utf8'), vars));
    // 3. namerd and the linker
    const namerd = startChild('namerd', ['demo', '--role', 'namerd', join(work, 'namerd.yaml')], [/^namerd io\.l5d\.httpController listening on /m, /^namerd io\.l5d\.mesh listening on /m, /^namerd admin listening on /m], io);
    children.push(namerd.child);
    const linkerd = startChild('linkerd', ['demo', '--role', 'linkerd', join(work, 'linkerd.yaml')], [/^listening outgoing /m, /^listening incoming /m, /^admin listening on /m], io);
    children.push(linkerd.child);
    await Promise.all([namerd.ready, linkerd.ready]);
  } catch (e) {
    io.stderr(`meshwork demo: ${(e as Error).message}\n`);
    return stop(1);
  }
  const p = ports;
  io.stdout(
    [
      `demo ready: outgoing 127.0.0.1:${p.OUTGOING_PORT} incoming 127.0.0.1:${p.INCOMING_PORT} admin 127.0.0.1:${p.ADMIN_PORT} namerd 127.0.0.1:${p.NAMERD_HTTP_PORT} mesh 127.0.0.1:${p.NAMERD_MESH_PORT} namerd-admin 127.0.0.1:${p.NAMERD_ADMIN_PORT}`,
      '',
      'Meshwork demo is up. Try:',
      '',
      `  curl -H 'Host: hello' http://127.0.0.1:${p.OUTGOING_PORT}/          # hello calls world through the mesh`,
      `  open http://127.0.0.1:${p.ADMIN_PORT}/                             # dashboard`,
      `  open 'http://127.0.0.1:${p.ADMIN_PORT}/delegator?namespace=outgoing&path=/svc/world'   # dtab playground`,
      '',
      'Canary: send this one request for hello to world instead (a per-request dtab override; answers "world"):',
      `  curl -H 'Host: hello' -H 'l5d-dtab: /svc/hello => /svc/world' http://127.0.0.1:${p.OUTGOING_PORT}/`,
      'namerd (control plane) holds the dtab of namespace default (a 90/10 canary shown; the demo routers',
      'bind with their own dtab; a router follows namerd with interpreter io.l5d.mesh, io.l5d.namerd or io.l5d.namerd.http):',
      `  curl http://127.0.0.1:${p.NAMERD_HTTP_PORT}/api/1/dtabs/default`,
      `  curl -X PUT -H 'Content-Type: application/dtab' --data-binary '/svc => /#/io.l5d.fs; /svc/world => 9 * /#/io.l5d.fs/world & 1 * /#/io.l5d.fs/hello' http://127.0.0.1:${p.NAMERD_HTTP_PORT}/api/1/dtabs/default`,
      '',
      'Ctrl-C stops every process of the demo.',
      '',
    ].join('\n'),
  );
  return signalled;
}

/** `--role services`: world answers `world`; hello answers `hello ` + what world said through the mesh. */
async function runServices(io: CommandIO): Promise<number> {
  const outgoing = Number(process.env['MESHWORK_DEMO_OUTGOING_PORT'] ?? 4140);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const world = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
    res.end('world');
  });
  const hello = http.createServer((_req, res) => {
    const call = http.get({ host: '127.0.0.1', port: outgoing, path: '/', agent, headers: { host: 'world' } }, (w) => {
      const chunks: Buffer[] = [];
      w.on('data', (c: Buffer) => chunks.push(c));
      w.on('end', () => {
        const body = `hello ${Buffer.concat(chunks).toString()}`;
        res.writeHead(w.statusCode === 200 ? 200 : 502, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });
        res.end(body);
      });
    });
    call.on('error', (e) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`hello could not reach world: ${e.message}\n`);
    });
  });
  const listen = (s: http.Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  io.stdout(`services hello 127.0.0.1:${await listen(hello)} world 127.0.0.1:${await listen(world)}\n`);
  await new Promise<void>((r) => {
    process.once('SIGTERM', r);
    process.once('SIGINT', r);
  });
  agent.destroy();
  for (const s of [hello, world]) {
    s.closeAllConnections();
    s.close();
  }
  return 0;
}

/**
 * A demo child stops like on SIGTERM when the demo's IPC channel closes, so that no child
 * outlives a demo that was killed (SIGKILL, or npm exiting without passing Ctrl-C on).
 */
function followParent(): void {
  if (process.send === undefined) return;
  process.once('disconnect', () => process.emit('SIGTERM', 'SIGTERM'));
  process.channel?.unref();
}

export const command: Command = {
  name: 'demo',
  summary: 'run a demo mesh: services, two routers, namerd and the dashboard (npm start)',
  usage,
  async run(args, io) {
    if (args[0] === '--role') {
      followParent();
      if (args[1] === 'services') return runServices(io);
      if (args[1] === 'namerd' && args[2] !== undefined) return (await import('./namerd.js')).command.run([args[2]], io);
      if (args[1] === 'linkerd' && args[2] !== undefined) return (await import('../../router/run.js')).runLinkerd(args[2], io);
      io.stderr(`meshwork demo: unknown role '${args.slice(1).join(' ')}'; allowed: services, linkerd FILE, namerd FILE\n`);
      return 2;
    }
    if (args.length > 0) {
      io.stderr(`meshwork demo: unexpected argument '${args[0]}'\n${usage}`);
      return 2;
    }
    return runParent(io);
  },
};

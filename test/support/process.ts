/** Free loopback ports, and child processes and fake servers that tests start, wait for, stop and restart. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * A port nothing listens on, for a test that needs a connection refused: a privileged port no
 * test binds, outside the ephemeral range, so refused on loopback for the whole run. A port
 * picked free and closed again is not: test files run at once, so another listener may be
 * handed it before it is dialled, or it may be the dialling connection's own ephemeral source
 * port (a TCP self-connect). Not port 1: fetch() will not dial it ("bad port" in the Fetch
 * standard), and the CLI's HTTP clients use fetch.
 */
export const REFUSED_PORT = 2;

/** A port the OS just handed out on 127.0.0.1 (closed again, so a child process can bind it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server on a port chosen earlier (by `freePort`, or a server restarted on its old
 * port). Until it listens, any process's `listen(0)` may be handed that port: the test files
 * run in parallel, and one restart in a CI run failed so. `start` is retried while it fails
 * with EADDRINUSE, at most `attempts` times, 100 ms apart; any other failure is thrown at once.
 */
export async function onChosenPort<T>(start: () => Promise<T>, attempts = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await start();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (i >= attempts || !(err.code === 'EADDRINUSE' || /EADDRINUSE/.test(String(err.message)))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Listens `server` on `host:port` (0, or a restarted fake's old port), adding each connection to
 * `sockets` so that stopping the fake can destroy them; resolves with the port it listens on.
 */
export async function listenTracked(server: Server, sockets: Set<Socket>, port: number, host: string): Promise<number> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** Destroys every connection `listenTracked` put in `sockets`, then closes `server`; resolves once it is closed. */
export async function closeTracked(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const sock of sockets) sock.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

export interface ReadyProcess {
  readonly child: ChildProcess;
  /** The process's combined output so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `cmd` and resolves once a line of its output matches `ready`; rejects with the output
 * if it exits first or `timeoutMs` passes.
 */
export function spawnReady(
  cmd: string,
  args: readonly string[],
  ready: RegExp,
  timeoutMs = 20000,
  env?: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<ReadyProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env, ...(cwd !== undefined ? { cwd } : {}) });
  let out = '';
  // If the test process dies without stopping it, take the server down with it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      process.removeListener('exit', reap);
      r();
    }),
  );
  const proc: ReadyProcess = {
    child,
    output: () => out,
    stop: async (graceMs = 5000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        void proc.stop(1000).then(() => reject(err));
      } else resolve(proc);
    };
    const timer = setTimeout(() => finish(new Error(`${cmd} not ready after ${timeoutMs}ms:\n${out.slice(-4000)}`)), timeoutMs);
    const onData = (b: Buffer) => {
      // Keep a bounded tail so chatty servers do not grow memory during a test run.
      out = (out + b.toString()).slice(-64 * 1024);
      if (!done && ready.test(out)) finish();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (e) => finish(e));
    child.once('exit', (code, sig) => finish(new Error(`${cmd} exited (${code ?? sig}) before ready:\n${out.slice(-4000)}`)));
  });
}

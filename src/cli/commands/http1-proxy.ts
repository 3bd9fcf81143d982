import cluster from 'node:cluster';
import type { Command } from '../command.js';
import { createHttp1Proxy } from '../../protocol/http1/proxy.js';
import { runWorkers } from '../../protocol/http1/workers.js';

const usage = `usage: meshwork http1-proxy --listen HOST:PORT (--upstream HOST:PORT | --route HOSTHEADER=HOST:PORT ...) [options]

The lean HTTP/1.1 engine as a plain proxy (no router, no dtabs): each request goes to the
upstream named for its Host header, else to --upstream. For measuring the engine's cost.

options:
  --listen HOST:PORT        address to serve on (port 0 picks one; printed on stdout)
  --upstream HOST:PORT      default upstream
  --route NAME=HOST:PORT    upstream for requests with Host: NAME (repeatable)
  --workers N               N processes sharing the listen socket (node:cluster), default 1
  --max-connections N       upstream connections per endpoint, default 256
  --max-initial-line-kb N   request line limit (414), default 4
  --max-headers-kb N        header section limit (431), default 8
`;

function hostPort(s: string | undefined, flag: string): { host: string; port: number } {
  const m = s === undefined ? null : /^(.*):(\d+)$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag} wants HOST:PORT, found ${JSON.stringify(s ?? null)}`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

function positiveInt(s: string | undefined, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} wants a positive integer, found ${JSON.stringify(s ?? null)}`);
  return n;
}

export const command: Command = {
  name: 'http1-proxy',
  summary: 'run the lean HTTP/1.1 engine as a plain proxy (benchmarks)',
  usage,
  async run(args, io) {
    let listen: { host: string; port: number } | undefined;
    let upstream: { host: string; port: number } | undefined;
    const routes: Record<string, { host: string; port: number }> = {};
    let workerCount = 1;
    let maxConnections = 256;
    const limits: { maxInitialLineKB?: number; maxHeadersKB?: number } = {};
    try {
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        const v = args[i + 1];
        switch (a) {
          case '--listen': listen = hostPort(v, a); i++; break;
          case '--upstream': upstream = hostPort(v, a); i++; break;
          case '--route': {
            const eq = v?.indexOf('=') ?? -1;
            if (eq <= 0) throw new Error(`--route wants NAME=HOST:PORT, found ${JSON.stringify(v ?? null)}`);
            routes[v!.slice(0, eq)] = hostPort(v!.slice(eq + 1), a);
            i++;
            break;
          }
          case '--workers': workerCount = positiveInt(v, a); i++; break;
          case '--max-connections': maxConnections = positiveInt(v, a); i++; break;
          case '--max-initial-line-kb': limits.maxInitialLineKB = positiveInt(v, a); i++; break;
          case '--max-headers-kb': limits.maxHeadersKB = positiveInt(v, a); i++; break;
          default: throw new Error(`unknown option ${a}`);
        }
      }
      if (!listen) throw new Error('--listen is required');
      if (!upstream && Object.keys(routes).length === 0) throw new Error('give --upstream or at least one --route');
    } catch (e) {
      io.stderr(`meshwork http1-proxy: ${(e as Error).message}\n${usage}`);
      return 2;
    }
    const at = listen;
    let exitCode = 0;
    let stop: () => void = () => {};
    const stopped = new Promise<void>((resolve) => { stop = resolve; });
    const workers = await runWorkers(workerCount, async () => {
      const proxy = createHttp1Proxy({ upstream, routes, pool: { maxConnections }, limits });
      const addr = await proxy.server.listen(at.port, at.host);
      io.stdout(`http1-proxy${cluster.isWorker ? ` worker ${process.pid}` : ''} listening on ${addr.address}:${addr.port}\n`);
      const shutdown = () => { void proxy.close().then(() => (cluster.isWorker ? process.exit(0) : stop())); };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    }, (code) => {
      io.stderr(`meshwork http1-proxy: a worker exited with code ${code}\n`);
      exitCode = code || 1;
      stop();
    });
    if (workers.role === 'primary') {
      io.stdout(`http1-proxy primary ${process.pid}: ${workerCount} workers listening on ${at.host}:${at.port}\n`);
      process.once('SIGTERM', () => stop());
      process.once('SIGINT', () => stop());
      await stopped;
      await workers.stop();
      return exitCode;
    }
    await stopped;
    return exitCode;
  },
};

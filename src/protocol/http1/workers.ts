/**
 * `--workers N`: N processes sharing the listen sockets through node:cluster. The primary only
 * forks and restarts nothing; when a worker dies the primary exits with its code, so a
 * supervisor sees the failure instead of a silently shrunken proxy.
 */
import cluster from 'node:cluster';

/** Runs `start` in N workers (or in this process when n <= 1). Resolves in the primary once all are listening. */
export async function runWorkers(n: number, start: () => Promise<void>, onWorkerExit: (code: number) => void): Promise<'primary' | 'worker'> {
  if (n <= 1) { await start(); return 'worker'; }
  if (cluster.isPrimary) {
    // Round-robin in the primary costs an IPC hop per connection; let the kernel spread accepts.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    let listening = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) {
        const w = cluster.fork();
        w.once('listening', () => { if (++listening === n) resolve(); });
        w.once('exit', (code) => onWorkerExit(code ?? 1));
      }
    });
    return 'primary';
  }
  await start();
  return 'worker';
}

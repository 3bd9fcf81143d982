/**
 * `--workers N`: N processes sharing the listen sockets through node:cluster. The primary
 * forks and supervises nothing else: when a worker dies unexpectedly the primary reports it
 * (so a supervisor sees the failure instead of a silently shrunken proxy).
 */
import cluster, { type Worker } from 'node:cluster';

export interface Workers {
  role: 'primary' | 'worker';
  /** Primary: SIGTERMs every worker and resolves once all have exited. Worker/single: no-op. */
  stop(): Promise<void>;
}

/** Runs `start` in N workers (or in this process when n <= 1); resolves once all are listening. */
export async function runWorkers(n: number, start: () => Promise<void>, onWorkerDied: (code: number) => void): Promise<Workers> {
  if (n <= 1 || !cluster.isPrimary) {
    await start();
    return { role: 'worker', stop: async () => {} };
  }
  // Round-robin in the primary costs an IPC hop per connection; let the kernel spread accepts.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  let listening = 0;
  const workers: Worker[] = [];
  await new Promise<void>((resolve) => {
    for (let i = 0; i < n; i++) {
      const w = cluster.fork();
      workers.push(w);
      w.once('listening', () => { if (++listening === n) resolve(); });
      w.once('exit', (code) => { if (!stopping) onWorkerDied(code ?? 1); if (listening < n) resolve(); });
    }
  });
  return {
    role: 'primary',
    stop: async () => {
      stopping = true;
      await Promise.all(workers.map((w) => (w.isDead() ? undefined : new Promise<void>((r) => { w.once('exit', () => r()); w.process.kill('SIGTERM'); }))));
    },
  };
}

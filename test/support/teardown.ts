/**
 * Teardown that cannot hang a test file. A file whose event loop stays alive after its tests
 * runs into the runner's file timeout (120 s) and fails the run with nothing to say why; one CI
 * run of the h2 upstream fuzz did that after every assertion had passed. `bounded` limits each
 * teardown step, and `reportLeftovers` names what still holds the loop afterwards and closes it.
 */
import * as net from 'node:net';
import { ChildProcess } from 'node:child_process';

/** Waits for `step` at most `ms`; past that, says which step overran and goes on. */
export async function bounded(what: string, ms: number, step: Promise<unknown> | undefined): Promise<void> {
  if (step === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    if ((await Promise.race([step.then(() => 'done' as const), late])) === 'late') console.error(`teardown: ${what} did not finish within ${ms} ms`);
  } finally {
    clearTimeout(timer);
  }
}

function describe(h: unknown): string {
  if (h instanceof net.Socket) return `socket ${h.localAddress ?? '?'}:${h.localPort ?? '?'} -> ${h.remoteAddress ?? '?'}:${h.remotePort ?? '?'}${h.destroyed ? ' (destroyed)' : ''}`;
  if (h instanceof net.Server) return `server ${JSON.stringify(h.address())}`;
  if (h instanceof ChildProcess) return `child process ${h.pid ?? '?'} ${h.spawnargs.join(' ')}`;
  return (h as { constructor?: { name?: string } } | null)?.constructor?.name ?? String(h);
}

/**
 * Once the file's teardown is done: if anything still keeps the process alive `ms` later (the
 * timer is unref'd, so it fires only then), prints each handle and closes the sockets, servers
 * and child processes among them, so the file ends rather than time out.
 */
export function reportLeftovers(file: string, ms = 5000): void {
  const t = setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().filter((h) => h !== process.stdout && h !== process.stderr && h !== process.stdin);
    console.error(`teardown: ${file} still had ${handles.length} handle(s) open ${ms} ms after its teardown (${process.getActiveResourcesInfo().join(', ')}):\n  ${handles.map(describe).join('\n  ')}`);
    for (const h of handles) {
      if (h instanceof net.Socket) h.destroy();
      else if (h instanceof net.Server) h.close();
      else if (h instanceof ChildProcess) h.kill('SIGKILL');
    }
  }, ms);
  t.unref();
}

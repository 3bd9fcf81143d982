/**
 * V8 heap settings for the long-running commands (proxy, namerd, demo), applied before their
 * modules load. A proxy's objects live for one request: V8 grows the young generation up to
 * 16 MiB semi-spaces under load anyway, which held 10-20 MB more RSS here than keeping it at
 * its initial 1 MiB, with the same throughput (alternating A/B runs: 63 vs 89 MB after load;
 * bench/RESULTS.md's 11:42 run of 2026-11-25 shows 64.4 MB loaded, 88.4 in the run before). A
 * small young generation also stays in the CPU's caches. Flags the operator gave (node
 * options or NODE_OPTIONS) win.
 */
import { setFlagsFromString } from 'node:v8';

export const SERVER_COMMANDS: ReadonlySet<string> = new Set(['linkerd', 'namerd', 'http1-proxy', 'demo']);

let applied = false;

/** True when node's own options already say how big the young generation is. */
export function operatorSetYoungGeneration(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--(max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/.test(a));
}

export function tuneHeapForServing(): void {
  if (applied || operatorSetYoungGeneration(process.execArgv, process.env['NODE_OPTIONS'])) return;
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
}

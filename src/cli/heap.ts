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
import { runInNewContext } from 'node:vm';

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

/**
 * One full collection once a server command is listening. Reading and checking the config
 * (the YAML document, schema walks, error paths) leaves garbage in the old generation that
 * a proxy under steady load would keep resident until its next full GC, which may be hours
 * away: 1.2 MB here after the bench's warm-up. Costs one pause of a few ms at start-up. A no-op
 * unless tuneHeapForServing ran (embedders and tests keep their own heap policy).
 */
export function compactAfterStart(): void {
  if (!applied) return;
  // `gc` is only bound into contexts created while --expose-gc is set.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  gc();
}

/** Observing what a namer binds in namer tests: a bound name's leaf and addresses. */
import type { Addr } from '../../src/naming/addr.js';
import type { ActivityState, BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';

/** `leaf:<id>:<residual>` for a bound leaf, else the state's or tree's type (`pending`, `neg`, ...). */
export function describeTree(s: ActivityState<NameTree<Name>>): string {
  if (s.type !== 'ok') return s.type;
  const t = s.value;
  if (t.type !== 'leaf') return t.type;
  const b = t.value as BoundName;
  return `leaf:${b.id.show()}:${b.residual.show()}`;
}

/** `host:port` of each address of a bound Addr, else the Addr's type (`neg`, `failed`, ...). */
export function hostPorts(a: Addr): string[] {
  return a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`) : [a.type];
}

/**
 * Observes `b.addr` until `want` non-pending values were seen (at most 4 s), running `step(i)`
 * after the i-th; resolves with what was seen, as `hostPorts`.
 */
export function collectAddrs(b: BoundName, want: number, step: (i: number) => void): Promise<string[][]> {
  const seen: string[][] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { c.close(); reject(new Error(`timeout: ${JSON.stringify(seen)}`)); }, 4000);
    const c = b.addr.observe((a) => {
      if (a.type === 'pending') return;
      seen.push(hostPorts(a));
      step(seen.length);
      if (seen.length === want) {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve(seen);
      }
    });
  });
}

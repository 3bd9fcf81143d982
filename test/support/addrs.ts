/** Observing a bound name's addresses in namer tests. */
import type { Addr } from '../../src/naming/addr.js';
import type { BoundName } from '../../src/naming/contracts.js';

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

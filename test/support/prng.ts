/**
 * The seeded PRNG (mulberry32) the property and fuzz tests share, so a failure reproduces from
 * its printed seed. It is the balancers' own, not a copy.
 */
export { seededRandom } from '../../src/router/balancers/balancer.js';

/** Draws of a fuzz case from one seeded source. */
export class FuzzGen {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k++) b[k] = this.int(256);
    return b;
  }
  printable(n: number): string {
    let s = '';
    for (let k = 0; k < n; k++) s += String.fromCharCode(32 + this.int(95));
    return s;
  }
}

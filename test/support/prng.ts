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
  /** A few bytes flipped, inserted, deleted, duplicated or cut, a 32-bit length made wrong, or random bytes inserted. */
  mutate(input: Buffer): Buffer {
    let b = input;
    for (let k = 1 + this.int(4); k > 0; k--) {
      const at = this.int(b.length + 1);
      switch (this.int(7)) {
        case 0:
          if (at < b.length) b = Buffer.concat([b.subarray(0, at), Buffer.from([b[at]! ^ (1 << this.int(8))]), b.subarray(at + 1)]);
          break;
        case 1:
          if (at < b.length) b = Buffer.concat([b.subarray(0, at), Buffer.from([this.int(256)]), b.subarray(at + 1)]);
          break;
        case 2:
          b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + this.int(8)))]);
          break;
        case 3:
          b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + this.int(40)), b.subarray(at)]);
          break;
        case 4:
          b = b.subarray(0, at);
          break;
        case 5:
          // A 32-bit big-endian value somewhere: a length prefix made huge, negative or off by a little.
          if (at + 4 <= b.length) {
            const v = b.readUInt32BE(at);
            const nv = this.pick([0xffffffff, 0x7fffffff, 0x80000000, 0x00ffffff, v + 1, v - 1, v + 1000, 0]);
            b = Buffer.from(b);
            b.writeUInt32BE(nv >>> 0, at);
          }
          break;
        default:
          b = Buffer.concat([b.subarray(0, at), this.bytes(1 + this.int(16)), b.subarray(at)]);
      }
    }
    return b;
  }
}

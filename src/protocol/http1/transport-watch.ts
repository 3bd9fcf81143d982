/**
 * `socketOptions.readTimeoutMs` and `writeTimeoutMs` for one connection, as Netty's
 * ReadTimeoutHandler and WriteTimeoutHandler apply them in Linkerd: checked by a coarse sweep
 * (the server's, or the pool's), never on the request path, where the connection only counts
 * its reads.
 */
import type { Socket } from 'node:net';
import { pendingWriteBytes } from '../direct-write.js';

export type TransportTimeout = 'read' | 'write';

export class TransportWatch {
  private readMark = 0;
  private readSince: number;
  private writeMark = 0;
  private writeSince = 0;

  constructor(now: number) {
    this.readSince = now;
  }

  /**
   * Which timeout has passed at `now`, if one has: nothing read (`reads` has not moved) for
   * `rt` ms while reading was not paused (back-pressure is not the peer's silence), or pending
   * write bytes unchanged and not zero for `wt` ms. 0 turns either off.
   */
  check(now: number, reads: number, socket: Socket, rt: number, wt: number): TransportTimeout | undefined {
    if (rt > 0) {
      if (reads !== this.readMark || socket.isPaused()) {
        this.readMark = reads;
        this.readSince = now;
      } else if (now - this.readSince > rt) return 'read';
    }
    if (wt > 0) {
      const q = pendingWriteBytes(socket);
      if (q === 0 || q !== this.writeMark) {
        this.writeMark = q;
        this.writeSince = now;
      } else if (now - this.writeSince > wt) return 'write';
    }
    return undefined;
  }
}

/** A sweep period for the timeouts given: a quarter of the shortest one set (0: not set), from 10 ms to 1 s. */
export function sweepEvery(...ms: number[]): number {
  let least = Infinity;
  for (const m of ms) if (m > 0 && m < least) least = m;
  return Math.max(10, Math.min(1000, Math.floor(least / 4)));
}

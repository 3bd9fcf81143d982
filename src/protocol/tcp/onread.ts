/**
 * Reads of the tcp router's plain upstream sockets without a fresh buffer per read.
 *
 * A socket read with 'data' events gets a new 64 KiB buffer from malloc for every read, which
 * the garbage collector frees in bulk; glibc hands that memory back to the kernel and the next
 * reads fault it in again, page by page. Through a tcp router with 64 KB responses some
 * processes ran at a quarter of the others' speed with 13-16 page faults per request (README,
 * "Raw TCP"). Sockets made by `connectTcp` read instead through Node's `onread` into the
 * process's shared read buffer (../shared-read.ts), and each read is copied out at once: reads of up to 4 KiB into a slice of
 * Node's Buffer pool, larger ones into a 64 KiB chunk that goes back to a free list once the
 * write carrying it is done. The memory is reused, so nothing is handed back and faulted in.
 *
 * Bytes that arrive before a splice takes the socket (a server that speaks first) wait, copied,
 * until it does. TLS sockets have no `onread`: they keep 'data' events.
 */
import type { Socket } from 'node:net';
import { SHARED_READ, SHARED_READ_SIZE } from '../shared-read.js';

/** Reads up to this size are copied into Node's Buffer pool (its small-buffer limit). */
const SMALL_READ = 4 * 1024;
/** Free chunks kept for reuse; beyond this, a released chunk is left to the garbage collector. */
const FREE_MAX = 256;

const free: Buffer[] = [];

/** Chunks on the free list (for tests). */
export function freeChunks(): number {
  return free.length;
}

/** Where a socket's bytes go: `b` is the caller's to keep; `done` (when given) once it is written. False: pause reading. */
export type ReadSink = (b: Buffer, done: (() => void) | undefined) => boolean;

export class ReadSlot {
  private sink: ReadSink | null = null;
  private pending: Buffer[] | null = null;

  /** Node's `onread` callback: `n` bytes of the shared buffer. */
  onRead(n: number): boolean {
    let copy: Buffer;
    let done: (() => void) | undefined;
    if (n <= SMALL_READ) {
      copy = Buffer.allocUnsafe(n);
      SHARED_READ.copy(copy, 0, 0, n);
    } else {
      const chunk = free.pop() ?? Buffer.allocUnsafeSlow(SHARED_READ_SIZE);
      SHARED_READ.copy(chunk, 0, 0, n);
      copy = chunk.subarray(0, n);
      done = () => {
        if (free.length < FREE_MAX) free.push(chunk);
      };
    }
    const sink = this.sink;
    if (sink === null) {
      (this.pending ??= []).push(copy);
      return true;
    }
    return sink(copy, done);
  }

  /** Sends the socket's bytes to `sink` from now on; returns those that arrived before (or null). */
  attach(sink: ReadSink): Buffer[] | null {
    this.sink = sink;
    const p = this.pending;
    this.pending = null;
    return p;
  }
}

const slots = new WeakMap<Socket, ReadSlot>();

/** The `onread` option for a new plain TCP socket, and the slot its bytes go through (see `readSlotOf`). */
export function onreadOption(): { slot: ReadSlot; onread: { buffer: Buffer; callback: (n: number) => boolean } } {
  const slot = new ReadSlot();
  return { slot, onread: { buffer: SHARED_READ, callback: (n: number) => slot.onRead(n) } };
}

/** Registers the socket made with `onreadOption`'s option. */
export function setReadSlot(sock: Socket, slot: ReadSlot): void {
  slots.set(sock, slot);
}

/** The read slot of a socket that reads through `onread`, or undefined (it reads with 'data' events). */
export function readSlotOf(sock: Socket): ReadSlot | undefined {
  return slots.get(sock);
}

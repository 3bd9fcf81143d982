/**
 * Response and request bytes written while the event loop handles one batch of I/O events
 * leave together when the batch is done (`setImmediate` runs after the poll phase). A peer
 * asleep in epoll is then woken once per batch rather than once per message; on loopback that
 * wake-up, not the copy, is most of what a small write costs the kernel.
 *
 * The bytes wait in the connection's SocketWriter, not in a corked socket: Node's cork keeps
 * an entry object per write and replays them through `writev` on uncork, which cost more per
 * request than the write itself here. A writer holds bytes back only while its socket has
 * nothing buffered; otherwise it writes at once behind what is buffered, so Node's
 * back-pressure (`write` returning false, then 'drain') is unchanged. Every write and `end`
 * on a socket with a writer goes through the writer so that order is kept; `destroy` drops
 * what waits.
 *
 * Bytes borrowed from a read buffer the caller reuses (the upstream connections' `onread`
 * buffers) are copied when small; large ones (where a copy would cost more than a wake-up
 * saves) are written at once after what waits, and the caller learns whether the socket
 * still points into its buffer.
 */
import type { Socket } from 'node:net';
import { directHandle, writeDirect } from './direct-write.js';

/** Borrowed writes up to this size are copied and batched; larger ones go out at once. */
export const BATCH_COPY_MAX = 16 * 1024;
/** Bytes a writer holds back before it writes them without waiting for the batch's end. */
const HOLD_MAX = 64 * 1024;
/** The socket's write buffer is full: wait for 'drain'. */
export const WRITE_FULL = 1;
/** The socket still references the borrowed buffer (its write did not complete at once). */
export const WRITE_HELD = 2;

type WriteCb = (err?: Error | null) => void;

const waiting: SocketWriter[] = [];
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  // Writers added while flushing (none expected) are flushed in the same pass.
  for (let i = 0; i < waiting.length; i++) waiting[i]!.flush();
  waiting.length = 0;
}

/** One socket's writes, held until the end of the current batch of I/O callbacks. */
export class SocketWriter {
  /** The first held chunk (most batches hold exactly one). */
  private first: Buffer | null = null;
  private firstCb: WriteCb | undefined = undefined;
  /** Further held chunks and their callbacks, in order. */
  private rest: Buffer[] | null = null;
  private restCbs: (WriteCb | undefined)[] | null = null;
  private bytes = 0;
  /** The socket's TCP handle for direct writes, once seen (direct-write.ts). */
  private handle: object | null = null;

  constructor(readonly socket: Socket) {}

  /** True while bytes wait for the end of the batch. */
  get holding(): boolean {
    return this.first !== null;
  }

  /** Writes bytes the caller hands over (never reused). False: wait for 'drain'. */
  writeOwned(b: Buffer, cb?: WriteCb): boolean {
    if (this.first !== null) {
      (this.rest ??= []).push(b);
      (this.restCbs ??= []).push(cb);
      this.bytes += b.length;
      if (this.bytes > HOLD_MAX) return this.flush();
      return true;
    }
    const s = this.socket;
    if (s.writableLength > 0 || s.destroyed || s.writableEnded) return s.write(b, cb);
    this.first = b;
    this.firstCb = cb;
    this.bytes = b.length;
    waiting.push(this);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushAll);
    }
    return true;
  }

  /** Writes `body`, borrowed from a buffer the caller reuses. Returns WRITE_FULL | WRITE_HELD bits. */
  writeBorrowed(body: Buffer): number {
    if (body.length > BATCH_COPY_MAX) return this.writeNow(null, body);
    return this.writeOwned(Buffer.from(body)) ? 0 : WRITE_FULL;
  }

  /**
   * Writes `b` (owned) at once, behind what waits, through Node's socket (a large chunk gains
   * nothing from waiting for the batch). False: wait for 'drain' (the socket holds its
   * high-water mark's worth or more).
   */
  writeLarge(b: Buffer, cb?: WriteCb): boolean {
    return (this.writeNow(null, b, cb) & WRITE_FULL) === 0;
  }

  /** `head` (owned) then `body` (borrowed), in one write. Returns WRITE_FULL | WRITE_HELD bits. */
  writeBorrowed2(head: Buffer, body: Buffer): number {
    if (body.length > BATCH_COPY_MAX) return this.writeNow(head, body);
    return this.writeOwned(body.length === 0 ? head : Buffer.concat([head, body], head.length + body.length)) ? 0 : WRITE_FULL;
  }

  /** What waits, then `head` and the borrowed `body`, written now; `cb` once `body` is written. */
  private writeNow(head: Buffer | null, body: Buffer, cb?: WriteCb): number {
    const s = this.socket;
    if (this.first !== null) {
      if (head !== null) this.writeOwned(head);
      s.cork();
      this.flush();
      s.write(body, cb);
      s.uncork();
    } else if (head === null) s.write(body, cb);
    else {
      s.cork();
      s.write(head);
      s.write(body, cb);
      s.uncork();
    }
    return (s.writableLength < s.writableHighWaterMark ? 0 : WRITE_FULL) | (s.writableLength > 0 || s.destroyed ? WRITE_HELD : 0);
  }

  /**
   * Writes what waits now (the batch's end, or before an `end`). Returns false when the
   * socket's buffer is full (wait for 'drain'). A single chunk goes straight to the TCP
   * handle when nothing is queued before it (direct-write.ts).
   */
  flush(): boolean {
    const b = this.first;
    if (b === null) return true;
    const cb = this.firstCb;
    const rest = this.rest;
    const cbs = this.restCbs;
    this.first = null;
    this.firstCb = undefined;
    this.rest = null;
    this.restCbs = null;
    this.bytes = 0;
    const s = this.socket;
    if (s.destroyed) {
      // Dropped with the socket; callbacks hear it as Node's own writes would.
      const err = new Error('socket destroyed before its pending bytes were written');
      cb?.(err);
      if (cbs !== null) for (const c of cbs) c?.(err);
      return false;
    }
    if (rest === null) {
      // Not destroyed (checked above): a handle kept from an earlier flush is still the socket's.
      const h = this.handle ?? (this.handle = directHandle(s));
      return (h !== null && writeDirect(s, b, cb, h)) || s.write(b, cb);
    }
    s.cork();
    s.write(b, cb);
    let more = true;
    for (let i = 0; i < rest.length; i++) more = s.write(rest[i]!, cbs![i]);
    s.uncork();
    return more;
  }

  /** Ends the socket after what waits (and `last`, when given). */
  end(last?: string | Buffer): void {
    this.flush();
    if (last === undefined) this.socket.end();
    else this.socket.end(last);
  }

  /** Ends the socket after what waits once its buffer is written (`destroySoon`). */
  destroySoon(): void {
    this.flush();
    this.socket.destroySoon();
  }
}

/**
 * Writes borrowed bytes to a socket that has no writer (a tunnel after an upgrade) at once.
 * Returns WRITE_FULL | WRITE_HELD bits.
 */
export function writeBorrowedNow(s: Socket, body: Buffer): number {
  const more = s.write(body);
  return (more ? 0 : WRITE_FULL) | (s.writableLength > 0 || s.destroyed ? WRITE_HELD : 0);
}

/**
 * Response and request bytes written while the event loop handles one batch of I/O events
 * leave together when the batch is done (`setImmediate` runs after the poll phase): each
 * socket written in the batch is corked at its first write and uncorked then. A peer asleep in
 * epoll is then woken once per batch rather than once per message; on loopback that wake-up,
 * not the copy, is most of what a small write costs the kernel. `end()` flushes corked bytes
 * first and `destroy()` drops them, as without batching.
 *
 * Bytes borrowed from a read buffer the caller reuses (the upstream connections' `onread`
 * buffers) cannot wait in a corked socket: small ones are copied into the batch, large ones
 * (where a copy would cost more than a wake-up saves) are written at once after the batch so
 * far, and the caller learns whether the socket still points into its buffer.
 */
import type { Socket } from 'node:net';

/** Borrowed writes up to this size are copied and batched; larger ones go out at once. */
export const BATCH_COPY_MAX = 16 * 1024;
/** The socket's write buffer is full: wait for 'drain'. */
export const WRITE_FULL = 1;
/** The socket still references the borrowed buffer (its write did not complete at once). */
export const WRITE_HELD = 2;

const corked: Socket[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (let i = 0; i < corked.length; i++) {
    const s = corked[i]!;
    if (s.writableCorked > 0) s.uncork();
  }
  corked.length = 0;
}

/** Corks `s` until the end of the current batch of I/O callbacks. */
function batch(s: Socket): void {
  if (s.writableCorked > 0) return;
  s.cork();
  corked.push(s);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** Writes bytes the caller hands over (never reused): batched. False: wait for 'drain'. */
export function writeOwned(s: Socket, b: Buffer, cb?: (err?: Error | null) => void): boolean {
  batch(s);
  return s.write(b, cb);
}

function writeNow(s: Socket, head: Buffer | null, body: Buffer): number {
  if (s.writableCorked > 0) s.uncork();
  let more: boolean;
  if (head === null) more = s.write(body);
  else {
    s.cork();
    s.write(head);
    more = s.write(body);
    s.uncork();
  }
  return (more ? 0 : WRITE_FULL) | (s.writableLength > 0 || s.destroyed ? WRITE_HELD : 0);
}

/** Writes `body`, borrowed from a buffer the caller reuses. Returns WRITE_FULL | WRITE_HELD bits. */
export function writeBorrowed(s: Socket, body: Buffer): number {
  if (body.length > BATCH_COPY_MAX) return writeNow(s, null, body);
  batch(s);
  return s.write(Buffer.from(body)) ? 0 : WRITE_FULL;
}

/** `head` (owned) then `body` (borrowed), in one write. Returns WRITE_FULL | WRITE_HELD bits. */
export function writeBorrowed2(s: Socket, head: Buffer, body: Buffer): number {
  if (body.length > BATCH_COPY_MAX) return writeNow(s, head, body);
  batch(s);
  return s.write(body.length === 0 ? head : Buffer.concat([head, body], head.length + body.length)) ? 0 : WRITE_FULL;
}

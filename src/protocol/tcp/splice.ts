/**
 * Two connected sockets joined into one stream each way, as a TCP proxy carries a connection:
 * bytes read from one are written to the other as they come, reading from a side pauses while
 * the other's write buffer is full, and a FIN travels on (one side ending its writes ends the
 * other's, the reverse direction keeps flowing: both sockets must be `allowHalfOpen`). The
 * splice ends when both sockets have closed; an error or reset on either resets the other (a
 * TLS socket, which has no TCP handle of its own, is closed) and destroys both.
 *
 * Writes go through each socket's SocketWriter (../write-batch.ts), as the http1 engine's do:
 * what arrives during one batch of I/O callbacks leaves together after it, so the peer on the
 * other end is woken once per batch, not once per chunk (on loopback, measured with wrk and 50
 * connections through the bench's tcp router: 17,676 req/s with a write per chunk, 37,412
 * with the writers).
 *
 * `idleTimeMs` ends a connection with no bytes either way for that long (the client side's
 * socket timeout: its reads are one direction, its writes the other); `lifeTimeMs` ends it
 * that long after the splice began. A side that closes while the other still has bytes queued
 * for it lets the other finish writing, then destroys it.
 */
import type { Socket } from 'node:net';
import { pendingWriteBytes } from '../direct-write.js';
import { BATCH_COPY_MAX, SocketWriter } from '../write-batch.js';
import { readSlotOf } from './onread.js';

export interface SpliceOptions {
  /** End the connection after this long without bytes in either direction (0: never). */
  readonly idleTimeMs?: number | undefined;
  /** End the connection this long after it began (0: never). */
  readonly lifeTimeMs?: number | undefined;
  /** Bytes read from `client` and written to `upstream` (called per chunk). */
  readonly onUpstreamBytes?: ((n: number) => void) | undefined;
  /** Bytes read from `upstream` and written to `client` (called per chunk). */
  readonly onClientBytes?: ((n: number) => void) | undefined;
  /** Bytes the client sent before the splice (read to decide where it goes): written first. */
  readonly clientPrefix?: Buffer | undefined;
}

/** Why a splice ended. */
export type SpliceEnd = 'closed' | 'error' | 'idle' | 'lifetime' | 'timeout' | 'stopped';

export interface SpliceResult {
  readonly reason: SpliceEnd;
  /** The first error either socket reported (for 'error'). */
  readonly error?: Error | undefined;
  readonly toUpstream: number;
  readonly toClient: number;
}

/** Each spliced socket and the one its bytes are written to. */
const writesTo = new WeakMap<Socket, Socket>();

/**
 * Whether reading `sock` is held back by the proxy, not waiting on its peer: it is paused (not
 * yet spliced, or by back-pressure), or, spliced, bytes it sent on are still queued for the
 * other side (an onread socket stops reading then without looking paused). What a read
 * timeout must not count as the peer's silence.
 */
export function readHeldBack(sock: Socket): boolean {
  if (sock.isPaused()) return true;
  const to = writesTo.get(sock);
  return to !== undefined && pendingWriteBytes(to) > 0;
}

export class Splice {
  private toUpstream = 0;
  private toClient = 0;
  private closed = 0;
  private reason: SpliceEnd | null = null;
  private error: Error | undefined;
  private lifeTimer: NodeJS.Timeout | null = null;
  private resolveDone!: (r: SpliceResult) => void;
  /** Settles once both sockets have closed. */
  readonly done: Promise<SpliceResult>;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    opts: SpliceOptions = {},
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    writesTo.set(client, upstream);
    writesTo.set(upstream, client);
    const onUp = opts.onUpstreamBytes;
    const onDown = opts.onClientBytes;
    const prefix = opts.clientPrefix;
    const toUpstream = new SocketWriter(upstream);
    const toClient = new SocketWriter(client);
    if (prefix !== undefined && prefix.length > 0) {
      this.toUpstream += prefix.length;
      onUp?.(prefix.length);
      toUpstream.writeOwned(prefix);
    }
    this.pump(client, toUpstream, (n) => {
      this.toUpstream += n;
      onUp?.(n);
    });
    this.pump(upstream, toClient, (n) => {
      this.toClient += n;
      onDown?.(n);
    });
    const idle = opts.idleTimeMs ?? 0;
    if (idle > 0) {
      client.setTimeout(idle);
      client.on('timeout', () => this.stop('idle'));
    }
    const life = opts.lifeTimeMs ?? 0;
    if (life > 0) this.lifeTimer = setTimeout(() => this.stop('lifetime'), life);
    // Bytes that arrived before the splice (while the upstream was being picked) flow now.
    client.resume();
    upstream.resume();
  }

  /** Ends the connection now: both sockets are destroyed (`why` is what `done` reports). */
  stop(why: SpliceEnd = 'stopped'): void {
    this.reason ??= why;
    this.client.destroy();
    this.upstream.destroy();
  }

  private pump(from: Socket, writer: SocketWriter, count: (n: number) => void): void {
    const to = writer.socket;
    /** Writes one chunk read from `from` (`done`: once written); false while `to` is full. */
    const forward = (chunk: Buffer, done: (() => void) | undefined): boolean => {
      if (to.destroyed) {
        done?.();
        return true;
      }
      count(chunk.length);
      return chunk.length > BATCH_COPY_MAX ? writer.writeLarge(chunk, done) : writer.writeOwned(chunk, done);
    };
    const slot = readSlotOf(from);
    if (slot === undefined) {
      from.on('data', (chunk: Buffer) => {
        if (!forward(chunk, undefined)) from.pause();
      });
    } else {
      // An onread socket (onread.ts): returning false stops its reads until 'drain'.
      const before = slot.attach(forward);
      if (before !== null) for (const b of before) forward(b, undefined);
    }
    to.on('drain', () => from.resume());
    // The peer finished sending: so does this side towards the other peer. A socket reports
    // an end with nothing buffered even while paused, so it may have ended before the splice.
    const ended = (): void => {
      if (!to.destroyed && !to.writableEnded) writer.end();
    };
    if (from.readableEnded) ended();
    else from.on('end', ended);
    from.on('error', (e: Error) => {
      this.error ??= e;
      this.reason ??= 'error';
      // The other peer learns of the failure as a reset too, not as an orderly end of stream
      // it could take for a complete reply.
      reset(to);
      this.stop('error');
    });
    from.on('close', () => {
      // Nothing more can reach `from`: the other side finishes what it has queued and goes.
      if (!to.destroyed) writer.destroySoon();
      if (++this.closed === 2) this.finish();
    });
  }

  private finish(): void {
    if (this.lifeTimer !== null) clearTimeout(this.lifeTimer);
    this.resolveDone({ reason: this.reason ?? 'closed', error: this.error, toUpstream: this.toUpstream, toClient: this.toClient });
  }
}

/** Closes with a TCP reset where the socket has a TCP handle of its own (TLS sockets do not: closed). */
export function reset(sock: Socket): void {
  if (sock.destroyed) return;
  try {
    sock.resetAndDestroy();
  } catch {
    sock.destroy();
  }
}

/**
 * `socketOptions.readTimeoutMs` and `writeTimeoutMs`, as Netty's ReadTimeoutHandler and
 * WriteTimeoutHandler apply them in Linkerd: checked by a coarse sweep (the server's, or the
 * pool's), never on the request path. The http engine counts its own reads per connection
 * (TransportWatch); the other protocols' servers and pools hand their sockets to a
 * SocketTimeouts sweep, which reads `socket.bytesRead`.
 */
import type { Socket } from 'node:net';
import { pendingWriteBytes } from './direct-write.js';

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
   * `rt` ms while reading was not `held` back (paused for back-pressure, which is not the
   * peer's silence), or pending
   * write bytes unchanged and not zero for `wt` ms. 0 turns either off.
   */
  check(now: number, reads: number, socket: Socket, rt: number, wt: number, held: boolean = socket.isPaused()): TransportTimeout | undefined {
    if (rt > 0) {
      if (reads !== this.readMark || held) {
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

/** What closed a connection, for the errors of requests it carried. */
export function transportTimeoutReason(kind: TransportTimeout, rt: number, wt: number): string {
  return kind === 'read' ? `nothing read for ${rt} ms (readTimeoutMs)` : `no write progress for ${wt} ms (writeTimeoutMs)`;
}

/** One watched socket of a SocketTimeouts sweep. */
interface Watched {
  readonly watch: TransportWatch;
  readonly expired: (kind: TransportTimeout) => void;
  readonly held: ((socket: Socket) => boolean) | undefined;
}

/**
 * The read and write timeouts of one server's or pool's sockets (tcp, h2, thrift, mux): a
 * socket with nothing read for `readMs`, or with pending write bytes that made no progress for
 * `writeMs`, has its `expired` called once (which closes the connection). One timer for all of
 * them, running only while a socket is watched; nothing is done per read or write.
 */
export class SocketTimeouts {
  private readonly sockets = new Map<Socket, Watched>();
  private timer: NodeJS.Timeout | null = null;

  /** 0 turns either off. */
  constructor(
    readonly readMs: number,
    readonly writeMs: number,
  ) {}

  /** A sweep for these timeouts, or null when neither is set (0 or absent), so nothing is watched. */
  static when(readMs = 0, writeMs = 0): SocketTimeouts | null {
    return readMs > 0 || writeMs > 0 ? new SocketTimeouts(readMs, writeMs) : null;
  }

  /** Whether either timeout is set (when neither is, `watch` does nothing). */
  get enabled(): boolean {
    return this.readMs > 0 || this.writeMs > 0;
  }

  /** Sockets watched now. */
  get size(): number {
    return this.sockets.size;
  }

  /**
   * Watches `socket` until it closes or a timeout passes. `held`: reading is held back by the
   * proxy (back-pressure from the other side), which is not the peer's silence; default
   * `socket.isPaused()`.
   */
  watch(socket: Socket, expired: (kind: TransportTimeout) => void, held?: (socket: Socket) => boolean): void {
    if (!this.enabled || socket.destroyed || this.sockets.has(socket)) return;
    this.sockets.set(socket, { watch: new TransportWatch(Date.now()), expired, held });
    socket.once('close', () => this.forget(socket));
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), sweepEvery(this.readMs, this.writeMs));
      this.timer.unref();
    }
  }

  private forget(socket: Socket): void {
    this.sockets.delete(socket);
    if (this.sockets.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, w] of this.sockets) {
      if (socket.destroyed) {
        this.forget(socket);
        continue;
      }
      const held = w.held !== undefined ? w.held(socket) : socket.isPaused();
      const kind = w.watch.check(now, socket.bytesRead, socket, this.readMs, this.writeMs, held);
      if (kind === undefined) continue;
      this.forget(socket);
      w.expired(kind);
    }
  }

  /** What closed a connection this sweep timed out, for the errors of requests it carried. */
  reason(kind: TransportTimeout): string {
    return transportTimeoutReason(kind, this.readMs, this.writeMs);
  }

  /** Stops watching every socket. */
  close(): void {
    this.sockets.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

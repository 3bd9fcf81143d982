/**
 * Test helpers for the mux engine: hex literals, a raw-socket frame reader with bounded waits,
 * and a raw TCP server standing in for a peer that speaks mux by hand.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Bytes from hex written with spaces for reading ("00 00 00 04 41 00 00 01"). */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** A hex string of bytes, spaced per byte, for readable assertion failures. */
export function show(b: Buffer): string {
  return b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Reads whole frames (size field included) off a socket, in order. */
export class FrameReader {
  readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    if (w !== null) w();
  }

  private take(): Buffer | null {
    if (this.buf.length < 4) return null;
    const n = 4 + this.buf.readUInt32BE(0);
    if (this.buf.length < n) return null;
    const f = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return f;
  }

  /** The next whole frame, size field included; rejects on timeout or when the socket closed first. */
  async frame(ms = 3000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.take();
      if (f !== null) return f;
      if (this.ended) throw new Error(`socket closed with ${this.buf.length} bytes of a partial frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await withTimeout(new Promise<void>((r) => (this.waiter = r)), left, 'a frame').catch(() => {});
    }
  }

  /** Bytes received and not yet taken as frames. */
  get leftover(): Buffer {
    return this.buf;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  waitClosed(ms = 3000): Promise<void> {
    return withTimeout(this.closed, ms, 'the socket to close');
  }
}

export async function dial(port: number): Promise<FrameReader> {
  const s = connect({ host: '127.0.0.1', port });
  s.setNoDelay(true);
  const r = new FrameReader(s);
  await withTimeout(new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  }), 3000, 'connect');
  return r;
}

/** A raw TCP server on loopback; each accepted connection is handed over as a FrameReader. */
export class RawServer {
  readonly server: Server;
  readonly peers: FrameReader[] = [];
  private waiters: Array<() => void> = [];
  port = 0;

  constructor() {
    this.server = createServer((s) => {
      s.setNoDelay(true);
      this.peers.push(new FrameReader(s));
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** The n-th accepted connection (0-based), waiting for it up to `ms`. */
  async peer(n: number, ms = 3000): Promise<FrameReader> {
    const deadline = Date.now() + ms;
    while (this.peers.length <= n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection ${n} not accepted within ${ms} ms`);
      await withTimeout(new Promise<void>((r) => this.waiters.push(r)), left, `connection ${n}`).catch(() => {});
    }
    return this.peers[n];
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Marker Rerr(tag 1, "tinit check"), type 127, exactly as Finagle's client sends it. */
export const MARKER_BYTES = hex('00 00 00 0f 7f 00 00 01 74 69 6e 69 74 20 63 68 65 63 6b');
/** Tinit(tag 1, version 1, no headers). */
export const TINIT_V1 = hex('00 00 00 06 44 00 00 01 00 01');
/** Rinit(tag 1, version 1, no headers). */
export const RINIT_V1 = hex('00 00 00 06 bc 00 00 01 00 01');
export const TPING_1 = hex('00 00 00 04 41 00 00 01');
export const RPING_1 = hex('00 00 00 04 bf 00 00 01');

/** Tdispatch(tag, no contexts, empty dst, empty dtab, body) written out by hand. */
export function tdispatchBytes(tag: number, body: string): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(14);
  head.writeUInt32BE(4 + 6 + b.length, 0);
  head[4] = 0x02;
  head.writeUIntBE(tag, 5, 3);
  return Buffer.concat([head, b]);
}

/** Rdispatch(tag, status, no contexts, body) written out by hand. */
export function rdispatchBytes(tag: number, status: number, body: string): Buffer {
  const b = Buffer.from(body);
  const head = Buffer.alloc(11);
  head.writeUInt32BE(4 + 3 + b.length, 0);
  head[4] = 0xfe;
  head.writeUIntBE(tag, 5, 3);
  head[8] = status;
  return Buffer.concat([head, b]);
}

/** Serves the handshake on a raw peer the way a Finagle server does: echo the marker, answer Tinit. */
export async function serveHandshake(p: FrameReader): Promise<void> {
  const marker = await p.frame();
  if (!marker.equals(MARKER_BYTES)) throw new Error(`expected the marker Rerr, got ${show(marker)}`);
  p.write(MARKER_BYTES);
  const tinit = await p.frame();
  if (!tinit.equals(TINIT_V1)) throw new Error(`expected Tinit v1, got ${show(tinit)}`);
  p.write(RINIT_V1);
}

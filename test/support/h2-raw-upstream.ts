/**
 * A raw h2c upstream on 127.0.0.1 that reads frames off the socket itself, for answers
 * node:http2 will not send (a stream reset without ending it first, padding longer than a
 * frame, a PUSH_PROMISE, an unsolicited PING ACK). Independent of src/protocol.
 */
import * as net from 'node:net';
import { ACK, F_HEADERS, F_PING, F_SETTINGS, h2frame } from './h2-wire.js';

export interface RawH2UpstreamOptions {
  /** Answer each PING with its ACK (default false: a session's PING probe goes unanswered). */
  readonly answerPings?: boolean;
}

export interface RawH2Upstream {
  readonly port: number;
  /** The SETTINGS (id, value) pairs of each connection's first SETTINGS frame. */
  readonly settings: Array<Array<[number, number]>>;
  close(): Promise<void>;
}

/**
 * Takes the client preface, sends an empty SETTINGS and acknowledges the client's, then calls
 * `onHeaders(stream, conn, s)` for each HEADERS frame (conn counts connections from 1); `s` is
 * the connection's socket, to write the answer on.
 */
export async function rawH2Upstream(onHeaders: (stream: number, conn: number, s: net.Socket) => void, options: RawH2UpstreamOptions = {}): Promise<RawH2Upstream> {
  const answerPings = options.answerPings ?? false;
  const socks = new Set<net.Socket>();
  const settings: Array<Array<[number, number]>> = [];
  let conns = 0;
  const srv = net.createServer((s) => {
    const conn = ++conns;
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let prefaced = false;
    let first = true;
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!prefaced) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaced = true;
        s.write(h2frame(F_SETTINGS, 0, 0, Buffer.alloc(0)));
      }
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const [type, flags, id, p] = [buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(9, 9 + len)];
        buf = buf.subarray(9 + len);
        if (type === F_SETTINGS && (flags & ACK) === 0) {
          if (first) settings.push(Array.from({ length: p.length / 6 }, (_, k) => [p.readUInt16BE(6 * k), p.readUInt32BE(6 * k + 2)]));
          first = false;
          s.write(h2frame(F_SETTINGS, ACK, 0, Buffer.alloc(0)));
        }
        if (answerPings && type === F_PING && (flags & ACK) === 0) s.write(h2frame(F_PING, ACK, 0, p));
        if (type === F_HEADERS) onHeaders(id, conn, s);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    settings,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

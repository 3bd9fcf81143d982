/**
 * Test helpers for the http1 engine: a raw upstream that records every request it receives
 * and answers from a function, a raw client, and an independent (deliberately simple) message
 * splitter so the tests do not trust the engine's own framing code.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';

export interface RawMessage {
  /** Head text including the final CRLFCRLF. */
  head: string;
  /** Body as received, in wire framing. */
  raw: string;
  /** Decoded body (de-chunked). */
  body: string;
  /** First line. */
  line: string;
  headers: Record<string, string>;
}

/**
 * Splits one message off `s` (latin1). `noBody` forces no body (HEAD responses, 1xx/204/304).
 * Returns the message and the rest, or null when incomplete. `closed` allows read-to-close.
 */
export function splitMessage(s: string, noBody: boolean, closed = false, isResponse = false): { msg: RawMessage; rest: string } | null {
  const he = s.indexOf('\r\n\r\n');
  if (he < 0) return null;
  const head = s.slice(0, he + 4);
  const lines = head.slice(0, -4).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    const k = l.slice(0, c).toLowerCase();
    const v = l.slice(c + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  let i = he + 4;
  const status = isResponse ? Number(lines[0]!.split(' ')[1]) : 0;
  if (noBody || (isResponse && (status < 200 || status === 204 || status === 304))) {
    return { msg: { head, raw: '', body: '', line: lines[0]!, headers }, rest: s.slice(i) };
  }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    let body = '';
    for (let guard = 0; guard < 100_000; guard++) {
      const le = s.indexOf('\r\n', i);
      if (le < 0) return null;
      const size = parseInt(s.slice(i, le).split(';')[0]!, 16);
      if (size === 0) {
        const te = s.indexOf('\r\n\r\n', le);
        // Trailers or not, the message ends at the first empty line after the last chunk.
        const end = s.startsWith('\r\n', le + 2) ? le + 4 : te < 0 ? -1 : te + 4;
        if (end < 0) return null;
        return { msg: { head, raw: s.slice(he + 4, end), body, line: lines[0]!, headers }, rest: s.slice(end) };
      }
      if (s.length < le + 2 + size + 2) return null;
      body += s.slice(le + 2, le + 2 + size);
      i = le + 2 + size + 2;
    }
    return null;
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (s.length < i + n) return null;
    const b = s.slice(i, i + n);
    return { msg: { head, raw: b, body: b, line: lines[0]!, headers }, rest: s.slice(i + n) };
  }
  if (!isResponse) return { msg: { head, raw: '', body: '', line: lines[0]!, headers }, rest: s.slice(i) };
  if (!closed) return null;
  const b = s.slice(i);
  return { msg: { head, raw: b, body: b, line: lines[0]!, headers }, rest: '' };
}

export type Responder = (req: RawMessage, conn: Socket) => string | null;

export interface RawUpstream {
  port: number;
  requests: RawMessage[];
  connections: number;
  server: Server;
  close(): Promise<void>;
}

/** A raw upstream: records requests, answers with `respond(req)` (null: answer nothing). */
export async function rawUpstream(respond: Responder): Promise<RawUpstream> {
  const requests: RawMessage[] = [];
  const socks = new Set<Socket>();
  const up: RawUpstream = {
    port: 0, requests, connections: 0,
    server: createServer((sock) => {
      up.connections++;
      socks.add(sock);
      sock.on('close', () => socks.delete(sock));
      sock.on('error', () => {});
      let buf = '';
      sock.on('data', (b) => {
        buf += b.toString('latin1');
        for (let g = 0; g < 1000; g++) {
          const m = splitMessage(buf, false);
          if (!m) break;
          buf = m.rest;
          requests.push(m.msg);
          const out = respond(m.msg, sock);
          if (out !== null) sock.write(out, 'latin1');
        }
      });
    }),
    close: async () => { for (const s of socks) s.destroy(); up.server.close(); await once(up.server, 'close').catch(() => {}); },
  };
  up.server.listen(0, '127.0.0.1');
  await once(up.server, 'listening');
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

export const ok = (body = 'ok', extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/**
 * Sends `data` on a new connection and reads until `count` responses arrived (parsed with
 * `noBody` per response index) or the socket closed; bounded by `timeoutMs`.
 */
export async function exchange(port: number, data: string | Buffer, count = 1, opts: { headFor?: number[]; timeoutMs?: number; keepOpen?: boolean; waitClose?: boolean } = {}): Promise<{ responses: RawMessage[]; closed: boolean; text: string }> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await once(sock, 'connect');
  let text = '';
  let closed = false;
  const responses: RawMessage[] = [];
  let rest = '';
  const done = new Promise<void>((resolve) => {
    const t = setTimeout(resolve, opts.timeoutMs ?? 3000);
    const parse = () => {
      for (let g = 0; g < 1000 && responses.length < count; g++) {
        const m = splitMessage(rest, opts.headFor?.includes(responses.length) ?? false, closed, true);
        if (!m) break;
        rest = m.rest;
        // 1xx interim responses are collected like any other message.
        responses.push(m.msg);
      }
      if (responses.length >= count && !opts.keepOpen) { clearTimeout(t); resolve(); }
    };
    sock.on('data', (b) => { text += b.toString('latin1'); rest += b.toString('latin1'); parse(); });
    sock.on('close', () => { closed = true; parse(); clearTimeout(t); resolve(); });
  });
  sock.write(data);
  await done;
  if (opts.waitClose && !closed) {
    // The server is expected to close: wait for it (bounded) rather than guess with a sleep.
    await new Promise<void>((r) => { const t = setTimeout(r, 2000); sock.once('close', () => { closed = true; clearTimeout(t); r(); }); });
  }
  sock.destroy();
  return { responses, closed, text };
}

export interface SocketPair {
  server: Server;
  /** The side under test. */
  a: Socket;
  /** The other end, accepted by `server`; what it reads is collected. */
  peer: Socket;
  received(): Buffer;
  /** `received()` as latin1 text. */
  text(): string;
  /** Resolves when the peer reads the end of the stream. */
  ended: Promise<void>;
  close(): Promise<void>;
}

/** A connected loopback pair. `paused`: the peer reads nothing until `peer.resume()`. */
export async function socketPair(paused = false): Promise<SocketPair> {
  const chunks: Buffer[] = [];
  let peer!: Socket;
  const server = createServer({ pauseOnConnect: paused }, (s) => {
    peer = s;
    s.on('error', () => {});
    s.on('data', (d: Buffer) => chunks.push(d));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const a = connect((server.address() as AddressInfo).port, '127.0.0.1');
  a.on('error', () => {});
  await once(a, 'connect');
  for (let i = 0; i < 200 && peer === undefined; i++) await new Promise((r) => setTimeout(r, 5));
  if (peer === undefined) throw new Error('socketPair: the server did not accept within 1 s');
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    server, a, peer, received,
    text: () => received().toString('latin1'),
    ended: once(peer, 'end').then(() => undefined),
    close: async () => { a.destroy(); peer.destroy(); if (server.listening) await new Promise<void>((r) => server.close(() => r())); },
  };
}

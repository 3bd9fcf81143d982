/**
 * H2Server and a session nghttp2 has ended: after a client's connection error nghttp2 sends
 * GOAWAY and stops reading, and node:http2 keeps the socket open even once the client has
 * closed its end. The server's PING probe closes such a session; a quiet client that answers
 * PINGs keeps its session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { H2Server } from '../../../src/protocol/h2/server.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

async function server(probeMs: number): Promise<{ srv: H2Server; port: number }> {
  const srv = new H2Server(
    (st) => {
      st.respond({ ':status': 200 });
      st.end('ok');
    },
    { probeMs },
  );
  const { port } = await srv.listen(0, '127.0.0.1');
  return { srv, port };
}

/** Sends `bytes`, half-closes 100 ms later; resolves with what came back once the server closes (or `boundMs` passes). */
function exchange(port: number, bytes: Buffer, boundMs: number): Promise<{ reply: Buffer; closedByServer: boolean; ms: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const t0 = Date.now();
    let timedOut = false;
    const bound = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, boundMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(bound);
      resolve({ reply: Buffer.concat(chunks), closedByServer: !timedOut, ms: Date.now() - t0 });
    });
    s.write(bytes);
    setTimeout(() => s.end(), 100);
  });
}

/** The error codes of the GOAWAY frames in `buf`. */
function goaways(buf: Buffer): number[] {
  const codes: number[] = [];
  for (let at = 0; at + 9 <= buf.length; ) {
    const len = buf.readUIntBE(at, 3);
    if (buf[at + 3] === 7 && len >= 8) codes.push(buf.readUInt32BE(at + 13));
    at += 9 + len;
  }
  return codes;
}

for (const [what, frame, code] of [
  ['a SETTINGS frame of 5 bytes', Buffer.from([0, 0, 5, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]), 6],
  ['a header block that is not HPACK (index 0)', Buffer.from([0, 0, 1, 1, 5, 0, 0, 0, 1, 0x80]), 9],
  ['DATA on stream 0', Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x78]), 1],
] as const) {
  test(`a client's connection error (${what}): GOAWAY ${code}, then the server closes the connection`, async () => {
    const { srv, port } = await server(200);
    try {
      const r = await exchange(port, Buffer.concat([PREFACE, EMPTY_SETTINGS, frame]), 5000);
      assert.deepEqual(goaways(r.reply), [code]);
      assert.equal(r.closedByServer, true, 'the connection was still open after 5 s');
      assert.ok(r.ms < 2000, `closed after ${r.ms} ms`);
      assert.equal(srv.connectionCount, 0);
    } finally {
      await srv.close(0);
    }
  });
}

test('a quiet client that answers PINGs keeps its session across probes', async () => {
  const { srv, port } = await server(100);
  const s = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((r, j) => {
      s.once('connect', () => r());
      s.once('error', j);
    });
    let pings = 0;
    s.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 800));
    assert.ok(pings >= 2, `the server sent ${pings} PINGs in 800 ms`);
    assert.equal(s.closed || s.destroyed, false);
    const body = await new Promise<string>((resolve, reject) => {
      const st = s.request({ ':path': '/' }, { endStream: true });
      let b = '';
      st.on('data', (c: Buffer) => (b += c.toString()));
      st.on('end', () => resolve(b));
      st.on('error', reject);
    });
    assert.equal(body, 'ok');
    assert.equal(srv.connectionCount, 1);
  } finally {
    s.destroy();
    await srv.close(0);
  }
});

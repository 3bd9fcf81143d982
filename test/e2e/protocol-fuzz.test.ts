/**
 * Raw-socket fuzz of the server protocols other than HTTP/1.1 (router-fuzz.test.ts covers that)
 * against one real `meshwork linkerd`: an h2 router (plaintext, prior knowledge), thrift routers
 * (framed binary, buffered binary, buffered compact) and a thriftmux router, each in front of a
 * real upstream on loopback. Each protocol gets a few hundred seeded cases, each on its own
 * connection: random bytes, valid exchanges with random mutations, and protocol-specific bad
 * input (h2: garbage frames, bad HPACK, invalid pseudo-headers, floods; thrift: bad heads, huge
 * sizes, deep nesting, bad varints, TTwitter headers with garbage; mux: bad types, tags and
 * sizes, endless fragments, Tinit/Tdispatch with garbage contexts, dsts and dtabs).
 *
 * Every connection must be closed by the server once the client has been quiet for a moment and
 * half-closed, and what came back must be well-formed for its protocol: h2 frames whose header
 * blocks decode (HPACK, RFC 7541) into a router error (l5d-err) or the upstream's answer; thrift
 * replies that are whole messages, the upstream's REPLY or a TApplicationException; mux frames
 * that answer tags the client used. A case sent unmutated must get every answer, exactly: each
 * h2 stream the upstream's body for its path, each thrift call (in order) the upstream's REPLY
 * for its name, seqid and argument or a TApplicationException, each mux tag one reply. Afterwards
 * the process is up, each router still answers a valid request with the upstream's exact answer,
 * and its RSS stays bounded. The seed is printed; set MESHWORK_FUZZ_SEED to replay a run, and
 * MESHWORK_FUZZ_ONLY=h2:45,tmux:3 to replay only some of its cases.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as net from 'node:net';
import type * as ThriftLib from 'thrift';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { request } from '../router/support.js';
import { linkerdYaml } from '../support/linker.js';
import { FuzzGen, seededRandom as prng } from '../support/prng.js';
import { startH2Upstream, connectH2, type StartedH2Upstream } from '../support/h2.js';
import { END_HEADERS, END_STREAM, F_CONT, F_DATA, F_GOAWAY, F_HEADERS, F_PING, F_PRIORITY, F_PUSH, F_RST, F_SETTINGS, F_WINDOW, HpackDecoder, PADDED, PREFACE, PRIORITY_FLAG, h2frame, hpackInt, hpackString, settingsPayload, u32 } from '../support/h2-wire.js';
import { ThriftCaller, callMessage, frame, message, parseMessage, protocol, readOne, requestHeader, thriftUpstream, CAN_TRACE, MessageTypes, type Parsed, type Proto, type ThriftUpstream } from '../support/thrift.js';
import { FrameDecoder, decodeMessage, encodeMessage, TAG_MSB, type MuxMessage } from '../../src/protocol/mux/index.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
/** Cases per router. */
const CASES: Readonly<Record<Kind, number>> = { h2: 400, thr: 300, tbuf: 250, tcmp: 250, tmux: 400 };
const CONCURRENCY = 64;
/** Quiet time after which a case half-closes its connection: the server must then close it. */
const IDLE_MS = 400;
/** Bound on one connection; the server must have closed it by then. */
const CASE_MS = 5000;
const TOTAL_MS = 40_000;
const RSS_LIMIT_KB = 250 * 1024;
/** Statuses the h2 router answers with itself (with l5d-err). */
const ROUTER_STATUSES = new Set([400, 502, 503, 504]);

type Kind = 'h2' | 'thr' | 'tbuf' | 'tcmp' | 'tmux';

/** One thrift call a case sends, as the upstream will see it. */
interface Call {
  readonly name: string;
  readonly seqid: number;
  readonly arg: string;
  readonly oneway: boolean;
}

/** What a case's tags or messages must get back, when the case was sent unmutated. */
type Expect =
  /** Each stream is answered: the upstream's exact `h2up:<path>`, or a router error. */
  | { readonly kind: 'h2'; readonly streams: ReadonlyArray<{ readonly stream: number; readonly path: string }> }
  /** Each call but ONEWAYs is answered, in order: its REPLY with the upstream's exact text, or a TApplicationException. */
  | { readonly kind: 'thrift'; readonly upgraded: boolean; readonly calls: readonly Call[] }
  /** Each tag is answered once (a discarded one by Rdiscarded or its reply); a thrift body as above. */
  | { readonly kind: 'mux'; readonly tags: ReadonlyMap<number, { readonly call: Call | undefined; readonly treq: boolean; readonly discarded: boolean }> };

interface Generated {
  readonly bytes: Buffer;
  /** Absent: the case was mutated or is bad on purpose; only well-formedness is checked. */
  readonly expect?: Expect;
  /**
   * `bytes` in parts each sent once the server has answered the one before (or 1 s passed), as
   * a TTwitter client waits for the upgrade reply. Absent: all at once.
   */
  readonly phases?: readonly Buffer[];
}

// ---- h2 ---------------------------------------------------------------------------------------

function settings(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  return h2frame(F_SETTINGS, 0, 0, settingsPayload(pairs));
}

/** A literal field with a new name: without indexing (0x00), never indexed (0x10) or indexed (0x40). */
function literal(name: string, value: string, kind = 0x00): Buffer {
  return Buffer.concat([Buffer.from([kind]), hpackString(name), hpackString(value)]);
}

function headerBlock(fields: ReadonlyArray<readonly [string, string]>, g: FuzzGen): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields) {
    // Static-table shortcuts for the common pseudo-headers, and the three literal kinds.
    if (n === ':method' && v === 'GET' && g.chance(0.5)) parts.push(Buffer.from([0x82]));
    else if (n === ':scheme' && v === 'http' && g.chance(0.5)) parts.push(Buffer.from([0x86]));
    else parts.push(literal(n, v, g.pick([0x00, 0x10, 0x40])));
  }
  return Buffer.concat(parts);
}

/** A request's fields (the upstream answers `h2up:<path>`). */
function requestFields(g: FuzzGen, stream: number, post: boolean): Array<[string, string]> {
  const f: Array<[string, string]> = [
    [':method', post ? 'POST' : 'GET'],
    [':scheme', 'http'],
    [':path', `/s${stream}/${g.int(1000)}`],
    [':authority', g.pick(['dog', 'dog', 'cat', 'dog:80'])],
  ];
  if (g.chance(0.3)) f.push(['user-agent', 'fuzz']);
  if (g.chance(0.2)) f.push(['l5d-dtab', g.pick(['/svc/x => /svc/dog', '/svc =>', '/a=>/b;/c=>/d'])]);
  if (g.chance(0.1)) f.push(['te', 'trailers']);
  if (post) f.push(['content-length', '5']);
  return f;
}

const BAD_FIELDS: ReadonlyArray<ReadonlyArray<readonly [string, string]>> = [
  [[':method', 'GET'], [':scheme', 'http'], [':authority', 'dog']], // no :path
  [[':scheme', 'http'], [':path', '/'], [':authority', 'dog']], // no :method
  [[':method', 'GET'], [':scheme', 'http'], [':path', ''], [':authority', 'dog']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', 'nopath'], [':authority', 'dog']],
  [[':method', 'G ET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog']],
  [[':method', 'GET'], [':method', 'POST'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':path', '/2'], [':authority', 'dog']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':foo', 'x'], [':authority', 'dog']],
  [[':method', 'GET'], [':scheme', 'http'], ['x-a', 'b'], [':path', '/'], [':authority', 'dog']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['Upper', 'x']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['connection', 'close']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['te', 'gzip']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], [':status', '200']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['x-v', 'a\r\nb']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['x-v', 'a\x00b']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['', 'empty name']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'a b/c']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', '']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', '%zz\x7f']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/']], // no authority, no host
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], ['host', 'dog']],
  [[':method', 'CONNECT'], [':path', '/']],
  [[':method', 'CONNECT'], [':authority', 'dog:443']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['content-length', 'x']],
  [[':method', 'POST'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['content-length', '99']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['via', Array.from({ length: 20 }, () => '1.1 x').join(', ')]],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['l5d-ctx-dtab', '=>=>']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['l5d-ctx-trace', '!!!!']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'dog'], ['l5d-ctx-deadline', 'x y']],
];

/** Header blocks that are not valid HPACK. */
function badHpack(g: FuzzGen): Buffer {
  switch (g.int(9)) {
    case 0:
      return g.bytes(1 + g.int(40));
    case 1:
      return Buffer.from([0x80]); // index 0
    case 2:
      return hpackInt(62 + g.int(1000), 7, 0x80); // past the tables
    case 3:
      return Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]); // an integer too large
    case 4:
      return hpackInt(100000, 5, 0x20); // a table size over the limit
    case 5:
      return Buffer.concat([Buffer.from([0x82]), hpackInt(0, 5, 0x20)]); // a size update after a field
    case 6:
      return Buffer.concat([Buffer.from([0x00, 0x83]), g.bytes(3), Buffer.from([0x01, 0x41])]); // Huffman garbage
    case 7:
      return Buffer.concat([Buffer.from([0x00]), hpackInt(5000, 7, 0), g.bytes(20)]); // a string longer than the block
    default:
      return Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), literal(':authority', 'dog', 0x40), Buffer.from([0xbe, 0xbe, 0xc8])]); // indexes into a small dynamic table
  }
}

/** A valid h2c exchange: preface, SETTINGS, one to three requests, sometimes PING/WINDOW_UPDATE/PRIORITY. */
function h2Valid(g: FuzzGen): Generated {
  const parts: Buffer[] = [PREFACE, g.chance(0.5) ? settings([]) : settings([[1, 4096], [3, 100], [4, 65535]])];
  const streams: Array<{ stream: number; path: string }> = [];
  let acked = false;
  const n = 1 + g.int(3);
  for (let k = 0; k < n; k++) {
    const stream = 1 + 2 * k;
    const post = g.chance(0.3);
    const fields = requestFields(g, stream, post);
    streams.push({ stream, path: fields.find(([name]) => name === ':path')![1] });
    const block = headerBlock(fields, g);
    if (g.chance(0.2) && block.length > 2) {
      const cut = 1 + g.int(block.length - 1);
      parts.push(h2frame(F_HEADERS, post ? 0 : END_STREAM, stream, block.subarray(0, cut)), h2frame(F_CONT, END_HEADERS, stream, block.subarray(cut)));
    } else {
      parts.push(h2frame(F_HEADERS, END_HEADERS | (post ? 0 : END_STREAM), stream, block));
    }
    if (post) parts.push(h2frame(F_DATA, 0, stream, Buffer.from('he')), h2frame(F_DATA, END_STREAM, stream, Buffer.from('llo')));
    if (g.chance(0.2)) parts.push(h2frame(F_PING, 0, 0, g.bytes(8)));
    if (g.chance(0.2)) parts.push(h2frame(F_WINDOW, 0, 0, u32(1000)));
    if (g.chance(0.1)) parts.push(h2frame(F_PRIORITY, 0, stream, Buffer.from([0, 0, 0, 0, 16])));
    // One ACK, of the server's SETTINGS (node:http2 ends a session on an unsolicited one).
    if (!acked && g.chance(0.2)) {
      acked = true;
      parts.push(h2frame(F_SETTINGS, 1, 0, Buffer.alloc(0)));
    }
  }
  return { bytes: Buffer.concat(parts), expect: { kind: 'h2', streams } };
}

/** A valid preface and one protocol violation (or abuse) from a list. */
function h2Bad(g: FuzzGen): Buffer {
  const head = Buffer.concat([PREFACE, settings([])]);
  const ok = (stream: number, flags = END_HEADERS | END_STREAM): Buffer => h2frame(F_HEADERS, flags, stream, headerBlock(requestFields(g, stream, false), g));
  const body = ((): Buffer[] => {
    switch (g.int(30)) {
      case 0:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM, 1, badHpack(g))];
      case 1:
      case 2:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(g.pick(BAD_FIELDS), g))];
      case 3:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM, 0, headerBlock(requestFields(g, 0, false), g))]; // stream 0
      case 4:
        return [ok(2)]; // an even (server) stream id
      case 5:
        return [ok(5), ok(3)]; // a stream id lower than one used
      case 6:
        return [h2frame(F_DATA, END_STREAM, 7, Buffer.from('x'))]; // DATA on an idle stream
      case 7:
        return [h2frame(F_DATA, 0, 0, Buffer.from('x'))];
      case 8:
        return [h2frame(F_WINDOW, 0, 0, u32(0))];
      case 9:
        return [h2frame(F_WINDOW, 0, 0, u32(0x7fffffff)), h2frame(F_WINDOW, 0, 0, u32(0x7fffffff))];
      case 10:
        return [h2frame(F_SETTINGS, 0, 0, g.bytes(5))];
      case 11:
        return [settings([[g.pick([2, 4, 5, 6, 0x99]), g.pick([2, 0x80000000, 100, 0, 0xffffffff])]]), ok(1)];
      case 12:
        return [h2frame(F_PING, 0, 0, g.bytes(7))];
      case 13:
        return [h2frame(F_PRIORITY, 0, 1, Buffer.from([0, 0, 0, 1, 16]))]; // depends on itself
      case 14:
        return [h2frame(F_RST, 0, 9, u32(8))]; // RST_STREAM on an idle stream
      case 15:
        return [ok(1), h2frame(F_GOAWAY, 0, 0, Buffer.concat([u32(0), u32(g.int(14))]))];
      case 16:
        return [h2frame(F_CONT, END_HEADERS, 1, headerBlock(requestFields(g, 1, false), g))]; // CONTINUATION without HEADERS
      case 17: {
        // CONTINUATION flood: a header block that never ends.
        const frames = [h2frame(F_HEADERS, END_STREAM, 1, Buffer.from([0x82]))];
        for (let k = 0; k < 200 + g.int(800); k++) frames.push(h2frame(F_CONT, 0, 1, literal(`x-f${k}`, 'v'.repeat(g.int(30)))));
        return frames;
      }
      case 18:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM | PADDED, 1, Buffer.concat([Buffer.from([200]), headerBlock(requestFields(g, 1, false), g)]))]; // padding longer than the frame
      case 19:
        return [h2frame(0x0a + g.int(0xf0), g.int(256), g.int(10), g.bytes(g.int(30))), ok(1)]; // unknown type (to be ignored)
      case 20:
        return [h2frame(F_DATA, 0, 1, Buffer.alloc(20000))]; // over SETTINGS_MAX_FRAME_SIZE
      case 21:
        return [h2frame(g.int(10), g.int(256), g.int(16), g.bytes(g.int(50)), 0xffffff)]; // a huge length, little payload
      case 22: {
        // Rapid reset: streams opened and cancelled at once.
        const frames: Buffer[] = [];
        for (let s = 1; s < 400; s += 2) frames.push(ok(s), h2frame(F_RST, 0, s, u32(8)));
        return frames;
      }
      case 23: {
        const frames: Buffer[] = [];
        for (let k = 0; k < 300; k++) frames.push(h2frame(F_PING, 0, 0, g.bytes(8)));
        return frames;
      }
      case 24:
        return [h2frame(F_PUSH, END_HEADERS, 1, Buffer.concat([u32(2), Buffer.from([0x82])]))];
      case 25:
        return [ok(1, END_HEADERS), h2frame(F_DATA, END_STREAM, 1, Buffer.from('xx'))]; // a body on a GET with no length
      case 26: {
        // A request body larger than the stream window.
        const frames = [h2frame(F_HEADERS, END_HEADERS, 1, headerBlock(requestFields(g, 1, true).filter(([n]) => n !== 'content-length'), g))];
        for (let k = 0; k < 8; k++) frames.push(h2frame(F_DATA, 0, 1, Buffer.alloc(16384)));
        return frames;
      }
      case 27: {
        // A dynamic table filled and referred to, then a size update to 0 and a reference past it.
        const b1 = Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), literal(':authority', 'dog', 0x40), literal('x-a', 'a'.repeat(100), 0x40)]);
        const b2 = Buffer.concat([hpackInt(0, 5, 0x20), Buffer.from([0x82, 0x86, 0x84, 0xbe])]);
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM, 1, b1), h2frame(F_HEADERS, END_HEADERS | END_STREAM, 3, b2)];
      }
      case 28:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), literal(':authority', 'dog'), literal('x-big', 'b'.repeat(70000))]))];
      default:
        return [h2frame(F_HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, 1, Buffer.concat([Buffer.from([0, 0, 0, 1, 10]), headerBlock(requestFields(g, 1, false), g)]))];
    }
  })();
  return Buffer.concat([head, ...body]);
}

function h2Case(g: FuzzGen): Generated {
  const r = g.rnd();
  if (r < 0.15) return h2Valid(g);
  if (r < 0.45) return { bytes: g.mutate(h2Valid(g).bytes) };
  if (r < 0.8) return { bytes: g.chance(0.8) ? h2Bad(g) : g.mutate(h2Bad(g)) };
  if (r < 0.9) return { bytes: Buffer.concat([PREFACE, g.bytes(g.int(200))]) };
  return { bytes: g.bytes(g.int(300)) };
}

interface Checked {
  error?: string;
  /** What the connection got, for the summary. */
  tally: string[];
  /** Everything the case's Expect asks for has come (true without an Expect). */
  complete: boolean;
}

/** Checks what an h2 server sent: frames, header blocks, responses; and the answers `expect` asks for. */
function checkH2(buf: Buffer, expect: Expect | undefined): Checked {
  const tally: string[] = [];
  const fail = (error: string): Checked => ({ error, tally, complete: false });
  const want = expect?.kind === 'h2' ? expect.streams : [];
  if (buf.length === 0) return { tally: ['closed without a frame'], complete: want.length === 0 };
  // The router's header blocks. A table size update of any size is taken: a mutated case may
  // announce a SETTINGS_HEADER_TABLE_SIZE over 4096.
  const hpack = new HpackDecoder(Infinity);
  interface Resp {
    status: number;
    headers: Map<string, string>;
    body: Buffer[];
    ended: boolean;
  }
  const streams = new Map<number, Resp>();
  let block: { stream: number; parts: Buffer[]; endStream: boolean } | undefined;
  let at = 0;
  let first = true;
  const onBlock = (stream: number, bytes: Buffer, endStream: boolean): string | undefined => {
    const fields = hpack.decode(bytes);
    if (typeof fields === 'string') return `header block on stream ${stream}: ${fields}`;
    const r = streams.get(stream);
    if (r === undefined || r.status < 200) {
      if (fields[0]?.[0] !== ':status' || !/^[1-5]\d\d$/.test(fields[0][1])) return `response on stream ${stream} does not start with :status: ${JSON.stringify(fields.slice(0, 3).map(([n, v]) => [n, v]))}`;
      const headers = new Map<string, string>();
      for (const [n, v] of fields.slice(1)) {
        if (n.startsWith(':') || n !== n.toLowerCase() || n === 'connection' || n === 'transfer-encoding') return `response field ${JSON.stringify(n)} on stream ${stream}`;
        headers.set(n, v);
      }
      streams.set(stream, { status: Number(fields[0][1]), headers, body: [], ended: endStream });
    } else {
      if (!endStream) return `trailers without END_STREAM on stream ${stream}`;
      if (fields.some(([n]) => n.startsWith(':'))) return `pseudo-header in trailers on stream ${stream}`;
      r.ended = true;
    }
    return undefined;
  };
  while (at < buf.length) {
    if (at + 9 > buf.length) return fail(`truncated frame header at ${at}`);
    const len = buf.readUIntBE(at, 3);
    const type = buf[at + 3]!;
    const flags = buf[at + 4]!;
    const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
    if (at + 9 + len > buf.length) return fail(`truncated frame (type ${type}, ${len} bytes) at ${at}`);
    const payload = buf.subarray(at + 9, at + 9 + len);
    at += 9 + len;
    if (first && type !== F_SETTINGS) return fail(`first frame is of type ${type}, not SETTINGS`);
    first = false;
    if (block !== undefined && (type !== F_CONT || stream !== block.stream)) return fail(`frame of type ${type} inside a header block`);
    switch (type) {
      case F_SETTINGS:
        if (stream !== 0 || (flags & 1 ? len !== 0 : len % 6 !== 0)) return fail(`bad SETTINGS (stream ${stream}, ${len} bytes)`);
        break;
      case F_PING:
        if (stream !== 0 || len !== 8) return fail(`bad PING (stream ${stream}, ${len} bytes)`);
        break;
      case F_GOAWAY:
        if (stream !== 0 || len < 8) return fail(`bad GOAWAY (stream ${stream}, ${len} bytes)`);
        tally.push(`GOAWAY ${payload.readUInt32BE(4)}`);
        break;
      case F_WINDOW:
        if (len !== 4) return fail(`bad WINDOW_UPDATE (${len} bytes)`);
        break;
      case F_RST:
        if (stream === 0 || len !== 4) return fail(`bad RST_STREAM (stream ${stream}, ${len} bytes)`);
        tally.push(`RST_STREAM ${payload.readUInt32BE(0)}`);
        break;
      case F_HEADERS:
      case F_CONT: {
        if (stream === 0 || stream % 2 === 0) return fail(`header block on stream ${stream}`);
        let p = payload;
        if (type === F_HEADERS) {
          const pad = flags & PADDED ? p[0]! : 0;
          if (flags & PADDED) p = p.subarray(1);
          if (flags & PRIORITY_FLAG) p = p.subarray(5);
          if (pad > p.length) return fail('padding longer than a HEADERS frame');
          p = p.subarray(0, p.length - pad);
          block = { stream, parts: [p], endStream: (flags & END_STREAM) !== 0 };
        } else {
          if (block === undefined) return fail('CONTINUATION without HEADERS');
          block.parts.push(p);
        }
        if (flags & END_HEADERS) {
          const why = onBlock(stream, Buffer.concat(block.parts), block.endStream);
          if (why !== undefined) return fail(why);
          block = undefined;
        }
        break;
      }
      case F_DATA: {
        const r = streams.get(stream);
        if (r === undefined || r.status < 200) return fail(`DATA before a response on stream ${stream}`);
        let p = payload;
        if (flags & PADDED) {
          const pad = p[0]!;
          if (pad >= p.length) return fail('padding longer than a DATA frame');
          p = p.subarray(1, p.length - pad);
        }
        r.body.push(p);
        if (flags & END_STREAM) r.ended = true;
        break;
      }
      default:
        return fail(`frame of type ${type} from the server`);
    }
  }
  if (block !== undefined) return fail('connection ended inside a header block');
  for (const [id, r] of streams) {
    if (r.headers.has('l5d-err')) {
      if (!ROUTER_STATUSES.has(r.status)) return fail(`router answered ${r.status} on stream ${id}`);
      tally.push(`router ${r.status}`);
    } else if (r.headers.get('x-up') === 'h2') {
      if (r.status !== 200) return fail(`upstream status ${r.status} on stream ${id}`);
      const body = Buffer.concat(r.body).toString('latin1');
      if (r.ended && !/^h2up:\/\S*$/.test(body)) return fail(`upstream body ${JSON.stringify(body.slice(0, 80))} on stream ${id}`);
      tally.push('upstream 200');
    } else {
      return fail(`response ${r.status} on stream ${id} carries neither l5d-err nor x-up`);
    }
  }
  if (streams.size === 0) tally.push('no response');
  let complete = true;
  for (const { stream, path } of want) {
    const r = streams.get(stream);
    if (r === undefined || !r.ended) {
      complete = false;
      continue;
    }
    const body = Buffer.concat(r.body).toString('latin1');
    if (!r.headers.has('l5d-err') && body !== `h2up:${path}`) return fail(`stream ${stream} (${path}) got ${JSON.stringify(body)}`);
  }
  return { tally, complete };
}

// ---- thrift -----------------------------------------------------------------------------------

const req = createRequire(import.meta.url);
const LIB = 'thrift/lib/nodejs/lib/thrift/';
const T = (req(`${LIB}thrift.js`) as typeof ThriftLib.Thrift).Type;
const TFramedTransport = req(`${LIB}framed_transport.js`) as typeof ThriftLib.TFramedTransport;
type P = ThriftLib.TProtocol;

const NAMES = ['ping', 'echo', 'Users:get', 'a:b:c', '', 'x/y', '/', 'caf\u00e9', '%zz', 'a b', ':', 'svc:', '#', 'n'.repeat(600)];
const VALUE_TYPES = [T.BOOL, T.BYTE, T.I16, T.I32, T.I64, T.DOUBLE, T.STRING, T.STRUCT, T.MAP, T.SET, T.LIST];

function writeValue(g: FuzzGen, p: P, t: number, depth: number): void {
  switch (t) {
    case T.BOOL:
      return p.writeBool(g.chance(0.5));
    case T.BYTE:
      return p.writeByte(g.int(256) - 128);
    case T.I16:
      return p.writeI16(g.int(65536) - 32768);
    case T.I32:
      return p.writeI32(g.int(2 ** 32) - 2 ** 31);
    case T.I64:
      return p.writeI64(g.int(2 ** 40) - 2 ** 39);
    case T.DOUBLE:
      return p.writeDouble(g.rnd() * 1e6);
    case T.STRING:
      return p.writeString(g.printable(g.int(20)));
    case T.STRUCT:
      p.writeStructBegin('s');
      writeFields(g, p, depth + 1);
      p.writeFieldStop();
      return p.writeStructEnd();
    case T.MAP: {
      const [k, v] = [valueType(g, depth), valueType(g, depth)];
      const n = g.int(4);
      p.writeMapBegin(k as never, v as never, n);
      for (let i = 0; i < n; i++) {
        writeValue(g, p, k, depth + 1);
        writeValue(g, p, v, depth + 1);
      }
      return p.writeMapEnd();
    }
    default: {
      const e = valueType(g, depth);
      const n = g.int(5);
      if (t === T.SET) p.writeSetBegin(e as never, n);
      else p.writeListBegin(e as never, n);
      for (let i = 0; i < n; i++) writeValue(g, p, e, depth + 1);
      if (t === T.SET) p.writeSetEnd();
      else p.writeListEnd();
    }
  }
}

function valueType(g: FuzzGen, depth: number): number {
  return depth >= 4 ? g.pick(VALUE_TYPES.slice(0, 7)) : g.pick(VALUE_TYPES);
}

function writeFields(g: FuzzGen, p: P, depth: number): void {
  for (let k = g.int(4); k > 0; k--) {
    const t = valueType(g, depth);
    p.writeFieldBegin('f', t as never, 2 + g.int(200));
    writeValue(g, p, t, depth);
    p.writeFieldEnd();
  }
}

/**
 * A CALL (sometimes ONEWAY, or a REPLY/EXCEPTION the router forwards as a request) with field 1
 * the argument and random other fields.
 */
function thriftCall(g: FuzzGen, proto: Proto, name = g.pick(NAMES)): { bytes: Buffer; call: Call } {
  const type = g.chance(0.9) ? MessageTypes.CALL : g.chance(0.7) ? MessageTypes.ONEWAY : g.pick([MessageTypes.REPLY, MessageTypes.EXCEPTION]);
  const call: Call = { name, seqid: g.int(2 ** 31), arg: `a${g.int(10000)}`, oneway: type === MessageTypes.ONEWAY };
  const bytes = message(proto, name, type, call.seqid, (p) => {
    p.writeFieldBegin('arg', T.STRING, 1);
    p.writeString(call.arg);
    p.writeFieldEnd();
    if (g.chance(0.6)) writeFields(g, p, 1);
  });
  return { bytes, call };
}

function thriftMessage(g: FuzzGen, proto: Proto): Buffer {
  return thriftCall(g, proto).bytes;
}

/** A message whose struct is nested `depth` structs deep (the router allows 64 levels). */
function nested(proto: Proto, depth: number): Buffer {
  const m = message(proto, 'ping', MessageTypes.CALL, 1, () => {});
  const open = proto === 'binary' ? Buffer.from([T.STRUCT, 0, 1]) : Buffer.from([0x1c]);
  return Buffer.concat([m.subarray(0, m.length - 1), ...Array.from({ length: depth }, () => open), Buffer.alloc(depth + 1)]);
}

/** A message with one field declaring a huge size (string, list or map) and little after it. */
function hugeSize(g: FuzzGen, proto: Proto): Buffer {
  const m = message(proto, 'ping', MessageTypes.CALL, 1, () => {});
  const field =
    proto === 'binary'
      ? g.pick([Buffer.concat([Buffer.from([T.STRING, 0, 1]), u32(g.pick([0x7fffffff, 0x80000000, 0x01000001]))]), Buffer.concat([Buffer.from([T.LIST, 0, 1, T.I32]), u32(g.pick([0x7fffffff, 0xffffffff, 0x00ffffff]))]), Buffer.concat([Buffer.from([T.MAP, 0, 1, T.I32, T.I32]), u32(0x7fffffff)])])
      : g.pick([Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0x07]), Buffer.from([0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07]), Buffer.from([0x1b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x55]), Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
  return Buffer.concat([m.subarray(0, m.length - 1), field, g.bytes(g.int(20))]);
}

/** Message heads that are wrong: versions, protocol ids, types, name lengths, varints. */
function badHead(g: FuzzGen, proto: Proto): Buffer {
  if (proto === 'binary') {
    return g.pick([
      () => Buffer.concat([u32(0x80020001), u32(4), Buffer.from('ping'), u32(1), Buffer.from([0])]),
      () => Buffer.concat([u32(0x80010000 + g.pick([0, 5, 9, 255])), u32(4), Buffer.from('ping'), u32(1), Buffer.from([0])]),
      () => Buffer.concat([u32(0x80010001), u32(g.pick([0xffffffff, 0x7fffffff, 0x01000000])), Buffer.from('ping')]),
      () => Buffer.concat([u32(4), Buffer.from('ping'), Buffer.from([1]), u32(1), Buffer.from([0])]), // old non-strict head
      () => Buffer.concat([u32(4), Buffer.from('ping'), Buffer.from([9]), u32(1), Buffer.from([0])]),
      () => Buffer.concat([u32(0x7ffffff0), Buffer.from('ping')]),
    ])();
  }
  return g.pick([
    () => Buffer.from([0x83, 0x21, 0x01, 0x04, ...Buffer.from('ping'), 0x00]),
    () => Buffer.from([0x82, 0x22, 0x01, 0x04, ...Buffer.from('ping'), 0x00]), // version 2
    () => Buffer.from([0x82, 0xe1, 0x01, 0x04, ...Buffer.from('ping'), 0x00]), // type 7
    () => Buffer.from([0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x04]), // a seqid varint too long
    () => Buffer.from([0x82, 0x21, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x70]), // a name length varint huge
    () => Buffer.from([0x82, 0x21, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]), // an unending varint
    () => Buffer.from([0x82, 0x21, 0x01, 0x04, ...Buffer.from('ping'), 0x0d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // a long-form field id, bad varint
    () => Buffer.from([0x82, 0x21, 0x01, 0x04, ...Buffer.from('ping'), 0x1e, 0x00]), // unknown compact type 14
  ])();
}

/** A TTwitter exchange: the upgrade call, then RequestHeader + message pairs (garbage in them). */
function ttwitter(g: FuzzGen, proto: Proto): { msgs: Buffer[]; calls: Call[] | undefined } {
  const msgs = [message(proto, CAN_TRACE, MessageTypes.CALL, 0, () => {})];
  let calls: Call[] | undefined = [];
  const dests = [undefined, '/users', '', '/', 'not a path', '/a b', '/#/io.l5d.fs/x', '/\u00e9', '/' + 'd'.repeat(300)];
  const dentries: Array<[string, string]> = [['/svc/users', '/svc/other'], ['not a path', '/x'], ['/svc', '/$/inet/127.0.0.1/1'], ['/svc/x', '/svc/x/y'], ['', ''], ['/a', '!']];
  for (let k = 1 + g.int(3); k > 0; k--) {
    const dl = Array.from({ length: g.int(3) }, () => g.pick(dentries));
    let h = requestHeader(proto, g.pick(dests), dl);
    if (g.chance(0.3)) {
      h = g.mutate(h);
      calls = undefined;
    }
    const m = thriftCall(g, proto);
    calls?.push(m.call);
    msgs.push(Buffer.concat([h, m.bytes]));
  }
  return { msgs, calls };
}

/** Messages for one connection, each whole (the caller frames them or not), and what they must get back. */
function thriftMessages(g: FuzzGen, proto: Proto): { msgs: Buffer[]; expect?: Expect; upgradeFirst?: boolean } {
  switch (g.int(8)) {
    case 0: {
      const t = ttwitter(g, proto);
      return t.calls === undefined ? { msgs: t.msgs, upgradeFirst: true } : { msgs: t.msgs, expect: { kind: 'thrift', upgraded: true, calls: t.calls }, upgradeFirst: true };
    }
    case 1: {
      // Up to 64 levels are the router's to route (answered), deeper ones close the connection.
      const depth = g.pick([10, 63, 64, 65, 100, 2000]);
      const m = nested(proto, depth);
      return depth < 64 ? { msgs: [m], expect: { kind: 'thrift', upgraded: false, calls: [{ name: 'ping', seqid: 1, arg: '', oneway: false }] } } : { msgs: [m] };
    }
    case 2:
      return { msgs: [hugeSize(g, proto)] };
    case 3:
      return { msgs: [badHead(g, proto)] };
    default: {
      const ms = Array.from({ length: 1 + g.int(3) }, () => thriftCall(g, proto));
      return { msgs: ms.map((m) => m.bytes), expect: { kind: 'thrift', upgraded: false, calls: ms.map((m) => m.call) } };
    }
  }
}

function thriftCase(g: FuzzGen, proto: Proto, framed: boolean): Generated {
  const r = g.rnd();
  if (r < 0.08) return { bytes: g.bytes(g.int(300)) };
  if (r < 0.12 && framed) return { bytes: Buffer.concat([u32(g.pick([0xffffffff, 0x7fffffff, 0x01000001, 0x00ffffff, 0])), g.bytes(g.int(40))]) };
  const { msgs, expect, upgradeFirst } = thriftMessages(g, proto);
  const units = msgs.map((m) => (framed ? frame(m) : m));
  const wire = Buffer.concat(units);
  if (g.chance(0.45)) return { bytes: g.mutate(wire) };
  // A buffered connection learns that its messages carry a RequestHeader from the upgrade reply:
  // the rest waits for it, as Finagle's client does (framed, it may also come at once).
  const phases = upgradeFirst === true && (!framed || g.chance(0.5)) ? [units[0]!, Buffer.concat(units.slice(1))] : undefined;
  return { bytes: wire, ...(expect !== undefined ? { expect } : {}), ...(phases !== undefined ? { phases } : {}) };
}

/** A reply the router may send: the upstream's (labelled) REPLY, a TApplicationException, the TTwitter upgrade. */
function replyProblem(m: Parsed, upLabel: string, index: number): string | undefined {
  if (m.type === MessageTypes.REPLY) {
    if (m.name === CAN_TRACE && m.text === undefined && index === 0) return undefined;
    if (m.text === undefined || !m.text.startsWith(`${upLabel}:${m.name}:`)) return `REPLY ${JSON.stringify(m.name)} with ${JSON.stringify(m.text?.slice(0, 80))}, not the upstream's`;
    return undefined;
  }
  if (m.type === MessageTypes.EXCEPTION) {
    if (m.exType === undefined || m.exType < 0 || m.exType > 10 || m.text === undefined) return `EXCEPTION ${JSON.stringify(m.name)} is not a TApplicationException (type ${m.exType}, message ${JSON.stringify(m.text)})`;
    return undefined;
  }
  return `reply of message type ${m.type}`;
}

/**
 * Checks a thrift server's bytes: whole messages (framed or back to back), each a valid reply;
 * with an Expect, the replies answer its calls in order.
 */
function checkThrift(buf: Buffer, proto: Proto, framed: boolean, upLabel: string, expect: Expect | undefined): Checked {
  const tally: string[] = [];
  const fail = (error: string): Checked => ({ error, tally, complete: false });
  const want = expect?.kind === 'thrift' ? expect : undefined;
  const calls = want?.calls.filter((c) => !c.oneway) ?? [];
  let answered = 0;
  const trans = new TFramedTransport(buf) as unknown as { readPos: number };
  const p = protocol(proto, trans);
  let prefixed = false;
  let index = 0;
  while (trans.readPos < buf.length) {
    const start = trans.readPos;
    let end = buf.length;
    if (framed) {
      if (start + 4 > buf.length) return fail(`truncated frame size at ${start}`);
      end = start + 4 + buf.readUInt32BE(start);
      if (end > buf.length) return fail(`truncated frame at ${start}`);
      trans.readPos = start + 4;
    }
    let m: Parsed;
    try {
      m = readOne(p, prefixed ? 'response' : undefined);
    } catch (e) {
      return fail(`reply ${index} at ${start} does not parse: ${(e as Error).message}`);
    }
    if (framed && trans.readPos !== end) return fail(`reply ${index} is ${trans.readPos - start - 4} bytes in a frame of ${end - start - 4}`);
    const why = replyProblem(m, upLabel, index);
    if (why !== undefined) return fail(why);
    const upgrade = m.name === CAN_TRACE && m.type === MessageTypes.REPLY && index === 0;
    if (upgrade) prefixed = true;
    tally.push(upgrade ? 'upgrade' : m.type === MessageTypes.REPLY ? 'REPLY' : `EXCEPTION ${m.exType}`);
    if (want !== undefined) {
      if (want.upgraded && index === 0 && !upgrade) return fail(`the TTwitter upgrade was answered ${m.type} ${JSON.stringify(m.name)}`);
      if (!upgrade) {
        const c = calls[answered++];
        const why2 = c === undefined ? `reply ${JSON.stringify(m.name)} to no call` : callProblem(m, c, upLabel);
        if (why2 !== undefined) return fail(why2);
      }
    }
    index++;
  }
  if (index === 0) tally.push('no reply');
  return { tally, complete: answered === calls.length };
}

/** A reply to call `c`: its name and seqid, and the upstream's exact text (or a TApplicationException). */
function callProblem(m: Parsed, c: Call, upLabel: string): string | undefined {
  if (m.name !== c.name || m.seqid !== c.seqid) return `reply ${JSON.stringify(m.name)}/${m.seqid} to call ${JSON.stringify(c.name)}/${c.seqid}`;
  if (m.type === MessageTypes.REPLY && m.text !== `${upLabel}:${c.name}:${c.arg}`) return `reply to ${JSON.stringify(c.name)} is ${JSON.stringify(m.text)}`;
  return undefined;
}

// ---- thriftmux ---------------------------------------------------------------------------------

function muxFrame(type: number, tag: number, body: Buffer, declared = 4 + body.length): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(declared >>> 0, 0);
  h.writeInt8(type, 4);
  h.writeUIntBE(tag & 0xffffff, 5, 3);
  return Buffer.concat([h, body]);
}

function pairs16(ps: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  const u16 = (n: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n & 0xffff);
    return b;
  };
  for (const [k, v] of ps) parts.push(u16(k.length), k, u16(v.length), v);
  return Buffer.concat(parts);
}

const DTAB_TEXT = ['/svc/x', '/svc/users', 'not a path', '/a b', '', '/#/io.l5d.fs/x', '/$/inet/127.0.0.1/1', '!', '/svc', '/svc/y/z', '=>', '/\u00e9'];
const CONTEXT_KEYS = ['com.twitter.finagle.Deadline', 'com.twitter.finagle.tracing.TraceContext', 'com.twitter.finagle.Retries', 'com.twitter.finagle.thrift.ClientIdContext', 'x'];

/** A Tdispatch with garbage contexts, dst and dtab; `valid` is false when its lengths do not match its bytes. */
function tdispatchOf(g: FuzzGen, tag: number, body: Buffer): { bytes: Buffer; valid: boolean } {
  const contexts: Array<[Buffer, Buffer]> = Array.from({ length: g.int(3) }, () => [Buffer.from(g.pick(CONTEXT_KEYS)), g.bytes(g.pick([0, 8, 16, 24, 40, 3]))]);
  const dtab: Array<[string, string]> = Array.from({ length: g.chance(0.5) ? 0 : 1 + g.int(3) }, () => [g.pick(DTAB_TEXT), g.pick(DTAB_TEXT)]);
  const dst = g.pick(['', '/', '/users', 'not a path', '/a b', '/#/x', '/' + 'd'.repeat(1000), '/svc/%zz']);
  if (g.chance(0.8)) return { bytes: encodeMessage({ kind: 'Tdispatch', tag, contexts, dst, dtab, body }), valid: true };
  // Hand-built, with lengths that may not match the bytes.
  let valid = true;
  const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
  const wrong = (n: number): number => {
    if (g.chance(0.5)) return n;
    valid = false;
    return g.pick([0, 0xffff, n + 1, n + 100]);
  };
  const fields = Buffer.concat([u16(wrong(contexts.length)), pairs16(contexts), u16(wrong(Buffer.byteLength(dst))), Buffer.from(dst), u16(wrong(dtab.length)), pairs16(dtab.map(([a, b]) => [Buffer.from(a), Buffer.from(b)]))]);
  return { bytes: muxFrame(2, tag, Buffer.concat([fields, body])), valid };
}

function tdispatch(g: FuzzGen, tag: number, body: Buffer): Buffer {
  return tdispatchOf(g, tag, body).bytes;
}

/** A Tdispatch in fragments: every frame but the last has the tag's MSB set. */
function fragmented(g: FuzzGen, tag: number, body: Buffer, finish = true): Buffer {
  // Whole-frame lengths are the fragments' own: the Tdispatch inside is encoded right.
  const whole = encodeMessage({ kind: 'Tdispatch', tag, contexts: [], dst: g.pick(['', '/users']), dtab: [], body });
  const payload = whole.subarray(8);
  const n = 2 + g.int(4);
  const frames: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const part = payload.subarray(Math.floor((k * payload.length) / n), Math.floor(((k + 1) * payload.length) / n));
    if (k < n - 1) frames.push(muxFrame(2, tag | TAG_MSB, part));
    else if (finish) frames.push(muxFrame(2, tag, part));
  }
  return Buffer.concat(frames);
}

/** A mux session: maybe the Tinit handshake, then Tdispatch/Treq (some fragmented, discarded or after a Tping). */
function muxSession(g: FuzzGen): Generated {
  const parts: Buffer[] = [];
  let valid = true;
  if (g.chance(0.6)) {
    parts.push(encodeMessage({ kind: 'Rerr', tag: 1, message: 'tinit check' }));
    const headers: Array<[Buffer, Buffer]> = g.chance(0.5) ? [] : [[Buffer.from('tls'), Buffer.from('off')], [g.bytes(g.int(8)), g.bytes(g.int(8))]];
    const version = g.chance(0.9) ? 1 : g.int(5);
    // Another version is refused and the session ends: nothing after it is answered.
    if (version !== 1) valid = false;
    parts.push(encodeMessage({ kind: 'Tinit', tag: 1, version, headers }));
  }
  const tags = new Map<number, { call: Call | undefined; treq: boolean; discarded: boolean }>();
  let tag = 2 + g.int(100);
  for (let k = 1 + g.int(3); k > 0; k--) {
    // A body that is not thrift is answered with an error: the call is unknown.
    const m = g.chance(0.85) ? thriftCall(g, 'binary') : { bytes: g.bytes(g.int(30)), call: undefined };
    const body = m.bytes;
    let treq = false;
    let discarded = false;
    switch (g.int(8)) {
      case 0:
        parts.push(fragmented(g, tag, body));
        break;
      case 1:
        treq = true;
        parts.push(encodeMessage({ kind: 'Treq', tag, keys: [], body }));
        break;
      case 2: {
        discarded = true;
        const d = tdispatchOf(g, tag, body);
        valid &&= d.valid;
        parts.push(d.bytes, encodeMessage({ kind: 'Tdiscarded', which: tag, why: 'fuzz' }));
        break;
      }
      case 3: {
        const d = tdispatchOf(g, tag, body);
        valid &&= d.valid;
        parts.push(encodeMessage({ kind: 'Tping', tag: g.pick([1, tag]) }), d.bytes);
        break;
      }
      default: {
        const d = tdispatchOf(g, tag, body);
        valid &&= d.valid;
        parts.push(d.bytes);
      }
    }
    tags.set(tag, { call: m.call, treq, discarded });
    tag += 1 + g.int(3);
  }
  const bytes = Buffer.concat(parts);
  return valid ? { bytes, expect: { kind: 'mux', tags } } : { bytes };
}

/** Frames that are wrong in one way: types, tags, sizes, fields. */
function muxBad(g: FuzzGen): Buffer {
  const body = thriftMessage(g, 'binary');
  switch (g.int(18)) {
    case 0:
      return muxFrame(g.int(256) - 128, g.int(1 << 24), g.bytes(g.int(40)));
    case 1:
      return Buffer.concat([u32(g.int(4)), g.bytes(g.int(8))]); // a frame too short for type and tag
    case 2:
      return Buffer.concat([u32(g.pick([0xffffffff, 0x01000001, 0x7fffffff])), Buffer.from([2, 0, 0, 2]), g.bytes(g.int(40))]);
    case 3:
      return muxFrame(2, 2, g.bytes(g.int(10))); // a Tdispatch too short for its fields
    case 4:
      return muxFrame(68, 1, Buffer.concat([Buffer.from([0, 1]), u32(0xffffffff), Buffer.from('k')])); // Tinit header longer than the frame
    case 5:
      return encodeMessage({ kind: 'Tinit', tag: 1, version: g.pick([0, 2, 0xffff]), headers: [] });
    case 6:
      return muxFrame(g.pick([-62, 66, 67]), 0, g.bytes(g.int(3))); // Tdiscarded / Tlease too short
    case 7:
      return muxFrame(-2, 2, Buffer.from([7, 0, 0])); // an Rdispatch with an unknown status, from the client
    case 8:
      return muxFrame(1, 2, Buffer.from([0xff, 1, 2])); // a Treq with a negative key count
    case 9:
      return muxFrame(g.pick([65, 1, 68, 64]), 3 | TAG_MSB, g.bytes(4)); // a fragment of a type that has none
    case 10: {
      // Fragments that never end, on many tags.
      const frames: Buffer[] = [];
      for (let t = 2; t < 2 + 50 + g.int(200); t++) frames.push(muxFrame(2, t | TAG_MSB, g.bytes(100 + g.int(200))));
      return Buffer.concat(frames);
    }
    case 11:
      return Buffer.concat([tdispatch(g, 5, body), tdispatch(g, 5, body)]); // a tag used twice
    case 12:
      return tdispatch(g, g.pick([0, 1, (1 << 23) - 1]), body);
    case 13:
      return Buffer.concat([fragmented(g, 9, body, false), encodeMessage({ kind: 'Tdiscarded', which: 9, why: 'x' }), tdispatch(g, 9, body)]);
    case 14:
      return Buffer.concat([encodeMessage({ kind: 'Tdrain', tag: 1 }), encodeMessage({ kind: 'Tlease', unit: 0, howLong: 10n }), encodeMessage({ kind: 'Rping', tag: 1 }), tdispatch(g, 4, body)]);
    case 15: {
      // A ping flood.
      const frames: Buffer[] = [];
      for (let k = 0; k < 500; k++) frames.push(encodeMessage({ kind: 'Tping', tag: 2 + k }));
      return Buffer.concat(frames);
    }
    case 16:
      return Buffer.concat([encodeMessage({ kind: 'Rerr', tag: 1, message: 'tinit check' }), encodeMessage({ kind: 'Rerr', tag: 1, message: 'tinit check' }), tdispatch(g, 2, body)]);
    default:
      return tdispatch(g, 2 + g.int(100), g.chance(0.5) ? Buffer.alloc(0) : g.mutate(body));
  }
}

function muxCase(g: FuzzGen): Generated {
  const r = g.rnd();
  if (r < 0.08) return { bytes: g.bytes(g.int(300)) };
  if (r < 0.28) {
    // Plain framed thrift on the mux port, TTwitter-upgraded or not, answered as on a thrift server.
    return thriftCase(g, 'binary', true);
  }
  if (r < 0.45) return muxSession(g);
  if (r < 0.7) return { bytes: g.mutate(muxSession(g).bytes) };
  return { bytes: g.chance(0.8) ? muxBad(g) : g.mutate(muxBad(g)) };
}

/** The first frames of `sent`, as far as they decode (to know the tags the client used). */
function sentFrames(sent: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= sent.length) {
    const n = sent.readUInt32BE(at);
    if (at + 4 + n > sent.length) break;
    out.push(sent.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/**
 * A mux session's replies (Rdispatch/Rreq answer tags the client used, bodies are thrift
 * replies), or a downgraded thrift session's; with an Expect, each of its tags answered once.
 */
function checkMux(sent: Buffer, buf: Buffer, upLabel: string, expect: Expect | undefined): Checked {
  const tally: string[] = [];
  const fail = (error: string): Checked => ({ error, tally, complete: false });
  const frames = sentFrames(sent);
  if (frames.length === 0) return buf.length === 0 ? { tally: ['no reply'], complete: true } : fail(`${buf.length} bytes in reply to no whole frame`);
  // Finagle's rule: a first frame that decodes as mux (other than a framed thrift CALL/ONEWAY head
  // read as an Rerr) makes a mux session; anything else is framed thrift.
  let muxSession = false;
  try {
    const m = decodeMessage(frames[0]!);
    muxSession = !(m.kind === 'Rerr' && (m.tag === 0x010001 || m.tag === 0x010004));
  } catch {
    muxSession = false;
  }
  if (!muxSession) return checkThrift(buf, 'binary', true, upLabel, expect);
  const tags = new Set<number>();
  for (const f of frames) if (f.length >= 4) tags.add(f.readUIntBE(1, 3) & ~TAG_MSB);
  const want = expect?.kind === 'mux' ? expect.tags : undefined;
  const answers = new Map<number, number>();
  const dec = new FrameDecoder(2 ** 31);
  let replies: Buffer[];
  try {
    replies = dec.push(buf);
  } catch (e) {
    return fail(`reply frames: ${(e as Error).message}`);
  }
  if (dec.pendingBytes > 0) return fail(`a truncated reply frame (${dec.pendingBytes} bytes)`);
  for (const f of replies) {
    let m: MuxMessage;
    try {
      m = decodeMessage(f);
    } catch (e) {
      return fail(`reply frame does not decode: ${(e as Error).message}`);
    }
    tally.push(m.kind);
    const w = 'tag' in m ? want?.get(m.tag) : undefined;
    const tag = 'tag' in m ? m.tag : -1;
    const answer = (): void => {
      if (w !== undefined) answers.set(tag, (answers.get(tag) ?? 0) + 1);
    };
    switch (m.kind) {
      case 'Rerr':
        // A session with an Expect has no protocol error to be told about.
        if (want !== undefined && !(m.tag === 1 && m.message === 'tinit check')) return fail(`Rerr ${m.tag} ${JSON.stringify(m.message)}`);
        break;
      case 'Rinit':
      case 'Rping':
        break;
      case 'Rdiscarded':
        if (want !== undefined && w?.discarded !== true) return fail(`Rdiscarded for tag ${m.tag}, which was not discarded`);
        answer();
        break;
      case 'RdispatchOk':
      case 'RreqOk': {
        if (!tags.has(m.tag)) return fail(`${m.kind} for tag ${m.tag}, which the client did not use`);
        answer();
        if (w !== undefined && w.treq !== (m.kind === 'RreqOk')) return fail(`${m.kind} for tag ${m.tag}, a ${w.treq ? 'Treq' : 'Tdispatch'}`);
        if (m.body.length === 0) {
          // A ONEWAY message's: nothing to answer.
          if (w?.call !== undefined && !w.call.oneway) return fail(`an empty ${m.kind} for tag ${m.tag}, a call`);
          break;
        }
        let r: Parsed;
        try {
          r = parseMessage('binary', m.body);
        } catch (e) {
          return fail(`${m.kind} body is not a thrift message: ${(e as Error).message}`);
        }
        const why = replyProblem(r, upLabel, 1) ?? (w?.call === undefined ? undefined : callProblem(r, w.call, upLabel));
        if (why !== undefined) return fail(why);
        break;
      }
      case 'RdispatchError':
      case 'RdispatchNack':
      case 'RreqError':
      case 'RreqNack':
        if (!tags.has(m.tag)) return fail(`${m.kind} for tag ${m.tag}, which the client did not use`);
        answer();
        // Only a body that is not thrift (an unknown call) is refused.
        if (w !== undefined && w.call !== undefined) return fail(`${m.kind} for tag ${m.tag}: ${'message' in m ? m.message : ''}`);
        break;
      default:
        return fail(`server sent ${m.kind}`);
    }
  }
  for (const [tag, n] of answers) if (n > 1) return fail(`tag ${tag} answered ${n} times`);
  return { tally, complete: want === undefined || [...want.keys()].every((t) => answers.has(t)) };
}

// ---- running ---------------------------------------------------------------------------------

interface Outcome {
  reply: Buffer;
  closedByServer: boolean;
}

/**
 * Writes `bytes` (in up to three pieces), half-closes once quiet for IDLE_MS and `answered` says
 * all the answers it waits for are in (or, short of that, well before CASE_MS), and waits for the
 * server to close.
 */
function exchange(port: number, phases: readonly Buffer[], g: FuzzGen, answered: (reply: Buffer) => boolean): Promise<Outcome> {
  // Each phase in up to three pieces, a few ms apart; a phase after the first waits for a reply.
  const pieces: Array<{ bytes: Buffer; gap: number; awaitReply: boolean }> = [];
  for (const [p, bytes] of phases.entries()) {
    const cuts = Array.from({ length: g.int(3) }, () => g.int(bytes.length + 1)).sort((a, b) => a - b);
    [0, ...cuts, bytes.length].slice(1).forEach((end, k, ends) => pieces.push({ bytes: bytes.subarray(k === 0 ? 0 : ends[k - 1]!, end), gap: g.int(15), awaitReply: p > 0 && k === 0 }));
  }
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, CASE_MS);
    const t0 = Date.now();
    let idle: NodeJS.Timeout | undefined;
    const quiet = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (answered(Buffer.concat(chunks)) || Date.now() - t0 > CASE_MS - 2000) s.end();
        else quiet();
      }, IDLE_MS);
    };
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (idle !== undefined) quiet();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(idle);
      resolve({ reply: Buffer.concat(chunks), closedByServer: !timedOut });
    });
    s.once('connect', () => {
      let k = 0;
      let repliesSeen = 0;
      let waitedFrom = 0;
      const next = (): void => {
        if (s.destroyed) return;
        if (k === pieces.length) return quiet();
        const piece = pieces[k]!;
        if (piece.awaitReply && chunks.length === repliesSeen && Date.now() - (waitedFrom ||= Date.now()) < 1000) {
          setTimeout(next, 10);
          return;
        }
        k++;
        repliesSeen = chunks.length;
        waitedFrom = 0;
        if (piece.bytes.length > 0) s.write(piece.bytes);
        setTimeout(next, piece.gap);
      };
      next();
    });
  });
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]);
}

let lk: ReadyProcess;
let configFile = '';
let adminPort = 0;
const ports: Record<Kind, number> = { h2: 0, thr: 0, tbuf: 0, tcmp: 0, tmux: 0 };
let h2up: StartedH2Upstream;
const thriftUps: ThriftUpstream[] = [];

before(async () => {
  h2up = await startH2Upstream((s, h) => {
    s.resume();
    s.on('end', () => {
      if (s.destroyed || s.closed) return;
      s.respond({ ':status': 200, 'x-up': 'h2' });
      s.end(`h2up:${String(h[':path'])}`);
    });
  });
  const fr = await thriftUpstream('F');
  const bu = await thriftUpstream('B', { framed: false });
  const co = await thriftUpstream('C', { proto: 'compact', framed: false });
  const mu = await thriftUpstream('M');
  thriftUps.push(fr, bu, co, mu);
  const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;
  const file = (configFile = linkerdYaml(`
admin:
  ip: 127.0.0.1
  port: 0
routers:
- protocol: h2
  label: fh2
  dtab: /svc => ${inet(h2up.port)}
  servers:
  - port: 0
- protocol: thrift
  label: fthr
  thriftMethodInDst: true
  dtab: /svc => ${inet(fr.port)}
  servers:
  - port: 0
- protocol: thrift
  label: fbuf
  dtab: /svc => ${inet(bu.port)}
  servers:
  - port: 0
    thriftFramed: false
  client:
    thriftFramed: false
- protocol: thrift
  label: fcmp
  thriftProtocol: compact
  thriftMethodInDst: true
  dtab: /svc => ${inet(co.port)}
  servers:
  - port: 0
    thriftFramed: false
  client:
    thriftFramed: false
- protocol: thriftmux
  label: fmux
  experimental: true
  dtab: /svc => ${inet(mu.port)}
  servers:
  - port: 0
`));
  const labels: Record<Kind, string> = { h2: 'fh2', thr: 'fthr', tbuf: 'fbuf', tcmp: 'fcmp', tmux: 'fmux' };
  const ready = new RegExp(`${Object.values(labels).map((l) => `(?=[\\s\\S]*^listening ${l} 127\\.0\\.0\\.1:\\d+$)`).join('')}(?=[\\s\\S]*^admin listening on )`, 'm');
  // An h2 session nghttp2 has ended (a client's connection error) is found by a PING probe:
  // shortened so such connections close within a case's bound.
  lk = await spawnReady(process.execPath, [BIN, 'linkerd', file], ready, 15_000, { ...process.env, MESHWORK_H2_PROBE_MS: '500' });
  for (const k of Object.keys(labels) as Kind[]) ports[k] = Number(new RegExp(`^listening ${labels[k]} 127\\.0\\.0\\.1:(\\d+)$`, 'm').exec(lk.output())![1]);
  adminPort = Number(/^admin listening on \S+:(\d+)$/m.exec(lk.output())![1]);
});

after(async () => {
  await lk?.stop(2000);
  await h2up?.close();
  for (const u of thriftUps) await u.close();
  if (configFile !== '') rmSync(dirname(configFile), { recursive: true, force: true });
});

/** One h2 GET through the router, answered in 5 s. */
async function h2Get(port: number, path: string): Promise<{ status: number; body: string }> {
  const s = await connectH2(port);
  try {
    return await new Promise((resolve, reject) => {
      const st = s.request({ ':method': 'GET', ':path': path, ':authority': 'dog' }, { endStream: true });
      const t = setTimeout(() => reject(new Error('no h2 answer in 5 s')), 5000);
      let status = 0;
      let body = '';
      st.on('response', (h) => (status = Number(h[':status'])));
      st.on('data', (c: Buffer) => (body += c.toString()));
      st.on('end', () => {
        clearTimeout(t);
        resolve({ status, body });
      });
      st.on('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  } finally {
    s.close();
  }
}

/** One Tdispatch on a mux session: the RdispatchOk body, parsed. */
async function muxCall(port: number, dst: string, body: Buffer): Promise<Parsed> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  try {
    sock.write(encodeMessage({ kind: 'Tdispatch', tag: 7, contexts: [], dst, dtab: [], body }));
    const frames = new FrameDecoder(1 << 20);
    const m = await new Promise<MuxMessage>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no mux reply in 5 s')), 5000);
      sock.on('data', (d: Buffer) => {
        for (const f of frames.push(d)) {
          clearTimeout(t);
          resolve(decodeMessage(f));
        }
      });
    });
    assert.equal(m.kind, 'RdispatchOk', JSON.stringify(m));
    return parseMessage('binary', (m as { body: Buffer }).body);
  } finally {
    sock.destroy();
  }
}

async function thriftGet(port: number, proto: Proto, framed: boolean, name: string, arg: string): Promise<Parsed> {
  const c = await ThriftCaller.connect(port, { proto, framed });
  try {
    return await c.call(callMessage(proto, name, 41, arg));
  } finally {
    c.close();
  }
}

test('fuzz: h2, thrift (framed, buffered, compact) and thriftmux servers answer random and mutated bytes sanely and stay up', { timeout: 60_000 }, async (t) => {
  const seed = (process.env['MESHWORK_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fuzz seed ${seed} (replay: MESHWORK_FUZZ_SEED=${seed})`);
  console.log(`protocol-fuzz: seed ${seed}`);
  const g = new FuzzGen(prng(seed));
  interface Case extends Generated {
    readonly kind: Kind;
    readonly i: number;
  }
  const cases: Case[] = [];
  for (const kind of Object.keys(CASES) as Kind[]) {
    for (let i = 0; i < CASES[kind]; i++) {
      const c = kind === 'h2' ? h2Case(g) : kind === 'tmux' ? muxCase(g) : kind === 'tcmp' ? thriftCase(g, 'compact', false) : thriftCase(g, 'binary', kind === 'thr');
      cases.push({ ...c, kind, i });
    }
  }
  const upLabels: Record<Kind, string> = { h2: '', thr: 'F', tbuf: 'B', tcmp: 'C', tmux: 'M' };
  const check = (c: Case, reply: Buffer): Checked =>
    c.kind === 'h2'
      ? checkH2(reply, c.expect)
      : c.kind === 'tmux'
        ? checkMux(c.bytes, reply, upLabels.tmux, c.expect)
        : checkThrift(reply, c.kind === 'tcmp' ? 'compact' : 'binary', c.kind === 'thr', upLabels[c.kind], c.expect);
  // Protocols interleaved, in a seeded order.
  for (let k = cases.length - 1; k > 0; k--) {
    const j = g.int(k + 1);
    [cases[k], cases[j]] = [cases[j]!, cases[k]!];
  }
  // To replay some cases of a run alone: MESHWORK_FUZZ_ONLY=h2:45,tmux:3 (with its seed).
  const only = (process.env['MESHWORK_FUZZ_ONLY'] ?? '').split(',').filter((x) => x !== '');
  if (only.length > 0) cases.splice(0, cases.length, ...cases.filter((c) => only.includes(`${c.kind}:${c.i}`)));
  const dump = process.env['MESHWORK_FUZZ_DUMP'];
  if (dump !== undefined) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(dump, cases.map((c) => `${c.kind} ${c.i} ${c.bytes.toString('base64')}`).join('\n') + '\n');
  }

  // Warm up each router so the baseline RSS includes the paths a request takes.
  for (let i = 0; i < 5; i++) {
    assert.equal((await h2Get(ports.h2, '/warm')).body, 'h2up:/warm');
    assert.equal((await thriftGet(ports.thr, 'binary', true, 'ping', 'w')).text, 'F:ping:w');
  }
  const pid = lk.child.pid!;
  const rssBefore = rssKb(pid);

  const outcomes: Outcome[] = new Array(cases.length);
  const timing = new FuzzGen(prng(seed ^ 0x5eed));
  const t0 = Date.now();
  let next = 0;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKb(pid))), 200);
  const worker = async (): Promise<void> => {
    while (next < cases.length && Date.now() - t0 < TOTAL_MS) {
      const k = next++;
      const c = cases[k]!;
      outcomes[k] = await exchange(ports[c.kind], c.phases ?? [c.bytes], new FuzzGen(prng(timing.int(2 ** 31))), (reply) => c.expect === undefined || check(c, reply).complete);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    clearInterval(sampler);
  }
  const elapsed = Date.now() - t0;
  assert.equal(next, cases.length, `only ${next} of ${cases.length} cases ran in ${TOTAL_MS} ms`);

  const failures: string[] = [];
  const tally = new Map<string, number>();
  let expected = 0;
  for (let k = 0; k < cases.length; k++) {
    const c = cases[k]!;
    const o = outcomes[k]!;
    const why = (msg: string): void =>
      void failures.push(`${c.kind} case ${c.i}: ${msg}\n  sent ${c.bytes.length} bytes ${c.bytes.subarray(0, 1000).toString('hex')}\n  got  ${o.reply.length} bytes ${o.reply.subarray(0, 1000).toString('hex')}`);
    if (!o.closedByServer) {
      why(`connection still open ${CASE_MS} ms after it started`);
      continue;
    }
    const r = check(c, o.reply);
    if (r.error !== undefined) why(r.error);
    else if (!r.complete) why('an unmutated request was not answered');
    if (c.expect !== undefined) expected++;
    for (const x of new Set(r.tally)) tally.set(`${c.kind}: ${x}`, (tally.get(`${c.kind}: ${x}`) ?? 0) + 1);
  }
  const rssAfter = rssKb(pid);
  const summary = [...tally].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k} ${v}`).join(', ');
  const line = `protocol-fuzz: seed ${seed}, ${cases.length} cases (${expected} unmutated, answers checked) in ${elapsed} ms; ${summary}; RSS ${Math.round(rssBefore / 1024)} MB -> peak ${Math.round(peakRss / 1024)} MB -> ${Math.round(rssAfter / 1024)} MB`;
  t.diagnostic(line);
  console.log(line);
  // Every failure in one line each (the assertion below shows the first ones in full).
  for (const f of failures) console.log(`protocol-fuzz failure: ${f.slice(0, f.indexOf('\n'))}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed})`);

  // Still up, and each router still answers a valid request with the upstream's exact answer.
  assert.equal(lk.child.exitCode, null);
  assert.deepEqual(await h2Get(ports.h2, '/after'), { status: 200, body: 'h2up:/after' });
  const fr = await thriftGet(ports.thr, 'binary', true, 'ping', 'after');
  assert.deepEqual([fr.type, fr.name, fr.seqid, fr.text], [MessageTypes.REPLY, 'ping', 41, 'F:ping:after']);
  const bu = await thriftGet(ports.tbuf, 'binary', false, 'ping', 'after');
  assert.deepEqual([bu.type, bu.name, bu.seqid, bu.text], [MessageTypes.REPLY, 'ping', 41, 'B:ping:after']);
  const co = await thriftGet(ports.tcmp, 'compact', false, 'ping', 'after');
  assert.deepEqual([co.type, co.name, co.seqid, co.text], [MessageTypes.REPLY, 'ping', 41, 'C:ping:after']);
  const mu = await muxCall(ports.tmux, '/users', callMessage('binary', 'get', 42, 'after'));
  assert.deepEqual([mu.type, mu.name, mu.seqid, mu.text], [MessageTypes.REPLY, 'get', 42, 'M:get:after']);
  const plain = await thriftGet(ports.tmux, 'binary', true, 'ping', 'plain');
  assert.deepEqual([plain.type, plain.text], [MessageTypes.REPLY, 'M:ping:plain']);
  assert.equal((await request(adminPort, { path: '/admin/ping' })).body, 'pong');
  assert.doesNotMatch(lk.output(), /TypeError|RangeError|ReferenceError|Uncaught|FATAL/);
  assert.ok(peakRss > 0 && peakRss < RSS_LIMIT_KB, `RSS peaked at ${peakRss} kB (from ${rssBefore} kB)`);
});

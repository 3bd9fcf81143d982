/**
 * Fuzz of what an UPSTREAM sends back, against a real `meshwork linkerd` process. A raw TCP
 * upstream answers each request with a response drawn from valid bases (Content-Length,
 * chunked with extensions and trailers, 1xx before the final response, 204/304, HEAD,
 * close-delimited, HTTP/1.0) and mutated: broken status lines, obs-fold, bare LF, CL+TE,
 * duplicate and bad Content-Length, bad and huge chunk sizes, header floods and over-long
 * heads, NUL and control bytes, a 101 nobody asked for, bytes after the response (at once or
 * later, on the idle connection), an answer before the request body was read, random byte
 * flips, a response that ends exactly where the router's read ends, and a close, a reset or
 * silence at any point. Clients are Node's http client (llhttp: strict, and independent of
 * src/protocol/http1) sending GET, HEAD and POST, one to three on one keep-alive connection, so
 * the router's upstream pool reuses connections after garbage, or must not; some cases write
 * their requests pipelined on a raw socket instead (Node's client does not pipeline).
 *
 * Per request an oracle written here from RFC 9112 reads what the upstream sent and says what
 * the client may get: the upstream's exact status and body when that was a valid response; a
 * router error (502/504 with l5d-err) or a cut connection when it was not; the router's 504
 * when the upstream went silent before a final head; the client's own bound only when it went
 * silent mid-body. Always: no parse error in the client, no bytes of another response (every
 * upstream answer carries a checksummed tag, bytes sent after a response say SMUG, and no
 * request may reach the upstream on a connection that sent bytes past a response), and the raw
 * bytes of each client connection split cleanly with the oracle's own parser. Afterwards the
 * process is up, answers a valid request exactly, has released every upstream connection it
 * was left waiting on, its RSS is bounded and its output shows no uncaught exception.
 *
 * The seed is printed; MESHWORK_UPSTREAM_FUZZ_SEED replays a run, MESHWORK_UPSTREAM_FUZZ_CASES
 * (e.g. 3,17) runs only those cases of it, MESHWORK_UPSTREAM_FUZZ_DUMP names a file for every
 * failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { FuzzGen, seededRandom } from '../support/prng.js';
import { bounded, reportLeftovers } from '../support/teardown.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const CASES = 320;
const CONCURRENCY = 40;
/** The router's server `timeoutMs`: an upstream silent before its final head gets a 504 by then. */
const ROUTER_TIMEOUT_MS = 500;
/** The client's own bound on one request (only an upstream silent mid-body may reach it). */
const CLIENT_BOUND_MS = 1500;
const TOTAL_MS = 9000;
const HOST = 'up';
/** Response heads up to this size must pass; heads over twice this must be refused. */
const HEAD_LIMIT = 64 * 1024;
/** The engine reads at most this many interim responses per read before it gives up. */
const INTERIM_LIMIT = 64;
/** A slow request body's second half follows its first after this long. */
const SLOW_BODY_MS = 25;
/** Bytes an upstream sent on an idle connection may still meet a request already on its way. */
const LATE_RACE_MS = 50;

// ---------------------------------------------------------------------------------------------
// Tags: every upstream answer names the request it answers, with a checksum so that a flipped
// digit never names another request.

function tag(i: number, k: number): string {
  return `T${i}x${k}x${(i * 7919 + k * 104729 + 13) % 100003}`;
}

function tagsIn(s: string): string[] {
  const out: string[] = [];
  for (const m of s.matchAll(/T(\d+)x(\d+)x(\d+)/g)) {
    const i = Number(m[1]);
    const k = Number(m[2]);
    if ((i * 7919 + k * 104729 + 13) % 100003 === Number(m[3])) out.push(m[0]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The oracle: one response (and the interim ones before it) read strictly, from RFC 9112.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d) [\t\x20-\x7e\x80-\xff]*$/;
const TC = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]+)(;${TC}+(=(${TC}+|"([\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t\\x20-\\x7e\\x80-\\xff])*"))?)*$`);

type Verdict =
  /** A complete response: `end` is where it ends (bytes after it are extra). */
  | { kind: 'valid'; status: number; fields: [string, string][]; body: Buffer; end: number; closeDelimited: boolean }
  /** A valid prefix: more bytes are needed (`headDone`: the final head is complete). */
  | { kind: 'incomplete'; headDone: boolean; why: string }
  | { kind: 'invalid'; headDone: boolean; why: string }
  /** Where RFC 9112 lets a proxy go either way: any well-formed outcome will do. */
  | { kind: 'gray'; why: string };

interface Head {
  status: number;
  minor: number;
  fields: [string, string][];
  end: number;
}

function readHead(b: Buffer, at: number): Head | Verdict {
  const e = b.indexOf('\r\n\r\n', at, 'latin1');
  if (e < 0) {
    if (b.length - at > 2 * HEAD_LIMIT) return { kind: 'invalid', headDone: false, why: 'head never ends' };
    const lf = b.indexOf(10, at);
    if (lf >= 0 && b[lf - 1] !== 13) return { kind: 'invalid', headDone: false, why: 'bare LF in the head' };
    return { kind: 'incomplete', headDone: false, why: 'head cut' };
  }
  if (e + 4 - at > 2 * HEAD_LIMIT) return { kind: 'invalid', headDone: false, why: 'head too large' };
  if (e + 4 - at > HEAD_LIMIT) return { kind: 'gray', why: 'head over the limit, under twice it' };
  const lines = b.toString('latin1', at, e).split('\r\n');
  for (const l of lines) if (/[\r\n]/.test(l)) return { kind: 'invalid', headDone: false, why: 'bare CR or LF in the head' };
  const sl = lines[0]!;
  const m = STATUS_LINE.exec(sl);
  if (m === null) {
    if (/^HTTP\/1\.[2-9] [1-5]\d\d( |$)/.test(sl) || /^HTTP\/1\.[01] [1-5]\d\d$/.test(sl)) return { kind: 'gray', why: `status line ${JSON.stringify(sl)}` };
    return { kind: 'invalid', headDone: false, why: `status line ${JSON.stringify(sl.slice(0, 40))}` };
  }
  const fields: [string, string][] = [];
  for (const l of lines.slice(1)) {
    if (/^[ \t]/.test(l)) return { kind: 'invalid', headDone: false, why: 'obs-fold' };
    const c = l.indexOf(':');
    const name = l.slice(0, c);
    if (c < 0 || !TOKEN.test(name)) return { kind: 'invalid', headDone: false, why: `field line ${JSON.stringify(l.slice(0, 40))}` };
    const value = l.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return { kind: 'invalid', headDone: false, why: `field value of ${name}` };
    fields.push([name.toLowerCase(), value]);
  }
  return { status: Number(m[2]), minor: Number(m[1]), fields, end: e + 4 };
}

function readChunked(b: Buffer, from: number): { end: number; body: Buffer } | Verdict {
  const parts: Buffer[] = [];
  let at = from;
  const line = (): string | Verdict => {
    const cr = b.indexOf(13, at);
    const lf = b.indexOf(10, at);
    if (lf >= 0 && (cr < 0 || lf < cr)) return { kind: 'invalid', headDone: true, why: 'bare LF in the body framing' };
    if (cr < 0 || cr + 1 >= b.length) return { kind: 'incomplete', headDone: true, why: 'chunk line cut' };
    if (b[cr + 1] !== 10) return { kind: 'invalid', headDone: true, why: 'CR without LF in the body framing' };
    const s = b.toString('latin1', at, cr);
    at = cr + 2;
    return s;
  };
  for (let guard = 0; guard < 1_000_000; guard++) {
    const l = line();
    if (typeof l !== 'string') return l;
    const m = CHUNK_LINE.exec(l);
    if (m === null) return { kind: 'invalid', headDone: true, why: `chunk line ${JSON.stringify(l.slice(0, 40))}` };
    if (l.length - m[1]!.length > 4096) return { kind: 'gray', why: 'long chunk extensions' };
    const digits = m[1]!.replace(/^0+/, '');
    // Sizes no test sends that much data for: the body can never complete.
    if (digits.length > 8) return { kind: 'incomplete', headDone: true, why: `chunk size ${m[1]}` };
    const size = digits === '' ? 0 : parseInt(digits, 16);
    if (size === 0) {
      let trailerBytes = 0;
      for (let t = 0; t < 10_000; t++) {
        const tl = line();
        if (typeof tl !== 'string') return tl;
        if (tl === '') return { end: at, body: Buffer.concat(parts) };
        trailerBytes += tl.length + 2;
        if (trailerBytes > 8192) return { kind: 'gray', why: 'large trailers' };
        if (/^[ \t]/.test(tl)) return { kind: 'invalid', headDone: true, why: 'obs-fold in trailers' };
        const c = tl.indexOf(':');
        const name = tl.slice(0, c);
        if (c < 0 || !TOKEN.test(name) || !FIELD_VALUE.test(tl.slice(c + 1))) return { kind: 'invalid', headDone: true, why: 'trailer field' };
        // Framing fields in trailers: strict parsers (llhttp) refuse them.
        if (/^(content-length|transfer-encoding)$/i.test(name)) return { kind: 'invalid', headDone: true, why: `${name} in trailers` };
      }
      return { kind: 'gray', why: 'endless trailers' };
    }
    if (b.length < at + size + 2) {
      if (b.length > at + size && b[at + size] !== 13) return { kind: 'invalid', headDone: true, why: 'no CRLF after chunk data' };
      return { kind: 'incomplete', headDone: true, why: 'chunk cut' };
    }
    if (b[at + size] !== 13 || b[at + size + 1] !== 10) return { kind: 'invalid', headDone: true, why: 'no CRLF after chunk data' };
    parts.push(b.subarray(at, at + size));
    at += size + 2;
  }
  return { kind: 'gray', why: 'endless chunks' };
}

/** The response at `at` of `b` (its interim responses first) as an answer to `method`. */
function oracle(b: Buffer, method: string, at = 0): Verdict {
  for (let interims = 0; ; interims++) {
    const h = readHead(b, at);
    if ('kind' in h) return h;
    const cls = h.fields.filter((f) => f[0] === 'content-length').map((f) => f[1]);
    const tes = h.fields.filter((f) => f[0] === 'transfer-encoding').map((f) => f[1]);
    // Framing fields are checked in every head: a proxy forwards them, and strict clients refuse
    // these in any response (llhttp does, even in a 1xx or a 204).
    if (cls.length > 1) return { kind: 'invalid', headDone: false, why: 'more than one Content-Length' };
    if (cls.length === 1 && !/^\d+$/.test(cls[0]!)) return { kind: 'invalid', headDone: false, why: `Content-Length ${JSON.stringify(cls[0])}` };
    // Beyond 2^53 a length is no number a parser can hold; past 15 digits a proxy may refuse it.
    if (cls.length === 1 && cls[0]!.length > 15) return cls[0]!.replace(/^0+/, '').length > 15 ? { kind: 'invalid', headDone: false, why: 'Content-Length out of range' } : { kind: 'gray', why: 'Content-Length with many leading zeros' };
    if (cls.length === 1 && tes.length > 0) return { kind: 'invalid', headDone: false, why: 'Content-Length and Transfer-Encoding' };
    if (h.status === 101) return { kind: 'invalid', headDone: false, why: '101 to a request that asked for no upgrade' };
    if (h.status < 200) {
      if (tes.length > 0) return { kind: 'gray', why: 'Transfer-Encoding in a 1xx' };
      if (interims >= INTERIM_LIMIT) return { kind: 'gray', why: 'interim flood' };
      at = h.end;
      continue;
    }
    // No body, whatever the framing fields say (RFC 9112 6.3 rules 1 and 2).
    if (method === 'HEAD' || h.status === 204 || h.status === 304) {
      return { kind: 'valid', status: h.status, fields: h.fields, body: Buffer.alloc(0), end: h.end, closeDelimited: false };
    }
    if (tes.length > 0) {
      const codings = tes.join(',').split(',').map((c) => c.trim().toLowerCase());
      if (!codings.every((c) => TOKEN.test(c))) return { kind: 'gray', why: `Transfer-Encoding ${JSON.stringify(tes.join(','))}` };
      if (h.minor === 0) return { kind: 'gray', why: 'Transfer-Encoding in HTTP/1.0' };
      if (codings.filter((c) => c === 'chunked').length > 1) return { kind: 'gray', why: 'chunked twice' };
      if (codings[codings.length - 1] === 'chunked') {
        const c = readChunked(b, h.end);
        if ('kind' in c) return c;
        return { kind: 'valid', status: h.status, fields: h.fields, body: c.body, end: c.end, closeDelimited: false };
      }
      // RFC 9112 6.3: chunked not last in a response: the body runs to the close.
      return { kind: 'valid', status: h.status, fields: h.fields, body: b.subarray(h.end), end: b.length, closeDelimited: true };
    }
    if (cls.length === 1) {
      const digits = cls[0]!.replace(/^0+/, '');
      if (digits.length > 9) return { kind: 'incomplete', headDone: true, why: `Content-Length ${cls[0]}` };
      const n = digits === '' ? 0 : Number(digits);
      if (b.length - h.end < n) return { kind: 'incomplete', headDone: true, why: 'body cut' };
      return { kind: 'valid', status: h.status, fields: h.fields, body: b.subarray(h.end, h.end + n), end: h.end + n, closeDelimited: false };
    }
    return { kind: 'valid', status: h.status, fields: h.fields, body: b.subarray(h.end), end: b.length, closeDelimited: true };
  }
}

// ---------------------------------------------------------------------------------------------
// What the upstream sends.

/** After its bytes the upstream keeps the connection (and reads on), half-closes it, or resets it. */
type After = 'keep' | 'close' | 'reset';

interface Plan {
  bytes: Buffer;
  after: After;
  /** Answer as soon as the head arrived, before the request body was read. */
  early: boolean;
  /** Offsets the bytes are cut at: written as pieces a few ms apart. */
  cuts: number[];
  /** Once answered, send a response nobody asked for on the idle connection. */
  late: boolean;
  label: string;
  verdict: Verdict;
  expect: Expect;
}

interface Expect {
  /** The upstream's response, as the client must get it. */
  exact: { status: number; body: Buffer } | null;
  /** A router error (502/503/504 with l5d-err) or a cut connection will do. */
  error: boolean;
  /** The client's own bound may end it once the final head arrived (the upstream went silent mid-body). */
  stallOk: boolean;
  /**
   * The exact status with a cut body will do: a close-delimited body ended by a reset. A reset
   * right behind the data can reach the router's reader as a plain end of stream (Linux), and
   * discards what the upstream had not sent yet, so the router cannot always tell the cut.
   */
  prefixOk: boolean;
  /** Any well-formed outcome will do (gray areas). */
  anything: boolean;
}

interface Req {
  method: 'GET' | 'HEAD' | 'POST';
  body: Buffer;
  /** POST body sent in two writes, the second a little later. */
  slowBody: boolean;
}

interface Case {
  reqs: Req[];
  plans: Plan[];
  /** All requests written at once on a raw socket (Node's client does not pipeline). */
  pipelined: boolean;
}

interface Resp {
  interim: string[];
  status: string;
  fields: string[];
  body: Buffer;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

function payload(g: FuzzGen, t: string, big: boolean): Buffer {
  const n = big ? 20_000 + g.int(80_000) : g.chance(0.5) ? g.int(40) : g.int(3000);
  const parts: string[] = [`${t}:`];
  for (let k = 0; k < n; k++) parts.push(ALNUM[g.int(36)]!);
  // NUL, CR and LF in a body are data like any other byte.
  if (g.chance(0.1)) parts.push('\x00\r\n\x00\r\n\r\n');
  return Buffer.from(parts.join(''), 'latin1');
}

function chunked(g: FuzzGen, data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + g.int(g.chance(0.3) ? 20000 : 200));
    const ext = g.chance(0.3) ? g.pick([';a=b', ';n', ';q="x y"', ';a=1;b', ';esc="a\\"b"']) : '';
    const size = g.chance(0.1) ? n.toString(16).toUpperCase().padStart(4, '0') : n.toString(16);
    out.push(Buffer.from(`${size}${ext}\r\n`, 'latin1'), data.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  const trailers = g.chance(0.4) ? g.pick(['x-trailer: t\r\n', 'x-sum: 3\r\nx-more: a b\r\n', 'server-timing: x;dur=1\r\n']) : '';
  out.push(Buffer.from(`0${g.chance(0.2) ? ';last' : ''}\r\n${trailers}\r\n`, 'latin1'));
  return Buffer.concat(out);
}

const INTERIMS = ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n'];
const STATUSES = ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 201 Created', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 200 \xe9t\xe9', 'HTTP/1.1 200 '];

function base(g: FuzzGen, method: string, t: string): { r: Resp; label: string; closeDelimited: boolean } {
  const status = g.pick(STATUSES);
  const fields = [`x-tag: ${t}`];
  if (g.chance(0.3)) fields.push('Content-Type: text/plain');
  if (g.chance(0.2)) fields.push('Connection: keep-alive');
  if (g.chance(0.1)) fields.push('x-obs-text: caf\xe9', 'x-empty:');
  const interim: string[] = [];
  if (g.chance(0.15)) for (let k = 1 + g.int(3); k > 0; k--) interim.push(g.pick(INTERIMS));
  if (method === 'HEAD') {
    fields.push(g.chance(0.7) ? `Content-Length: ${1 + g.int(5000)}` : 'Transfer-Encoding: chunked');
    return { r: { interim, status, fields, body: Buffer.alloc(0) }, label: 'head', closeDelimited: false };
  }
  const data = payload(g, t, g.chance(0.05));
  switch (g.int(10)) {
    case 0:
    case 1:
    case 2:
      fields.push('Transfer-Encoding: chunked');
      return { r: { interim, status, fields, body: chunked(g, data) }, label: 'chunked', closeDelimited: false };
    case 3:
      return { r: { interim, status: 'HTTP/1.1 204 No Content', fields, body: Buffer.alloc(0) }, label: '204', closeDelimited: false };
    case 4:
      fields.push('ETag: "x"');
      return { r: { interim, status: 'HTTP/1.1 304 Not Modified', fields, body: Buffer.alloc(0) }, label: '304', closeDelimited: false };
    case 5:
      return { r: { interim, status, fields, body: data }, label: 'close-delimited', closeDelimited: true };
    case 6:
      fields.push(`Content-Length: ${data.length}`);
      if (g.chance(0.5)) fields.push('Connection: keep-alive');
      return { r: { interim: [], status: 'HTTP/1.0 200 OK', fields, body: data }, label: 'http/1.0', closeDelimited: false };
    default:
      fields.push(`Content-Length: ${data.length}`);
      return { r: { interim, status, fields, body: data }, label: 'content-length', closeDelimited: false };
  }
}

function render(r: Resp): Buffer {
  return Buffer.concat([Buffer.from(r.interim.join('') + r.status + '\r\n' + r.fields.map((f) => f + '\r\n').join('') + '\r\n', 'latin1'), r.body]);
}

const fieldIndex = (r: Resp, name: string): number => r.fields.findIndex((f) => f.toLowerCase().startsWith(name + ':'));

/** A named mutation of the structured response; some only fit some bases. */
function mutateNamed(g: FuzzGen, r: Resp, name: string): void {
  const cl = fieldIndex(r, 'content-length');
  const te = fieldIndex(r, 'transfer-encoding');
  const at = g.int(r.fields.length + 1);
  switch (name) {
    case 'bad-status':
      r.status = g.pick(['HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/2.0 200 OK', 'http/1.1 200 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 200OK', 'ICY 200 OK', 'HTTP/1.1 099 X', 'HTTP/1.1 600 X', 'HTTP/1.1 2x0 OK', 'HTTP/1.1 200 O\x00K', 'HTTP/1.1 200 O\x01K', ' HTTP/1.1 200 OK', 'HTTP/1.1 200 OK\x7f', 'HTTP/1.2 200 OK', 'HTTP/1.9 200 OK', 'HTTP/1.1 200', 'HTTP/1.1', '', '\r\nHTTP/1.1 200 OK']);
      break;
    case 'obs-fold':
      r.fields.splice(Math.max(1, at), 0, g.pick([' folded', '\tfolded', ' ']));
      break;
    case 'bare-lf': {
      const text = render(r).toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const crlfs: number[] = [];
      for (let k = text.indexOf('\r\n'); k >= 0 && k <= head + 2; k = text.indexOf('\r\n', k + 1)) crlfs.push(k);
      const out = g.chance(0.3) ? text.slice(0, head + 4).replaceAll('\r\n', '\n') + text.slice(head + 4) : (() => { const k = g.pick(crlfs); return text.slice(0, k) + text.slice(k + 1); })();
      // Rendered already: the whole message is the body (see renderAny).
      r.interim = [];
      r.status = RAW;
      r.fields = [];
      r.body = Buffer.from(out, 'latin1');
      break;
    }
    case 'cl-te':
      if (te >= 0) r.fields.splice(at, 0, `Content-Length: ${g.pick([0, 5, r.body.length])}`);
      else r.fields.splice(at, 0, 'Transfer-Encoding: chunked');
      break;
    case 'dup-cl': {
      const n = cl >= 0 ? r.fields[cl]!.split(':')[1]!.trim() : String(r.body.length);
      r.fields.splice(at, 0, `Content-Length: ${g.pick([n, n, String(Number(n) + 1), '0'])}`);
      if (cl < 0 && g.chance(0.5)) r.fields.push(`content-length: ${n}`);
      break;
    }
    case 'bad-cl': {
      const v = g.pick(['-1', '+5', '0x5', '5 5', '', ' ', '5, 5', `${r.body.length},${r.body.length}`, '99999999999999999999', '999999999999999', '4294967296', '1e3', '٣']);
      if (cl >= 0) r.fields[cl] = `Content-Length: ${v}`;
      else r.fields.splice(at, 0, `Content-Length: ${v}`);
      break;
    }
    case 'huge-chunk':
    case 'bad-chunk': {
      if (te < 0) r.fields.splice(at, 0, 'Transfer-Encoding: chunked');
      const size = name === 'huge-chunk' ? g.pick(['fffffffffffffffff', 'ffffffffffff', '7fffffff', '100000000', '0000000000000000000001']) : g.pick(['zz', '-1', '0x5', ' 5', '5 ', '5\t', '+5', '', '5 ;a=b', '5; a=b', '5;a = b', '5;=b', '5;a="b', '5\n', '5\r']);
      r.body = Buffer.concat([Buffer.from(`${size}\r\nhello\r\n0\r\n\r\n`, 'latin1')]);
      break;
    }
    case 'chunk-data-crlf':
      if (te < 0) r.fields.splice(at, 0, 'Transfer-Encoding: chunked');
      r.body = Buffer.from(g.pick(['5\r\nhelloXX0\r\n\r\n', '5\r\nhello\n0\r\n\r\n', '5\r\nhello world\r\n0\r\n\r\n', '5\r\nhell\r\n0\r\n\r\n', '0\r\nx-t: a\n\r\n', '0\r\n\r\r\n', '0\r\n x: folded\r\n\r\n', `0\r\n${g.pick(['Content-Length: 5', 'Transfer-Encoding: chunked'])}\r\n\r\n`]), 'latin1');
      break;
    case 'te-suffix': {
      // The last coding only ends in "chunked": it is another coding, the body runs to the close.
      if (cl >= 0) r.fields.splice(cl, 1);
      const te2 = fieldIndex(r, 'transfer-encoding');
      const v = `Transfer-Encoding: ${g.pick(['xchunked', 'x-chunked', 'notchunked', 'gzip, xchunked', 'gzip,nochunked'])}`;
      if (te2 >= 0) r.fields[te2] = v;
      else r.fields.splice(at, 0, v);
      r.body = chunked(g, r.body.length > 0 ? r.body : Buffer.from('data'));
      break;
    }
    case 'bad-version':
      r.status = r.status.replace(/^HTTP\/1\.1/, g.pick(['HTTP/1.2', 'HTTP/1.9', 'HTTP/1.5']));
      break;
    case 'te-variants': {
      if (cl >= 0) r.fields.splice(cl, 1);
      const v = g.pick(['xchunked', 'x-chunked', 'notchunked', 'gzip, xchunked', 'chunked, gzip', 'gzip, chunked', 'gzip,chunked', 'chunked,chunked', 'Chunked', 'CHUNKED', 'identity', 'gzip', 'chunked ', '', 'chunked;q=1', 'chunked\x00']);
      const te2 = fieldIndex(r, 'transfer-encoding');
      if (te2 >= 0) r.fields[te2] = `Transfer-Encoding: ${v}`;
      else r.fields.splice(at, 0, `Transfer-Encoding: ${v}`);
      if (g.chance(0.2)) r.fields.push(`Transfer-Encoding: ${g.pick(['chunked', 'gzip'])}`);
      r.body = chunked(g, r.body.length > 0 ? r.body : Buffer.from('data'));
      break;
    }
    case 'flood':
      if (g.chance(0.7)) for (let k = 100 + g.int(2400); k > 0; k--) r.fields.push(`x-f${k}: ${g.int(1000)}`);
      else r.fields.push(`x-long: ${'v'.repeat(2 * HEAD_LIMIT + 10_000 + g.int(100_000))}`);
      break;
    case 'nul':
      r.fields.splice(at, 0, g.pick(['x-nul: a\x00b', 'x-\x00nul: a', 'x-ctl: a\x01b', 'x-del: a\x7fb', 'x-cr: a\rb', 'x-esc: \x1b[31m']));
      break;
    case 'bad-name':
      r.fields.splice(at, 0, g.pick([': novalue', 'x y: v', 'x-a : v', 'x(a): v', 'noval', 'x-\xe9: v']));
      break;
    case '101': {
      const t = r.fields[0]!.slice('x-tag: '.length);
      r.interim = [];
      r.status = 'HTTP/1.1 101 Switching Protocols';
      r.fields = ['Connection: Upgrade', 'Upgrade: websocket', `x-tag: SMUG-${t}`];
      r.body = Buffer.from(`raw tunnel bytes SMUG-${t}\r\n\r\nGET /evil HTTP/1.1\r\n\r\n`, 'latin1');
      break;
    }
    case 'bodiless-with-body': {
      const st = g.pick(['HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified']);
      r.status = st;
      if (cl < 0 && te < 0) r.fields.push(`Content-Length: ${r.body.length}`);
      if (r.body.length === 0) r.body = Buffer.from('body of a bodiless response');
      break;
    }
    case 'interim-flood':
      for (let k = g.chance(0.5) ? 5 + g.int(10) : INTERIM_LIMIT + 10; k > 0; k--) r.interim.push(INTERIMS[0]!);
      break;
    case 'interim-then-silence':
      // Interim responses, then nothing: the router's timeout must still answer.
      r.body = Buffer.from([...r.interim, ...INTERIMS.slice(0, 1 + g.int(INTERIMS.length))].join(''), 'latin1');
      r.interim = [];
      r.fields = [];
      r.status = RAW;
      break;
    case 'connection-close':
      r.fields.splice(at, 0, g.pick(['Connection: close', 'connection: CLOSE', 'Connection: keep-alive, close', 'Connection: x-hop', 'Keep-Alive: timeout=5', 'Proxy-Connection: close']));
      break;
    default:
      throw new Error(`unknown mutation ${name}`);
  }
}

const NAMED = ['bad-status', 'bad-version', 'te-suffix', 'obs-fold', 'bare-lf', 'cl-te', 'dup-cl', 'bad-cl', 'huge-chunk', 'bad-chunk', 'chunk-data-crlf', 'te-variants', 'flood', 'nul', 'bad-name', '101', 'bodiless-with-body', 'interim-flood', 'interim-then-silence', 'connection-close'];

/** The status of a response already rendered into its body (mutations of the bytes themselves). */
const RAW = '\x00RAW';

function renderAny(r: Resp): Buffer {
  return r.status === RAW ? r.body : render(r);
}

function expectFor(v: Verdict, after: After): Expect {
  const none = { exact: null, error: false, stallOk: false, prefixOk: false, anything: false };
  switch (v.kind) {
    case 'valid': {
      const exact = { status: v.status, body: v.body };
      // A reset may discard bytes the router has not read yet.
      if (v.closeDelimited) {
        if (after === 'close') return { ...none, exact };
        if (after === 'reset') return { ...none, exact, error: true, prefixOk: true };
        return { ...none, error: true, stallOk: true };
      }
      return { ...none, exact, error: after === 'reset' };
    }
    case 'incomplete':
      // Silent before the final head: the router's timeout answers. Silent mid-body: only the client can give up.
      return { ...none, error: true, stallOk: v.headDone && after === 'keep' };
    case 'invalid':
      return { ...none, error: true };
    case 'gray':
      return { ...none, error: true, stallOk: true, anything: true };
  }
}

/** A response nobody asked for; `close` has it end the connection. */
function smug(t: string, close = false): Buffer {
  return Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${5 + t.length}\r\nx-tag: SMUG-${t}\r\n${close ? 'Connection: close\r\n' : ''}\r\nSMUG-${t}`, 'latin1');
}

function plan(g: FuzzGen, method: string, t: string): Plan {
  const b = base(g, method, t);
  let label = b.label;
  const r = b.r;
  if (b.closeDelimited === false && g.chance(0.12)) r.fields.push('Connection: close');
  let mutated = false;
  if (g.chance(0.45)) {
    const name = g.pick(NAMED);
    mutateNamed(g, r, name);
    label += `+${name}`;
    mutated = true;
  }
  let bytes = renderAny(r);
  if (g.chance(0.12)) {
    bytes = g.mutate(bytes);
    label += '+flips';
    mutated = true;
  }
  let after: After = b.closeDelimited ? 'close' : g.pick<After>(['keep', 'keep', 'keep', 'keep', 'keep', 'keep', 'close', 'reset']);
  if (g.chance(0.1)) {
    bytes = bytes.subarray(0, g.int(bytes.length));
    after = g.pick<After>(['keep', 'close', 'reset']);
    label += '+cut';
  }
  if (b.closeDelimited && !mutated && g.chance(0.15)) after = g.pick<After>(['keep', 'reset']);
  let verdict = oracle(bytes, method);
  // Draws are made whatever the verdict, so that a change to the oracle does not shift the cases.
  const [wantExtra, smugExtra, wantCuts, nCuts, wantLate, wantEarly] = [g.chance(0.12), g.chance(0.7), g.chance(0.25), 1 + g.int(3), g.chance(0.04), g.chance(0.2)];
  // Bytes after the response: at once (the same write) or later on the idle connection.
  const extra = verdict.kind === 'valid' && !verdict.closeDelimited && wantExtra;
  if (extra) {
    bytes = Buffer.concat([bytes, smugExtra ? smug(t) : Buffer.from(`SMUG-${t} garbage\r\n\r\n`, 'latin1')]);
    verdict = oracle(bytes, method);
    label += '+extra';
  }
  // Pieces are cut only inside the response itself: bytes past its end arriving later are the
  // "late" case, which races with the next request by nature.
  const limit = verdict.kind === 'valid' ? Math.min(verdict.end, bytes.length) : bytes.length;
  const cuts: number[] = [];
  if (wantCuts && limit > 1) {
    for (let k = nCuts; k > 0; k--) cuts.push(1 + Math.floor(g.rnd() * (limit - 1)));
    cuts.sort((x, y) => x - y);
  }
  const late = after === 'keep' && verdict.kind === 'valid' && !verdict.closeDelimited && wantLate;
  if (late) label += '+late';
  const early = method === 'POST' && wantEarly;
  if (early) label += '+early';
  if (after !== 'keep') label += `+${after}`;
  return { bytes, after, early, cuts: [...new Set(cuts)], late, label, verdict, expect: expectFor(verdict, after) };
}

/**
 * A valid response that ends exactly where a read of the router's ends (its first read of a
 * connection is 8 KiB), with a response nobody asked for in the same write: the router must not
 * hand the connection to a request it has waiting (pipelined on the client connection, or
 * queued) before it has read those bytes too. (Not 64 KiB: loopback may send the bytes past
 * that in a segment of their own, a little later, and then no proxy can tell them from late.)
 */
function boundaryPlan(t: string): Plan {
  const size = 8192;
  const head = (n: number): string => `HTTP/1.1 200 OK\r\nx-tag: ${t}\r\nContent-Length: ${n}\r\n\r\n`;
  let n = size - head(size).length;
  while (head(n).length + n !== size) n += size - head(n).length - n;
  const body = Buffer.alloc(n, 'b');
  body.write(`${t}:`, 'latin1');
  const bytes = Buffer.concat([Buffer.from(head(n), 'latin1'), body, smug(t)]);
  const verdict = oracle(bytes, 'GET');
  return { bytes, after: 'keep', early: false, cuts: [], late: false, label: `read-boundary-${size}+extra`, verdict, expect: expectFor(verdict, 'keep') };
}

function generate(g: FuzzGen, i: number): Case {
  const reqs: Req[] = [];
  const plans: Plan[] = [];
  const pipelined = g.chance(0.12);
  for (let k = 1 + g.int(3); k > 0; k--) {
    const method = g.pick<Req['method']>(['GET', 'GET', 'HEAD', 'POST', 'POST']);
    const body = method === 'POST' ? Buffer.from(`req-${i}-${reqs.length}-${'p'.repeat(g.int(g.chance(0.1) ? 40_000 : 200))}`) : Buffer.alloc(0);
    const t = tag(i, reqs.length);
    const p = method !== 'HEAD' && g.chance(pipelined && k > 1 ? 0.5 : 0.02) ? boundaryPlan(t) : plan(g, method, t);
    // An answer before the body was read matters most while the body is still on its way, and
    // most of all with requests pipelined behind it.
    if (pipelined && reqs.length === 0 && method === 'POST' && !p.early && g.chance(0.5)) {
      p.early = true;
      p.label += '+early';
    }
    reqs.push({ method, body, slowBody: method === 'POST' && (!pipelined || reqs.length === 0) && g.chance(p.early ? 0.6 : 0.15) });
    plans.push(p);
  }
  return { reqs, plans, pipelined };
}

// ---------------------------------------------------------------------------------------------
// The upstream: a raw TCP server that reads the router's requests and plays the plans.

interface UpConn {
  id: number;
  sock: net.Socket;
  buf: Buffer;
  cur: { bodyLen: number; plan: Plan; answered: boolean } | null;
  busy: boolean;
  closed: boolean;
  /** The router is left waiting on this connection (an incomplete or close-delimited response). */
  stuck: boolean;
  /** The last plan played on this connection (for failure messages). */
  last: string;
  /**
   * The upstream sent bytes past a valid response, in the same write: the router reads them
   * with it and must not send another request on this connection.
   */
  poisoned: string;
  /** Requests the upstream read on this connection. */
  requests: number;
  lateAt: number;
  firstAfterLate: number;
}

const FINAL_PLAN_BYTES = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 8\r\nx-tag: final\r\n\r\nfinal-ok', 'latin1');

let cases: Case[] = [];
/** (case, request) keys the upstream received a head for, with how many times. */
const seen = new Map<string, number>();
const upFailures: string[] = [];
/**
 * Requests the upstream read on a connection after it sent bytes there unasked: when such a
 * request was already on its way, the router reads those bytes as its answer, and every later
 * answer on that connection is one behind. No proxy can tell (HTTP/1.1 has no request ids).
 */
const raced = new Set<string>();
const upConns: UpConn[] = [];
let upServer: net.Server;
let upPort = 0;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseRequestHead(c: UpConn): { bodyLen: number; plan: Plan } | null | 'bad' {
  const e = c.buf.indexOf('\r\n\r\n', 0, 'latin1');
  if (e < 0) return null;
  const head = c.buf.toString('latin1', 0, e);
  c.buf = c.buf.subarray(e + 4);
  const lines = head.split('\r\n');
  const ok = /^(GET|HEAD|POST) \/\S* HTTP\/1\.1$/.test(lines[0]!) && lines.slice(1).every((l) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[ \t]*[\t\x20-\x7e\x80-\xff]*$/.test(l));
  const field = (n: string): string | undefined => lines.slice(1).find((l) => l.toLowerCase().startsWith(n + ':'))?.slice(n.length + 1).trim();
  if (!ok || field('transfer-encoding') !== undefined) {
    upFailures.push(`the router sent a request the upstream cannot read: ${JSON.stringify(head.slice(0, 300))}`);
    return 'bad';
  }
  const bodyLen = Number(field('content-length') ?? '0');
  const xc = field('x-case');
  if (xc === 'final') return { bodyLen, plan: { bytes: FINAL_PLAN_BYTES, after: 'keep', early: false, cuts: [], late: false, label: 'final', verdict: oracle(FINAL_PLAN_BYTES, 'GET'), expect: { exact: null, error: false, stallOk: false, prefixOk: false, anything: false } } };
  const i = Number(xc);
  const k = Number(field('x-req'));
  const p = cases[i]?.plans[k];
  if (p === undefined) {
    upFailures.push(`the upstream got a request it cannot place: ${JSON.stringify(head.slice(0, 300))}`);
    return 'bad';
  }
  const key = `${i}.${k}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
  c.requests++;
  if (c.poisoned !== '') upFailures.push(`the router sent request ${key} on an upstream connection after the upstream sent bytes past a response there: ${c.poisoned}`);
  if (c.lateAt > 0) {
    if (c.firstAfterLate === 0) c.firstAfterLate = performance.now();
    raced.add(key);
  }
  return { bodyLen, plan: p };
}

async function play(c: UpConn, p: Plan): Promise<void> {
  c.last = `${p.label} (${p.verdict.kind}${'why' in p.verdict ? `: ${p.verdict.why}` : ''}) ${JSON.stringify(p.bytes.toString('latin1').slice(0, 200))}`;
  let from = 0;
  for (const to of [...p.cuts, p.bytes.length]) {
    if (c.closed) return;
    c.sock.write(p.bytes.subarray(from, to));
    from = to;
    if (to < p.bytes.length) await sleep(1 + (to % 3));
  }
  if (c.closed) return;
  if (p.after === 'close') {
    c.closed = true;
    c.sock.end();
    return;
  }
  if (p.after === 'reset') {
    c.closed = true;
    c.sock.resetAndDestroy();
    return;
  }
  // The router must drop this connection: it is waiting on it, or should have refused it.
  const v = p.verdict;
  if (v.kind === 'incomplete' || v.kind === 'invalid' || (v.kind === 'valid' && v.closeDelimited)) c.stuck = true;
  if (v.kind === 'valid' && !v.closeDelimited && v.end < p.bytes.length) c.poisoned = c.last;
  if (p.late) {
    const served = c.requests;
    setTimeout(() => {
      if (c.closed || c.buf.length > 0 || c.requests !== served) return;
      // With `Connection: close`: should a request already be on its way (a race no proxy can
      // see), the router takes these bytes for its answer and then drops the connection, so the
      // answer the upstream gives that request is not read as the next one's.
      c.sock.write(smug(`LATE${c.id}`, true));
      c.lateAt = performance.now();
    }, 15);
  }
}

async function serve(c: UpConn): Promise<void> {
  if (c.busy) return;
  c.busy = true;
  try {
    for (let guard = 0; guard < 10_000 && !c.closed; guard++) {
      if (c.cur === null) {
        const r = parseRequestHead(c);
        if (r === null) return;
        if (r === 'bad') {
          c.closed = true;
          c.sock.destroy();
          return;
        }
        c.cur = { bodyLen: r.bodyLen, plan: r.plan, answered: false };
      }
      const cur = c.cur;
      if (!cur.answered && (cur.plan.early || c.buf.length >= cur.bodyLen)) {
        cur.answered = true;
        await play(c, cur.plan);
        continue;
      }
      if (c.buf.length < cur.bodyLen) return;
      c.buf = c.buf.subarray(cur.bodyLen);
      c.cur = null;
    }
  } finally {
    c.busy = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The clients: Node's http client, one keep-alive agent (one socket) per case; or a raw socket
// with the case's requests pipelined.

interface SockRec {
  chunks: Buffer[];
  methods: string[];
  /** Per request on this socket: did it end with a complete response. */
  ends: boolean[];
  closed: boolean;
  /** Settles when the socket has closed. */
  gone: Promise<void>;
}

interface Got {
  /** `skipped`: pipelined behind a request whose answer ended the connection, or never came. */
  kind: 'response' | 'error' | 'timeout' | 'skipped';
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: Buffer;
  code?: string;
  /** The final response head arrived. */
  headSeen: boolean;
  interim: number[];
  sock?: SockRec;
}

const taps = new WeakMap<net.Socket, SockRec>();

function tap(s: net.Socket, all: SockRec[]): SockRec {
  let rec = taps.get(s);
  if (rec === undefined) {
    let gone = (): void => {};
    const r: SockRec = { chunks: [], methods: [], ends: [], closed: false, gone: new Promise((resolve) => (gone = resolve)) };
    s.on('data', (c: Buffer) => r.chunks.push(c));
    s.once('close', () => {
      r.closed = true;
      gone();
    });
    taps.set(s, r);
    all.push(r);
    rec = r;
  }
  return rec;
}

function send(port: number, agent: http.Agent, i: number, k: number, r: Req, socks: SockRec[]): Promise<Got> {
  return new Promise((resolve) => {
    const got: Got = { kind: 'timeout', headSeen: false, interim: [] };
    let settled = false;
    const done = (g: Partial<Got>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      Object.assign(got, g);
      got.sock?.ends.push(got.kind === 'response');
      resolve(got);
    };
    const headers: http.OutgoingHttpHeaders = { host: HOST, 'x-case': String(i), 'x-req': String(k) };
    if (r.method === 'POST') headers['content-length'] = String(r.body.length);
    const req = http.request({ agent, host: '127.0.0.1', port, method: r.method, path: `/c${i}/r${k}`, headers, maxHeaderSize: 4 * HEAD_LIMIT });
    const timer = setTimeout(() => {
      done({ kind: 'timeout' });
      // Gone for good, and said so with a reset: a FIN alone is a half-close, after which the
      // router still owes (and waits to deliver) the response.
      req.socket?.resetAndDestroy();
      req.destroy();
    }, CLIENT_BOUND_MS);
    req.on('socket', (s: net.Socket) => {
      got.sock = tap(s, socks);
      got.sock.methods.push(r.method);
    });
    req.on('information', (inf: http.InformationEvent) => got.interim.push(inf.statusCode));
    req.on('response', (res) => {
      got.headSeen = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.complete) done({ kind: 'response', status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
        else done({ kind: 'error', code: 'incomplete', status: res.statusCode });
      });
      res.on('error', (e: NodeJS.ErrnoException) => done({ kind: 'error', code: e.code ?? e.message, status: res.statusCode }));
      res.on('aborted', () => done({ kind: 'error', code: 'aborted', status: res.statusCode }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ kind: 'error', code: e.code ?? e.message }));
    if (r.method !== 'POST') req.end();
    else if (!r.slowBody) req.end(r.body);
    else {
      const half = r.body.length >> 1;
      req.write(r.body.subarray(0, half));
      setTimeout(() => {
        if (!req.destroyed) req.end(r.body.subarray(half));
      }, SLOW_BODY_MS);
    }
  });
}

/**
 * Writes all of a case's requests at once on a raw socket (pipelined) and splits the answers
 * with the oracle as they come; each has CLIENT_BOUND_MS from the one before.
 */
function sendPipelined(port: number, i: number, cs: Case, socks: SockRec[]): Promise<Got[]> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const rec = tap(s, socks);
    for (const r of cs.reqs) rec.methods.push(r.method);
    const gots: Got[] = [];
    let interim: number[] = [];
    let at = 0;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    /** Splits what came so far; true once every request has its answer. */
    const parse = (closed: boolean): boolean => {
      const b = Buffer.concat(rec.chunks);
      while (gots.length < cs.reqs.length) {
        const h = readHead(b, at);
        if (!('kind' in h) && h.status < 200 && h.status !== 101) {
          interim.push(h.status);
          at = h.end;
          continue;
        }
        // Malformed bytes wait here for the bound; the stream check reports them.
        const v = oracle(b, cs.reqs[gots.length]!.method, at);
        if (v.kind === 'gray') {
          // Forwarded as the upstream framed it where RFC 9112 leaves a choice: not split further.
          finish('skipped', false);
          return false;
        }
        if (v.kind !== 'valid' || (v.closeDelimited && !closed)) return false;
        gots.push({ kind: 'response', status: v.status, headers: Object.fromEntries(v.fields), body: Buffer.from(v.body), headSeen: true, interim, sock: rec });
        rec.ends.push(true);
        interim = [];
        at = v.end;
        // After `connection: close` the requests behind are not answered.
        if (v.fields.some(([name, value]) => name === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(value))) {
          finish('skipped', false);
          return false;
        }
        arm();
      }
      return true;
    };
    const finish = (kind: Got['kind'], headSeen: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const first = gots.length;
      for (let k = first; k < cs.reqs.length; k++) {
        gots.push({ kind: k === first ? kind : 'skipped', headSeen: k === first && headSeen, interim, sock: rec });
        rec.ends.push(false);
      }
      resolve(gots);
    };
    function arm(): void {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const v = oracle(Buffer.concat(rec.chunks), cs.reqs[gots.length]!.method, at);
        finish('timeout', (v.kind === 'incomplete' && v.headDone) || (v.kind === 'valid' && v.closeDelimited));
        // Gone for good, said with a reset (a FIN is a half-close: the router would still answer).
        s.resetAndDestroy();
      }, CLIENT_BOUND_MS);
    }
    arm();
    s.on('data', () => {
      if (!settled && parse(false)) {
        finish('response', true);
        s.end();
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (!settled && !parse(true)) finish('error', false);
      finish('response', true);
    });
    const wire = Buffer.concat(
      cs.reqs.map((r, k) =>
        Buffer.concat([Buffer.from(`${r.method} /c${i}/r${k} HTTP/1.1\r\nHost: ${HOST}\r\nx-case: ${i}\r\nx-req: ${k}\r\n${r.method === 'POST' ? `Content-Length: ${r.body.length}\r\n` : ''}\r\n`, 'latin1'), r.body]),
      ),
    );
    // A slow first body: its head and half of it first, the rest and the requests behind later.
    const first = cs.reqs[0]!;
    if (!first.slowBody) s.write(wire);
    else {
      const at = wire.indexOf('\r\n\r\n', 0, 'latin1') + 4 + (first.body.length >> 1);
      s.write(wire.subarray(0, at));
      setTimeout(() => {
        if (!s.destroyed) s.write(wire.subarray(at));
      }, SLOW_BODY_MS);
    }
  });
}

/** Splits what one client connection received with the oracle's strict reading. */
function checkStream(rec: SockRec): string | undefined {
  const b = Buffer.concat(rec.chunks);
  let at = 0;
  let n = 0;
  while (at < b.length) {
    const method = rec.methods[n] ?? 'GET';
    // Interim responses first: each is a head of its own here.
    const h = readHead(b, at);
    if (!('kind' in h) && h.status < 200 && h.status !== 101) {
      at = h.end;
      continue;
    }
    const v = oracle(b, method, at);
    if (v.kind === 'gray') return undefined;
    if (v.kind === 'invalid') return `malformed bytes to the client at ${at} (${v.why}): ${JSON.stringify(b.toString('latin1', at, at + 200))}`;
    if (v.kind === 'incomplete') {
      // A response may be cut only where the connection ended without a complete one.
      if (rec.ends[n] === true || !rec.closed) return `cut response to the client at ${at} (${v.why}) though the request completed`;
      return undefined;
    }
    if (v.closeDelimited && !rec.closed) return 'a close-delimited response on a connection still open';
    // The router closes the client connection after a response read to the close, and says so.
    if (v.closeDelimited && !v.fields.some(([name, value]) => name === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(value))) return `a close-delimited response without connection: close at ${at}: ${JSON.stringify(b.toString('latin1', at, at + 200))}`;
    at = v.end;
    n++;
  }
  if (n > rec.methods.length) return `${n} responses for ${rec.methods.length} requests`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]);
}

let dir: string;
let lk: ReadyProcess | undefined;
let port = 0;

before(async () => {
  let nextId = 0;
  upServer = net.createServer((sock) => {
    const c: UpConn = { id: nextId++, sock, buf: Buffer.alloc(0), cur: null, busy: false, closed: false, stuck: false, last: '', poisoned: '', requests: 0, lateAt: 0, firstAfterLate: 0 };
    upConns.push(c);
    sock.on('data', (d: Buffer) => {
      if (c.closed) return;
      c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
      void serve(c);
    });
    sock.on('error', () => {});
    sock.on('close', () => (c.closed = true));
  });
  await new Promise<void>((r) => upServer.listen(0, '127.0.0.1', r));
  upPort = (upServer.address() as net.AddressInfo).port;
  dir = mkdtempSync(join(tmpdir(), 'meshwork-upfuzz-'));
  const cfg = join(dir, 'linkerd.yaml');
  writeFileSync(
    cfg,
    `admin:
  port: 0
routers:
- protocol: http
  label: upfz
  dtab: /svc => /$/inet/127.0.0.1/${upPort}
  client:
    failureAccrual:
      kind: none
  servers:
  - port: 0
    timeoutMs: ${ROUTER_TIMEOUT_MS}
`,
  );
  lk = await spawnReady(process.execPath, [BIN, 'linkerd', cfg], /^admin listening on /m, 15_000);
  port = Number(/^listening upfz 127\.0\.0\.1:(\d+)$/m.exec(lk.output())![1]);
});

after(async () => {
  await bounded('stopping the proxy', 10_000, lk?.stop(2000));
  for (const c of upConns) c.sock.destroy();
  await bounded('closing the upstream', 5000, new Promise<void>((r) => upServer.close(() => r())));
  rmSync(dir, { recursive: true, force: true });
  reportLeftovers('upstream-fuzz-http1');
});

async function finalRequest(): Promise<{ status: number; body: string }> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request({ agent, host: '127.0.0.1', port, path: '/final', headers: { host: HOST, 'x-case': 'final' } }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(3000, () => req.destroy(new Error('final request timed out')));
      req.on('error', reject);
      req.end();
    });
  } finally {
    agent.destroy();
  }
}

test(`upstream fuzz: ${CASES} cases of valid, mutated and hostile HTTP/1.1 responses; clients get them framed faithfully or a router error, and the process stays up`, async (t) => {
  const env = process.env['MESHWORK_UPSTREAM_FUZZ_SEED'] ?? '';
  const seed = env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`upstream fuzz seed ${seed} (replay: MESHWORK_UPSTREAM_FUZZ_SEED=${seed})`);
  console.log(`upstream-fuzz-http1: seed ${seed}`);
  const g = new FuzzGen(seededRandom(seed));
  cases = Array.from({ length: CASES }, (_, i) => generate(g, i));
  // To look at a few cases of a run alone: MESHWORK_UPSTREAM_FUZZ_CASES=3,17.
  const picked = process.env['MESHWORK_UPSTREAM_FUZZ_CASES'] ?? '';
  const only = picked === '' ? null : new Set(picked.split(',').map(Number));

  // Warm up so the baseline RSS includes the code paths a request takes.
  for (let k = 0; k < 10; k++) assert.deepEqual(await finalRequest(), { status: 200, body: 'final-ok' });
  const pid = lk!.child.pid!;
  const rssBefore = rssKb(pid);

  const results: Got[][] = new Array(CASES);
  const sockets: SockRec[][] = new Array(CASES);
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CASES && Date.now() - t0 < TOTAL_MS) {
      const i = next++;
      if (only !== null && !only.has(i)) continue;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const socks: SockRec[] = [];
      const gots: Got[] = [];
      try {
        const cs = cases[i]!;
        if (cs.pipelined) gots.push(...(await sendPipelined(port, i, cs, socks)));
        else for (let k = 0; k < cs.reqs.length; k++) gots.push(await send(port, agent, i, k, cs.reqs[k]!, socks));
      } finally {
        agent.destroy();
      }
      // Closed sockets have said all they will (the stream check reads whether each closed).
      await Promise.race([Promise.all(socks.map((s) => s.gone)), sleep(1000)]);
      results[i] = gots;
      sockets[i] = socks;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = Date.now() - t0;
  assert.equal(next, CASES, `only ${next} of ${CASES} cases ran in ${TOTAL_MS} ms`);

  const failures: string[] = [...upFailures];
  const tally = new Map<string, number>();
  const count = (k: string): void => void tally.set(k, (tally.get(k) ?? 0) + 1);
  for (let i = 0; i < CASES; i++) {
    if (only !== null && !only.has(i)) continue;
    const cs = cases[i]!;
    for (let k = 0; k < cs.reqs.length; k++) {
      const p = cs.plans[k]!;
      const got = results[i]![k]!;
      const e = p.expect;
      const own = tag(i, k);
      const seenUp = seen.has(`${i}.${k}`);
      const why = (msg: string): void =>
        void failures.push(
          `case ${i} request ${k} (${cs.pipelined ? 'pipelined ' : ''}${cs.reqs[k]!.method}${cs.reqs[k]!.method === 'POST' ? ` ${cs.reqs[k]!.body.length} bytes${cs.reqs[k]!.slowBody ? ' in two writes' : ''}` : ''}, ${p.label}, ${p.verdict.kind}${'why' in p.verdict ? `: ${p.verdict.why}` : ''}): ${msg}\n` +
            `  upstream sent ${JSON.stringify(p.bytes.toString('latin1').slice(0, 400))} then ${p.after}\n` +
            `  client got ${got.kind} ${got.status ?? ''} ${got.code ?? ''} ${JSON.stringify(got.headers ?? {}).slice(0, 300)} ${JSON.stringify((got.body ?? Buffer.alloc(0)).toString('latin1').slice(0, 200))}`,
        );
      if (got.kind === 'skipped') {
        count('pipelined behind an answer that ended the connection');
        continue;
      }
      if (got.kind === 'error' && /^HPE_/.test(got.code ?? '')) {
        why(`the client's parser refused what the router sent (${got.code})`);
        continue;
      }
      if (raced.has(`${i}.${k}`)) {
        count('on a connection the upstream sent bytes on unasked (race)');
        continue;
      }
      // Bytes of another response: another request's tag, or bytes the upstream sent past a response.
      const text = got.kind === 'response' ? JSON.stringify(got.headers) + got.body!.toString('latin1') : '';
      const foreign = tagsIn(text).filter((x) => x !== own);
      const late = /SMUG-LATE(\d+)/.exec(text);
      if (late !== null) {
        const c = upConns[Number(late[1])]!;
        if (c.firstAfterLate - c.lateAt < LATE_RACE_MS) count('late bytes met a request already sent (race)');
        else why(`got bytes the upstream sent on an idle connection ${Math.round(c.firstAfterLate - c.lateAt)} ms before this request reached it`);
        continue;
      }
      if (foreign.length > 0) {
        const [, fi, fk] = /T(\d+)x(\d+)/.exec(foreign[0]!)!;
        const fp = cases[Number(fi)]!.plans[Number(fk)]!;
        why(`got bytes of another response (${foreign.join(', ')}), whose upstream sent ${JSON.stringify(fp.bytes.toString('latin1').slice(0, 300))} then ${fp.after} (${fp.label})`);
        continue;
      }
      if (text.includes(`SMUG-${own}`) && !(e.exact?.body.includes(`SMUG-${own}`) ?? false) && !e.anything) {
        why('got the bytes the upstream sent after its response');
        continue;
      }
      if (got.kind === 'response') {
        const err = got.headers!['l5d-err'];
        if (err !== undefined) {
          if (![502, 503, 504].includes(got.status!)) why(`router error with status ${got.status}`);
          else if (e.error || e.anything) count(`router ${got.status}`);
          else if (!seenUp && /closed before a response/.test(String(err))) count('sent on a connection the upstream was closing');
          else why(`a router error where the upstream's response was expected`);
        } else if (e.exact !== null && got.status === e.exact.status && got.body!.equals(e.exact.body)) count('exact');
        else if (e.prefixOk && got.status === e.exact!.status && e.exact!.body.subarray(0, got.body!.length).equals(got.body!)) count('close-delimited body cut by a reset');
        else if (e.anything) count('gray: some response');
        else if (e.exact === null) why(`a response where a router error was expected`);
        else why(`not the upstream's response: expected ${e.exact.status} ${JSON.stringify(e.exact.body.toString('latin1').slice(0, 200))}`);
      } else if (got.kind === 'error') {
        if (e.error || e.anything) count('cut');
        else why('the connection was cut where the upstream sent a valid response');
      } else if (!got.headSeen) {
        why(`no final response within ${CLIENT_BOUND_MS} ms (interim: ${got.interim.join(',')})`);
      } else if (e.stallOk || e.anything) count('client gave up mid-body (upstream silent)');
      else why(`response body not done within ${CLIENT_BOUND_MS} ms`);
    }
    for (const rec of sockets[i]!) {
      const bad = checkStream(rec);
      if (bad !== undefined) failures.push(`case ${i}: ${bad}\n  requests on this connection ${rec.methods.join(',')} (completed ${rec.ends.join(',')}, closed ${rec.closed}); plans of the case ${cs.plans.map((p) => p.label).join(' | ')}\n  got ${JSON.stringify(Buffer.concat(rec.chunks).toString('latin1').slice(0, 600))}`);
    }
  }

  // Every upstream connection the router was left waiting on is closed once its exchange ended
  // (by the router's timeout, or because the client gave up).
  const waitUntil = Date.now() + 3000;
  while (upConns.some((c) => c.stuck && !c.sock.destroyed) && Date.now() < waitUntil) await sleep(50);
  const leaked = upConns.filter((c) => c.stuck && !c.sock.destroyed);
  if (leaked.length > 0) failures.push(`${leaked.length} upstream connections the router was left waiting on are still open; the last answers on them: ${leaked.map((c) => c.last).join(' | ')}`);

  const rssAfter = rssKb(pid);
  const requests = cases.reduce((n, c, i) => n + (only === null || only.has(i) ? c.reqs.length : 0), 0);
  const summary = [...tally].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
  const line = `upstream-fuzz-http1: seed ${seed}, ${CASES} cases (${requests} requests, ${upConns.length} upstream connections) in ${elapsed} ms; ${summary}; RSS ${Math.round(rssBefore / 1024)} MB -> ${Math.round(rssAfter / 1024)} MB`;
  t.diagnostic(line);
  console.log(line);
  // Every failure, for a run that has more than the assertion below shows.
  const dump = process.env['MESHWORK_UPSTREAM_FUZZ_DUMP'];
  if (dump !== undefined) writeFileSync(dump, failures.join('\n') + '\n');
  assert.deepEqual(failures.slice(0, 15), [], `${failures.length} failures (seed ${seed}; replay: MESHWORK_UPSTREAM_FUZZ_SEED=${seed})`);

  // Still up, still routing, and nothing went uncaught.
  assert.equal(lk!.child.exitCode, null, lk!.output().slice(-2000));
  assert.deepEqual(await finalRequest(), { status: 200, body: 'final-ok' });
  assert.doesNotMatch(lk!.output(), /TypeError|RangeError|ReferenceError|Uncaught|FATAL|\bERR_[A-Z_]+/);
  assert.ok(rssAfter > 0 && rssAfter - rssBefore < 150 * 1024, `RSS grew from ${rssBefore} kB to ${rssAfter} kB`);
});

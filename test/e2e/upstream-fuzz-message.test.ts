/**
 * Fuzz of what an UPSTREAM sends back to the message routers (protocol-fuzz.test.ts fuzzes what
 * clients send). One real `meshwork linkerd` runs a thrift router (framed, binary), a thrift
 * router (buffered, compact), a thriftmux router (its upstream speaks framed binary thrift) and
 * a mux router, each in front of a raw TCP upstream built here that answers each call as a
 * seeded plan says: valid replies first, then valid replies mixed with hostile ones.
 *
 * thrift upstreams: wrong seqid, wrong method name, CALL/ONEWAY/bad types instead of REPLY,
 * garbage, frame sizes negative, huge or smaller/larger than the message, strings declared
 * negative or huge, truncated messages then close, resets mid-frame, two replies for one call,
 * replies for calls never made (before, after, or on an idle connection), deep nesting, bad
 * compact varints and heads, TApplicationExceptions with garbage fields, stalls (mid-frame too),
 * late replies, answers to ONEWAY messages, old non-strict heads and 5-byte seqid varints, a
 * frame just under the 16 MiB limit that never comes whole, random mutations of a valid reply.
 * mux upstream: per session a handshake plan (normal, without Tinit, a garbage or wrong-version
 * Rinit, an Rerr or a Tdrain for the Tinit, garbage, a slow Rinit, a close), and per call
 * Rdispatch/Rreq/Rerr/Rdiscarded for unknown tags, an Rreq for a Tdispatch, Rdispatch errors
 * and nacks, Rerr and Rdiscarded for the call's tag, bad sizes and types, bad Rdispatch bodies,
 * fragments that never end (and valid fragments), Tping/Tdrain/Tlease/Tdiscarded/Tdispatch/Treq
 * from the upstream, garbage, truncation, resets, stalls, late replies after a discard, two
 * replies for one tag, random mutations of a valid Rdispatch body.
 *
 * Clients are built here too (the `thrift` package and raw mux frames, nothing from
 * src/protocol): a case is one connection with one to six calls, in sequence or pipelined
 * (thrift), concurrent on tags (mux, thriftmux over mux or downgraded framed thrift); cases run
 * concurrently. Every call must end within a bound with either the bytes the upstream sent for
 * that very call relayed exactly (only the seqid put back; derived from what the upstream wrote,
 * so a reply the upstream got right is relayed whole), or a clean error (thrift: an EXCEPTION
 * decoding as a TApplicationException with the call's seqid and name; mux: an Rdispatch/Rreq
 * error or nack for the call's tag), or the connection closed; never a hang, never a reply with
 * another call's seqid, tag or content, never a tag answered twice, never bytes after the last
 * answer. The first cases (valid replies only) and a last valid call per router must be relayed
 * exactly; the process must stay up with bounded RSS and no uncaught exception in its output.
 *
 * A reply with a wrong method name but the call's seqid is the upstream's answer and may be
 * relayed: the router checks seqids as Finagle's SeqIdFilter does, not names (a multiplexed
 * server answers `Svc:get` with `get`). The thrift router's pool is capped (maxSize 6); the mux
 * router has three endpoints, so a session a hostile reply kills takes a third of the mux calls
 * under way with it; failure accrual is off, so no endpoint is taken out for the later cases.
 *
 * The seed is printed; MESHWORK_UPSTREAM_FUZZ_SEED=<n> replays a run (the plans; timing may
 * differ), MESHWORK_UPSTREAM_FUZZ_ONLY=thr:12,mux:3 replays only some of its cases, and
 * MESHWORK_UPSTREAM_FUZZ_DEBUG=1 prints the outcomes per router and plan.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type * as ThriftLib from 'thrift';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { linkerdYaml } from '../support/linker.js';
import { FuzzGen, seededRandom as prng } from '../support/prng.js';
import { callMessage, frame, message, protocol, readOne, type Parsed, type Proto } from '../support/thrift.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const req = createRequire(import.meta.url);
const LIB = 'thrift/lib/nodejs/lib/thrift/';
const Thrift = req(`${LIB}thrift.js`) as typeof ThriftLib.Thrift;
const T = Thrift.Type;
const MT = Thrift.MessageType;
/** Also a transport over one Buffer (reading past its end throws). */
const TFramedTransport = req(`${LIB}framed_transport.js`) as new (b: Buffer) => { readPos: number };

type Kind = 'thr' | 'tcmp' | 'tmux' | 'mux';
const KINDS: readonly Kind[] = ['thr', 'tcmp', 'tmux', 'mux'];
/** Fuzz cases per router (phase 2), and valid-only cases before them (phase 1). */
const CASES: Readonly<Record<Kind, number>> = { thr: 160, tcmp: 130, tmux: 150, mux: 180 };
const VALID_CASES = 10;
/** The routers' servers' `timeoutMs`: a stalled upstream is given up on after this. */
const SERVER_TIMEOUT_MS = 600;
/** A call's answer must come this long after the one before it on its connection (or its send). */
const CALL_BOUND_MS = SERVER_TIMEOUT_MS + 2000;
/** After its last answer a case half-closes; the router must close within this. */
const CLOSE_BOUND_MS = 2000;
const CONCURRENCY = 40;
/** Bound on the valid and fuzz cases together; cases not started by then are left out. */
const FUZZ_MS = 8000;
const RSS_LIMIT_KB = 250 * 1024;
/** Largest frame a client here accepts from a router (its own limit is 16 MiB). */
const MAX_FRAME = 17 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const UPSTREAM_PROTO: Readonly<Record<Exclude<Kind, 'mux'>, { proto: Proto; framed: boolean }>> = {
  thr: { proto: 'binary', framed: true },
  tcmp: { proto: 'compact', framed: false },
  tmux: { proto: 'binary', framed: true },
};

// ---- thrift bytes, read and written here --------------------------------------------------------

interface Head {
  readonly name: string;
  readonly type: number;
  readonly seqid: number;
  readonly seqidStart: number;
  readonly seqidEnd: number;
}

function uvarint(b: Buffer, p: number): { value: number; end: number } | undefined {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 5 && p < b.length; i++) {
    const x = b[p++]!;
    v += (x & 0x7f) * scale;
    if (x < 0x80) return v > 0xffffffff ? undefined : { value: v, end: p };
    scale *= 128;
  }
  return undefined;
}

function varintBytes(u: number): number[] {
  const out: number[] = [];
  let v = u >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** A message head (binary strict or old non-strict, or compact); undefined when it is not one. */
function readHead(proto: Proto, m: Buffer): Head | undefined {
  if (proto === 'binary') {
    if (m.length < 4) return undefined;
    const first = m.readInt32BE(0);
    if (first < 0) {
      if (first >>> 16 !== 0x8001 || m.length < 8) return undefined;
      const n = m.readInt32BE(4);
      if (n < 0 || m.length < 12 + n) return undefined;
      return { name: m.toString('utf8', 8, 8 + n), type: first & 0xff, seqid: m.readInt32BE(8 + n), seqidStart: 8 + n, seqidEnd: 12 + n };
    }
    if (m.length < 9 + first) return undefined;
    return { name: m.toString('utf8', 4, 4 + first), type: m[4 + first]!, seqid: m.readInt32BE(5 + first), seqidStart: 5 + first, seqidEnd: 9 + first };
  }
  if (m.length < 2 || m[0] !== 0x82 || (m[1]! & 0x1f) !== 1) return undefined;
  const s = uvarint(m, 2);
  if (s === undefined) return undefined;
  const n = uvarint(m, s.end);
  if (n === undefined || m.length < n.end + n.value) return undefined;
  return { name: m.toString('utf8', n.end, n.end + n.value), type: m[1]! >> 5, seqid: s.value | 0, seqidStart: 2, seqidEnd: s.end };
}

/** A head written by hand (types and seqids the thrift package would not write). */
function rawHead(proto: Proto, name: string, type: number, seqid: number): Buffer {
  const n = Buffer.from(name);
  if (proto === 'binary') {
    const b = Buffer.alloc(12 + n.length);
    b.writeInt32BE((0x80010000 | (type & 0xff)) | 0, 0);
    b.writeInt32BE(n.length, 4);
    n.copy(b, 8);
    b.writeInt32BE(seqid | 0, 8 + n.length);
    return b;
  }
  return Buffer.concat([Buffer.from([0x82, ((type & 7) << 5) | 1, ...varintBytes(seqid), ...varintBytes(n.length)]), n]);
}

/** A field-0 string header, the length to follow (binary: i32, compact: varint). */
function stringField0(proto: Proto, declared: number): Buffer {
  if (proto === 'binary') {
    const b = Buffer.from([T.STRING, 0, 0, 0, 0, 0, 0]);
    b.writeInt32BE(declared | 0, 3);
    return b;
  }
  return Buffer.from([0x08, 0x00, ...varintBytes(declared)]);
}

function replyMessage(proto: Proto, name: string, type: number, seqid: number, text: string): Buffer {
  return message(proto, name, type, seqid, (p) => {
    p.writeFieldBegin('success', T.STRING, 0);
    p.writeString(text);
    p.writeFieldEnd();
  });
}

function appException(proto: Proto, name: string, seqid: number, text: string, type: number): Buffer {
  return message(proto, name, MT.EXCEPTION, seqid, (p) => {
    p.writeFieldBegin('message', T.STRING, 1);
    p.writeString(text);
    p.writeFieldEnd();
    p.writeFieldBegin('type', T.I32, 2);
    p.writeI32(type);
    p.writeFieldEnd();
  });
}

/** An EXCEPTION whose struct is well-formed thrift but not a TApplicationException's fields. */
function garbageException(proto: Proto, name: string, seqid: number, g: FuzzGen): Buffer {
  return message(proto, name, MT.EXCEPTION, seqid, (p) => {
    for (let k = 1 + g.int(5); k > 0; k--) {
      const id = g.pick([1, 2, 3, 1 + g.int(300)]);
      switch (g.int(7)) {
        case 0:
          p.writeFieldBegin('m', T.I32, id);
          p.writeI32(g.int(1e6) - 5e5);
          break;
        case 1:
          p.writeFieldBegin('t', T.STRING, id);
          p.writeString(g.printable(g.int(40)));
          break;
        case 2: {
          const n = g.int(6);
          p.writeFieldBegin('l', T.LIST, id);
          p.writeListBegin(T.STRING, n);
          for (let i = 0; i < n; i++) p.writeString(g.printable(g.int(10)));
          p.writeListEnd();
          break;
        }
        case 3: {
          const n = g.int(4);
          p.writeFieldBegin('m', T.MAP, id);
          p.writeMapBegin(T.I32, T.I64, n);
          for (let i = 0; i < n; i++) {
            p.writeI32(i);
            p.writeI64(g.int(1e9));
          }
          p.writeMapEnd();
          break;
        }
        case 4:
          p.writeFieldBegin('s', T.STRUCT, id);
          p.writeStructBegin('s');
          p.writeFieldBegin('d', T.DOUBLE, 1);
          p.writeDouble(g.rnd());
          p.writeFieldEnd();
          p.writeFieldStop();
          p.writeStructEnd();
          break;
        case 5:
          p.writeFieldBegin('b', T.BOOL, id);
          p.writeBool(g.chance(0.5));
          break;
        default:
          p.writeFieldBegin('big', T.STRING, id);
          p.writeString('x'.repeat(1000 + g.int(3000)));
      }
      p.writeFieldEnd();
    }
  });
}

/** A REPLY nested `depth` structs deep. */
function deepReply(proto: Proto, name: string, seqid: number, depth: number): Buffer {
  return message(proto, name, MT.REPLY, seqid, (p) => {
    for (let i = 0; i < depth; i++) {
      p.writeFieldBegin('s', T.STRUCT, 1);
      p.writeStructBegin('s');
    }
    for (let i = 0; i < depth; i++) {
      p.writeFieldStop();
      p.writeStructEnd();
      p.writeFieldEnd();
    }
  });
}

/** Thrown by a Cursor when the bytes end first. */
const NEED_MORE = new Error('need more bytes');

class Cursor {
  p = 0;
  constructor(readonly b: Buffer) {}
  skip(n: number): void {
    if (n < 0) throw new Error(`negative size ${n}`);
    if (this.p + n > this.b.length) throw NEED_MORE;
    this.p += n;
  }
  u8(): number {
    this.skip(1);
    return this.b[this.p - 1]!;
  }
  i32(): number {
    this.skip(4);
    return this.b.readInt32BE(this.p - 4);
  }
  varint(maxLen: number): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < maxLen; i++) {
      const x = this.u8();
      v += (x & 0x7f) * scale;
      if (x < 0x80) return v;
      scale *= 128;
    }
    throw new Error(`a varint longer than ${maxLen} bytes`);
  }
}

/**
 * The length of the whole thrift message at the front of `b` (-1: it goes on past the bytes),
 * found by skipping every value as the protocol defines it; throws for bytes that are not one.
 * Written here (not src/protocol/thrift's scanner) to judge the router's buffered framing.
 */
function scanMessage(proto: Proto, b: Buffer): number {
  const c = new Cursor(b);
  const bin = (t: number, depth: number): void => {
    if (depth > 200) throw new Error('nesting too deep');
    switch (t) {
      case T.BOOL:
      case T.BYTE:
        return c.skip(1);
      case T.I16:
        return c.skip(2);
      case T.I32:
        return c.skip(4);
      case T.DOUBLE:
      case T.I64:
        return c.skip(8);
      case 16: // UUID
        return c.skip(16);
      case T.STRING:
        return c.skip(c.i32());
      case T.STRUCT:
        for (let f = c.u8(); f !== T.STOP; f = c.u8()) {
          c.skip(2);
          bin(f, depth + 1);
        }
        return;
      case T.MAP: {
        const kt = c.u8();
        const vt = c.u8();
        const n = c.i32();
        if (n < 0) throw new Error(`negative map size ${n}`);
        for (let i = 0; i < n; i++) {
          bin(kt, depth + 1);
          bin(vt, depth + 1);
        }
        return;
      }
      case T.SET:
      case T.LIST: {
        const et = c.u8();
        const n = c.i32();
        if (n < 0) throw new Error(`negative list size ${n}`);
        for (let i = 0; i < n; i++) bin(et, depth + 1);
        return;
      }
      default:
        throw new Error(`unknown type ${t}`);
    }
  };
  const cmp = (t: number, depth: number): void => {
    if (depth > 200) throw new Error('nesting too deep');
    switch (t) {
      case 1:
      case 2:
      case 3:
        return c.skip(1);
      case 4:
      case 5:
        return void c.varint(5);
      case 6:
        return void c.varint(10);
      case 7:
        return c.skip(8);
      case 8: {
        const n = c.varint(5);
        if (n > 0x7fffffff) throw new Error('negative binary length');
        return c.skip(n);
      }
      case 9:
      case 10: {
        const h = c.u8();
        let n = h >> 4;
        if (n === 15) n = c.varint(5);
        for (let i = 0; i < n; i++) cmp(h & 0x0f, depth + 1);
        return;
      }
      case 11: {
        const n = c.varint(5);
        if (n === 0) return;
        const kv = c.u8();
        for (let i = 0; i < n; i++) {
          cmp(kv >> 4, depth + 1);
          cmp(kv & 0x0f, depth + 1);
        }
        return;
      }
      case 12:
        for (let f = c.u8(); f !== 0; f = c.u8()) {
          if (f >> 4 === 0) c.varint(5);
          // A bool field's value is its type code.
          if ((f & 0x0f) !== 1 && (f & 0x0f) !== 2) cmp(f & 0x0f, depth + 1);
        }
        return;
      case 13:
        return c.skip(16);
      default:
        throw new Error(`unknown compact type ${t}`);
    }
  };
  try {
    if (proto === 'binary') {
      const first = c.i32();
      if (first < 0) {
        if (first >>> 16 !== 0x8001) throw new Error('bad version');
        c.skip(c.i32());
        c.skip(4);
      } else {
        c.skip(first);
        c.skip(5);
      }
      bin(T.STRUCT, 1);
    } else {
      if (c.u8() !== 0x82 || (c.u8() & 0x1f) !== 1) throw new Error('bad compact head');
      c.varint(5);
      c.skip(c.varint(5));
      cmp(12, 1);
    }
    return c.p;
  } catch (e) {
    if (e === NEED_MORE) return -1;
    throw e;
  }
}

/** One whole message read by the thrift package (for its fields); undefined when it cannot. */
function parseWhole(proto: Proto, m: Buffer): Parsed | undefined {
  const trans = new TFramedTransport(m);
  try {
    const msg = readOne(protocol(proto, trans), undefined);
    return trans.readPos === m.length ? msg : undefined;
  } catch {
    return undefined;
  }
}

// ---- mux bytes, read and written here -----------------------------------------------------------

const MUX = {
  Treq: 1,
  Rreq: -1,
  Tdispatch: 2,
  Rdispatch: -2,
  Tdrain: 64,
  Rdrain: -64,
  Tping: 65,
  Rping: -65,
  Tdiscarded: 66,
  Rdiscarded: -66,
  Tlease: 67,
  Tinit: 68,
  Rinit: -68,
  Rerr: -128,
  BadTdiscarded: -62,
  BadRerr: 127,
} as const;
const TAG_MSB = 1 << 23;
const TINIT_CHECK = 'tinit check';

interface Frame {
  readonly type: number;
  readonly tag: number;
  readonly body: Buffer;
}

function muxFrame(type: number, tag: number, body: Buffer = EMPTY, declared?: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE((declared ?? 4 + body.length) >>> 0, 0);
  h.writeInt8(type, 4);
  h.writeUIntBE(tag & 0xffffff, 5, 3);
  return Buffer.concat([h, body]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function pairs16(ps: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer {
  return Buffer.concat([u16(ps.length), ...ps.flatMap(([k, v]) => [u16(k.length), k, u16(v.length), v])]);
}

function tdispatch(tag: number, dst: string, body: Buffer, contexts: ReadonlyArray<readonly [Buffer, Buffer]> = []): Buffer {
  const d = Buffer.from(dst);
  return muxFrame(MUX.Tdispatch, tag, Buffer.concat([pairs16(contexts), u16(d.length), d, u16(0), body]));
}

function rdispatchBody(status: number, payload: Buffer, contexts: ReadonlyArray<readonly [Buffer, Buffer]> = []): Buffer {
  return Buffer.concat([Buffer.from([status]), pairs16(contexts), payload]);
}

function initBody(version: number, headers: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer {
  return Buffer.concat([u16(version), ...headers.flatMap(([k, v]) => [u32(k.length), k, u32(v.length), v])]);
}

/** Splits a byte stream into mux frames; throws on a size under 4 or over MAX_FRAME. */
class MuxFrames {
  private buf: Buffer = EMPTY;
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    for (;;) {
      if (this.buf.length < 4) break;
      const size = this.buf.readUInt32BE(0);
      if (size < 4 || size > MAX_FRAME) throw new Error(`a mux frame of size ${size}`);
      if (this.buf.length < 4 + size) break;
      out.push({ type: this.buf.readInt8(4), tag: this.buf.readUIntBE(5, 3), body: this.buf.subarray(8, 4 + size) });
      this.buf = this.buf.subarray(4 + size);
    }
    return out;
  }
}

/** A Tdispatch's destination and body (the upstream's view), undefined when it does not parse. */
function readTdispatch(b: Buffer): { dst: string; body: Buffer } | undefined {
  let p = 0;
  const n16 = (): number => {
    if (p + 2 > b.length) throw new RangeError('short');
    const v = b.readUInt16BE(p);
    p += 2;
    return v;
  };
  try {
    const nc = n16();
    for (let i = 0; i < nc; i++) {
      const k = n16();
      p += k;
      const v = n16();
      p += v;
    }
    const dl = n16();
    const dst = b.toString('utf8', p, p + dl);
    p += dl;
    const nd = n16();
    for (let i = 0; i < nd; i++) {
      const s = n16();
      p += s;
      const d = n16();
      p += d;
    }
    return p > b.length ? undefined : { dst, body: b.subarray(p) };
  } catch {
    return undefined;
  }
}

/** An Rdispatch (or Rreq, `withContexts` false) body: status, and the payload after any contexts. */
function readRstatus(b: Buffer, withContexts: boolean): { status: number; payload: Buffer } | undefined {
  if (b.length < 1) return undefined;
  if (!withContexts) return { status: b[0]!, payload: b.subarray(1) };
  let p = 1;
  if (p + 2 > b.length) return undefined;
  const nc = b.readUInt16BE(p);
  p += 2;
  for (let i = 0; i < nc; i++) {
    for (let j = 0; j < 2; j++) {
      if (p + 2 > b.length) return undefined;
      p += 2 + b.readUInt16BE(p);
    }
  }
  return p > b.length ? undefined : { status: b[0]!, payload: b.subarray(p) };
}

// ---- plans --------------------------------------------------------------------------------------

/** How the upstream answers one call: a behaviour per attempt (later attempts: valid), and a seed for its draws. */
interface Plan {
  readonly steps: readonly string[];
  readonly rnd: number;
  /** thrift: the call is a ONEWAY message. */
  readonly oneway?: boolean;
}

interface Call {
  /** The call's id: the thrift arg, or the mux body. */
  readonly arg: string;
  readonly name: string;
  readonly seqid: number;
  readonly oneway: boolean;
  /** mux: sent as a Treq. */
  readonly treq: boolean;
  readonly dst: string;
}

interface Case {
  readonly kind: Kind;
  readonly i: number;
  readonly phase: 1 | 2;
  readonly calls: readonly Call[];
  /** thrift: all calls written at once; mux: all Tdispatches in one write. */
  readonly pipelined: boolean;
  /** thriftmux: 'mux' or downgraded 'thrift'; mux: 'mux'. */
  readonly wire: 'thrift' | 'mux';
  /** mux wire: offer the Tinit handshake first. */
  readonly handshake: boolean;
}

const plans = new Map<string, Plan>();

const THRIFT_STEPS_VALID = ['valid', 'valid', 'valid', 'validSplit', 'slow', 'exception', 'wrongName', 'garbageEx', 'oddHead'];
const THRIFT_STEPS_HOSTILE = [
  'wrongSeqid',
  'wrongType',
  'garbage',
  'negString',
  'hugeString',
  'truncClose',
  'reset',
  'dupSame',
  'dupLater',
  'unsolicitedBefore',
  'unsolicitedAfter',
  'unsolicitedIdle',
  'deep',
  'badHead',
  'stall',
  'stallMid',
  'late',
  'mutate',
  'mutate',
  'close',
];
const THRIFT_STEPS_FRAMED = ['frameNeg', 'frameHuge', 'frameSmall', 'frameLarge', 'frameBig', 'garbageExRaw'];
const MUX_STEPS_VALID = ['valid', 'valid', 'valid', 'validCtx', 'validFrag', 'slow', 'rreq', 'error', 'nack'];
const MUX_STEPS_HOSTILE = [
  'unknownTag',
  'unknownTag',
  'rerr',
  'rdiscarded',
  'badSize',
  'badType',
  'badRdispatch',
  'fragForever',
  'tping',
  'tdrain',
  'tlease',
  'tdiscarded',
  'tdispatch',
  'treqUp',
  'garbage',
  'truncClose',
  'reset',
  'stall',
  'late',
  'dup',
  'rinitMid',
  'mutate',
  'close',
];
const HANDSHAKES = ['normal', 'normal', 'normal', 'normal', 'normal', 'normal', 'normal', 'legacy', 'badVersion', 'badHeaders', 'rerrTinit', 'drainHs', 'garbage', 'slow', 'close'];
const NAMES = ['get', 'put', 'Users:get', 'ping', 'a.b_c', 'ñame', 'x'.repeat(60)];

function thriftPlan(g: FuzzGen, kind: Kind, hostile: boolean, oneway: boolean): Plan {
  const rnd = g.int(2 ** 31);
  if (oneway) return { steps: [hostile && g.chance(0.5) ? g.pick(['answerOneway', 'garbage', 'close']) : 'none'], rnd, oneway };
  if (!hostile) return { steps: [g.pick(['valid', 'validSplit', 'slow'])], rnd };
  if (g.chance(0.35)) return { steps: [g.pick(THRIFT_STEPS_VALID)], rnd };
  const framed = UPSTREAM_PROTO[kind as Exclude<Kind, 'mux'>].framed;
  const pool = framed ? [...THRIFT_STEPS_HOSTILE, ...THRIFT_STEPS_FRAMED] : THRIFT_STEPS_HOSTILE;
  return { steps: [g.pick(pool)], rnd };
}

function muxPlan(g: FuzzGen, hostile: boolean): Plan {
  const rnd = g.int(2 ** 31);
  // Valid-only cases still get the replies a session goes on after: fragments, pings, leases, strays.
  if (!hostile) return { steps: [g.pick(['valid', 'validCtx', 'validFrag', 'slow', 'tping', 'tlease', 'unknownTag', 'rinitMid'])], rnd };
  const one = (): string => (g.chance(0.35) ? g.pick(MUX_STEPS_VALID) : g.pick(MUX_STEPS_HOSTILE));
  const steps = [one()];
  // A nack is requeued to the same endpoint: the next attempt has a plan of its own.
  while (steps[steps.length - 1] === 'nack' && steps.length < 4) steps.push(one());
  return { steps, rnd };
}

function makeCase(g: FuzzGen, kind: Kind, i: number, phase: 1 | 2): Case {
  const hostile = phase === 2;
  const n = kind === 'mux' || kind === 'tmux' ? 1 + g.int(6) : 1 + g.int(4);
  const wire: 'thrift' | 'mux' = kind === 'mux' ? 'mux' : kind === 'tmux' ? (g.chance(0.3) ? 'thrift' : 'mux') : 'thrift';
  const calls: Call[] = [];
  const seqids = new Set<number>();
  for (let k = 0; k < n; k++) {
    const arg = `${kind}.${phase}.${i}.${k}`;
    let seqid = g.pick([0, 1, k + 1, -1, 0x7fffffff, -0x80000000, g.int(2 ** 32) | 0]);
    while (seqids.has(seqid)) seqid = (seqid + 1) | 0;
    seqids.add(seqid);
    // A downgraded thriftmux connection opens with a CALL (its first frame must read as thrift).
    const oneway = kind !== 'mux' && hostile && g.chance(0.1) && !(wire === 'thrift' && kind === 'tmux' && k === 0);
    const treq = wire === 'mux' && g.chance(0.1);
    calls.push({ arg, name: kind === 'mux' ? '' : g.pick(NAMES), seqid, oneway, treq, dst: g.pick(['', '/x', '/1', '/1/a/b', '/2', '/2/y']) });
    plans.set(arg, kind === 'mux' ? muxPlan(g, hostile) : thriftPlan(g, kind, hostile, oneway));
  }
  return { kind, i, phase, calls, pipelined: g.chance(0.4), wire, handshake: g.chance(0.5) };
}

// ---- upstreams ------------------------------------------------------------------------------------

/** What an upstream wrote for one attempt of a call. */
interface Attempt {
  /** thrift: the seqid the router sent the call with. */
  readonly seqid: number;
  /** The connection it came on, and how many bytes had been written on it before. */
  readonly conn: UpConn;
  readonly start: number;
  readonly bytes: Buffer[];
  /** mux: bodies of the whole RdispatchOk/RreqOk messages sent for the call's tag. */
  readonly okBodies: Buffer[];
}

const attempts = new Map<string, Attempt[]>();
/** What an upstream saw that it should not have (a router forwarding something else than the call). */
const upstreamProblems: string[] = [];
const upSockets = new Set<net.Socket>();
const upServers: net.Server[] = [];
/** Phase 1 and the final calls: no hostile handshakes. */
let hostileHandshakes = false;

function attemptFor(arg: string, seqid: number, conn: UpConn): Attempt {
  const a: Attempt = { seqid, conn, start: conn.logLength, bytes: [], okBodies: [] };
  const list = attempts.get(arg);
  if (list === undefined) attempts.set(arg, [a]);
  else list.push(a);
  return a;
}

type Action = { readonly att: Attempt | undefined; readonly bytes: Buffer; readonly gap: number; readonly partial: boolean } | 'end' | 'destroy' | 'reset';

/**
 * One upstream connection's writes, in order: a reply written in pieces holds back the writes
 * after it (a mux session's frames must not interleave), and after a frame left partial on
 * purpose nothing more is written (it would become that frame's end). Every byte written is
 * logged, each attempt's own bytes too.
 */
class UpConn {
  readonly log: Buffer[] = [];
  logLength = 0;
  private readonly queue: Action[] = [];
  private waiting = false;
  private dead = false;
  constructor(readonly sock: net.Socket) {}
  write(att: Attempt | undefined, b: Buffer, partial = false): void {
    this.push({ att, bytes: b, gap: 0, partial });
  }
  /** Writes `b` in up to three pieces a few ms apart. */
  split(att: Attempt | undefined, b: Buffer, g: FuzzGen): void {
    const cuts = Array.from({ length: 1 + g.int(2) }, () => g.int(b.length + 1)).sort((x, y) => x - y);
    [0, ...cuts, b.length].slice(1).forEach((end, k, ends) => this.push({ att, bytes: b.subarray(k === 0 ? 0 : ends[k - 1]!, end), gap: g.int(12), partial: false }));
  }
  end(): void {
    this.push('end');
  }
  destroy(): void {
    this.push('destroy');
  }
  reset(): void {
    this.push('reset');
  }
  later(ms: number, fn: () => void): void {
    setTimeout(() => {
      if (!this.sock.destroyed) fn();
    }, ms).unref();
  }
  private push(a: Action): void {
    this.queue.push(a);
    if (!this.waiting) this.pump();
  }
  private pump(): void {
    for (let a = this.queue.shift(); a !== undefined; a = this.queue.shift()) {
      const s = this.sock;
      if (s.destroyed) continue;
      if (a === 'end') s.end();
      else if (a === 'destroy') s.destroy();
      // resetAndDestroy() on a socket already ended (here: the router's FIN answered) leaves
      // its handle open and the event loop spinning (Node 20.20); destroy() is what is left.
      else if (a === 'reset' && s.writableEnded) s.destroy();
      else if (a === 'reset') s.resetAndDestroy();
      else if (!this.dead && !s.writableEnded) {
        this.log.push(a.bytes);
        this.logLength += a.bytes.length;
        a.att?.bytes.push(a.bytes);
        s.write(a.bytes);
        if (a.partial) this.dead = true;
        if (a.gap > 0) {
          this.waiting = true;
          this.later(a.gap, () => {
            this.waiting = false;
            this.pump();
          });
          return;
        }
      }
    }
  }
}

async function listen(onConn: (sock: net.Socket, k: number) => void): Promise<number> {
  let k = 0;
  const srv = net.createServer((sock) => {
    upSockets.add(sock);
    sock.on('close', () => upSockets.delete(sock));
    sock.on('error', () => {});
    onConn(sock, k++);
  });
  upServers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return (srv.address() as AddressInfo).port;
}

function thriftUpstream(kind: Exclude<Kind, 'mux'>): Promise<number> {
  const { proto, framed } = UPSTREAM_PROTO[kind];
  return listen((sock) => {
    const c = new UpConn(sock);
    let buf: Buffer = EMPTY;
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        let m: Buffer;
        if (framed) {
          if (buf.length < 4) return;
          const n = buf.readInt32BE(0);
          if (n < 0 || buf.length < 4 + n) return;
          m = buf.subarray(4, 4 + n);
          buf = buf.subarray(4 + n);
        } else {
          let n: number;
          try {
            n = scanMessage(proto, buf);
          } catch (e) {
            upstreamProblems.push(`${kind} upstream: bytes that are not a call: ${(e as Error).message}`);
            sock.destroy();
            return;
          }
          if (n < 0) return;
          m = buf.subarray(0, n);
          buf = buf.subarray(n);
        }
        const h = readHead(proto, m);
        const p = parseWhole(proto, m);
        if (h === undefined || p === undefined || p.text === undefined) {
          upstreamProblems.push(`${kind} upstream: a message that is not a call: ${m.subarray(0, 200).toString('hex')}`);
          sock.destroy();
          return;
        }
        answerThrift(c, kind, proto, framed, h, p.text);
      }
    });
  });
}

/** The plan of a call the upstream got (warm-up and final calls are answered validly). */
function planOf(arg: string, where: string): Plan | undefined {
  const plan = plans.get(arg);
  if (plan === undefined && !arg.startsWith('final.') && !arg.startsWith('warm.')) upstreamProblems.push(`${where}: a call nobody made: ${JSON.stringify(arg.slice(0, 100))}`);
  return plan;
}

function answerThrift(c: UpConn, kind: Kind, proto: Proto, framed: boolean, h: Head, arg: string): void {
  const plan = planOf(arg, `${kind} upstream`);
  const list = attempts.get(arg) ?? [];
  const step = plan?.steps[list.length] ?? 'valid';
  const att = attemptFor(arg, h.seqid, c);
  const g = new FuzzGen(prng((plan?.rnd ?? 1) + list.length));
  const wrap = (m: Buffer): Buffer => (framed ? frame(m) : m);
  const valid = (seqid = h.seqid, name = h.name): Buffer => replyMessage(proto, name, MT.REPLY, seqid, `U:${arg}`);
  const otherSeqid = (): number => (h.seqid ^ (1 << g.int(32))) | 0;
  const w = (b: Buffer, partial = false): void => c.write(att, b, partial);
  if ((plan?.oneway === true) !== (h.type === MT.ONEWAY)) upstreamProblems.push(`${kind} upstream: ${arg} came as type ${h.type}, plan ${step}`);
  switch (step) {
    case 'none':
      return;
    case 'answerOneway':
      return w(wrap(valid()));
    case 'valid':
      return w(wrap(valid()));
    case 'validSplit':
      return c.split(att, wrap(valid()), g);
    case 'slow':
      return c.later(10 + g.int(120), () => w(wrap(valid())));
    case 'oddHead': {
      // Heads a liberal reader takes: binary's old non-strict one, a compact seqid varint of 5 bytes.
      const n = Buffer.from(h.name);
      const text = Buffer.from(`U:${arg}`);
      const seq = Buffer.alloc(4);
      seq.writeInt32BE(h.seqid);
      const v = h.seqid >>> 0;
      const head =
        proto === 'binary'
          ? Buffer.concat([u32(n.length), n, Buffer.from([MT.REPLY]), seq])
          : Buffer.concat([Buffer.from([0x82, (MT.REPLY << 5) | 1, (v & 0x7f) | 0x80, ((v >>> 7) & 0x7f) | 0x80, ((v >>> 14) & 0x7f) | 0x80, ((v >>> 21) & 0x7f) | 0x80, v >>> 28]), Buffer.from(varintBytes(n.length)), n]);
      return w(wrap(Buffer.concat([head, stringField0(proto, text.length), text, Buffer.from([0])])));
    }
    case 'exception':
      return w(wrap(appException(proto, h.name, h.seqid, `E:${arg}`, g.int(8))));
    case 'wrongName':
      return w(wrap(valid(h.seqid, g.pick(['other', `${h.name}x`, '', 'Users:put']))));
    case 'garbageEx':
      return w(wrap(garbageException(proto, h.name, h.seqid, g)));
    case 'garbageExRaw':
      return w(wrap(Buffer.concat([rawHead(proto, h.name, MT.EXCEPTION, h.seqid), g.bytes(g.int(60))])));
    case 'wrongSeqid':
      return w(wrap(valid(g.pick([(h.seqid + 1) | 0, otherSeqid(), g.int(2 ** 32) | 0]))));
    case 'wrongType':
      return w(wrap(Buffer.concat([rawHead(proto, h.name, g.pick([MT.CALL, MT.ONEWAY, 0, 5, 6, 7]), h.seqid), stringField0(proto, 2), Buffer.from('ok\x00')])));
    case 'garbage': {
      const b = g.bytes(1 + g.int(80));
      return w(framed && g.chance(0.5) ? frame(b) : b);
    }
    case 'negString':
      return w(wrap(Buffer.concat([rawHead(proto, h.name, MT.REPLY, h.seqid), stringField0(proto, g.pick([-1, -5, -0x80000000])), g.bytes(g.int(20))])));
    case 'hugeString':
      return w(wrap(Buffer.concat([rawHead(proto, h.name, MT.REPLY, h.seqid), stringField0(proto, g.pick([0x7ffffff0, 17 * 1024 * 1024, 0x10000000])), g.bytes(g.int(100))])));
    case 'frameNeg':
      return w(Buffer.concat([u32(g.pick([0xffffffff, 0x80000000, 0xfffffff0])), valid()]));
    case 'frameHuge':
      return w(Buffer.concat([u32(g.pick([0x7fffffff, 16 * 1024 * 1024 + 1, 0x40000000])), valid()]));
    case 'frameSmall': {
      const m = valid();
      return w(Buffer.concat([u32(g.int(m.length)), m]));
    }
    case 'frameLarge': {
      const m = valid();
      w(Buffer.concat([u32(m.length + 1 + g.int(200)), m]), true);
      if (g.chance(0.6)) c.later(g.int(100), () => c.end());
      return;
    }
    case 'frameBig': {
      // A frame just under the router's limit that never comes whole: a trickle, then nothing.
      w(Buffer.concat([u32(16 * 1024 * 1024 - g.int(1000)), g.bytes(1000)]));
      return c.later(5 + g.int(20), () => w(g.bytes(1000), true));
    }
    case 'truncClose': {
      const b = wrap(valid());
      w(b.subarray(0, g.int(b.length)), true);
      return c.later(g.int(30), () => c.end());
    }
    case 'reset': {
      const b = wrap(valid());
      w(b.subarray(0, g.int(b.length)), true);
      return c.later(g.int(30), () => c.reset());
    }
    case 'dupSame':
      return w(Buffer.concat([wrap(valid()), wrap(valid())]));
    case 'dupLater':
      w(wrap(valid()));
      return c.later(2 + g.int(40), () => w(wrap(valid())));
    case 'unsolicitedBefore':
      return w(Buffer.concat([wrap(valid(otherSeqid(), g.pick(NAMES))), wrap(valid())]));
    case 'unsolicitedAfter':
      return w(Buffer.concat([wrap(valid()), wrap(valid(otherSeqid(), g.pick(NAMES)))]));
    case 'unsolicitedIdle':
      w(wrap(valid()));
      return c.later(10 + g.int(60), () => w(wrap(replyMessage(proto, g.pick(NAMES), g.pick([MT.REPLY, MT.EXCEPTION]), g.int(2 ** 32) | 0, 'nobody asked'))));
    case 'deep':
      return w(wrap(deepReply(proto, h.name, h.seqid, 65 + g.int(120))));
    case 'badHead': {
      const n = Buffer.from(h.name);
      const b =
        proto === 'compact'
          ? g.pick([
              Buffer.from([0x82, 0x41, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]), // a 6-byte seqid varint
              Buffer.from([0x82, 0x41, ...varintBytes(h.seqid), 0xff, 0xff, 0xff, 0xff, 0x7f]), // a name length over 32 bits
              Buffer.from([0x82, 0x42, ...varintBytes(h.seqid), ...varintBytes(n.length), ...n, 0x00]), // version 2
              Buffer.from([0x81, 0x41, ...varintBytes(h.seqid), ...varintBytes(n.length), ...n, 0x00]), // another protocol id
              Buffer.concat([rawHead(proto, h.name, MT.REPLY, h.seqid), Buffer.from([0x0e])]), // an unknown compact type
            ])
          : g.pick([
              Buffer.concat([Buffer.from([0x80, 0x01, 0x00, 0x02]), u32(-5), g.bytes(8)]), // a negative name length
              Buffer.concat([Buffer.from([0x80, 0x02, 0x00, 0x02]), u32(n.length), n, u32(h.seqid), Buffer.from([0])]), // version 2
              Buffer.concat([rawHead(proto, h.name, MT.REPLY, h.seqid), Buffer.from([0x63, 0, 1])]), // an unknown type id
              Buffer.concat([u32(0x7ffffff0), g.bytes(10)]), // an old-style head with a huge name
            ]);
      return w(wrap(b));
    }
    case 'stall':
      return;
    case 'stallMid': {
      const b = wrap(valid());
      return w(b.subarray(0, 1 + g.int(b.length - 1)), true);
    }
    case 'late':
      // After the router gave up: its connection is gone, or the bytes are a reply nobody waits for.
      return c.later(SERVER_TIMEOUT_MS + 50 + g.int(200), () => w(wrap(valid())));
    case 'mutate':
      return w(g.mutate(wrap(valid())));
    case 'close':
      return void (g.chance(0.5) ? c.end() : c.destroy());
    default:
      upstreamProblems.push(`unknown thrift step ${step}`);
  }
}

/** The mux upstream: a handshake plan per connection, a plan per call. */
function muxUpstream(hsPlans: readonly string[], hsSeed: number): Promise<number> {
  return listen((s, k) => {
    const c = new UpConn(s);
    const hs = hostileHandshakes ? hsPlans[k % hsPlans.length]! : 'normal';
    const hg = new FuzzGen(prng(hsSeed + k));
    const frames = new MuxFrames();
    /** Tags the router sent that this side has not answered: the call's id, attempt and plan. */
    const live = new Map<number, { arg: string; att: Attempt; g: FuzzGen; treq: boolean }>();
    let phase: 'start' | 'tinit' | 'open' = 'start';
    s.on('data', (d: Buffer) => {
      let fs: Frame[];
      try {
        fs = frames.push(d);
      } catch (e) {
        upstreamProblems.push(`mux upstream: ${(e as Error).message}`);
        s.destroy();
        return;
      }
      for (const f of fs) {
        if (s.destroyed) return;
        onFrame(f);
      }
    });
    const onFrame = (f: Frame): void => {
      if (phase === 'start') {
        phase = 'open';
        if ((f.type === MUX.BadRerr || f.type === MUX.Rerr) && f.tag === 1 && f.body.toString() === TINIT_CHECK) {
          switch (hs) {
            case 'legacy':
              return c.write(undefined, muxFrame(MUX.BadRerr, 1, Buffer.from('unknown message type')));
            case 'garbage':
              // Then closed: garbage that reads as the start of a large frame would hold the session.
              c.write(undefined, hg.bytes(1 + hg.int(40)));
              return c.later(50, () => s.destroy());
            case 'close':
              return void s.destroy();
            default:
              phase = 'tinit';
              return c.write(undefined, muxFrame(MUX.BadRerr, 1, Buffer.from(TINIT_CHECK)));
          }
        }
      }
      if (phase === 'tinit' && f.type === MUX.Tinit) {
        phase = 'open';
        switch (hs) {
          case 'badVersion':
            return c.write(undefined, muxFrame(MUX.Rinit, f.tag, initBody(hg.pick([0, 2, 0xffff]), [])));
          case 'badHeaders':
            return c.write(undefined, muxFrame(MUX.Rinit, f.tag, Buffer.concat([u16(1), u32(1000), hg.bytes(hg.int(30))])));
          case 'rerrTinit':
            return c.write(undefined, muxFrame(MUX.BadRerr, f.tag, Buffer.from('no Tinit here')));
          case 'drainHs':
            return c.write(undefined, muxFrame(MUX.Tdrain, 1));
          case 'slow':
            return c.later(50 + hg.int(250), () => c.write(undefined, muxFrame(MUX.Rinit, f.tag, initBody(1, []))));
          default:
            return c.write(undefined, muxFrame(MUX.Rinit, f.tag, initBody(1, hg.chance(0.3) ? [[Buffer.from('k'), hg.bytes(hg.int(20))]] : [])));
        }
      }
      switch (f.type) {
        case MUX.Tdispatch: {
          const t = readTdispatch(f.body);
          if (t === undefined) {
            upstreamProblems.push(`mux upstream: a Tdispatch that does not parse: ${f.body.subarray(0, 100).toString('hex')}`);
            return;
          }
          const was = live.get(f.tag);
          if (was !== undefined) upstreamProblems.push(`mux upstream: tag ${f.tag} reused (for ${t.body.toString()}) while ${was.arg} (plan ${plans.get(was.arg)?.steps.join('/')}) is in flight`);
          return answerMux(c, live, f.tag, t.body.toString());
        }
        case MUX.Tdiscarded:
        case MUX.BadTdiscarded: {
          if (f.body.length < 3) return void upstreamProblems.push('mux upstream: a short Tdiscarded');
          const which = f.body.readUIntBE(0, 3);
          const l = live.get(which);
          if (l === undefined) return;
          live.delete(which);
          const r = l.g.int(10);
          // Most acknowledge; some answer late anyway; some say nothing.
          if (r < 6) c.write(l.att, muxFrame(MUX.Rdiscarded, which));
          else if (r < 8) c.write(l.att, muxFrame(l.treq ? MUX.Rreq : MUX.Rdispatch, which, l.treq ? Buffer.from([0, ...Buffer.from('late')]) : rdispatchBody(0, Buffer.from('late'))));
          return;
        }
        case MUX.Tping:
          return c.write(undefined, muxFrame(MUX.Rping, f.tag));
        case MUX.Rping:
        case MUX.Rdrain:
          return;
        default:
          upstreamProblems.push(`mux upstream: an unexpected frame type ${f.type} tag ${f.tag}`);
      }
    };
  });
}

function answerMux(c: UpConn, live: Map<number, { arg: string; att: Attempt; g: FuzzGen; treq: boolean }>, tag: number, arg: string): void {
  const plan = planOf(arg, 'mux upstream');
  const list = attempts.get(arg) ?? [];
  const step = plan?.steps[list.length] ?? 'valid';
  const att = attemptFor(arg, 0, c);
  const g = new FuzzGen(prng((plan?.rnd ?? 1) + list.length));
  const body = Buffer.from(`U:${arg}:${list.length}`);
  const okFrame = (t = tag, b = body, contexts: ReadonlyArray<readonly [Buffer, Buffer]> = []): Buffer => {
    if (t === tag) att.okBodies.push(b);
    return muxFrame(MUX.Rdispatch, t, rdispatchBody(0, b, contexts));
  };
  const w = (b: Buffer, partial = false): void => c.write(att, b, partial);
  const unknownTag = (): number => g.pick([0, 1, 0x7fffff, 0x400000 + g.int(0x3fffff)]);
  live.set(tag, { arg, att, g, treq: false });
  const answered = (): boolean => live.delete(tag);
  switch (step) {
    case 'valid':
      answered();
      return w(okFrame());
    case 'validCtx':
      answered();
      return w(okFrame(tag, body, [[Buffer.from('com.example.k'), g.bytes(g.int(30))], [EMPTY, EMPTY]]));
    case 'validFrag': {
      answered();
      att.okBodies.push(body);
      const whole = rdispatchBody(0, body);
      const cut1 = g.int(whole.length + 1);
      const cut2 = cut1 + g.int(whole.length - cut1 + 1);
      return c.split(att, Buffer.concat([muxFrame(MUX.Rdispatch, tag | TAG_MSB, whole.subarray(0, cut1)), muxFrame(MUX.Rdispatch, tag | TAG_MSB, whole.subarray(cut1, cut2)), muxFrame(MUX.Rdispatch, tag, whole.subarray(cut2))]), g);
    }
    case 'slow':
      return c.later(10 + g.int(120), () => {
        if (answered()) w(okFrame());
      });
    case 'rreq':
      answered();
      att.okBodies.push(body);
      return w(muxFrame(MUX.Rreq, tag, Buffer.concat([Buffer.from([0]), body])));
    case 'error':
      answered();
      return w(muxFrame(MUX.Rdispatch, tag, rdispatchBody(1, Buffer.from(`E:${arg}`))));
    case 'nack':
      answered();
      return w(muxFrame(MUX.Rdispatch, tag, rdispatchBody(2, EMPTY)));
    case 'unknownTag': {
      const junk = Array.from({ length: 1 + g.int(3) }, () => {
        const t = unknownTag();
        return g.pick([okFrame(t, Buffer.from('not yours')), muxFrame(MUX.Rreq, t, Buffer.from([0, 1, 2])), muxFrame(MUX.BadRerr, t, Buffer.from('stray')), muxFrame(MUX.Rdiscarded, t), muxFrame(MUX.Rdispatch, t, rdispatchBody(2, EMPTY))]);
      });
      answered();
      return w(Buffer.concat([...junk, okFrame()]));
    }
    case 'rerr':
      answered();
      return w(muxFrame(g.pick([MUX.BadRerr, MUX.Rerr]), tag, Buffer.from(`R:${arg}`)));
    case 'rdiscarded':
      // The upstream abandons a call the router did not discard.
      answered();
      return w(muxFrame(MUX.Rdiscarded, tag));
    case 'badSize':
      return w(g.pick([muxFrame(MUX.Rdispatch, tag, EMPTY, g.int(4)), muxFrame(MUX.Rdispatch, tag, rdispatchBody(0, body), g.pick([0xffffffff, 0x7fffffff, 16 * 1024 * 1024 + 5]))]));
    case 'badType':
      return w(muxFrame(g.pick([3, 5, 63, 100, -3, -63, -100, 0]), tag, body));
    case 'badRdispatch':
      return w(
        muxFrame(
          MUX.Rdispatch,
          tag,
          g.pick([
            Buffer.concat([Buffer.from([3 + g.int(250)]), u16(0), body]), // an unknown status
            Buffer.concat([Buffer.from([0]), u16(50), u16(3), Buffer.from('abc')]), // more contexts than bytes
            Buffer.concat([Buffer.from([0]), u16(1), u16(1000), body]), // a context key longer than the frame
            EMPTY, // no status
          ]),
        ),
      );
    case 'fragForever': {
      const n = 1 + g.int(4);
      const frags = Array.from({ length: n }, () => muxFrame(MUX.Rdispatch, tag | TAG_MSB, g.bytes(g.int(2000))));
      w(Buffer.concat(frags));
      if (g.chance(0.3)) c.later(100 + g.int(200), () => c.destroy());
      return;
    }
    case 'tping':
      answered();
      return w(Buffer.concat([muxFrame(MUX.Tping, g.pick([1, 2 + g.int(0x7ffff)])), okFrame()]));
    case 'tdrain':
      answered();
      // The router answers Rdrain and sends new calls to a new session; this one's answer still counts.
      return w(Buffer.concat([muxFrame(MUX.Tdrain, 1), okFrame()]));
    case 'tlease':
      answered();
      return w(Buffer.concat([muxFrame(MUX.Tlease, 0, Buffer.concat([Buffer.from([g.int(3)]), g.bytes(8)])), okFrame()]));
    case 'tdiscarded':
      return w(muxFrame(g.pick([MUX.Tdiscarded, MUX.BadTdiscarded]), 0, Buffer.concat([Buffer.from([0, 0, tag & 0xff]), Buffer.from('upstream discards')])));
    case 'tdispatch':
      return w(tdispatch(2 + g.int(100), '/back', Buffer.from('from upstream')));
    case 'treqUp':
      return w(muxFrame(MUX.Treq, 2 + g.int(100), Buffer.from([0, ...Buffer.from('treq')])));
    case 'garbage':
      // Then closed: garbage that reads as the start of a large frame would hold the session
      // until its ping times out (9 s), failing every call meanwhile.
      w(g.bytes(1 + g.int(60)), true);
      return c.later(50 + g.int(100), () => c.destroy());
    case 'truncClose': {
      const b = okFrame();
      w(b.subarray(0, g.int(b.length)), true);
      return c.later(g.int(30), () => c.end());
    }
    case 'reset': {
      const b = okFrame();
      w(b.subarray(0, g.int(b.length)), true);
      return c.later(g.int(30), () => c.reset());
    }
    case 'stall':
      return;
    case 'late':
      return c.later(SERVER_TIMEOUT_MS + 50 + g.int(150), () => {
        // Still unanswered (no Tdiscarded came): the reply nobody waits for any more.
        if (answered()) w(okFrame(tag, Buffer.from('late')));
      });
    case 'dup':
      answered();
      return w(Buffer.concat([okFrame(), okFrame()]));
    case 'rinitMid':
      answered();
      return w(Buffer.concat([muxFrame(MUX.Rinit, 1, initBody(1, [])), muxFrame(MUX.Rdrain, 1), muxFrame(MUX.Rping, 1), okFrame()]));
    case 'mutate': {
      answered();
      const mutated = g.mutate(rdispatchBody(0, body));
      // Only the body is mutated (the frame stays whole): what the router may relay is what it decodes to.
      const r = readRstatus(mutated, true);
      if (r !== undefined && r.status === 0) att.okBodies.push(r.payload);
      return w(muxFrame(MUX.Rdispatch, tag, mutated));
    }
    case 'close':
      return void (g.chance(0.5) ? c.end() : c.destroy());
    default:
      upstreamProblems.push(`unknown mux step ${step}`);
  }
}

// ---- what a client may get back -------------------------------------------------------------------

type Outcome = 'relayed' | 'error' | 'nack' | 'closed';

/**
 * A thrift reply to `call` (its message bytes, unframed), judged against what the upstream sent
 * for it: the outcome, or a failure text.
 */
function judgeThrift(kind: Exclude<Kind, 'mux'>, call: Call, r: Buffer, strict: boolean): Outcome | string {
  const { proto, framed } = UPSTREAM_PROTO[kind];
  const clientProto: Proto = kind === 'tcmp' ? 'compact' : 'binary';
  const h = readHead(clientProto, r);
  if (h === undefined) return `a reply whose head does not parse: ${r.subarray(0, 120).toString('hex')}`;
  if (h.seqid !== call.seqid) return `a reply with seqid ${h.seqid} (${h.name}) to a call with seqid ${call.seqid}`;
  for (const a of attempts.get(call.arg) ?? []) {
    for (const m of relayable(proto, framed, a)) {
      const uh = readHead(proto, m)!;
      if (!r.subarray(0, h.seqidStart).equals(m.subarray(0, uh.seqidStart)) || !r.subarray(h.seqidEnd).equals(m.subarray(uh.seqidEnd))) continue;
      if (strict && (h.type !== MT.REPLY || parseWhole(clientProto, r)?.text !== `U:${call.arg}`)) return `not the valid reply: ${r.toString('hex')}`;
      return 'relayed';
    }
  }
  if (strict) return `the valid reply was not relayed: got ${r.subarray(0, 300).toString('hex')}`;
  if (h.type !== MT.EXCEPTION || h.name !== call.name) return `neither the upstream's reply nor a TApplicationException for ${call.name}: type ${h.type}, name ${JSON.stringify(h.name)}, ${r.subarray(0, 200).toString('hex')}`;
  const p = parseWhole(clientProto, r);
  if (p === undefined || p.text === undefined || p.exType === undefined) return `an EXCEPTION that is not a TApplicationException: ${r.subarray(0, 200).toString('hex')}`;
  // The upstream's texts name their call; this call's own would have been relayed above.
  if (/^[EU]:/.test(p.text)) return `another call's answer: ${JSON.stringify(p.text.slice(0, 100))}`;
  return 'error';
}

/**
 * The messages a router may relay for attempt `a`: its connection's bytes split into messages as
 * the router splits them (from the connection's start: a frame may begin in an earlier call's
 * bytes, or end in bytes a timer wrote later), those ending after the attempt's request came and
 * carrying its seqid, as a REPLY or EXCEPTION.
 */
function relayable(proto: Proto, framed: boolean, a: Attempt): Buffer[] {
  const all = Buffer.concat(a.conn.log);
  const out: Buffer[] = [];
  for (let off = 0; off < all.length; ) {
    let m: Buffer;
    if (framed) {
      if (all.length - off < 4) break;
      const size = all.readInt32BE(off);
      if (size < 0 || all.length - off < 4 + size) break;
      m = all.subarray(off + 4, off + 4 + size);
      off += 4 + size;
    } else {
      let n: number;
      try {
        n = scanMessage(proto, all.subarray(off));
      } catch {
        break;
      }
      if (n < 0) break;
      m = all.subarray(off, off + n);
      off += n;
    }
    if (off <= a.start) continue;
    const uh = readHead(proto, m);
    if (uh !== undefined && uh.seqid === a.seqid && (uh.type === MT.REPLY || uh.type === MT.EXCEPTION)) out.push(m);
  }
  return out;
}

/** A mux router's RdispatchOk/RreqOk body for `call`: one the upstream sent for its tag. */
function judgeMuxBody(call: Call, b: Buffer, strict: boolean): Outcome | string {
  const bodies = (attempts.get(call.arg) ?? []).flatMap((a) => a.okBodies);
  if (!bodies.some((x) => x.equals(b))) return `a body the upstream did not send for ${call.arg}: ${JSON.stringify(b.subarray(0, 100).toString('latin1'))}`;
  if (strict && b.toString() !== `U:${call.arg}:0`) return `not the valid reply: ${JSON.stringify(b.toString('latin1'))}`;
  return 'relayed';
}

// ---- clients ---------------------------------------------------------------------------------------

/** Outcomes by router, plan and outcome (printed with MESHWORK_UPSTREAM_FUZZ_DEBUG=1). */
const byPlan = new Map<string, number>();

function note(c: Case, call: Call, o: Outcome): Outcome {
  const k = `${c.kind} ${plans.get(call.arg)?.steps.join('/') ?? '-'} ${o}`;
  byPlan.set(k, (byPlan.get(k) ?? 0) + 1);
  return o;
}

interface CaseResult {
  readonly outcomes: Outcome[];
  readonly failures: string[];
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Waits for what `take` finds in the bytes received so far, or the close, or `ms`. */
class Inbox<M> {
  private readonly queue: M[] = [];
  private waiter: ((m: M | 'closed' | 'timeout') => void) | undefined;
  closed = false;
  broken: string | undefined;
  extra = 0;
  constructor(
    readonly sock: net.Socket,
    private readonly take: (chunk: Buffer) => M[],
  ) {
    sock.on('data', (d: Buffer) => {
      let ms: M[];
      try {
        ms = this.take(d);
      } catch (e) {
        this.broken ??= (e as Error).message;
        sock.destroy();
        return;
      }
      for (const m of ms) {
        const w = this.waiter;
        this.waiter = undefined;
        if (w !== undefined) w(m);
        else this.queue.push(m);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = undefined;
      w?.('closed');
    });
  }
  next(ms: number): Promise<M | 'closed' | 'timeout'> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.closed) return Promise.resolve('closed');
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve('timeout');
      }, ms);
      this.waiter = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }
  /** Half-closes and waits for the router to close; what arrived meanwhile is left in the queue. */
  async finish(): Promise<string | undefined> {
    if (!this.closed) {
      this.sock.end();
      const ok = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), CLOSE_BOUND_MS);
        this.sock.once('close', () => {
          clearTimeout(t);
          resolve(true);
        });
        if (this.closed) resolve(true);
      });
      if (!ok) {
        this.sock.destroy();
        return `the router did not close the connection ${CLOSE_BOUND_MS} ms after the client half-closed`;
      }
    }
    if (this.queue.length > 0) return `${this.queue.length} answers more than the calls`;
    return this.broken;
  }
}

/** Framed or buffered thrift messages from a byte stream (throws on bytes that cannot be one). */
function thriftSplitter(proto: Proto, framed: boolean): (chunk: Buffer) => Buffer[] {
  let buf: Buffer = EMPTY;
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      if (framed) {
        if (buf.length < 4) break;
        const n = buf.readInt32BE(0);
        if (n < 0 || n > MAX_FRAME) throw new Error(`a frame of size ${n} from the router`);
        if (buf.length < 4 + n) break;
        out.push(buf.subarray(4, 4 + n));
        buf = buf.subarray(4 + n);
      } else {
        let n: number;
        try {
          n = scanMessage(proto, buf);
        } catch (e) {
          throw new Error(`bytes from the router that are not a thrift message: ${(e as Error).message}: ${buf.subarray(0, 100).toString('hex')}`);
        }
        if (n < 0) break;
        out.push(buf.subarray(0, n));
        buf = buf.subarray(n);
      }
    }
    return out;
  };
}

/** A thrift case: calls on one connection, in sequence or pipelined; each answered in order. */
async function runThriftCase(port: number, c: Case, proto: Proto, framed: boolean): Promise<CaseResult> {
  const failures: string[] = [];
  const outcomes: Outcome[] = [];
  const sock = await connect(port);
  const inbox = new Inbox(sock, thriftSplitter(proto, framed));
  const wrap = (m: Buffer): Buffer => (framed ? frame(m) : m);
  const kind = c.kind as Exclude<Kind, 'mux'>;
  try {
    if (c.pipelined) sock.write(Buffer.concat(c.calls.map((x) => wrap(callMessage(proto, x.name, x.seqid, x.arg, x.oneway)))));
    for (const call of c.calls) {
      if (!c.pipelined && !inbox.closed) sock.write(wrap(callMessage(proto, call.name, call.seqid, call.arg, call.oneway)));
      if (call.oneway) continue;
      const r = await inbox.next(CALL_BOUND_MS);
      if (r === 'timeout') {
        failures.push(`${call.arg} (${call.name}, seqid ${call.seqid}): no answer within ${CALL_BOUND_MS} ms`);
        break;
      }
      if (r === 'closed') {
        outcomes.push(note(c, call, 'closed'));
        continue;
      }
      const j = judgeThrift(kind, call, r, c.phase === 1);
      if (typeof j === 'string' && j !== 'relayed' && j !== 'error') failures.push(`${call.arg} (${call.name}, seqid ${call.seqid}, plan ${plans.get(call.arg)?.steps.join('/')}): ${j}`);
      else outcomes.push(note(c, call, j as Outcome));
    }
    const end = await inbox.finish();
    if (end !== undefined) failures.push(end);
  } finally {
    sock.destroy();
  }
  if (c.phase === 1 && outcomes.some((o) => o !== 'relayed')) failures.push(`a valid case got ${outcomes.join(', ')}`);
  return { outcomes, failures };
}

/** A mux case: the calls as Tdispatches (or Treqs) on one session, answered in any order. */
async function runMuxCase(port: number, c: Case, g: FuzzGen): Promise<CaseResult> {
  const failures: string[] = [];
  const outcomes: Outcome[] = [];
  const sock = await connect(port);
  const frames = new MuxFrames();
  const inbox = new Inbox(sock, (d) => frames.push(d));
  const byTag = new Map<number, Call>();
  const answered = new Set<number>();
  try {
    if (c.handshake) {
      sock.write(muxFrame(MUX.BadRerr, 1, Buffer.from(TINIT_CHECK)));
      const echo = await inbox.next(CALL_BOUND_MS);
      if (typeof echo === 'string' || (echo.type !== MUX.BadRerr && echo.type !== MUX.Rerr) || echo.tag !== 1 || echo.body.toString() !== TINIT_CHECK) {
        failures.push(`the router did not echo the Tinit check: ${JSON.stringify(echo)}`);
        return { outcomes, failures };
      }
      sock.write(muxFrame(MUX.Tinit, 1, initBody(1, [])));
      const rinit = await inbox.next(CALL_BOUND_MS);
      if (typeof rinit === 'string' || rinit.type !== MUX.Rinit || rinit.tag !== 1) {
        failures.push(`the router did not answer Tinit with Rinit: ${JSON.stringify(rinit)}`);
        return { outcomes, failures };
      }
    }
    const frameOf = (call: Call, tag: number): Buffer => {
      const body = c.kind === 'mux' ? Buffer.from(call.arg) : callMessage('binary', call.name, call.seqid, call.arg, call.oneway);
      return call.treq ? muxFrame(MUX.Treq, tag, Buffer.concat([Buffer.from([0]), body])) : tdispatch(tag, call.dst, body);
    };
    let last = 1;
    const tags = c.calls.map((call) => {
      last += 1 + g.int(3);
      byTag.set(last, call);
      return last;
    });
    if (c.pipelined) sock.write(Buffer.concat(c.calls.map((call, k) => frameOf(call, tags[k]!))));
    else {
      for (const [k, call] of c.calls.entries()) {
        sock.write(frameOf(call, tags[k]!));
        await new Promise((r) => setTimeout(r, g.int(15)));
      }
    }
    while (answered.size < byTag.size) {
      const f = await inbox.next(CALL_BOUND_MS);
      if (f === 'timeout') {
        const left = [...byTag].filter(([t]) => !answered.has(t)).map(([t, call]) => `${call.arg} (tag ${t}, plan ${plans.get(call.arg)?.steps.join('/')})`);
        failures.push(`no answer within ${CALL_BOUND_MS} ms for ${left.join(', ')}`);
        break;
      }
      if (f === 'closed') {
        for (const [t, x] of byTag) if (!answered.has(t)) outcomes.push(note(c, x, 'closed'));
        break;
      }
      const call = byTag.get(f.tag);
      if (call === undefined) {
        failures.push(`a frame (type ${f.type}) for tag ${f.tag}, which the client did not use: ${f.body.subarray(0, 100).toString('latin1')}`);
        continue;
      }
      if (answered.has(f.tag)) {
        failures.push(`tag ${f.tag} (${call.arg}) answered twice`);
        continue;
      }
      answered.add(f.tag);
      const what = `${call.arg} (tag ${f.tag}, plan ${plans.get(call.arg)?.steps.join('/')})`;
      const wantType = call.treq ? MUX.Rreq : MUX.Rdispatch;
      if (f.type === MUX.Rerr || f.type === MUX.BadRerr) {
        outcomes.push(note(c, call, 'error'));
        continue;
      }
      if (f.type !== wantType) {
        failures.push(`${what}: answered with type ${f.type}`);
        continue;
      }
      const r = readRstatus(f.body, !call.treq);
      if (r === undefined || r.status > 2) {
        failures.push(`${what}: an answer that does not parse: ${f.body.subarray(0, 100).toString('hex')}`);
        continue;
      }
      if (r.status !== 0) {
        if (c.phase === 1) failures.push(`${what}: a valid call failed: ${r.payload.toString()}`);
        // The mux upstream's error texts name their call; the router passes them on as they are.
        const text = r.payload.toString();
        if (r.status === 1 && /^[ER]:/.test(text) && text.slice(2) !== call.arg) {
          failures.push(`${what}: another call's error: ${JSON.stringify(text.slice(0, 100))}`);
          continue;
        }
        outcomes.push(note(c, call, r.status === 1 ? 'error' : 'nack'));
        continue;
      }
      let j: Outcome | string;
      if (c.kind === 'mux') j = judgeMuxBody(call, r.payload, c.phase === 1);
      else if (call.oneway) j = r.payload.length === 0 ? 'relayed' : `a ONEWAY call answered with ${r.payload.length} bytes`;
      else if (r.payload.length === 0) j = 'an empty answer to a call';
      else j = judgeThrift('tmux', call, r.payload, c.phase === 1);
      if (j === 'relayed' || j === 'error') outcomes.push(note(c, call, j));
      else failures.push(`${what}: ${j}`);
    }
    const end = await inbox.finish();
    if (end !== undefined) failures.push(end);
  } finally {
    sock.destroy();
  }
  if (c.phase === 1 && outcomes.some((o) => o !== 'relayed')) failures.push(`a valid case got ${outcomes.join(', ')}`);
  return { outcomes, failures };
}

function runCase(c: Case, g: FuzzGen): Promise<CaseResult> {
  const port = ports[c.kind];
  if (c.kind === 'mux' || c.wire === 'mux') return runMuxCase(port, c, g);
  return runThriftCase(port, c, c.kind === 'tcmp' ? 'compact' : 'binary', c.kind !== 'tcmp');
}

// ---- the process -----------------------------------------------------------------------------------

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]);
}

const seed = (process.env['MESHWORK_UPSTREAM_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_UPSTREAM_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
let lk: ReadyProcess;
let configFile = '';
const ports: Record<Kind, number> = { thr: 0, tcmp: 0, tmux: 0, mux: 0 };

before(async () => {
  const hg = new FuzzGen(prng(seed ^ 0x4a5));
  const hsPlans = Array.from({ length: 500 }, () => hg.pick(HANDSHAKES));
  const up: Record<Kind, number> = {
    thr: await thriftUpstream('thr'),
    tcmp: await thriftUpstream('tcmp'),
    tmux: await thriftUpstream('tmux'),
    mux: await muxUpstream(hsPlans, seed),
  };
  // Three mux endpoints (the destination picks one): a session a hostile reply kills takes a
  // third of the calls under way with it, not all.
  const mux1 = await muxUpstream(hsPlans.slice(100), seed + 1000);
  const mux2 = await muxUpstream(hsPlans.slice(200), seed + 2000);
  const inet = (k: Kind): string => `/$/inet/127.0.0.1/${up[k]}`;
  // No failure accrual: a hostile upstream must not take its only endpoint out of the later cases.
  const file = (configFile = linkerdYaml(`
admin:
  ip: 127.0.0.1
  port: 0
routers:
- protocol: thrift
  label: uthr
  dtab: /svc => ${inet('thr')}
  client:
    failureAccrual: {kind: none}
    hostConnectionPool: {maxSize: 6}
  servers:
  - port: 0
    timeoutMs: ${SERVER_TIMEOUT_MS}
- protocol: thrift
  label: ucmp
  thriftProtocol: compact
  dtab: /svc => ${inet('tcmp')}
  client:
    thriftFramed: false
    failureAccrual: {kind: none}
  servers:
  - port: 0
    thriftFramed: false
    timeoutMs: ${SERVER_TIMEOUT_MS}
- protocol: thriftmux
  label: utmux
  experimental: true
  dtab: /svc => ${inet('tmux')}
  client:
    failureAccrual: {kind: none}
  servers:
  - port: 0
    timeoutMs: ${SERVER_TIMEOUT_MS}
- protocol: mux
  label: umux
  dtab: |
    /svc => ${inet('mux')};
    /svc/1 => /$/inet/127.0.0.1/${mux1};
    /svc/2 => /$/inet/127.0.0.1/${mux2};
  client:
    failureAccrual: {kind: none}
  servers:
  - port: 0
    timeoutMs: ${SERVER_TIMEOUT_MS}
`));
  const labels: Record<Kind, string> = { thr: 'uthr', tcmp: 'ucmp', tmux: 'utmux', mux: 'umux' };
  const ready = new RegExp(`${Object.values(labels).map((l) => `(?=[\\s\\S]*^listening ${l} 127\\.0\\.0\\.1:\\d+$)`).join('')}(?=[\\s\\S]*^admin listening on )`, 'm');
  lk = await spawnReady(process.execPath, [BIN, 'linkerd', file], ready, 15_000);
  for (const k of KINDS) ports[k] = Number(new RegExp(`^listening ${labels[k]} 127\\.0\\.0\\.1:(\\d+)$`, 'm').exec(lk.output())![1]);
});

after(async () => {
  await lk?.stop(2000);
  for (const s of upSockets) s.destroy();
  await Promise.all(upServers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  if (configFile !== '') rmSync(dirname(configFile), { recursive: true, force: true });
});

/** One valid call per router, checked exactly (arg prefix `final.`/`warm.`: answered validly). */
async function validCall(kind: Kind, arg: string): Promise<string | undefined> {
  const call: Call = { arg, name: 'get', seqid: 77, oneway: false, treq: false, dst: '/v' };
  const c: Case = { kind, i: -1, phase: 1, calls: [call], pipelined: false, wire: kind === 'mux' || kind === 'tmux' ? 'mux' : 'thrift', handshake: true };
  const r = await runCase(c, new FuzzGen(prng(1)));
  return r.failures.length === 0 ? undefined : r.failures.join('; ');
}

test('upstream fuzz: thrift (framed binary, buffered compact), thriftmux and mux routers survive hostile upstream replies', { timeout: 60_000 }, async (t) => {
  t.diagnostic(`upstream fuzz seed ${seed} (replay: MESHWORK_UPSTREAM_FUZZ_SEED=${seed})`);
  console.log(`upstream-fuzz: seed ${seed} (replay: MESHWORK_UPSTREAM_FUZZ_SEED=${seed})`);
  const g = new FuzzGen(prng(seed));
  const valid: Case[] = [];
  const fuzz: Case[] = [];
  for (const kind of KINDS) {
    for (let i = 0; i < VALID_CASES; i++) valid.push(makeCase(g, kind, i, 1));
    for (let i = 0; i < CASES[kind]; i++) fuzz.push(makeCase(g, kind, i, 2));
  }
  // Routers interleaved, in a seeded order.
  for (let k = fuzz.length - 1; k > 0; k--) {
    const j = g.int(k + 1);
    [fuzz[k], fuzz[j]] = [fuzz[j]!, fuzz[k]!];
  }
  const only = (process.env['MESHWORK_UPSTREAM_FUZZ_ONLY'] ?? '').split(',').filter((x) => x !== '');
  if (only.length > 0) fuzz.splice(0, fuzz.length, ...fuzz.filter((c) => only.includes(`${c.kind}:${c.i}`)));

  const failures: string[] = [];
  const record = (c: Case, r: CaseResult): void => {
    for (const f of r.failures) failures.push(`${c.kind} case ${c.i} (phase ${c.phase}, ${c.wire}${c.pipelined ? ', pipelined' : ''}): ${f}`);
  };
  const timing = new FuzzGen(prng(seed ^ 0x7157));

  // Warm-up, then the baseline RSS.
  for (const k of KINDS) assert.equal(await validCall(k, `warm.${k}`), undefined, `warm-up call to ${k}`);
  const pid = lk.child.pid!;
  const rssBefore = rssKb(pid);
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKb(pid))), 200);
  const t0 = Date.now();
  const tally = new Map<string, number>();
  let ran = 0;
  try {
    // Phase 1: valid replies only, all relayed exactly.
    await Promise.all(valid.map(async (c) => record(c, await runCase(c, new FuzzGen(prng(timing.int(2 ** 31)))))));
    // Phase 2: valid and hostile replies.
    hostileHandshakes = true;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < fuzz.length && Date.now() - t0 < FUZZ_MS) {
        const c = fuzz[next++]!;
        const r = await runCase(c, new FuzzGen(prng(timing.int(2 ** 31))));
        record(c, r);
        for (const o of r.outcomes) tally.set(`${c.kind} ${o}`, (tally.get(`${c.kind} ${o}`) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    ran = next;
    // All run in about half the time on an idle machine; a loaded one (test files run two at
    // once) gets what fits, and at least a third.
    assert.ok(ran >= fuzz.length / 3, `only ${ran} of ${fuzz.length} cases ran in ${FUZZ_MS} ms`);
  } finally {
    clearInterval(sampler);
    hostileHandshakes = false;
  }
  const elapsed = Date.now() - t0;

  // After the fuzz: up, and each router answers a valid call with the upstream's exact answer.
  // Calls still under way (stalls) have been given up on by then.
  await new Promise((r) => setTimeout(r, SERVER_TIMEOUT_MS));
  assert.equal(lk.child.exitCode, null, 'the process exited');
  for (const k of KINDS) {
    const why = await validCall(k, `final.${k}`);
    if (why !== undefined) failures.push(`${k}: the final valid call: ${why}`);
  }
  if (ports.tmux !== 0) {
    // A downgraded thrift client of the thriftmux router too.
    const call: Call = { arg: 'final.tmux.thrift', name: 'get', seqid: 78, oneway: false, treq: false, dst: '' };
    const r = await runCase({ kind: 'tmux', i: -1, phase: 1, calls: [call], pipelined: false, wire: 'thrift', handshake: false }, new FuzzGen(prng(2)));
    for (const f of r.failures) failures.push(`tmux: the final downgraded call: ${f}`);
  }
  const rssAfter = rssKb(pid);
  const summary = [...tally].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k} ${v}`).join(', ');
  const line = `upstream-fuzz: seed ${seed}, ${valid.length} valid + ${ran} of ${fuzz.length} fuzz cases in ${elapsed} ms; ${summary}; RSS ${Math.round(rssBefore / 1024)} MB -> peak ${Math.round(peakRss / 1024)} MB -> ${Math.round(rssAfter / 1024)} MB`;
  t.diagnostic(line);
  console.log(line);
  if (process.env['MESHWORK_UPSTREAM_FUZZ_DEBUG'] === '1') for (const k of [...byPlan.keys()].sort()) console.log(`upstream-fuzz outcome: ${k} ${byPlan.get(k)}`);
  for (const f of [...failures, ...upstreamProblems]) console.log(`upstream-fuzz failure: ${f.slice(0, 400)}`);
  assert.deepEqual(upstreamProblems.slice(0, 20), [], `${upstreamProblems.length} problems seen by the upstreams (seed ${seed})`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed})`);
  assert.equal(lk.child.exitCode, null, 'the process exited');
  assert.doesNotMatch(lk.output(), /TypeError|RangeError|ReferenceError|SyntaxError|Uncaught|unhandled|FATAL/i);
  assert.ok(peakRss > 0 && peakRss < RSS_LIMIT_KB, `RSS peaked at ${peakRss} kB (from ${rssBefore} kB)`);
});

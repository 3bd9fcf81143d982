/**
 * Thrift peers for router tests, built on the `thrift` package's own protocols and transports
 * (not on src/protocol/thrift), so the router is checked against an independent codec:
 * - `thriftUpstream`: a server answering each CALL `name(1: string arg)` with a REPLY whose
 *   field 0 is `<label>:<name>:<arg>`; `slow` waits 2 s, other names ending in `slow` 0.5 s;
 *   ONEWAY messages are only recorded.
 *   With `ttwitter`, it accepts Finagle's upgrade and records each RequestHeader's dest and
 *   delegations (`header`) and its trace fields (`trace`, as hex).
 * - `ThriftCaller`: one client connection sending such calls and reading replies (or
 *   TApplicationExceptions).
 */
import { createRequire } from 'node:module';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type * as ThriftLib from 'thrift';

const req = createRequire(import.meta.url);
const LIB = 'thrift/lib/nodejs/lib/thrift/';
const T = (req(`${LIB}thrift.js`) as typeof ThriftLib.Thrift).Type;
const MT = (req(`${LIB}thrift.js`) as typeof ThriftLib.Thrift).MessageType;
const TBinaryProtocol = req(`${LIB}binary_protocol.js`) as typeof ThriftLib.TBinaryProtocol;
const TCompactProtocol = req(`${LIB}compact_protocol.js`) as typeof ThriftLib.TCompactProtocol;
const TBufferedTransport = req(`${LIB}buffered_transport.js`) as typeof ThriftLib.TBufferedTransport;
const TFramedTransport = req(`${LIB}framed_transport.js`) as typeof ThriftLib.TFramedTransport;
const InputBufferUnderrunError = req(`${LIB}input_buffer_underrun_error.js`) as new () => Error;
/** The thrift package's i64 value (node-int64): 8 big-endian bytes. */
const Int64 = req('node-int64') as new (b: Buffer) => { buffer: Buffer; toOctetString(): string };

export type Proto = 'binary' | 'compact';
type P = ThriftLib.TProtocol;

export const CAN_TRACE = '__can__finagle__trace__v3__';

/** A thrift-package protocol of `proto` over a transport. */
export function protocol(proto: Proto, trans: unknown): P {
  return (proto === 'binary' ? new TBinaryProtocol(trans as never, false, true) : new TCompactProtocol(trans as never)) as unknown as P;
}

/** One message's bytes (unframed): head, then whatever `body` writes inside the struct. */
export function message(proto: Proto, name: string, type: number, seqid: number, body: (p: P) => void): Buffer {
  let out: Buffer = Buffer.alloc(0);
  const trans = new TBufferedTransport(undefined, (m?: Buffer) => {
    if (m) out = m;
  });
  const p = protocol(proto, trans);
  p.writeMessageBegin(name, type as never, seqid);
  p.writeStructBegin('args');
  body(p);
  p.writeFieldStop();
  p.writeStructEnd();
  p.writeMessageEnd();
  p.flush();
  return out;
}

/** A CALL `name` with field 1 = arg (or a ONEWAY with `oneway`). */
export function callMessage(proto: Proto, name: string, seqid: number, arg: string, oneway = false): Buffer {
  return message(proto, name, oneway ? MT.ONEWAY : MT.CALL, seqid, (p) => {
    p.writeFieldBegin('arg', T.STRING, 1);
    p.writeString(arg);
    p.writeFieldEnd();
  });
}

export function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

/** A struct's bytes alone (TTwitter headers precede messages). */
function struct(proto: Proto, body: (p: P) => void): Buffer {
  let out: Buffer = Buffer.alloc(0);
  const trans = new TBufferedTransport(undefined, (m?: Buffer) => {
    if (m) out = m;
  });
  const p = protocol(proto, trans);
  p.writeStructBegin('s');
  body(p);
  p.writeFieldStop();
  p.writeStructEnd();
  p.flush();
  return out;
}

/** A RequestHeader's trace fields, i64s as 16 hex digits; absent: not written. */
export interface HeaderTrace {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  sampled?: boolean;
  flags?: string;
  traceIdHigh?: string;
}

/**
 * A TTwitter RequestHeader with trace ids (by default trace 7, span 8; `trace` gives others and
 * the optional fields) and the given dest and delegations (Finagle's field ids).
 */
export function requestHeader(proto: Proto, dest: string | undefined, delegations: [string, string][], trace?: HeaderTrace): Buffer {
  const i64 = (p: P, name: string, id: number, v: string | number): void => {
    p.writeFieldBegin(name, T.I64, id);
    p.writeI64((typeof v === 'number' ? v : new Int64(Buffer.from(v, 'hex'))) as never);
    p.writeFieldEnd();
  };
  return struct(proto, (p) => {
    i64(p, 'trace_id', 1, trace?.traceId ?? 7);
    i64(p, 'span_id', 2, trace?.spanId ?? 8);
    if (trace?.parentSpanId !== undefined) i64(p, 'parent_span_id', 3, trace.parentSpanId);
    if (trace?.sampled !== undefined) {
      p.writeFieldBegin('sampled', T.BOOL, 5);
      p.writeBool(trace.sampled);
      p.writeFieldEnd();
    }
    if (trace?.flags !== undefined) i64(p, 'flags', 7, trace.flags);
    if (dest !== undefined) {
      p.writeFieldBegin('dest', T.STRING, 9);
      p.writeString(dest);
      p.writeFieldEnd();
    }
    if (delegations.length > 0) {
      p.writeFieldBegin('delegations', T.LIST, 10);
      p.writeListBegin(T.STRUCT, delegations.length);
      for (const [src, dst] of delegations) {
        p.writeStructBegin('Delegation');
        p.writeFieldBegin('src', T.STRING, 1);
        p.writeString(src);
        p.writeFieldEnd();
        p.writeFieldBegin('dst', T.STRING, 2);
        p.writeString(dst);
        p.writeFieldEnd();
        p.writeFieldStop();
        p.writeStructEnd();
      }
      p.writeListEnd();
      p.writeFieldEnd();
    }
    if (trace?.traceIdHigh !== undefined) i64(p, 'trace_id_high', 11, trace.traceIdHigh);
  });
}

export interface Parsed {
  name: string;
  type: number;
  seqid: number;
  /** Field 0 (a REPLY's result) or field 1 (a CALL's arg, a TApplicationException's message). */
  text: string | undefined;
  /** A TApplicationException's type (field 2). */
  exType: number | undefined;
  /** Before the message on an upgraded connection: the RequestHeader's dest and delegations. */
  header?: { dest: string | undefined; delegations: [string, string][] };
  /** And its trace fields. */
  trace?: HeaderTrace;
}

const I64_FIELDS: Record<number, keyof HeaderTrace> = { 1: 'traceId', 2: 'spanId', 3: 'parentSpanId', 7: 'flags', 11: 'traceIdHigh' };

function readHeaderStruct(p: P): { header: { dest: string | undefined; delegations: [string, string][] }; trace: HeaderTrace } {
  let dest: string | undefined;
  const delegations: [string, string][] = [];
  const trace: HeaderTrace = {};
  p.readStructBegin();
  for (;;) {
    const f = p.readFieldBegin();
    if (f.ftype === T.STOP) break;
    const i64 = I64_FIELDS[f.fid];
    if (i64 !== undefined && f.ftype === T.I64) (trace as Record<string, string>)[i64] = (p.readI64() as unknown as { toOctetString(): string }).toOctetString();
    else if (f.fid === 5 && f.ftype === T.BOOL) trace.sampled = p.readBool();
    else if (f.fid === 9 && f.ftype === T.STRING) dest = p.readString();
    else if (f.fid === 10 && f.ftype === T.LIST) {
      const l = p.readListBegin();
      for (let i = 0; i < l.size; i++) {
        let src = '';
        let dst = '';
        p.readStructBegin();
        for (;;) {
          const g = p.readFieldBegin();
          if (g.ftype === T.STOP) break;
          if (g.fid === 1) src = p.readString();
          else if (g.fid === 2) dst = p.readString();
          else p.skip(g.ftype);
          p.readFieldEnd();
        }
        p.readStructEnd();
        delegations.push([src, dst]);
      }
      p.readListEnd();
    } else p.skip(f.ftype);
    p.readFieldEnd();
  }
  p.readStructEnd();
  return { header: { dest, delegations }, trace };
}

/** One message from `p`; `withHeader`: a TTwitter RequestHeader or ResponseHeader comes first. */
export function readOne(p: P, withHeader: 'request' | 'response' | undefined): Parsed {
  let header: Parsed['header'];
  let trace: HeaderTrace | undefined;
  if (withHeader === 'request') ({ header, trace } = readHeaderStruct(p));
  else if (withHeader === 'response') p.skip(T.STRUCT);
  const m = p.readMessageBegin();
  let text: string | undefined;
  let exType: number | undefined;
  p.readStructBegin();
  for (;;) {
    const f = p.readFieldBegin();
    if (f.ftype === T.STOP) break;
    if ((f.fid === 0 || f.fid === 1) && f.ftype === T.STRING) text = p.readString();
    else if (f.fid === 2 && f.ftype === T.I32) exType = p.readI32();
    else p.skip(f.ftype);
    p.readFieldEnd();
  }
  p.readStructEnd();
  p.readMessageEnd();
  return { name: m.fname, type: m.mtype, seqid: m.rseqid, text, exType, ...(header !== undefined ? { header } : {}), ...(trace !== undefined ? { trace } : {}) };
}

/** One whole message (unframed, no TTwitter header), read with the thrift package. */
export function parseMessage(proto: Proto, msg: Buffer): Parsed {
  let out: Parsed | undefined;
  (TFramedTransport.receiver as unknown as (cb: (t: unknown) => void) => (d: Buffer) => void)((trans: unknown) => {
    out = readOne(protocol(proto, trans), undefined);
  })(frame(msg));
  if (out === undefined) throw new Error('no message');
  return out;
}

/** Calls `onMessage` with each whole message read from the byte stream fed to the returned function. */
function reader(proto: Proto, framed: boolean, headerOf: () => 'request' | 'response' | undefined, onMessage: (m: Parsed) => void): (data: Buffer) => void {
  if (framed) {
    return (TFramedTransport.receiver as unknown as (cb: (t: unknown) => void) => (d: Buffer) => void)((trans: unknown) => {
      onMessage(readOne(protocol(proto, trans), headerOf()));
    }) as (data: Buffer) => void;
  }
  return (TBufferedTransport.receiver as unknown as (cb: (t: unknown) => void) => (d: Buffer) => void)((trans: unknown) => {
    const t = trans as { readCursor: number; writeCursor: number; commitPosition(): void; rollbackPosition(): void };
    while (t.writeCursor > t.readCursor) {
      let m: Parsed;
      try {
        m = readOne(protocol(proto, trans), headerOf());
      } catch (e) {
        if (e instanceof InputBufferUnderrunError) {
          t.rollbackPosition();
          return;
        }
        throw e;
      }
      t.commitPosition();
      onMessage(m);
    }
  }) as (data: Buffer) => void;
}

export interface ThriftUpstream {
  readonly port: number;
  /** Every request message received, in order (upgrade calls included). */
  readonly seen: Parsed[];
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * `answerOneway`: answer ONEWAY messages too (a misbehaving server); a name ending in `badseq`
 * is answered with the wrong seqid.
 */
export async function thriftUpstream(label: string, opts: { proto?: Proto; framed?: boolean; ttwitter?: boolean; port?: number; answerOneway?: boolean } = {}): Promise<ThriftUpstream> {
  const proto = opts.proto ?? 'binary';
  const framed = opts.framed ?? true;
  const seen: Parsed[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let upgraded = false;
    const send = (msg: Buffer): void => {
      const bytes = upgraded ? Buffer.concat([struct(proto, () => {}), msg]) : msg;
      sock.write(framed ? frame(bytes) : bytes);
    };
    const feed = reader(proto, framed, () => (upgraded ? 'request' : undefined), (m) => {
      seen.push(m);
      if (m.type === MT.ONEWAY && !opts.answerOneway) return;
      if (m.name === CAN_TRACE && !upgraded) {
        if (opts.ttwitter) {
          sock.write(framed ? frame(message(proto, CAN_TRACE, MT.REPLY, m.seqid, () => {})) : message(proto, CAN_TRACE, MT.REPLY, m.seqid, () => {}));
          upgraded = true;
        } else {
          const ex = message(proto, CAN_TRACE, MT.EXCEPTION, m.seqid, (p) => {
            p.writeFieldBegin('message', T.STRING, 1);
            p.writeString('Invalid method name');
            p.writeFieldEnd();
            p.writeFieldBegin('type', T.I32, 2);
            p.writeI32(1);
            p.writeFieldEnd();
          });
          sock.write(framed ? frame(ex) : ex);
        }
        return;
      }
      const reply = message(proto, m.name, MT.REPLY, m.name.endsWith('badseq') ? m.seqid + 1 : m.seqid, (p) => {
        p.writeFieldBegin('success', T.STRING, 0);
        p.writeString(`${label}:${m.name}:${m.text ?? ''}`);
        p.writeFieldEnd();
      });
      if (m.name.endsWith('slow')) setTimeout(() => send(reply), m.name === 'slow' ? 2000 : 500).unref();
      else send(reply);
    });
    sock.on('data', (d: Buffer) => {
      try {
        feed(d);
      } catch {
        sock.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** One client connection to a thrift router. */
export class ThriftCaller {
  private readonly replies: Parsed[] = [];
  private waiters: Array<(m: Parsed) => void> = [];
  private upgraded = false;
  closed = false;

  private constructor(
    private readonly sock: net.Socket,
    private readonly proto: Proto,
    private readonly framed: boolean,
  ) {
    const feed = reader(proto, framed, () => (this.upgraded ? 'response' : undefined), (m) => {
      const w = this.waiters.shift();
      if (w) w(m);
      else this.replies.push(m);
    });
    sock.on('data', (d: Buffer) => feed(d));
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => {});
  }

  static async connect(port: number, opts: { proto?: Proto; framed?: boolean } = {}): Promise<ThriftCaller> {
    const sock = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    return new ThriftCaller(sock, opts.proto ?? 'binary', opts.framed ?? true);
  }

  /** Sends raw bytes (already framed if the connection is framed). */
  write(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  /** Sends one message (with a TTwitter header first when given) and waits for the next reply. */
  call(msg: Buffer, header?: Buffer, timeoutMs = 5000): Promise<Parsed> {
    const body = header === undefined ? msg : Buffer.concat([header, msg]);
    this.sock.write(this.framed ? frame(body) : body);
    return this.next(timeoutMs);
  }

  send(msg: Buffer): void {
    this.sock.write(this.framed ? frame(msg) : msg);
  }

  next(timeoutMs = 5000): Promise<Parsed> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: Parsed): void => {
        clearTimeout(t);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }

  /** Offers the TTwitter upgrade; true when the router accepted it. */
  async upgrade(): Promise<boolean> {
    const r = await this.call(message(this.proto, CAN_TRACE, MT.CALL, 0, () => {}));
    this.upgraded = r.type === MT.REPLY;
    return this.upgraded;
  }

  close(): void {
    this.sock.destroy();
  }
}

export const MessageTypes = { CALL: MT.CALL, REPLY: MT.REPLY, EXCEPTION: MT.EXCEPTION, ONEWAY: MT.ONEWAY } as const;

/**
 * The namer.thrift codec: Namer service messages (types.ts) to and from TBinaryProtocol bytes,
 * using the `thrift` package's TBinaryProtocol for the primitives and hand-written encoders and
 * decoders for every struct, union and exception of the IDL (Linkerd's
 * namerd/iface/interpreter-thrift-idl namer.thrift).
 *
 * Writes strict headers (0x80010000 | type), as Finagle's default protocol factory does; reads
 * strict and old non-strict headers. Decoding skips unknown fields (forward compatibility),
 * leaves absent optional fields out, gives absent plain fields empty values, and turns any
 * truncated or malformed input into a ThriftCodecError. Bytes are unframed: one message each.
 */
import { createRequire } from 'node:module';
import type * as ThriftLib from 'thrift';
import { ThriftApplicationError, ThriftCodecError, type ThriftCodecErrorCode } from './errors.js';
import type {
  AddrFailure,
  AddrMeta,
  AddrReq,
  AddrT,
  AddrVal,
  BindFailure,
  BindReq,
  Bound,
  BoundAddr,
  BoundNameT,
  BoundNode,
  BoundTreeT,
  DelegateContents,
  DelegateNodeT,
  DelegateReq,
  DelegateTreeT,
  Delegation,
  DelegationFailure,
  DtabFailure,
  DtabRef,
  DtabReq,
  NameRef,
  NamerCall,
  NamerMethod,
  NamerMethods,
  NamerReply,
  TPath,
  TransformationT,
  TransportAddress,
  WeightedNodeId,
} from './types.js';

export { ThriftApplicationError, ThriftCodecError } from './errors.js';
export type { ThriftCodecErrorCode } from './errors.js';

/**
 * Only the binary protocol and its two buffer transports of the `thrift` package: its index also
 * loads the package's socket, HTTP, WebSocket and server modules, ~3.5 MB of RSS a router
 * following namerd never uses.
 */
const requireThrift = createRequire(import.meta.url);
const LIB = 'thrift/lib/nodejs/lib/thrift/';
const thrift = {
  Thrift: requireThrift(`${LIB}thrift.js`) as typeof ThriftLib.Thrift,
  TBinaryProtocol: requireThrift(`${LIB}binary_protocol.js`) as typeof ThriftLib.TBinaryProtocol,
  TBufferedTransport: requireThrift(`${LIB}buffered_transport.js`) as typeof ThriftLib.TBufferedTransport,
  TFramedTransport: requireThrift(`${LIB}framed_transport.js`) as typeof ThriftLib.TFramedTransport,
};

type TType = ThriftLib.Thrift.Type;
const T = thrift.Thrift.Type;
const MT = thrift.Thrift.MessageType;
const T_UUID = 16;

/** Nesting allowed when skipping unknown values; the IDL's own structs nest far less. */
const MAX_SKIP_DEPTH = 64;
const EMPTY: Buffer = Buffer.alloc(0);
const EMPTY_NAME_REF: NameRef = { stamp: EMPTY, name: [], ns: '' };

function encodeError(message: string): ThriftCodecError {
  return new ThriftCodecError('MESH_ERR_THRIFT_ENCODE', message);
}

function decodeError(message: string, code: ThriftCodecErrorCode = 'MESH_ERR_THRIFT_DECODE'): ThriftCodecError {
  return new ThriftCodecError(code, message);
}

// ---------------------------------------------------------------------------------------------
// Writing

class Writer {
  private out: Buffer = EMPTY;
  readonly p: ThriftLib.TBinaryProtocol;

  constructor() {
    const trans = new thrift.TBufferedTransport(undefined, (msg) => {
      if (msg) this.out = msg;
    });
    this.p = new thrift.TBinaryProtocol(trans, false, true);
  }

  finish(): Buffer {
    this.p.writeMessageEnd();
    this.p.flush();
    return this.out;
  }

  field(id: number, type: TType): void {
    this.p.writeFieldBegin('', type, id);
  }

  bytes(v: Uint8Array, what: string): void {
    if (!(v instanceof Uint8Array)) throw encodeError(`${what} must be bytes`);
    this.p.writeBinary(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }

  string(v: string, what: string): void {
    if (typeof v !== 'string') throw encodeError(`${what} must be a string`);
    this.p.writeString(v);
  }

  i32(v: number, what: string): void {
    if (!isI32(v)) throw encodeError(`${what} must be a 32-bit integer, got ${String(v)}`);
    this.p.writeI32(v);
  }

  /**
   * Writes the IEEE 754 bytes with Buffer rather than TBinaryProtocol.writeDouble: thrift
   * 0.24.0's writeDouble halves some powers of two (2^-29 is written as 2^-30).
   */
  double(v: number, what: string): void {
    if (typeof v !== 'number') throw encodeError(`${what} must be a number`);
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(v, 0);
    this.p.getTransport().write(b);
  }

  path(v: TPath, what: string): void {
    if (!Array.isArray(v)) throw encodeError(`${what} must be an array of path elements`);
    this.p.writeListBegin(T.STRING, v.length);
    for (const e of v) this.bytes(e, `${what} element`);
  }

  i32List(v: readonly number[], what: string): void {
    if (!Array.isArray(v)) throw encodeError(`${what} must be an array`);
    this.p.writeListBegin(T.I32, v.length);
    for (const e of v) this.i32(e, `${what} element`);
  }

  /** A struct field; `body` writes the struct's fields and this writes the stop byte. */
  structField(id: number, body: () => void): void {
    this.field(id, T.STRUCT);
    body();
    this.p.writeFieldStop();
  }

  stop(): void {
    this.p.writeFieldStop();
  }
}

function isI32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
}

function writeNameRef(w: Writer, v: NameRef, what: string): void {
  if (!v || typeof v !== 'object') throw encodeError(`${what} is missing`);
  w.field(1, T.STRING);
  w.bytes(v.stamp, `${what}.stamp`);
  w.field(2, T.LIST);
  w.path(v.name, `${what}.name`);
  w.field(3, T.STRING);
  w.string(v.ns, `${what}.ns`);
}

function writeBoundName(w: Writer, v: BoundNameT, what: string): void {
  if (!v || typeof v !== 'object') throw encodeError(`${what} is missing`);
  w.field(1, T.LIST);
  w.path(v.id, `${what}.id`);
  w.field(2, T.LIST);
  w.path(v.residual, `${what}.residual`);
}

function writeWeightedList(w: Writer, v: readonly WeightedNodeId[], what: string): void {
  if (!Array.isArray(v)) throw encodeError(`${what} must be an array`);
  w.p.writeListBegin(T.STRUCT, v.length);
  for (const e of v) {
    w.field(1, T.DOUBLE);
    w.double(e.weight, `${what}.weight`);
    w.field(2, T.I32);
    w.i32(e.id, `${what}.id`);
    w.stop();
  }
}

function writeVoid(w: Writer, id: number): void {
  w.structField(id, () => {});
}

function writeBoundNode(w: Writer, v: BoundNode, what: string): void {
  switch (v?.type) {
    case 'neg':
      return writeVoid(w, 1);
    case 'empty':
      return writeVoid(w, 2);
    case 'fail':
      return writeVoid(w, 3);
    case 'leaf':
      return w.structField(4, () => writeBoundName(w, v.leaf, `${what}.leaf`));
    case 'alt':
      w.field(5, T.LIST);
      return w.i32List(v.alt, `${what}.alt`);
    case 'weighted':
      w.field(6, T.LIST);
      return writeWeightedList(w, v.weighted, `${what}.weighted`);
    default:
      throw encodeError(`${what} has unknown type ${String((v as { type?: unknown })?.type)}`);
  }
}

function writeNodeMap<V>(w: Writer, nodes: ReadonlyMap<number, V>, what: string, write: (v: V) => void): void {
  if (!(nodes instanceof Map)) throw encodeError(`${what} must be a Map`);
  w.p.writeMapBegin(T.I32, T.STRUCT, nodes.size);
  for (const [k, v] of nodes) {
    w.i32(k, `${what} key`);
    write(v);
    w.stop();
  }
}

function writeBoundTree(w: Writer, v: BoundTreeT, what: string): void {
  if (!v || typeof v !== 'object') throw encodeError(`${what} is missing`);
  w.structField(1, () => writeBoundNode(w, v.root, `${what}.root`));
  w.field(2, T.MAP);
  writeNodeMap(w, v.nodes, `${what}.nodes`, (n) => writeBoundNode(w, n, `${what}.nodes`));
}

function writeAddrMeta(w: Writer, v: AddrMeta): void {
  if (v.authority !== undefined) {
    w.field(1, T.STRING);
    w.string(v.authority, 'AddrMeta.authority');
  }
  if (v.nodeName !== undefined) {
    w.field(2, T.STRING);
    w.string(v.nodeName, 'AddrMeta.nodeName');
  }
  if (v.endpointAddrWeight !== undefined) {
    w.field(3, T.DOUBLE);
    w.double(v.endpointAddrWeight, 'AddrMeta.endpointAddrWeight');
  }
}

function writeBoundAddr(w: Writer, v: BoundAddr): void {
  if (!v || !Array.isArray(v.addresses)) throw encodeError('BoundAddr.addresses must be an array');
  w.field(1, T.SET);
  w.p.writeSetBegin(T.STRUCT, v.addresses.length);
  for (const a of v.addresses) writeTransportAddress(w, a);
  if (v.meta !== undefined) w.structField(2, () => writeAddrMeta(w, v.meta!));
}

function writeTransportAddress(w: Writer, a: TransportAddress): void {
  if (!a || typeof a !== 'object') throw encodeError('TransportAddress is missing');
  w.field(1, T.STRING);
  w.bytes(a.ip, 'TransportAddress.ip');
  w.field(2, T.I32);
  w.i32(a.port, 'TransportAddress.port');
  if (a.meta !== undefined) w.structField(3, () => writeAddrMeta(w, a.meta!));
  w.stop();
}

function writeAddrVal(w: Writer, v: AddrVal): void {
  switch (v?.type) {
    case 'bound':
      return w.structField(1, () => writeBoundAddr(w, v.bound));
    case 'neg':
      return writeVoid(w, 2);
    default:
      throw encodeError(`AddrVal has unknown type ${String((v as { type?: unknown })?.type)}`);
  }
}

function writeDelegateContents(w: Writer, v: DelegateContents, what: string): void {
  switch (v?.type) {
    case 'error':
      w.field(1, T.STRING);
      return w.string(v.error, `${what}.error`);
    case 'empty':
      return writeVoid(w, 2);
    case 'fail':
      return writeVoid(w, 3);
    case 'neg':
      return writeVoid(w, 4);
    case 'delegate':
      w.field(5, T.I32);
      return w.i32(v.delegate, `${what}.delegate`);
    case 'boundLeaf':
      return w.structField(6, () => writeBoundName(w, v.boundLeaf, `${what}.boundLeaf`));
    case 'pathLeaf':
      w.field(7, T.LIST);
      return w.path(v.pathLeaf, `${what}.pathLeaf`);
    case 'alt':
      w.field(8, T.LIST);
      return w.i32List(v.alt, `${what}.alt`);
    case 'weighted':
      w.field(9, T.LIST);
      return writeWeightedList(w, v.weighted, `${what}.weighted`);
    case 'transformation': {
      const t = v.transformation;
      if (!t || typeof t !== 'object') throw encodeError(`${what}.transformation is missing`);
      return w.structField(10, () => {
        w.structField(1, () => writeBoundName(w, t.value, `${what}.transformation.value`));
        w.field(2, T.I32);
        w.i32(t.tree, `${what}.transformation.tree`);
      });
    }
    default:
      throw encodeError(`${what} has unknown type ${String((v as { type?: unknown })?.type)}`);
  }
}

function writeDelegateNode(w: Writer, v: DelegateNodeT, what: string): void {
  if (!v || typeof v !== 'object') throw encodeError(`${what} is missing`);
  w.field(1, T.LIST);
  w.path(v.path, `${what}.path`);
  w.field(2, T.STRING);
  w.string(v.dentry, `${what}.dentry`);
  w.structField(3, () => writeDelegateContents(w, v.contents, `${what}.contents`));
}

function writeDelegation(w: Writer, v: Delegation): void {
  if (!v || typeof v !== 'object') throw encodeError('Delegation is missing');
  w.field(1, T.STRING);
  w.bytes(v.stamp, 'Delegation.stamp');
  const tree: DelegateTreeT = v.tree;
  if (!tree || typeof tree !== 'object') throw encodeError('Delegation.tree is missing');
  w.structField(2, () => {
    w.structField(1, () => writeDelegateNode(w, tree.root, 'DelegateTree.root'));
    w.field(2, T.MAP);
    writeNodeMap(w, tree.nodes, 'DelegateTree.nodes', (n) => writeDelegateNode(w, n, 'DelegateTree.nodes'));
  });
  w.field(3, T.STRING);
  w.string(v.ns, 'Delegation.ns');
}

// ---------------------------------------------------------------------------------------------
// Reading

/** TFramedTransport's read position, which its typings leave out. */
interface Borrowing {
  borrow(): { readIndex: number; writeIndex: number };
}

class Reader {
  private readonly t: ThriftLib.TFramedTransport & Borrowing;
  readonly p: ThriftLib.TBinaryProtocol;

  constructor(buf: Buffer) {
    this.t = new thrift.TFramedTransport(buf) as ThriftLib.TFramedTransport & Borrowing;
    this.p = new thrift.TBinaryProtocol(this.t, false, true);
  }

  remaining(): number {
    const b = this.t.borrow();
    return b.writeIndex - b.readIndex;
  }

  /** A copy: stamps and path elements outlive the message buffer they came in. */
  binary(): Buffer {
    return Buffer.from(this.p.readBinary());
  }

  string(): string {
    return this.p.readString();
  }

  i32(): number {
    return this.p.readI32();
  }

  double(): number {
    return this.p.readDouble();
  }

  path(): Buffer[] {
    return this.list(T.STRING, () => this.binary());
  }

  i32List(): number[] {
    return this.list(T.I32, () => this.i32());
  }

  /** A list or set (same layout) of `etype` elements. */
  list<V>(etype: TType, read: () => V): V[] {
    const h = this.p.readListBegin();
    this.checkSize(h.size, [h.etype], h.etype === etype, 'list');
    const out: V[] = [];
    for (let i = 0; i < h.size; i++) out.push(read());
    return out;
  }

  /** A map<i32, struct>. */
  nodeMap<V>(read: () => V): Map<number, V> {
    const h = this.p.readMapBegin();
    this.checkSize(h.size, [h.ktype, h.vtype], h.ktype === T.I32 && h.vtype === T.STRUCT, 'map');
    const out = new Map<number, V>();
    for (let i = 0; i < h.size; i++) {
      const k = this.i32();
      out.set(k, read());
    }
    return out;
  }

  /**
   * A container's size must fit the bytes left (an element takes at least the minimum size of
   * its types), so a forged size can neither allocate nor loop beyond the message. The element
   * types of an empty container are not looked at.
   */
  private checkSize(size: number, types: readonly TType[], typesMatch: boolean, what: string): void {
    if (size < 0) throw decodeError(`negative ${what} size ${size}`);
    if (size === 0) return;
    if (!typesMatch) throw decodeError(`${what} has unexpected element types`);
    let minElem = 0;
    for (const t of types) minElem += minSize(t);
    if (size * minElem > this.remaining()) throw decodeError(`${what} size ${size} exceeds the message`);
  }

  /**
   * Reads a struct's fields up to its stop byte. `visit` returns false for a field it does not
   * take (unknown id, or a known id with an unexpected type), which is then skipped.
   */
  fields(visit: (id: number, type: TType) => boolean): void {
    for (;;) {
      const f = this.p.readFieldBegin();
      if (f.ftype === T.STOP) return;
      if (!visit(f.fid, f.ftype)) this.skip(f.ftype, 0);
    }
  }

  skip(type: TType, depth: number): void {
    if (depth > MAX_SKIP_DEPTH) throw decodeError('unknown value nested too deeply');
    switch (type as number) {
      case T.BOOL:
      case T.BYTE:
        this.p.readByte();
        return;
      case T.I16:
        this.p.readI16();
        return;
      case T.I32:
        this.p.readI32();
        return;
      case T.I64:
        this.t.read(8);
        return;
      case T.DOUBLE:
        this.p.readDouble();
        return;
      case T.STRING:
        this.p.readBinary();
        return;
      case T_UUID:
        this.t.read(16);
        return;
      case T.STRUCT:
        for (;;) {
          const f = this.p.readFieldBegin();
          if (f.ftype === T.STOP) return;
          this.skip(f.ftype, depth + 1);
        }
      case T.MAP: {
        const h = this.p.readMapBegin();
        this.checkSize(h.size, [h.ktype, h.vtype], true, 'map');
        for (let i = 0; i < h.size; i++) {
          this.skip(h.ktype, depth + 1);
          this.skip(h.vtype, depth + 1);
        }
        return;
      }
      case T.SET:
      case T.LIST: {
        const h = this.p.readListBegin();
        this.checkSize(h.size, [h.etype], true, 'list');
        for (let i = 0; i < h.size; i++) this.skip(h.etype, depth + 1);
        return;
      }
      default:
        throw decodeError(`invalid field type ${type}`);
    }
  }
}

/** The fewest bytes a value of a type takes on the wire. */
function minSize(type: TType): number {
  switch (type as number) {
    case T.BOOL:
    case T.BYTE:
    case T.STRUCT:
      return 1;
    case T.I16:
      return 2;
    case T.I32:
    case T.STRING:
      return 4;
    case T.SET:
    case T.LIST:
      return 5;
    case T.MAP:
      return 6;
    case T.I64:
    case T.DOUBLE:
      return 8;
    case T_UUID:
      return 16;
    default:
      throw decodeError(`invalid element type ${type}`);
  }
}

function isSeq(type: TType): boolean {
  return type === T.LIST || type === T.SET;
}

function readVoid(r: Reader): void {
  r.skip(T.STRUCT, 0);
}

function readNameRef(r: Reader): NameRef {
  let stamp = EMPTY;
  let name: TPath = [];
  let ns = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && isSeq(type)) name = r.path();
    else if (id === 3 && type === T.STRING) ns = r.string();
    else return false;
    return true;
  });
  return { stamp, name, ns };
}

function readBoundName(r: Reader): BoundNameT {
  let id: TPath = [];
  let residual: TPath = [];
  r.fields((fid, type) => {
    if (fid === 1 && isSeq(type)) id = r.path();
    else if (fid === 2 && isSeq(type)) residual = r.path();
    else return false;
    return true;
  });
  return { id, residual };
}

function readWeightedList(r: Reader): WeightedNodeId[] {
  return r.list(T.STRUCT, () => {
    let weight = 0;
    let id = 0;
    r.fields((fid, type) => {
      if (fid === 1 && type === T.DOUBLE) weight = r.double();
      else if (fid === 2 && type === T.I32) id = r.i32();
      else return false;
      return true;
    });
    return { weight, id };
  });
}

/** Reads a union: exactly one known field must be set (unknown ones are skipped). */
function readUnion<V>(r: Reader, name: string, read: (id: number, type: TType) => V | undefined): V {
  let value: V | undefined;
  let count = 0;
  r.fields((id, type) => {
    const v = read(id, type);
    if (v === undefined) return false;
    value = v;
    count++;
    return true;
  });
  if (count !== 1 || value === undefined) throw decodeError(`union ${name} has ${count} fields set, not 1`);
  return value;
}

function readBoundNode(r: Reader): BoundNode {
  return readUnion<BoundNode>(r, 'BoundNode', (id, type) => {
    if (type === T.STRUCT) {
      switch (id) {
        case 1:
          readVoid(r);
          return { type: 'neg' };
        case 2:
          readVoid(r);
          return { type: 'empty' };
        case 3:
          readVoid(r);
          return { type: 'fail' };
        case 4:
          return { type: 'leaf', leaf: readBoundName(r) };
      }
    } else if (isSeq(type)) {
      if (id === 5) return { type: 'alt', alt: r.i32List() };
      if (id === 6) return { type: 'weighted', weighted: readWeightedList(r) };
    }
    return undefined;
  });
}

function readBoundTree(r: Reader): BoundTreeT {
  let root: BoundNode | undefined;
  let nodes = new Map<number, BoundNode>();
  r.fields((id, type) => {
    if (id === 1 && type === T.STRUCT) root = readBoundNode(r);
    else if (id === 2 && type === T.MAP) nodes = r.nodeMap(() => readBoundNode(r));
    else return false;
    return true;
  });
  if (!root) throw decodeError('BoundTree.root is missing');
  return { root, nodes };
}

function readBound(r: Reader): Bound {
  let stamp = EMPTY;
  let tree: BoundTreeT | undefined;
  let ns = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && type === T.STRUCT) tree = readBoundTree(r);
    else if (id === 3 && type === T.STRING) ns = r.string();
    else return false;
    return true;
  });
  if (!tree) throw decodeError('Bound.tree is missing');
  return { stamp, tree, ns };
}

function readBindReq(r: Reader): BindReq {
  let dtab = '';
  let name = EMPTY_NAME_REF;
  let clientId: TPath = [];
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) dtab = r.string();
    else if (id === 2 && type === T.STRUCT) name = readNameRef(r);
    else if (id === 3 && isSeq(type)) clientId = r.path();
    else return false;
    return true;
  });
  return { dtab, name, clientId };
}

function readBindFailure(r: Reader): BindFailure {
  let reason = '';
  let retryInSeconds = 0;
  let name = EMPTY_NAME_REF;
  let ns = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) reason = r.string();
    else if (id === 2 && type === T.I32) retryInSeconds = r.i32();
    else if (id === 3 && type === T.STRUCT) name = readNameRef(r);
    else if (id === 4 && type === T.STRING) ns = r.string();
    else return false;
    return true;
  });
  return { reason, retryInSeconds, name, ns };
}

function readAddrReq(r: Reader): AddrReq {
  let name = EMPTY_NAME_REF;
  let clientId: TPath = [];
  r.fields((id, type) => {
    if (id === 1 && type === T.STRUCT) name = readNameRef(r);
    else if (id === 2 && isSeq(type)) clientId = r.path();
    else return false;
    return true;
  });
  return { name, clientId };
}

/** Optional fields that are absent are left out of the object. */
function readAddrMeta(r: Reader): AddrMeta {
  const meta: { authority?: string; nodeName?: string; endpointAddrWeight?: number } = {};
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) meta.authority = r.string();
    else if (id === 2 && type === T.STRING) meta.nodeName = r.string();
    else if (id === 3 && type === T.DOUBLE) meta.endpointAddrWeight = r.double();
    else return false;
    return true;
  });
  return meta;
}

function readTransportAddress(r: Reader): TransportAddress {
  let ip = EMPTY;
  let port = 0;
  let meta: AddrMeta | undefined;
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) ip = r.binary();
    else if (id === 2 && type === T.I32) port = r.i32();
    else if (id === 3 && type === T.STRUCT) meta = readAddrMeta(r);
    else return false;
    return true;
  });
  return meta === undefined ? { ip, port } : { ip, port, meta };
}

function readBoundAddr(r: Reader): BoundAddr {
  let addresses: TransportAddress[] = [];
  let meta: AddrMeta | undefined;
  r.fields((id, type) => {
    if (id === 1 && isSeq(type)) addresses = r.list(T.STRUCT, () => readTransportAddress(r));
    else if (id === 2 && type === T.STRUCT) meta = readAddrMeta(r);
    else return false;
    return true;
  });
  return meta === undefined ? { addresses } : { addresses, meta };
}

function readAddr(r: Reader): AddrT {
  let stamp = EMPTY;
  let value: AddrVal | undefined;
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && type === T.STRUCT) {
      value = readUnion<AddrVal>(r, 'AddrVal', (fid, ftype) => {
        if (ftype !== T.STRUCT) return undefined;
        if (fid === 1) return { type: 'bound', bound: readBoundAddr(r) };
        if (fid === 2) {
          readVoid(r);
          return { type: 'neg' };
        }
        return undefined;
      });
    } else return false;
    return true;
  });
  if (!value) throw decodeError('Addr.value is missing');
  return { stamp, value };
}

function readAddrFailure(r: Reader): AddrFailure {
  let reason = '';
  let retryInSeconds = 0;
  let name = EMPTY_NAME_REF;
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) reason = r.string();
    else if (id === 2 && type === T.I32) retryInSeconds = r.i32();
    else if (id === 3 && type === T.STRUCT) name = readNameRef(r);
    else return false;
    return true;
  });
  return { reason, retryInSeconds, name };
}

function readTransformation(r: Reader): TransformationT {
  let value: BoundNameT = { id: [], residual: [] };
  let tree = 0;
  r.fields((id, type) => {
    if (id === 1 && type === T.STRUCT) value = readBoundName(r);
    else if (id === 2 && type === T.I32) tree = r.i32();
    else return false;
    return true;
  });
  return { value, tree };
}

function readDelegateContents(r: Reader): DelegateContents {
  return readUnion<DelegateContents>(r, 'DelegateContents', (id, type) => {
    switch (id) {
      case 1:
        return type === T.STRING ? { type: 'error', error: r.string() } : undefined;
      case 2:
      case 3:
      case 4:
        if (type !== T.STRUCT) return undefined;
        readVoid(r);
        return { type: id === 2 ? 'empty' : id === 3 ? 'fail' : 'neg' };
      case 5:
        return type === T.I32 ? { type: 'delegate', delegate: r.i32() } : undefined;
      case 6:
        return type === T.STRUCT ? { type: 'boundLeaf', boundLeaf: readBoundName(r) } : undefined;
      case 7:
        return isSeq(type) ? { type: 'pathLeaf', pathLeaf: r.path() } : undefined;
      case 8:
        return isSeq(type) ? { type: 'alt', alt: r.i32List() } : undefined;
      case 9:
        return isSeq(type) ? { type: 'weighted', weighted: readWeightedList(r) } : undefined;
      case 10:
        return type === T.STRUCT ? { type: 'transformation', transformation: readTransformation(r) } : undefined;
      default:
        return undefined;
    }
  });
}

function readDelegateNode(r: Reader): DelegateNodeT {
  let path: TPath = [];
  let dentry = '';
  let contents: DelegateContents | undefined;
  r.fields((id, type) => {
    if (id === 1 && isSeq(type)) path = r.path();
    else if (id === 2 && type === T.STRING) dentry = r.string();
    else if (id === 3 && type === T.STRUCT) contents = readDelegateContents(r);
    else return false;
    return true;
  });
  if (!contents) throw decodeError('DelegateNode.contents is missing');
  return { path, dentry, contents };
}

function readDelegateTree(r: Reader): DelegateTreeT {
  let root: DelegateNodeT | undefined;
  let nodes = new Map<number, DelegateNodeT>();
  r.fields((id, type) => {
    if (id === 1 && type === T.STRUCT) root = readDelegateNode(r);
    else if (id === 2 && type === T.MAP) nodes = r.nodeMap(() => readDelegateNode(r));
    else return false;
    return true;
  });
  if (!root) throw decodeError('DelegateTree.root is missing');
  return { root, nodes };
}

function readDelegation(r: Reader): Delegation {
  let stamp = EMPTY;
  let tree: DelegateTreeT | undefined;
  let ns = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && type === T.STRUCT) tree = readDelegateTree(r);
    else if (id === 3 && type === T.STRING) ns = r.string();
    else return false;
    return true;
  });
  if (!tree) throw decodeError('Delegation.tree is missing');
  return { stamp, tree, ns };
}

function readDelegateReq(r: Reader): DelegateReq {
  let dtab = '';
  let delegation: Delegation | undefined;
  let clientId: TPath = [];
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) dtab = r.string();
    else if (id === 2 && type === T.STRUCT) delegation = readDelegation(r);
    else if (id === 3 && isSeq(type)) clientId = r.path();
    else return false;
    return true;
  });
  if (!delegation) throw decodeError('DelegateReq.delegation is missing');
  return { dtab, delegation, clientId };
}

/** DelegationFailure and DtabFailure: `{ 1: string reason }`. */
function readReasonOnly(r: Reader): { reason: string } {
  let reason = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) reason = r.string();
    else return false;
    return true;
  });
  return { reason };
}

function readDtabReq(r: Reader): DtabReq {
  let stamp = EMPTY;
  let ns = '';
  let clientId: TPath = [];
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && type === T.STRING) ns = r.string();
    else if (id === 3 && isSeq(type)) clientId = r.path();
    else return false;
    return true;
  });
  return { stamp, ns, clientId };
}

function readDtabRef(r: Reader): DtabRef {
  let stamp = EMPTY;
  let dtab = '';
  r.fields((id, type) => {
    if (id === 1 && type === T.STRING) stamp = r.binary();
    else if (id === 2 && type === T.STRING) dtab = r.string();
    else return false;
    return true;
  });
  return { stamp, dtab };
}

// ---------------------------------------------------------------------------------------------
// Methods

/** How one Namer method's argument, result and declared exception are written and read. */
interface MethodCodec<M extends NamerMethod> {
  writeReq(w: Writer, v: NamerMethods[M]['req']): void;
  readReq(r: Reader): NamerMethods[M]['req'];
  writeRsp(w: Writer, v: NamerMethods[M]['rsp']): void;
  readRsp(r: Reader): NamerMethods[M]['rsp'];
  writeFailure(w: Writer, v: NamerMethods[M]['failure']): void;
  readFailure(r: Reader): NamerMethods[M]['failure'];
}

function checkObject(v: unknown, what: string): void {
  if (!v || typeof v !== 'object') throw encodeError(`${what} is missing`);
}

const METHODS: { readonly [M in NamerMethod]: MethodCodec<M> } = {
  bind: {
    writeReq(w, v) {
      checkObject(v, 'BindReq');
      w.field(1, T.STRING);
      w.string(v.dtab, 'BindReq.dtab');
      w.structField(2, () => writeNameRef(w, v.name, 'BindReq.name'));
      w.field(3, T.LIST);
      w.path(v.clientId, 'BindReq.clientId');
    },
    readReq: readBindReq,
    writeRsp(w, v) {
      checkObject(v, 'Bound');
      w.field(1, T.STRING);
      w.bytes(v.stamp, 'Bound.stamp');
      w.structField(2, () => writeBoundTree(w, v.tree, 'Bound.tree'));
      w.field(3, T.STRING);
      w.string(v.ns, 'Bound.ns');
    },
    readRsp: readBound,
    writeFailure(w, v) {
      checkObject(v, 'BindFailure');
      w.field(1, T.STRING);
      w.string(v.reason, 'BindFailure.reason');
      w.field(2, T.I32);
      w.i32(v.retryInSeconds, 'BindFailure.retryInSeconds');
      w.structField(3, () => writeNameRef(w, v.name, 'BindFailure.name'));
      w.field(4, T.STRING);
      w.string(v.ns, 'BindFailure.ns');
    },
    readFailure: readBindFailure,
  },
  addr: {
    writeReq(w, v) {
      checkObject(v, 'AddrReq');
      w.structField(1, () => writeNameRef(w, v.name, 'AddrReq.name'));
      w.field(2, T.LIST);
      w.path(v.clientId, 'AddrReq.clientId');
    },
    readReq: readAddrReq,
    writeRsp(w, v) {
      checkObject(v, 'Addr');
      w.field(1, T.STRING);
      w.bytes(v.stamp, 'Addr.stamp');
      w.structField(2, () => writeAddrVal(w, v.value));
    },
    readRsp: readAddr,
    writeFailure(w, v) {
      checkObject(v, 'AddrFailure');
      w.field(1, T.STRING);
      w.string(v.reason, 'AddrFailure.reason');
      w.field(2, T.I32);
      w.i32(v.retryInSeconds, 'AddrFailure.retryInSeconds');
      w.structField(3, () => writeNameRef(w, v.name, 'AddrFailure.name'));
    },
    readFailure: readAddrFailure,
  },
  delegate: {
    writeReq(w, v) {
      checkObject(v, 'DelegateReq');
      w.field(1, T.STRING);
      w.string(v.dtab, 'DelegateReq.dtab');
      w.structField(2, () => writeDelegation(w, v.delegation));
      w.field(3, T.LIST);
      w.path(v.clientId, 'DelegateReq.clientId');
    },
    readReq: readDelegateReq,
    writeRsp: writeDelegation,
    readRsp: readDelegation,
    writeFailure(w, v: DelegationFailure) {
      checkObject(v, 'DelegationFailure');
      w.field(1, T.STRING);
      w.string(v.reason, 'DelegationFailure.reason');
    },
    readFailure: readReasonOnly,
  },
  dtab: {
    writeReq(w, v) {
      checkObject(v, 'DtabReq');
      w.field(1, T.STRING);
      w.bytes(v.stamp, 'DtabReq.stamp');
      w.field(2, T.STRING);
      w.string(v.ns, 'DtabReq.ns');
      w.field(3, T.LIST);
      w.path(v.clientId, 'DtabReq.clientId');
    },
    readReq: readDtabReq,
    writeRsp(w, v) {
      checkObject(v, 'DtabRef');
      w.field(1, T.STRING);
      w.bytes(v.stamp, 'DtabRef.stamp');
      w.field(2, T.STRING);
      w.string(v.dtab, 'DtabRef.dtab');
    },
    readRsp: readDtabRef,
    writeFailure(w, v: DtabFailure) {
      checkObject(v, 'DtabFailure');
      w.field(1, T.STRING);
      w.string(v.reason, 'DtabFailure.reason');
    },
    readFailure: readReasonOnly,
  },
};

function methodCodec<M extends NamerMethod>(method: M): MethodCodec<M> | undefined {
  return Object.hasOwn(METHODS, method) ? (METHODS[method] as MethodCodec<M>) : undefined;
}

function begin(method: string, type: ThriftLib.Thrift.MessageType, seqid: number): Writer {
  if (typeof method !== 'string') throw encodeError('method name must be a string');
  if (!isI32(seqid)) throw encodeError(`seqid must be a 32-bit integer, got ${String(seqid)}`);
  const w = new Writer();
  w.p.writeMessageBegin(method, type, seqid);
  return w;
}

/** Any failure while reading becomes a ThriftCodecError; a peer's TApplicationException passes. */
function decoding<R>(fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ThriftCodecError || e instanceof ThriftApplicationError) throw e;
    const name = (e as { name?: unknown } | null)?.name;
    const message =
      name === 'InputBufferUnderrunError'
        ? 'truncated thrift message'
        : `malformed thrift message: ${String((e as { message?: unknown } | null)?.message ?? e)}`;
    throw new ThriftCodecError('MESH_ERR_THRIFT_DECODE', message, { cause: e });
  }
}

interface Header {
  method: string;
  type: number;
  seqid: number;
}

function readHeader(r: Reader): Header {
  const m = r.p.readMessageBegin();
  // On a non-strict header the library hands back the name's raw bytes.
  const name: unknown = m.fname;
  const method = typeof name === 'string' ? name : Buffer.from(name as Uint8Array).toString('utf8');
  return { method, type: m.mtype, seqid: m.rseqid };
}

// ---------------------------------------------------------------------------------------------
// The contract (types.ts)

/** A CALL of `method`: the args struct `{ 1: req }`. */
export function encodeCall<M extends NamerMethod>(method: M, seqid: number, req: NamerMethods[M]['req']): Buffer {
  const codec = methodCodec(method);
  if (!codec) throw encodeError(`unknown Namer method '${String(method)}'`);
  const w = begin(method, MT.CALL, seqid);
  w.structField(1, () => codec.writeReq(w, req));
  w.stop();
  return w.finish();
}

/**
 * Decodes a CALL. Throws ThriftCodecError: MESH_ERR_THRIFT_MESSAGE_TYPE for another message
 * type, MESH_ERR_THRIFT_UNKNOWN_METHOD for a method Namer lacks, MESH_ERR_THRIFT_DECODE else.
 */
export function decodeCall(buf: Buffer): NamerCall {
  return decoding(() => {
    const r = new Reader(buf);
    const h = readHeader(r);
    if (h.type !== MT.CALL) {
      throw decodeError(`expected a CALL message, got message type ${h.type}`, 'MESH_ERR_THRIFT_MESSAGE_TYPE');
    }
    const codec = methodCodec(h.method as NamerMethod);
    if (!codec) throw decodeError(`unknown Namer method '${h.method}'`, 'MESH_ERR_THRIFT_UNKNOWN_METHOD');
    let req: NamerMethods[NamerMethod]['req'] | undefined;
    r.fields((id, type) => {
      if (id !== 1 || type !== T.STRUCT) return false;
      req = codec.readReq(r);
      return true;
    });
    if (req === undefined) throw decodeError(`call of ${h.method} has no argument`);
    return { method: h.method, seqid: h.seqid, req } as NamerCall;
  });
}

/** A REPLY to `method`: the result struct `{ 0: success, 1: the declared exception }`. */
export function encodeReply<M extends NamerMethod>(method: M, seqid: number, reply: NamerReply<M>): Buffer {
  const codec = methodCodec(method);
  if (!codec) throw encodeError(`unknown Namer method '${String(method)}'`);
  if (!reply || typeof reply !== 'object') throw encodeError('reply is missing');
  const w = begin(method, MT.REPLY, seqid);
  if (reply.ok) w.structField(0, () => codec.writeRsp(w, reply.value));
  else w.structField(1, () => codec.writeFailure(w, reply.failure));
  w.stop();
  return w.finish();
}

/** An EXCEPTION message: TApplicationException `{ 1: string message, 2: i32 type }`. */
export function encodeApplicationException(method: string, seqid: number, type: number, message: string): Buffer {
  const w = begin(method, MT.EXCEPTION, seqid);
  w.field(1, T.STRING);
  w.string(message, 'TApplicationException.message');
  w.field(2, T.I32);
  w.i32(type, 'TApplicationException.type');
  w.stop();
  return w.finish();
}

/**
 * Decodes the reply to a call of `method`. Throws ThriftApplicationError for an EXCEPTION
 * message, and ThriftCodecError for a message of another type (MESH_ERR_THRIFT_MESSAGE_TYPE),
 * another method (MESH_ERR_THRIFT_WRONG_METHOD), no result (MESH_ERR_THRIFT_MISSING_RESULT)
 * or bad bytes (MESH_ERR_THRIFT_DECODE).
 */
export function decodeReply<M extends NamerMethod>(method: M, buf: Buffer): { seqid: number; reply: NamerReply<M> } {
  const codec = methodCodec(method);
  if (!codec) throw decodeError(`unknown Namer method '${String(method)}'`, 'MESH_ERR_THRIFT_UNKNOWN_METHOD');
  return decoding(() => {
    const r = new Reader(buf);
    const h = readHeader(r);
    if (h.type === MT.EXCEPTION) {
      let message = '';
      let type = 0;
      r.fields((id, ftype) => {
        if (id === 1 && ftype === T.STRING) message = r.string();
        else if (id === 2 && ftype === T.I32) type = r.i32();
        else return false;
        return true;
      });
      throw new ThriftApplicationError(message, type);
    }
    if (h.type !== MT.REPLY) {
      throw decodeError(`expected a REPLY message, got message type ${h.type}`, 'MESH_ERR_THRIFT_MESSAGE_TYPE');
    }
    if (h.method !== method) {
      throw decodeError(`reply names method '${h.method}', expected '${method}'`, 'MESH_ERR_THRIFT_WRONG_METHOD');
    }
    let value: NamerMethods[M]['rsp'] | undefined;
    let failure: NamerMethods[M]['failure'] | undefined;
    r.fields((id, type) => {
      if (id === 0 && type === T.STRUCT) value = codec.readRsp(r);
      else if (id === 1 && type === T.STRUCT) failure = codec.readFailure(r);
      else return false;
      return true;
    });
    // As generated thrift clients do, a result wins over an exception if both came.
    if (value !== undefined) return { seqid: h.seqid, reply: { ok: true, value } };
    if (failure !== undefined) return { seqid: h.seqid, reply: { ok: false, failure } };
    throw decodeError(`reply to ${method} has no result`, 'MESH_ERR_THRIFT_MISSING_RESULT');
  });
}

/**
 * Reads just a message's header (strict or non-strict), or undefined when even that is not
 * there: lets a server name the right method and seqid in a TApplicationException.
 */
export function peekMethod(buf: Buffer): { method: string; seqid: number; type: number } | undefined {
  try {
    const h = readHeader(new Reader(buf));
    return { method: h.method, seqid: h.seqid, type: h.type };
  } catch {
    return undefined;
  }
}

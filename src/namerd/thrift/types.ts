/**
 * namerd's thrift Namer service (Linkerd's namerd/iface/interpreter-thrift-idl namer.thrift) as
 * TypeScript types: what `io.l5d.thriftNameInterpreter` serves and the `io.l5d.namerd`
 * interpreter asks, over ThriftMux (src/protocol/mux). Field ids are the IDL's; see codec.ts.
 *
 * Paths are `list<binary>` on the wire: here arrays of Buffers, one per path element.
 * Stamps are opaque bytes chosen by the server (empty = "no value seen yet").
 */

/** `typedef list<binary> Path` */
export type TPath = readonly Buffer[];

/** struct NameRef { 1: Stamp stamp  2: Path name  3: Ns ns } */
export interface NameRef {
  readonly stamp: Buffer;
  readonly name: TPath;
  readonly ns: string;
}

/** struct BindReq { 1: Dtab dtab (string)  2: NameRef name  3: Path clientId } */
export interface BindReq {
  readonly dtab: string;
  readonly name: NameRef;
  readonly clientId: TPath;
}

/** struct BoundName { 1: Path id  2: Path residual } */
export interface BoundNameT {
  readonly id: TPath;
  readonly residual: TPath;
}

/** struct WeightedNodeId { 1: double weight  2: i32 id } */
export interface WeightedNodeId {
  readonly weight: number;
  readonly id: number;
}

/** union BoundNode { 1: Void neg  2: Void empty  3: Void fail  4: BoundName leaf  5: list<i32> alt  6: list<WeightedNodeId> weighted } */
export type BoundNode =
  | { readonly type: 'neg' }
  | { readonly type: 'empty' }
  | { readonly type: 'fail' }
  | { readonly type: 'leaf'; readonly leaf: BoundNameT }
  | { readonly type: 'alt'; readonly alt: readonly number[] }
  | { readonly type: 'weighted'; readonly weighted: readonly WeightedNodeId[] };

/** struct BoundTree { 1: BoundNode root  2: map<i32, BoundNode> nodes } */
export interface BoundTreeT {
  readonly root: BoundNode;
  readonly nodes: ReadonlyMap<number, BoundNode>;
}

/** struct Bound { 1: Stamp stamp  2: BoundTree tree  3: Ns ns } */
export interface Bound {
  readonly stamp: Buffer;
  readonly tree: BoundTreeT;
  readonly ns: string;
}

/** exception BindFailure { 1: string reason  2: i32 retryInSeconds (ignored)  3: NameRef name  4: Ns ns } */
export interface BindFailure {
  readonly reason: string;
  readonly retryInSeconds: number;
  readonly name: NameRef;
  readonly ns: string;
}

/** struct AddrReq { 1: NameRef name  2: Path clientId } */
export interface AddrReq {
  readonly name: NameRef;
  readonly clientId: TPath;
}

/** struct AddrMeta { 1: optional string authority  2: optional string nodeName  3: optional double endpoint_addr_weight } */
export interface AddrMeta {
  readonly authority?: string;
  readonly nodeName?: string;
  readonly endpointAddrWeight?: number;
}

/** struct TransportAddress { 1: binary ip (4 or 16 bytes)  2: i32 port  3: optional AddrMeta meta } */
export interface TransportAddress {
  readonly ip: Buffer;
  readonly port: number;
  readonly meta?: AddrMeta;
}

/** struct BoundAddr { 1: set<TransportAddress> addresses  2: optional AddrMeta meta } */
export interface BoundAddr {
  readonly addresses: readonly TransportAddress[];
  readonly meta?: AddrMeta;
}

/** union AddrVal { 1: BoundAddr bound  2: Void neg } */
export type AddrVal = { readonly type: 'bound'; readonly bound: BoundAddr } | { readonly type: 'neg' };

/** struct Addr { 1: Stamp stamp  2: AddrVal value } */
export interface AddrT {
  readonly stamp: Buffer;
  readonly value: AddrVal;
}

/** exception AddrFailure { 1: string reason  2: i32 retryInSeconds (ignored)  3: NameRef name } */
export interface AddrFailure {
  readonly reason: string;
  readonly retryInSeconds: number;
  readonly name: NameRef;
}

/** struct Transformation { 1: BoundName value  2: i32 tree } */
export interface TransformationT {
  readonly value: BoundNameT;
  readonly tree: number;
}

/**
 * union DelegateContents { 1: string error  2: Void empty  3: Void fail  4: Void neg  5: i32 delegate
 *   6: BoundName boundLeaf  7: Path pathLeaf  8: list<i32> alt  9: list<WeightedNodeId> weighted
 *   10: Transformation transformation }
 */
export type DelegateContents =
  | { readonly type: 'error'; readonly error: string }
  | { readonly type: 'empty' }
  | { readonly type: 'fail' }
  | { readonly type: 'neg' }
  | { readonly type: 'delegate'; readonly delegate: number }
  | { readonly type: 'boundLeaf'; readonly boundLeaf: BoundNameT }
  | { readonly type: 'pathLeaf'; readonly pathLeaf: TPath }
  | { readonly type: 'alt'; readonly alt: readonly number[] }
  | { readonly type: 'weighted'; readonly weighted: readonly WeightedNodeId[] }
  | { readonly type: 'transformation'; readonly transformation: TransformationT };

/** struct DelegateNode { 1: Path path  2: string dentry  3: DelegateContents contents } */
export interface DelegateNodeT {
  readonly path: TPath;
  readonly dentry: string;
  readonly contents: DelegateContents;
}

/** struct DelegateTree { 1: DelegateNode root  2: map<i32, DelegateNode> nodes } */
export interface DelegateTreeT {
  readonly root: DelegateNodeT;
  readonly nodes: ReadonlyMap<number, DelegateNodeT>;
}

/** struct Delegation { 1: Stamp stamp (deprecated)  2: DelegateTree tree  3: Ns ns } */
export interface Delegation {
  readonly stamp: Buffer;
  readonly tree: DelegateTreeT;
  readonly ns: string;
}

/** struct DelegateReq { 1: Dtab dtab  2: Delegation delegation  3: Path clientId } */
export interface DelegateReq {
  readonly dtab: string;
  readonly delegation: Delegation;
  readonly clientId: TPath;
}

/** exception DelegationFailure { 1: string reason } */
export interface DelegationFailure {
  readonly reason: string;
}

/** struct DtabReq { 1: Stamp stamp  2: Ns ns  3: Path clientId } */
export interface DtabReq {
  readonly stamp: Buffer;
  readonly ns: string;
  readonly clientId: TPath;
}

/** struct DtabRef { 1: Stamp stamp  2: Dtab dtab } */
export interface DtabRef {
  readonly stamp: Buffer;
  readonly dtab: string;
}

/** exception DtabFailure { 1: string reason } */
export interface DtabFailure {
  readonly reason: string;
}

/**
 * service Namer: each method takes one argument (field id 1 of the args struct) and either
 * returns (result field 0) or throws its declared exception (result field 1).
 */
export interface NamerMethods {
  bind: { readonly req: BindReq; readonly rsp: Bound; readonly failure: BindFailure };
  addr: { readonly req: AddrReq; readonly rsp: AddrT; readonly failure: AddrFailure };
  delegate: { readonly req: DelegateReq; readonly rsp: Delegation; readonly failure: DelegationFailure };
  dtab: { readonly req: DtabReq; readonly rsp: DtabRef; readonly failure: DtabFailure };
}
export type NamerMethod = keyof NamerMethods;
export const NAMER_METHODS: readonly NamerMethod[] = ['bind', 'addr', 'delegate', 'dtab'];

/** A decoded call (server side). */
export type NamerCall = { [M in NamerMethod]: { readonly method: M; readonly seqid: number; readonly req: NamerMethods[M]['req'] } }[NamerMethod];

/** A decoded reply (client side): the result, or the method's declared exception. */
export type NamerReply<M extends NamerMethod> =
  | { readonly ok: true; readonly value: NamerMethods[M]['rsp'] }
  | { readonly ok: false; readonly failure: NamerMethods[M]['failure'] };

/**
 * The codec's contract (implemented in codec.ts; TBinaryProtocol, strict write:
 * version 0x80010000 | type, as Finagle's default protocol factory writes):
 *
 *   encodeCall<M>(method: M, seqid: number, req: NamerMethods[M]['req']): Buffer
 *   decodeCall(buf: Buffer): NamerCall                       // throws ThriftCodecError
 *   encodeReply<M>(method: M, seqid: number, reply: NamerReply<M>): Buffer
 *   encodeApplicationException(method: string, seqid: number, type: number, message: string): Buffer
 *   decodeReply<M>(method: M, buf: Buffer): { seqid: number; reply: NamerReply<M> }
 *                                                            // throws ThriftCodecError, or
 *                                                            // ThriftApplicationError for an EXCEPTION message
 *
 * Message bodies are unframed: ThriftMux carries one message per mux dispatch, and the
 * downgraded (framed) transport adds its own 4-byte length.
 */
export const THRIFT_APP_EXCEPTION = { UNKNOWN: 0, UNKNOWN_METHOD: 1, INVALID_MESSAGE_TYPE: 2, WRONG_METHOD_NAME: 3, BAD_SEQUENCE_ID: 4, MISSING_RESULT: 5, INTERNAL_ERROR: 6, PROTOCOL_ERROR: 7 } as const;

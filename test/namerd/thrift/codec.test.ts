import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ThriftApplicationError,
  ThriftCodecError,
  decodeCall,
  decodeReply,
  encodeApplicationException,
  encodeCall,
  encodeReply,
  peekMethod,
} from '../../../src/namerd/thrift/codec.js';
import type {
  AddrT,
  BindReq,
  Bound,
  DelegateReq,
  Delegation,
  NamerMethod,
  NamerMethods,
  NamerReply,
  NameRef,
} from '../../../src/namerd/thrift/types.js';
import { THRIFT_APP_EXCEPTION } from '../../../src/namerd/thrift/types.js';

// Expected bytes are written out from the thrift binary protocol spec: a strict message header is
// i32 (0x80010000 | type), string name, i32 seqid; a field is i8 type, i16 id, value; a struct
// ends with a 00 stop byte; string/binary = i32 length + bytes; list/set = i8 elem type + i32 size;
// map = i8 key type + i8 value type + i32 size. Types: BOOL 02, DOUBLE 04, I32 08, I64 0a,
// STRING 0b, STRUCT 0c, MAP 0d, SET 0e, LIST 0f, UUID 10.

function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}

/** The hex of an ASCII string's bytes (no length prefix). */
function ascii(s: string): string {
  return Buffer.from(s, 'latin1').toString('hex');
}

const b = (s: string): Buffer => Buffer.from(s);
const path = (...elems: string[]): Buffer[] => elems.map(b);

function assertCodecError(fn: () => unknown, code: string, what: string): ThriftCodecError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ThriftCodecError, `${what}: expected ThriftCodecError, got ${String(e)}`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    return e;
  }
  assert.fail(`${what}: expected a ThriftCodecError ${code}, nothing was thrown`);
}

// ----- a bind CALL, by hand -----

const BIND_REQ: BindReq = {
  dtab: '/s=>/b',
  name: { stamp: hex('01 02'), name: path('svc', 'web'), ns: 'default' },
  clientId: path('l5d'),
};

/** Pieces of the bind CALL, so unknown fields can be spliced in at struct starts. */
const BIND_HEADER = ['80 01 00 01', '00 00 00 04', ascii('bind'), '00 00 00 07'];
const NAME_REF_FIELDS = [
  '0b 00 01 00 00 00 02 01 02', // 1: stamp
  '0f 00 02 0b 00 00 00 02', // 2: name, list<binary> of 2
  '00 00 00 03',
  ascii('svc'),
  '00 00 00 03',
  ascii('web'),
  '0b 00 03 00 00 00 07',
  ascii('default'), // 3: ns
];
function bindCall(unknown = ''): Buffer {
  return hex(
    ...BIND_HEADER,
    unknown, // args struct
    '0c 00 01', // args 1: req (BindReq)
    unknown,
    '0b 00 01 00 00 00 06',
    ascii('/s=>/b'), // 1: dtab
    '0c 00 02', // 2: name (NameRef)
    unknown,
    ...NAME_REF_FIELDS,
    '00', // end NameRef
    '0f 00 03 0b 00 00 00 01 00 00 00 03',
    ascii('l5d'), // 3: clientId
    unknown,
    '00', // end BindReq
    '00', // end args
  );
}
const BIND_CALL = bindCall();

test('bind CALL encodes to the bytes the spec gives, and decodes back', () => {
  const got = encodeCall('bind', 7, BIND_REQ);
  assert.equal(got.toString('hex'), BIND_CALL.toString('hex'));
  assert.deepEqual(decodeCall(BIND_CALL), { method: 'bind', seqid: 7, req: BIND_REQ });
});

// ----- an addr REPLY, by hand -----

const ADDR_RSP: AddrT = {
  stamp: hex('0a'),
  value: {
    type: 'bound',
    bound: { addresses: [{ ip: hex('7f 00 00 01'), port: 8080, meta: { authority: 'a.b', endpointAddrWeight: 0.5 } }] },
  },
};

function addrReply(unknown = ''): Buffer {
  return hex(
    '80 01 00 02',
    '00 00 00 04',
    ascii('addr'),
    '00 00 00 09',
    unknown, // result struct
    '0c 00 00', // 0: success (Addr)
    '0b 00 01 00 00 00 01 0a', // 1: stamp
    '0c 00 02', // 2: value (AddrVal)
    unknown,
    '0c 00 01', // AddrVal 1: bound (BoundAddr)
    '0e 00 01 0c 00 00 00 01', // 1: addresses, set<struct> of 1
    '0b 00 01 00 00 00 04 7f 00 00 01', // TransportAddress 1: ip
    unknown,
    '08 00 02 00 00 1f 90', // 2: port 8080
    '0c 00 03', // 3: meta (AddrMeta)
    '0b 00 01 00 00 00 03',
    ascii('a.b'), // 1: authority
    unknown,
    '04 00 03 3f e0 00 00 00 00 00 00', // 3: endpoint_addr_weight 0.5
    '00', // end AddrMeta
    '00', // end TransportAddress
    unknown,
    '00', // end BoundAddr
    '00', // end AddrVal
    unknown,
    '00', // end Addr
    '00', // end result
  );
}
const ADDR_REPLY = addrReply();

test('addr REPLY with one IPv4 address and meta encodes to the spec bytes, and decodes back', () => {
  const got = encodeReply('addr', 9, { ok: true, value: ADDR_RSP });
  assert.equal(got.toString('hex'), ADDR_REPLY.toString('hex'));
  assert.deepEqual(decodeReply('addr', ADDR_REPLY), { seqid: 9, reply: { ok: true, value: ADDR_RSP } });
});

// ----- TApplicationException, by hand -----

const APP_EXC = hex(
  '80 01 00 03',
  '00 00 00 05',
  ascii('bogus'),
  '00 00 00 2a', // seqid 42
  '0b 00 01 00 00 00 02',
  ascii('no'), // 1: message
  '08 00 02 00 00 00 01', // 2: type UNKNOWN_METHOD
  '00',
);

test('encodeApplicationException writes the spec bytes; decodeReply throws ThriftApplicationError', () => {
  const got = encodeApplicationException('bogus', 42, THRIFT_APP_EXCEPTION.UNKNOWN_METHOD, 'no');
  assert.equal(got.toString('hex'), APP_EXC.toString('hex'));
  const exc = encodeApplicationException('bind', 3, THRIFT_APP_EXCEPTION.INTERNAL_ERROR, 'store is down');
  assert.throws(
    () => decodeReply('bind', exc),
    (e: unknown) =>
      e instanceof ThriftApplicationError &&
      e.code === 'MESH_ERR_THRIFT_APPLICATION' &&
      e.type === 6 &&
      e.message === 'store is down',
  );
  // Absent fields: an empty message and type UNKNOWN.
  const bare = hex('80 01 00 03 00 00 00 04', ascii('dtab'), '00 00 00 01 00');
  assert.throws(
    () => decodeReply('dtab', bare),
    (e: unknown) => e instanceof ThriftApplicationError && e.type === 0 && e.message === '',
  );
});

// ----- round trips -----

const NAME_REF: NameRef = { stamp: hex('00 ff 10'), name: path('#', 'io.l5d.fs', 'web'), ns: 'ns1' };

const BOUND: Bound = {
  stamp: b('s1'),
  ns: 'default',
  tree: {
    root: { type: 'alt', alt: [1, 2, 3, 4, 5, 6] },
    nodes: new Map([
      [1, { type: 'neg' }],
      [2, { type: 'empty' }],
      [3, { type: 'fail' }],
      [4, { type: 'leaf', leaf: { id: path('#', 'io.l5d.fs', 'web'), residual: path('a', 'b') } }],
      [5, { type: 'weighted', weighted: [{ weight: 0.1, id: 4 }, { weight: 2 ** -29, id: 3 }] }],
      [6, { type: 'alt', alt: [] }],
      [-7, { type: 'leaf', leaf: { id: [], residual: [] } }],
    ]),
  },
};

const DELEGATION: Delegation = {
  stamp: Buffer.alloc(0),
  ns: 'default',
  tree: {
    root: { path: path('svc', 'web'), dentry: '', contents: { type: 'alt', alt: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } },
    nodes: new Map([
      [1, { path: path('x'), dentry: '/x=>/y', contents: { type: 'error', error: 'bad namer' } }],
      [2, { path: path('x'), dentry: '/x=>~', contents: { type: 'empty' } }],
      [3, { path: path('x'), dentry: '/x=>!', contents: { type: 'fail' } }],
      [4, { path: path('x'), dentry: '', contents: { type: 'neg' } }],
      [5, { path: path('y'), dentry: '/x=>/y', contents: { type: 'delegate', delegate: 4 } }],
      [6, { path: path('#', 'a'), dentry: '', contents: { type: 'boundLeaf', boundLeaf: { id: path('#', 'a'), residual: path('r') } } }],
      [7, { path: path('p'), dentry: '', contents: { type: 'pathLeaf', pathLeaf: path('p', 'q') } }],
      [8, { path: path('z'), dentry: '/z=>/a|/b', contents: { type: 'alt', alt: [6, 7] } }],
      [9, { path: path('w'), dentry: '/w=>1*/a&2*/b', contents: { type: 'weighted', weighted: [{ weight: 1, id: 6 }, { weight: 2.5, id: 7 }] } }],
      [10, { path: path('#', 'a'), dentry: '', contents: { type: 'transformation', transformation: { value: { id: path('#', 'a'), residual: [] }, tree: 6 } } }],
    ]),
  },
};

const DELEGATE_REQ: DelegateReq = {
  dtab: '/svc=>/#/io.l5d.fs',
  clientId: path('$', 'inet', '127.0.0.1', '4140'),
  delegation: {
    stamp: Buffer.alloc(0),
    ns: 'default',
    tree: { root: { path: path('svc', 'web'), dentry: '', contents: { type: 'pathLeaf', pathLeaf: path('svc', 'web') } }, nodes: new Map() },
  },
};

const CALLS: { [M in NamerMethod]: NamerMethods[M]['req'][] } = {
  bind: [BIND_REQ, { dtab: '', name: { stamp: Buffer.alloc(0), name: [], ns: '' }, clientId: [] }],
  addr: [{ name: NAME_REF, clientId: path('c') }],
  delegate: [DELEGATE_REQ],
  dtab: [{ stamp: b('v7'), ns: 'default', clientId: [] }],
};

const REPLIES: { [M in NamerMethod]: NamerReply<M>[] } = {
  bind: [
    { ok: true, value: BOUND },
    { ok: true, value: { stamp: Buffer.alloc(0), ns: '', tree: { root: { type: 'neg' }, nodes: new Map() } } },
    { ok: false, failure: { reason: 'no such namespace', retryInSeconds: 5, name: NAME_REF, ns: 'nope' } },
  ],
  addr: [
    { ok: true, value: ADDR_RSP },
    {
      ok: true,
      value: {
        stamp: b('42'),
        value: {
          type: 'bound',
          bound: {
            addresses: [
              { ip: hex('20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01'), port: 65535 },
              { ip: hex('0a 00 00 02'), port: 1, meta: { authority: 'web.svc', nodeName: 'node-1', endpointAddrWeight: 3 } },
              { ip: hex('0a 00 00 03'), port: 80, meta: {} },
            ],
            meta: { authority: 'bound.auth' },
          },
        },
      },
    },
    { ok: true, value: { stamp: b('43'), value: { type: 'bound', bound: { addresses: [] } } } },
    { ok: true, value: { stamp: b('44'), value: { type: 'neg' } } },
    { ok: false, failure: { reason: 'gone', retryInSeconds: 0, name: NAME_REF } },
  ],
  delegate: [{ ok: true, value: DELEGATION }, { ok: false, failure: { reason: 'delegation too complex' } }],
  dtab: [{ ok: true, value: { stamp: b('v8'), dtab: '/svc=>/#/io.l5d.fs;' } }, { ok: false, failure: { reason: 'no dtab' } }],
};

test('every request round-trips through encodeCall/decodeCall', () => {
  let n = 0;
  for (const method of Object.keys(CALLS) as NamerMethod[]) {
    for (const req of CALLS[method]) {
      const seqid = 1000 + n++;
      const buf = encodeCall(method, seqid, req as never);
      assert.deepEqual(decodeCall(buf), { method, seqid, req }, method);
      assert.deepEqual(peekMethod(buf), { method, seqid, type: 1 });
    }
  }
  assert.equal(n, 5);
});

test('every reply (results, every BoundNode/DelegateContents variant, both exception kinds) round-trips', () => {
  let n = 0;
  for (const method of Object.keys(REPLIES) as NamerMethod[]) {
    for (const reply of REPLIES[method]) {
      const seqid = -5 + n++;
      const buf = encodeReply(method, seqid, reply as never);
      assert.deepEqual(decodeReply(method, buf), { seqid, reply }, `${method} #${n}`);
    }
  }
  assert.equal(n, 12);
  // The extremes of i32 seqids survive.
  for (const seqid of [0x7fffffff, -0x80000000]) {
    assert.equal(decodeReply('dtab', encodeReply('dtab', seqid, REPLIES.dtab[0]!)).seqid, seqid);
  }
});

test('an exception reply puts the failure in result field 1', () => {
  const buf = encodeReply('dtab', 1, { ok: false, failure: { reason: 'x' } });
  assert.equal(
    buf.toString('hex'),
    hex('80 01 00 02 00 00 00 04', ascii('dtab'), '00 00 00 01', '0c 00 01 0b 00 01 00 00 00 01', ascii('x'), '00 00').toString('hex'),
  );
});

// ----- forward compatibility -----

/** Unknown fields of every kind: a struct, a list, a map, and the scalar types. */
const UNKNOWN = [
  '0c 00 63 0b 00 01 00 00 00 01 78 08 00 02 00 00 00 05 00', // 99: struct { 1: "x", 2: 5 }
  '0f 00 64 08 00 00 00 02 00 00 00 01 00 00 00 02', // 100: list<i32> [1, 2]
  '0d 00 65 0b 0f 00 00 00 01 00 00 00 01 6b 08 00 00 00 01 00 00 00 09', // 101: map<string, list<i32>> {k: [9]}
  '0a 00 66 00 00 00 00 00 00 00 01', // 102: i64
  '02 00 67 01', // 103: bool
  '10 00 68 00112233445566778899aabbccddeeff', // 104: uuid
  '0e 00 69 0c 00 00 00 01 00', // 105: set<struct> [{}]
].join('');

test('unknown fields of struct, list and map types are skipped in every struct they appear in', () => {
  assert.deepEqual(decodeCall(bindCall(UNKNOWN)), { method: 'bind', seqid: 7, req: BIND_REQ });
  assert.deepEqual(decodeReply('addr', addrReply(UNKNOWN)), { seqid: 9, reply: { ok: true, value: ADDR_RSP } });
  // A known field id with an unexpected type is skipped too (NameRef.ns sent as an i32).
  const oddNs = hex(...BIND_HEADER, '0c 00 01 0c 00 02 08 00 03 00 00 00 07 00 00 00');
  assert.deepEqual(decodeCall(oddNs).req, { dtab: '', name: { stamp: Buffer.alloc(0), name: [], ns: '' }, clientId: [] });
});

test('absent fields decode as empties; absent optional fields stay absent', () => {
  // bind(BindReq {}) → empty dtab, an empty NameRef, an empty clientId.
  const empty = hex(...BIND_HEADER, '0c 00 01 00 00');
  const call = decodeCall(empty);
  assert.deepEqual(call, { method: 'bind', seqid: 7, req: { dtab: '', name: { stamp: Buffer.alloc(0), name: [], ns: '' }, clientId: [] } });
  // TransportAddress {} inside a bound Addr without a stamp.
  const addr = hex('80 01 00 02 00 00 00 04', ascii('addr'), '00 00 00 01', '0c 00 00 0c 00 02 0c 00 01 0e 00 01 0c 00 00 00 01 00 00 00 00 00');
  const got = decodeReply('addr', addr);
  assert.deepEqual(got.reply, { ok: true, value: { stamp: Buffer.alloc(0), value: { type: 'bound', bound: { addresses: [{ ip: Buffer.alloc(0), port: 0 }] } } } });
  if (got.reply.ok && got.reply.value.value.type === 'bound') {
    assert.equal('meta' in got.reply.value.value.bound, false);
    assert.equal('meta' in got.reply.value.value.bound.addresses[0]!, false);
  }
});

// ----- non-strict headers -----

test('old non-strict headers (name length, name, type byte, seqid) are read', () => {
  const dtabCall = hex(
    '00 00 00 04',
    ascii('dtab'),
    '01', // CALL
    '00 00 00 05',
    '0c 00 01 0b 00 01 00 00 00 01 73 0b 00 02 00 00 00 02',
    ascii('ns'),
    '0f 00 03 0b 00 00 00 00 00 00',
  );
  assert.deepEqual(decodeCall(dtabCall), { method: 'dtab', seqid: 5, req: { stamp: b('s'), ns: 'ns', clientId: [] } });
  assert.deepEqual(peekMethod(dtabCall), { method: 'dtab', seqid: 5, type: 1 });
  const dtabReply = hex('00 00 00 04', ascii('dtab'), '02', '00 00 00 05', '0c 00 00 0b 00 01 00 00 00 00 0b 00 02 00 00 00 01 2f 00 00');
  assert.deepEqual(decodeReply('dtab', dtabReply), { seqid: 5, reply: { ok: true, value: { stamp: Buffer.alloc(0), dtab: '/' } } });
  for (let i = 0; i < dtabCall.length; i++) {
    assertCodecError(() => decodeCall(dtabCall.subarray(0, i)), 'MESH_ERR_THRIFT_DECODE', `non-strict prefix ${i}`);
  }
});

// ----- truncated and malformed input -----

/** Returns the ThriftApplicationError a whole EXCEPTION message gives; lets anything else out. */
function decodeAppException(buf: Buffer): ThriftApplicationError {
  try {
    decodeReply('bind', buf);
  } catch (e) {
    if (e instanceof ThriftApplicationError) {
      assert.deepEqual([e.message, e.type], ['boom', 6]);
      return e;
    }
    throw e;
  }
  assert.fail('an EXCEPTION message decoded as a reply');
}

test('every truncation of a valid message throws ThriftCodecError', () => {
  const delegateReply = encodeReply('delegate', 3, REPLIES.delegate[0]!);
  const bindReply = encodeReply('bind', 4, REPLIES.bind[0]!);
  const cases: [string, Buffer, (buf: Buffer) => unknown][] = [
    ['bind call', BIND_CALL, decodeCall],
    ['bind call with unknown fields', bindCall(UNKNOWN), decodeCall],
    ['delegate call', encodeCall('delegate', 1, DELEGATE_REQ), decodeCall],
    ['addr reply', addrReply(UNKNOWN), (x) => decodeReply('addr', x)],
    ['bind reply', bindReply, (x) => decodeReply('bind', x)],
    ['delegate reply', delegateReply, (x) => decodeReply('delegate', x)],
    ['application exception', encodeApplicationException('bind', 1, 6, 'boom'), decodeAppException],
  ];
  let checked = 0;
  for (const [what, buf, decode] of cases) {
    decode(buf); // the whole message decodes
    for (let i = 0; i < buf.length; i++) {
      assertCodecError(() => decode(buf.subarray(0, i)), 'MESH_ERR_THRIFT_DECODE', `${what} cut at ${i}/${buf.length}`);
      checked++;
    }
  }
  assert.ok(checked > 500, `checked ${checked} prefixes`);
});

test('malformed input throws ThriftCodecError MESH_ERR_THRIFT_DECODE', () => {
  const header = BIND_HEADER.join('');
  const cases: [string, Buffer][] = [
    ['bad version', hex('80 02 00 01 00 00 00 04', ascii('bind'), '00 00 00 07 00')],
    ['name longer than the message', hex('80 01 00 01 7f ff ff ff 62 69')],
    ['non-strict name longer than the message', hex('7f ff ff f0 62 69 6e 64')],
    ['string longer than the message', hex(header, '0c 00 01 0b 00 01 7f ff ff ff 2f 00 00 00')],
    ['negative string length', hex(header, '0c 00 01 0b 00 01 ff ff ff fe 2f 00 00 00')],
    ['absurd list size', hex(header, '0c 00 01 0f 00 03 0b 7f ff ff ff 00 00 00 00 00 00')],
    ['negative list size', hex(header, '0c 00 01 0f 00 03 0b ff ff ff ff 00 00')],
    ['absurd unknown map size', hex(header, '0c 00 01 0d 00 09 08 08 7f ff ff ff 00 00 00 00 00 00 00 00 00 00')],
    ['absurd unknown list of structs', hex(header, '0f 00 09 0c 7f ff ff ff 00 00 00 00')],
    ['path with i32 elements', hex(header, '0c 00 01 0f 00 03 08 00 00 00 01 00 00 00 01 00 00')],
    ['invalid field type', hex(header, '0c 00 01 11 00 03 00 00 00 00 00 00')],
    ['invalid element type of an unknown list', hex(header, '0f 00 09 11 00 00 00 01 00 00')],
    ['unknown value nested too deeply', hex(header, '0f 00 09', '0f 00 00 00 01'.repeat(100), '08 00 00 00 00', '00')],
    ['call without its argument', hex(header, '00')],
    ['call argument of the wrong type', hex(header, '08 00 01 00 00 00 01 00')],
  ];
  for (const [what, buf] of cases) assertCodecError(() => decodeCall(buf), 'MESH_ERR_THRIFT_DECODE', what);

  const replyHeader = '80 01 00 02 00 00 00 04' + ascii('bind') + '00 00 00 01';
  const reply: [string, Buffer][] = [
    ['BoundNode with no field', hex(replyHeader, '0c 00 00 0c 00 02 0c 00 01 00 00 00 00')],
    ['BoundNode with only an unknown field', hex(replyHeader, '0c 00 00 0c 00 02 0c 00 01 08 00 09 00 00 00 01 00 00 00 00')],
    ['BoundNode with two fields', hex(replyHeader, '0c 00 00 0c 00 02 0c 00 01 0c 00 01 00 0c 00 02 00 00 00 00 00')],
    ['Bound without a tree', hex(replyHeader, '0c 00 00 0b 00 03 00 00 00 00 00 00')],
    ['BoundTree without a root', hex(replyHeader, '0c 00 00 0c 00 02 00 00 00')],
    ['node map with string keys', hex(replyHeader, '0c 00 00 0c 00 02 0c 00 01 0c 00 01 00 00 0d 00 02 0b 0c 00 00 00 01 00 00 00 00 00 00 00 00')],
  ];
  for (const [what, buf] of reply) assertCodecError(() => decodeReply('bind', buf), 'MESH_ERR_THRIFT_DECODE', what);

  const addrHeader = '80 01 00 02 00 00 00 04' + ascii('addr') + '00 00 00 01';
  assertCodecError(
    () => decodeReply('addr', hex(addrHeader, '0c 00 00 0c 00 02 0c 00 01 00 0c 00 02 00 00 00 00')),
    'MESH_ERR_THRIFT_DECODE',
    'AddrVal with bound and neg',
  );
  const delegateHeader = '80 01 00 02 00 00 00 08' + ascii('delegate') + '00 00 00 01';
  assertCodecError(
    () => decodeReply('delegate', hex(delegateHeader, '0c 00 00 0c 00 02 0c 00 01 0c 00 03 00 00 00 00 00 00')),
    'MESH_ERR_THRIFT_DECODE',
    'DelegateContents with no field',
  );
});

test('wrong message type, unknown method, wrong method and missing result have their own codes', () => {
  const e1 = assertCodecError(() => decodeCall(ADDR_REPLY), 'MESH_ERR_THRIFT_MESSAGE_TYPE', 'reply given to decodeCall');
  assert.equal(e1.appExceptionType, THRIFT_APP_EXCEPTION.INVALID_MESSAGE_TYPE);
  const unknown = hex('80 01 00 01 00 00 00 05', ascii('bogus'), '00 00 00 0b 00');
  const e2 = assertCodecError(() => decodeCall(unknown), 'MESH_ERR_THRIFT_UNKNOWN_METHOD', 'unknown method');
  assert.equal(e2.appExceptionType, THRIFT_APP_EXCEPTION.UNKNOWN_METHOD);
  // Inherited property names are not methods either.
  const proto = hex('80 01 00 01 00 00 00 08', ascii('toString'), '00 00 00 0b 00');
  assertCodecError(() => decodeCall(proto), 'MESH_ERR_THRIFT_UNKNOWN_METHOD', 'toString');
  assertCodecError(() => decodeReply('addr', BIND_CALL), 'MESH_ERR_THRIFT_MESSAGE_TYPE', 'call given to decodeReply');
  assertCodecError(() => decodeReply('bind', ADDR_REPLY), 'MESH_ERR_THRIFT_WRONG_METHOD', 'wrong method');
  const noResult = hex('80 01 00 02 00 00 00 04', ascii('dtab'), '00 00 00 01 00');
  const e3 = assertCodecError(() => decodeReply('dtab', noResult), 'MESH_ERR_THRIFT_MISSING_RESULT', 'empty result');
  assert.equal(e3.appExceptionType, THRIFT_APP_EXCEPTION.MISSING_RESULT);
  const onlyUnknown = hex('80 01 00 02 00 00 00 04', ascii('dtab'), '00 00 00 01 0c 00 02 00 00');
  assertCodecError(() => decodeReply('dtab', onlyUnknown), 'MESH_ERR_THRIFT_MISSING_RESULT', 'result with an unknown field only');
  const e4 = assertCodecError(() => decodeCall(hex('00')), 'MESH_ERR_THRIFT_DECODE', 'one byte');
  assert.equal(e4.appExceptionType, THRIFT_APP_EXCEPTION.PROTOCOL_ERROR);
});

test('random corruption of valid messages only ever throws the codec errors', () => {
  const messages: [Buffer, (x: Buffer) => unknown][] = [
    [encodeReply('delegate', 3, REPLIES.delegate[0]!), (x) => decodeReply('delegate', x)],
    [encodeReply('addr', 3, REPLIES.addr[1]!), (x) => decodeReply('addr', x)],
    [bindCall(UNKNOWN), decodeCall],
  ];
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let threw = 0;
  for (const [msg, decode] of messages) {
    for (let i = 0; i < 1500; i++) {
      const buf = Buffer.from(msg);
      for (let k = 0; k <= next(3); k++) buf[next(buf.length)] = next(256);
      try {
        decode(buf);
      } catch (e) {
        threw++;
        assert.ok(e instanceof ThriftCodecError || e instanceof ThriftApplicationError, `unexpected ${String(e)}`);
      }
    }
  }
  assert.ok(threw > 0);
});

// ----- peekMethod -----

test('peekMethod reads the header of valid messages and rejects garbage', () => {
  assert.deepEqual(peekMethod(BIND_CALL), { method: 'bind', seqid: 7, type: 1 });
  assert.deepEqual(peekMethod(ADDR_REPLY), { method: 'addr', seqid: 9, type: 2 });
  assert.deepEqual(peekMethod(APP_EXC), { method: 'bogus', seqid: 42, type: 3 });
  // Only the header is read: a broken body does not matter.
  assert.deepEqual(peekMethod(hex('80 01 00 01 00 00 00 03', ascii('foo'), 'ff ff ff ff', '11 22')), { method: 'foo', seqid: -1, type: 1 });
  for (const garbage of [
    Buffer.alloc(0),
    hex('80'),
    Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    hex('80 02 00 01 00 00 00 04', ascii('bind'), '00 00 00 07'),
    BIND_CALL.subarray(0, 10),
    hex('ff ff ff ff ff ff ff ff'),
  ]) {
    assert.equal(peekMethod(garbage), undefined, garbage.toString('hex'));
  }
});

// ----- encode errors -----

test('values that cannot be written throw MESH_ERR_THRIFT_ENCODE', () => {
  assertCodecError(() => encodeCall('bind', 2 ** 31, BIND_REQ), 'MESH_ERR_THRIFT_ENCODE', 'seqid out of range');
  assertCodecError(() => encodeCall('nope' as NamerMethod, 1, BIND_REQ), 'MESH_ERR_THRIFT_ENCODE', 'unknown method');
  const badPort: AddrT = { stamp: b('x'), value: { type: 'bound', bound: { addresses: [{ ip: hex('7f000001'), port: 1.5 }] } } };
  assertCodecError(() => encodeReply('addr', 1, { ok: true, value: badPort }), 'MESH_ERR_THRIFT_ENCODE', 'fractional port');
  const badNode = { ...BOUND, tree: { root: { type: 'bogus' }, nodes: new Map() } } as unknown as Bound;
  assertCodecError(() => encodeReply('bind', 1, { ok: true, value: badNode }), 'MESH_ERR_THRIFT_ENCODE', 'unknown union type');
  const badPath = { ...BIND_REQ, clientId: ['not bytes'] } as unknown as BindReq;
  assertCodecError(() => encodeCall('bind', 1, badPath), 'MESH_ERR_THRIFT_ENCODE', 'string path element');
});

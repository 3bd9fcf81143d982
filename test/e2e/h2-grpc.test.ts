/**
 * gRPC through an h2 router of a real `meshwork linkerd`, with @grpc/grpc-js on both sides,
 * routed with `io.l5d.header.path` (`segments: 1`: `/test.Echo/Unary` → `/svc/test.Echo`):
 * unary, server-streaming and client-streaming calls, metadata and trailers intact, and an
 * error status passed through from the server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startLinker, linkerdYaml } from '../support/linker.js';
import type { ReadyProcess } from '../support/process.js';

interface Msg {
  text: string;
}
const ser = (m: Msg): Buffer => Buffer.from(JSON.stringify(m));
const de = (b: Buffer): Msg => JSON.parse(b.toString()) as Msg;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
});
const ECHO = {
  unary: method('Unary', false, false),
  fail: method('Fail', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
} as unknown as grpc.ServiceDefinition;

let server: grpc.Server;
let proc: ReadyProcess | undefined;
let client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let lastPath = '';

before(async () => {
  server = new grpc.Server();
  server.addService(ECHO, {
    unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      lastPath = String(call.metadata.get('l5d-dst-service')[0]);
      const md = new grpc.Metadata();
      md.set('x-trailer', 'kept');
      cb(null, { text: `echo ${call.request.text} ${String(call.metadata.get('x-req')[0])}` }, md);
    },
    fail: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
    },
    serverStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = 0; i < 3; i++) call.write({ text: `${call.request.text}-${i}` });
      call.end();
    },
    clientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const got: string[] = [];
      call.on('data', (m: Msg) => got.push(m.text));
      call.on('end', () => cb(null, { text: got.join('+') }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const file = linkerdYaml(`
admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: grpc
  identifier:
    kind: io.l5d.header.path
    segments: 1
  dtab: /svc/test.Echo => /$/inet/127.1/${port}
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'grpc');
  proc = l.proc;
  const Ctor = grpc.makeGenericClientConstructor(ECHO as unknown as grpc.ServiceDefinition, 'Echo');
  client = new Ctor(`127.0.0.1:${l.port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
});

after(async () => {
  client?.close();
  await proc?.stop(1000);
  await new Promise<void>((r) => server.tryShutdown(() => r()));
});

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 5000 });

test('a unary call goes through with its metadata, response and trailers', async () => {
  const md = new grpc.Metadata();
  md.set('x-req', 'meta');
  const trailers = new Promise<grpc.Metadata>((resolve) => {
    const call = (client['unary'] as (...a: unknown[]) => grpc.ClientUnaryCall)({ text: 'hi' }, md, deadline(), (e: grpc.ServiceError | null, r: Msg) => {
      assert.equal(e, null);
      assert.deepEqual(r, { text: 'echo hi meta' });
    });
    call.on('status', (s: grpc.StatusObject) => {
      assert.equal(s.code, grpc.status.OK);
      resolve(s.metadata);
    });
  });
  assert.deepEqual((await trailers).get('x-trailer'), ['kept']);
  assert.equal(lastPath, '/svc/test.Echo');
});

test('an error status from the server is passed through', async () => {
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    (client['fail'] as (...a: unknown[]) => unknown)({ text: 'x' }, new grpc.Metadata(), deadline(), (e: grpc.ServiceError | null) => resolve(e!));
  });
  assert.equal(err.code, grpc.status.NOT_FOUND);
  assert.equal(err.details, 'no such thing');
});

test('a server-streaming call delivers every message and the status', async () => {
  const got: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const call = (client['serverStream'] as (...a: unknown[]) => grpc.ClientReadableStream<Msg>)({ text: 's' }, new grpc.Metadata(), deadline());
    call.on('data', (m: Msg) => got.push(m.text));
    call.on('status', (s: grpc.StatusObject) => resolve(s.code));
    call.on('error', reject);
  });
  assert.equal(code, grpc.status.OK);
  assert.deepEqual(got, ['s-0', 's-1', 's-2']);
});

test('a client-streaming call sends every message', async () => {
  const r = await new Promise<Msg>((resolve, reject) => {
    const call = (client['clientStream'] as (...a: unknown[]) => grpc.ClientWritableStream<Msg>)(new grpc.Metadata(), deadline(), (e: grpc.ServiceError | null, m: Msg) => (e ? reject(e) : resolve(m)));
    call.write({ text: 'a' });
    call.write({ text: 'b' });
    call.write({ text: 'c' });
    call.end();
  });
  assert.deepEqual(r, { text: 'a+b+c' });
});

test('a service with no route is UNAVAILABLE (the router answers 502)', async () => {
  const Ctor = grpc.makeGenericClientConstructor({ unary: { ...(ECHO as unknown as Record<string, object>)['unary'], path: '/other.Svc/Unary' } } as unknown as grpc.ServiceDefinition, 'Other');
  const addr = (client as grpc.Client).getChannel().getTarget().replace(/^dns:/, '');
  const other = new Ctor(addr, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown> & grpc.Client;
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      other['unary']!({ text: 'x' }, new grpc.Metadata(), deadline(), (e: grpc.ServiceError | null) => resolve(e!));
    });
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /502/);
  } finally {
    other.close();
  }
});

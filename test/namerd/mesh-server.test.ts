import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createNamers } from '../../src/namers/registry.js';
import { readDtab, readPath, Path } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { MeshServer } from '../../src/namerd/mesh/server.js';
import { meshServices } from '../../src/namerd/mesh/proto.js';
import { boundTreeFromMsg, dtabFromMsg, dtabToMsg, pathFromMsg, pathToMsg, replicasToAddr } from '../../src/namerd/mesh/codec.js';

const dir = mkdtempSync(join(tmpdir(), 'namerd-mesh-'));
writeFileSync(join(dir, 'web'), '127.0.0.1 8080\n');
const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/io.l5d.fs' } });
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const server = new MeshServer(new Namespaces(store, namers), { ip: '127.0.0.1', port: 0 });
const port = await server.listen();
const svc = meshServices();
const target = `127.0.0.1:${port}`;
const creds = grpc.credentials.createInsecure();
type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
const interpreter = new svc.Interpreter(target, creds) as unknown as Client;
const resolver = new svc.Resolver(target, creds) as unknown as Client;
const delegator = new svc.Delegator(target, creds) as unknown as Client;
const codec = new svc.Codec(target, creds) as unknown as Client;
after(async () => {
  for (const c of [interpreter, resolver, delegator, codec]) c.close();
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function unary<T>(client: Client, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(req, (err: grpc.ServiceError | null, rsp: T) => (err ? reject(err) : resolve(rsp)));
  });
}

/** Collects `n` messages of a server stream, running `between(i)` after message i (< n-1). */
function stream<T>(client: Client, method: string, req: unknown, n: number, between: (i: number) => Promise<void> = async () => {}): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    const call = client[method]!(req) as grpc.ClientReadableStream<T>;
    const timer = setTimeout(() => {
      call.cancel();
      reject(new Error(`only ${out.length} messages`));
    }, 5000);
    call.on('data', (m: T) => {
      out.push(m);
      if (out.length === n) {
        clearTimeout(timer);
        call.cancel();
        resolve(out);
      } else {
        between(out.length - 1).catch(reject);
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) reject(e);
    });
  });
}

const root = pathToMsg(Path.utf8('default'));

test('Interpreter.GetBoundTree binds through the namespace dtab plus request dentries', async () => {
  const rsp = await unary<{ tree: unknown }>(interpreter, 'GetBoundTree', { root, name: pathToMsg(readPath('/svc/web/x')) });
  const tree = boundTreeFromMsg(rsp.tree as never);
  assert.equal(tree.type, 'leaf');
  if (tree.type === 'leaf') {
    assert.equal(tree.value.id.show(), '/#/io.l5d.fs/web');
    assert.equal(tree.value.residual.show(), '/x');
  }
  const neg = await unary<{ tree: unknown }>(interpreter, 'GetBoundTree', { root, name: pathToMsg(readPath('/nope')) });
  assert.equal(boundTreeFromMsg(neg.tree as never).type, 'neg');
  const local = await unary<{ tree: unknown }>(interpreter, 'GetBoundTree', {
    root,
    name: pathToMsg(readPath('/alias')),
    dtab: dtabToMsg(readDtab('/alias=>/svc/web')),
  });
  const lt = boundTreeFromMsg(local.tree as never);
  assert.equal(lt.type === 'leaf' ? lt.value.id.show() : lt.type, '/#/io.l5d.fs/web');
});

test('Interpreter.StreamBoundTree pushes a new tree when the dtab changes', async () => {
  await store.create('s', readDtab('/svc=>/#/io.l5d.fs'));
  const msgs = await stream<{ tree: unknown }>(interpreter, 'StreamBoundTree', { root: pathToMsg(Path.utf8('s')), name: pathToMsg(readPath('/svc/web')) }, 2, async () => {
    await store.put('s', readDtab('/svc=>/$/nil'));
  });
  assert.deepEqual(msgs.map((m) => boundTreeFromMsg(m.tree as never).type), ['leaf', 'empty']);
});

test('Resolver: replicas of a bound id, streamed as the fs file changes', async () => {
  const id = pathToMsg(readPath('/#/io.l5d.fs/web'));
  assert.deepEqual(replicasToAddr(await unary(resolver, 'GetReplicas', { id })), {
    type: 'bound',
    addrs: [{ host: '127.0.0.1', port: 8080, meta: {} }],
    meta: {},
  });
  const msgs = await stream<unknown>(resolver, 'StreamReplicas', { id }, 2, async () => {
    writeFileSync(join(dir, 'web'), '127.0.0.1 8080\n127.0.0.2 9090\n');
  });
  const last = replicasToAddr(msgs[1] as never);
  assert.deepEqual(last.type === 'bound' ? last.addrs.map((a) => `${a.host}:${a.port}`) : last, ['127.0.0.1:8080', '127.0.0.2:9090']);
  assert.equal(replicasToAddr(await unary(resolver, 'GetReplicas', { id: pathToMsg(readPath('/#/io.l5d.fs/none')) })).type, 'neg');
});

test('Delegator: GetDtab with its version, GetDelegateTree, unknown namespace NOT_FOUND', async () => {
  const d = await unary<{ dtab: { version: { id: Buffer }; dtab: unknown } }>(delegator, 'GetDtab', { root });
  assert.equal(dtabFromMsg(d.dtab.dtab as never).show(), '/svc=>/#/io.l5d.fs');
  assert.ok(d.dtab.version.id.length > 0);
  await assert.rejects(unary(delegator, 'GetDtab', { root: pathToMsg(Path.utf8('missing')) }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  const t = await unary<{ tree: { path: unknown; delegate?: { path: unknown; leaf?: { id: unknown } } } }>(delegator, 'GetDelegateTree', {
    root,
    tree: { leaf: { id: pathToMsg(readPath('/svc/web')) } },
  });
  assert.equal(pathFromMsg(t.tree.path as never).show(), '/svc/web');
  assert.equal(pathFromMsg(t.tree.delegate?.path as never).show(), '/#/io.l5d.fs/web');
  assert.equal(pathFromMsg(t.tree.delegate?.leaf?.id as never).show(), '/#/io.l5d.fs/web');
});

test('Codec: read and show dtabs and paths; bad text is INVALID_ARGUMENT with the parser message', async () => {
  const r = await unary<{ dtab: unknown }>(codec, 'ReadDtab', { text: '/a/*/c => 0.3*/b & /d | ~' });
  assert.equal((await unary<{ text: string }>(codec, 'ShowDtab', { dtab: r.dtab })).text, '/a/*/c=>0.30*/b & /d | ~');
  const p = await unary<{ path: unknown }>(codec, 'ReadPath', { text: '/foo/\\x00bar' });
  assert.equal((await unary<{ text: string }>(codec, 'ShowPath', { path: p.path })).text, '/foo/\\x00\\x62\\x61\\x72');
  await assert.rejects(unary(codec, 'ReadDtab', { text: '/a=>b' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === "simple expected but 'b' found at '/a=>[b]'");
  await assert.rejects(unary(codec, 'ReadPath', { text: 'x' }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
});

test('close() cuts open watch streams after its grace instead of waiting for them forever', { timeout: 5000 }, async () => {
  const own = new MeshServer(new Namespaces(store, namers), { ip: '127.0.0.1', port: 0 });
  const ownPort = await own.listen();
  const client = new svc.Interpreter(`127.0.0.1:${ownPort}`, creds) as unknown as Client;
  try {
    const call = client['StreamBoundTree']!({ root: pathToMsg(readPath('/default')), name: pathToMsg(readPath('/svc/web')) }) as grpc.ClientReadableStream<unknown>;
    const ended = new Promise<string>((resolve) => {
      call.on('error', (e: grpc.ServiceError) => resolve(`error ${e.code}`));
      call.on('end', () => resolve('end'));
    });
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    const t0 = Date.now();
    await own.close(200);
    const took = Date.now() - t0;
    assert.ok(took < 1500, `close took ${took} ms`);
    assert.match(await ended, /^(end|error \d+)$/);
  } finally {
    client.close();
  }
});

test('a stream refused at its start ends with its gRPC status (INVALID_ARGUMENT), not CANCELLED', async () => {
  const call = (interpreter['StreamBoundTree']!({ name: pathToMsg(Path.utf8('svc', 'web')) }) as grpc.ClientReadableStream<unknown>);
  const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  assert.deepEqual([err.code, err.details], [grpc.status.INVALID_ARGUMENT, 'root (the namespace) is required']);
});

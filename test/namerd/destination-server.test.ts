/**
 * namerd's io.l5d.destination interface (Linkerd 2's destination API) through a grpc-js client:
 * the updates a Linkerd 2 proxy gets as an io.l5d.fs endpoint file changes, the Kubernetes DNS
 * name forms, the interface's namespace, IPv6 and host names, and the refusals.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createNamers } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { DestinationServer, destinationService, serviceOf, tcpAddress } from '../../src/namerd/destination/server.js';

const dir = mkdtempSync(join(tmpdir(), 'namerd-dest-'));
writeFileSync(join(dir, 'web'), '127.0.0.1 8080\n');
const store = createStore({
  kind: 'io.l5d.inMemory',
  namespaces: {
    default: '/svc => /#/io.l5d.fs; /svc/v6 => /$/inet/::1/9000; /svc/local => /$/inet/localhost/7000',
    internal: '/svc => /$/inet/127.0.0.9/1234',
  },
});
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const namespaces = new Namespaces(store, namers);
const server = new DestinationServer(namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'default' });
const internal = new DestinationServer(namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'internal' });
const port = await server.listen();
const internalPort = await internal.listen();
const { Destination } = destinationService();
const creds = grpc.credentials.createInsecure();
type Client = grpc.Client & { Get(req: unknown): grpc.ClientReadableStream<Update> };
const client = new Destination(`127.0.0.1:${port}`, creds) as unknown as Client;
const internalClient = new Destination(`127.0.0.1:${internalPort}`, creds) as unknown as Client;
/** Replaces an endpoint file at once (a watcher never reads it half written). */
function put(name: string, text: string): void {
  writeFileSync(join(dir, `.${name}.tmp`), text);
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
}

after(async () => {
  client.close();
  internalClient.close();
  await server.close();
  await internal.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Tcp = { ip: { ipv4?: number; ipv6?: { first: string; last: string } }; port: number };
type Update = { update: 'add' | 'remove' | 'no_endpoints'; add?: { addrs: { addr: Tcp; weight: number }[] }; remove?: { addrs: Tcp[] }; no_endpoints?: { exists: boolean } };

/** An update as text: `none(true)`, `add 127.0.0.1:8080/1 ...`, `remove ...`. */
function show(u: Update): string {
  const addr = (t: Tcp): string => {
    if (t.ip.ipv4 !== undefined) return `${t.ip.ipv4 >>> 24}.${(t.ip.ipv4 >>> 16) & 255}.${(t.ip.ipv4 >>> 8) & 255}.${t.ip.ipv4 & 255}:${t.port}`;
    return `v6(${t.ip.ipv6!.first},${t.ip.ipv6!.last}):${t.port}`;
  };
  if (u.update === 'no_endpoints') return `none(${u.no_endpoints?.exists === true})`;
  if (u.update === 'add') return `add ${u.add!.addrs.map((w) => `${addr(w.addr)}/${w.weight}`).sort().join(' ')}`;
  return `remove ${u.remove!.addrs.map(addr).sort().join(' ')}`;
}

/** Opens Get and returns a reader of its next update (bounded wait). */
function open(c: Client, req: { scheme?: string; path?: string }): { next(ms?: number): Promise<string>; call: grpc.ClientReadableStream<Update>; error: Promise<grpc.ServiceError> } {
  const call = c.Get(req);
  const queue: string[] = [];
  let waiter: ((s: string) => void) | undefined;
  call.on('data', (u: Update) => {
    const s = show(u);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(s);
    } else queue.push(s);
  });
  const error = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  return {
    call,
    error,
    next: (ms = 5000) =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('no update')), ms);
            waiter = (s) => {
              clearTimeout(t);
              resolve(s);
            };
          }),
  };
}

test('Get streams no_endpoints(exists) then add, later adds and removes, no_endpoints when gone, the whole set after', async () => {
  const s = open(client, { scheme: 'k8s', path: 'web.default.svc.cluster.local:8080' });
  try {
    assert.equal(await s.next(), 'none(true)');
    assert.equal(await s.next(), 'add 127.0.0.1:8080/1');
    put('web', '127.0.0.1 8080\n127.0.0.2 9090\n');
    assert.equal(await s.next(), 'add 127.0.0.2:9090/1');
    put('web', '127.0.0.2 9090\n');
    assert.equal(await s.next(), 'remove 127.0.0.1:8080');
    rmSync(join(dir, 'web'));
    assert.equal(await s.next(), 'none(false)');
    put('web', '127.0.0.2 9090\n127.0.0.3 9090\n');
    // After no_endpoints the proxy has dropped its set: what it gets next are adds, from an
    // empty set (the namer may pass through the file's previous contents on the way).
    const set = new Set<string>();
    for (let i = 0; i < 5 && set.size < 2; i++) {
      const u = await s.next();
      assert.match(u, /^add /);
      for (const a of u.slice(4).split(' ')) set.add(a);
    }
    assert.deepEqual([...set].sort(), ['127.0.0.2:9090/1', '127.0.0.3:9090/1']);
  } finally {
    s.call.cancel();
  }
});

test('a name that does not bind gets no_endpoints(false); the interface\'s namespace chooses the dtab', async () => {
  const none = open(client, { scheme: 'k8s', path: 'nosuch.default.svc.cluster.local' });
  try {
    assert.equal(await none.next(), 'none(false)');
  } finally {
    none.call.cancel();
  }
  const s = open(internalClient, { scheme: 'k8s', path: 'anything:80' });
  try {
    assert.equal(await s.next(), 'none(true)');
    assert.equal(await s.next(), 'add 127.0.0.9:1234/1');
  } finally {
    s.call.cancel();
  }
});

test('IPv6 addresses are sent as IPv6; host names as the addresses they name', async () => {
  const v6 = open(client, { scheme: 'k8s', path: 'v6.default.svc.cluster.local' });
  try {
    assert.equal(await v6.next(), 'none(true)');
    assert.equal(await v6.next(), 'add v6(0,1):9000/1');
  } finally {
    v6.call.cancel();
  }
  const local = open(client, { scheme: 'k8s', path: 'local' });
  try {
    assert.equal(await local.next(), 'none(true)');
    assert.match(await local.next(), /^add (.* )?127\.0\.0\.1:7000\/1/);
  } finally {
    local.call.cancel();
  }
});

test('a scheme other than k8s and an empty path are UNIMPLEMENTED, as in Linkerd', async () => {
  const http = open(client, { scheme: 'http', path: 'web.default' });
  const e1 = await http.error;
  assert.deepEqual([e1.code, e1.details], [grpc.status.UNIMPLEMENTED, 'Unknown scheme: http']);
  const empty = open(client, { scheme: 'k8s' });
  const e2 = await empty.error;
  assert.deepEqual([e2.code, e2.details], [grpc.status.UNIMPLEMENTED, 'Empty request path']);
  const dot = open(client, { scheme: 'k8s', path: '.default' });
  assert.equal((await dot.error).code, grpc.status.INVALID_ARGUMENT);
});

test('tcpAddress and serviceOf', () => {
  assert.deepEqual(tcpAddress('10.1.2.3', 80), { ip: { ipv4: (10 * 2 ** 24 + 1 * 2 ** 16 + 2 * 2 ** 8 + 3) }, port: 80 });
  assert.deepEqual(tcpAddress('255.255.255.255', 1).ip, { ipv4: 2 ** 32 - 1 });
  assert.deepEqual(tcpAddress('2001:db8::1', 443).ip, { ipv6: { first: (0x20010db8n << 32n).toString(), last: '1' } });
  assert.deepEqual(tcpAddress('::ffff:1.2.3.4', 443).ip, { ipv6: { first: '0', last: ((0xffffn << 32n) | 0x01020304n).toString() } });
  assert.deepEqual(tcpAddress('fe80::1:2:3:4', 1).ip, { ipv6: { first: (0xfe80n << 48n).toString(), last: ((1n << 48n) | (2n << 32n) | (3n << 16n) | 4n).toString() } });
  assert.deepEqual(['users.ns.svc.cluster.local:8080', 'users:8080', 'users'].map(serviceOf), ['users', 'users', 'users']);
});

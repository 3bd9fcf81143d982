/**
 * io.l5d.namerd.http (src/interpreters/namerd-http.ts) against an in-process namerd
 * (io.l5d.inMemory behind io.l5d.httpController on loopback), plus hand-written namerd answers
 * for the edge cases: exact bound trees and Addrs, dtab writes followed, the dtab sent, shared
 * streams, namerd stopped / restarted on the same port / started late, errors, TLS.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import '../../src/config/builtin-plugins.js';
import { parseNamerdConfig } from '../../src/config/load.js';
import { startNamerd, type RunningNamerd } from '../../src/namerd/namerd.js';
import { HttpController } from '../../src/namerd/http-controller.js';
import { NamerdHttpInterpreter } from '../../src/interpreters/namerd-http.js';
import { InterpreterError } from '../../src/interpreters/errors.js';
import { Dtab, readDtab, readPath } from '../../src/naming/index.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { freePort, onChosenPort } from '../support/process.js';
import { eventually, okTree, plainAddr, watch } from './support.js';
import { makeTestCerts } from '../support/certs.js';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const RETRY = { baseSeconds: 0.05, maxSeconds: 0.5 };
const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;

/** An in-process namerd with the `default` namespace set to `dtab`, its httpController on `port`. */
async function namerd(dtab: string, port = 0, extraNamespaces = ''): Promise<{ n: RunningNamerd; port: number }> {
  const yaml =
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: ${JSON.stringify(dtab)}\n${extraNamespaces}` +
    `interfaces:\n- kind: io.l5d.httpController\n  ip: 127.0.0.1\n  port: ${port}\n`;
  // A fixed port (a restart on the same port) may be taken for a moment by another test file.
  const n = await onChosenPort(() => startNamerd(parseNamerdConfig(yaml, 'namerd.yaml')));
  let closed = false;
  const close = n.close;
  const wrapped: RunningNamerd = { ...n, close: async () => (closed ? undefined : ((closed = true), close())) };
  cleanups.push(() => wrapped.close());
  return { n: wrapped, port: n.listeners.find((l) => l.kind === 'io.l5d.httpController')!.port };
}

function interpreter(port: number, extra: Record<string, unknown> = {}): NamerdHttpInterpreter {
  const i = new NamerdHttpInterpreter({ dst: inet(port), namespace: 'default', retry: RETRY, ...extra }, readPath);
  cleanups.push(() => i.close());
  return i;
}

async function putDtab(port: number, dtab: string, ns = 'default'): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${port}/api/1/dtabs/${ns}`, { method: 'PUT', headers: { 'content-type': 'application/dtab' }, body: dtab });
  assert.equal(r.status, 204, await r.text());
}

/**
 * namerd's API behind a server that records every request URL and counts live requests (the
 * controller's own handler does the work).
 */
async function recordingFront(n: RunningNamerd, tls?: { key: Buffer; cert: Buffer }) {
  const controller = new HttpController(n.namespaces, { ip: '127.0.0.1', port: 0 });
  const urls: string[] = [];
  let live = 0;
  let idleWaiters: Array<() => void> = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    urls.push(req.url!);
    live++;
    res.on('close', () => {
      live--;
      if (live === 0) {
        const w = idleWaiters;
        idleWaiters = [];
        for (const f of w) f();
      }
    });
    controller.handle(req, res).catch((e: Error) => {
      res.statusCode = 500;
      res.end(e.message);
    });
  };
  const server: Server = tls ? (createHttpsServer(tls, handler) as unknown as Server) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  cleanups.push(close);
  return {
    port: (server.address() as AddressInfo).port,
    urls,
    live: () => live,
    idle: (ms = 3000): Promise<void> =>
      live === 0
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`${live} requests still open after ${ms} ms`)), ms);
            idleWaiters.push(() => (clearTimeout(t), resolve()));
          }),
  };
}

test('bind follows /api/1/bind: the exact bound tree and Addr, and every dtab write after', async () => {
  const { port } = await namerd(`/svc/web => ${inet(8081)}`);
  const i = interpreter(port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web/a/b')).states, cleanups);
  const s = await tree.until((x) => x.type === 'ok');
  assert.deepEqual(okTree(s), { id: inet(8081), residual: '/a/b' });
  const leaf = (s as { value: NameTree<BoundName> }).value as { value: BoundName };
  const addr = watch(leaf.value.addr, cleanups);
  assert.deepEqual(plainAddr(await addr.until((a) => a.type === 'bound')), { addrs: ['127.0.0.1:8081 {}'], meta: {} });

  const cases: Array<[string, unknown]> = [
    [`/svc/web => 3 * ${inet(8081)} & 1 * ${inet(8082)}`, { union: [[3, { id: inet(8081), residual: '/a/b' }], [1, { id: inet(8082), residual: '/a/b' }]] }],
    ['/svc/web => ~', 'neg'],
    ['/svc/web => !', 'fail'],
    ['/svc/web => $', 'empty'],
    [`/svc => /x; /svc/web => ${inet(8083)}`, { id: inet(8083), residual: '/a/b' }],
  ];
  for (const [dtab, want] of cases) {
    await putDtab(port, dtab);
    await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify(want), 3000, `tree for ${dtab}`);
  }
});

test('the dtab handed to bind is sent whole as namerd\'s request dtab, after the namespace\'s own', async () => {
  const { n } = await namerd(`/svc/web => ${inet(8081)}`);
  const front = await recordingFront(n);
  const i = interpreter(front.port);
  // What the router hands the interpreter: its base dtab followed by the request's dentries.
  const base = readDtab('/svc => /alias');
  const local = readDtab(`/alias/web => ${inet(8083)}`);
  const t = watch(i.bind(base.concat(local), readPath('/svc/web')).states, cleanups);
  const s = await t.until((x) => x.type === 'ok');
  assert.deepEqual(okTree(s), { id: inet(8083), residual: '/' }, 'the request dentries win over the namespace dtab');
  const a = watch(((s as { value: NameTree<BoundName> }).value as { value: BoundName }).value.addr, cleanups);
  await a.until((x) => x.type === 'bound');
  assert.equal(front.urls.length, 2, front.urls.join('\n'));
  const bindUrl = new URL(front.urls[0]!, 'http://namerd');
  assert.equal(bindUrl.pathname, '/api/1/bind/default');
  assert.deepEqual([...bindUrl.searchParams.entries()].sort(), [
    ['dtab', `/svc=>/alias;/alias/web=>${inet(8083)}`],
    ['path', '/svc/web'],
    ['watch', 'true'],
  ]);
  const addrUrl = new URL(front.urls[1]!, 'http://namerd');
  assert.equal(addrUrl.pathname, '/api/1/addr/default');
  assert.deepEqual([...addrUrl.searchParams.entries()].sort(), [['path', inet(8083)], ['watch', 'true']]);

  // An empty dtab is sent as an empty parameter, as Linkerd sends `dtab.show`.
  const e = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await e.until((x) => x.type === 'ok')), { id: inet(8081), residual: '/' });
  assert.equal(new URL(front.urls[2]!, 'http://namerd').searchParams.get('dtab'), '');
});

test('observers share one stream per (dtab, path) and per id; the last observer closes them; the namespace is in the URL', async () => {
  const { n } = await namerd(`/svc/web => ${inet(8081)}`, 0, `    staging: ${JSON.stringify(`/svc/web => ${inet(9090)}`)}\n`);
  const front = await recordingFront(n);
  const i = interpreter(front.port);
  const act1 = i.bind(Dtab.empty, readPath('/svc/web'));
  const act2 = i.bind(Dtab.empty, readPath('/svc/web'));
  assert.equal(act1, act2, 'one activity per (dtab, path)');
  const w1 = watch(act1.states, cleanups);
  const w2 = watch(act2.states, cleanups);
  const s = await w1.until((x) => x.type === 'ok');
  await w2.until((x) => x.type === 'ok');
  const id = ((s as { value: NameTree<BoundName> }).value as { value: BoundName }).value;
  assert.equal(id.addr, i.addr(readPath(inet(8081))), 'one Addr var per bound id');
  const a1 = watch(id.addr, cleanups);
  const a2 = watch(i.addr(readPath(inet(8081))), cleanups);
  await a1.until((x) => x.type === 'bound');
  await a2.until((x) => x.type === 'bound');
  assert.equal(front.urls.length, 2, `one bind and one addr stream: ${front.urls.join(', ')}`);
  assert.equal(front.live(), 2);
  assert.equal(i.stats.opened, 2);
  w1.close();
  a1.close();
  assert.equal(front.live(), 2, 'streams stay while one observer is left');
  w2.close();
  a2.close();
  await front.idle();
  assert.equal(front.live(), 0);

  const staging = interpreter(front.port, { namespace: 'staging' });
  const st = watch(staging.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await st.until((x) => x.type === 'ok')), { id: inet(9090), residual: '/' });
  assert.equal(new URL(front.urls[2]!, 'http://namerd').pathname, '/api/1/bind/staging');
  st.close();
});

test('namerd stopped: the last tree and Addr stay; restarted on the same port with another dtab: followed after reconnect', async () => {
  const port = await freePort();
  const first = await namerd(`/svc/web => ${inet(8081)}`, port);
  const i = interpreter(port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  const s = await tree.until((x) => x.type === 'ok');
  const addr = watch(((s as { value: NameTree<BoundName> }).value as { value: BoundName }).value.addr, cleanups);
  await addr.until((a) => a.type === 'bound');
  assert.equal(i.stats.opened, 2);

  await first.n.close();
  // Both streams end, and at least one reconnect attempt fails against the closed port.
  await eventually(() => i.stats.ended >= 3, 3000, 'the streams ended and a reconnect failed');
  assert.deepEqual(okTree(tree.last()), { id: inet(8081), residual: '/' }, 'the last tree is kept');
  assert.deepEqual(plainAddr(addr.last()), { addrs: ['127.0.0.1:8081 {}'], meta: {} }, 'the last Addr is kept');

  const t0 = Date.now();
  await namerd(`/svc/web => ${inet(8082)}`, port);
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: inet(8082), residual: '/' }), 3000, 'the new tree');
  // maxSeconds is 0.5: the reconnect lands within one capped wait plus the round trip.
  assert.ok(Date.now() - t0 < 1500, `followed after ${Date.now() - t0} ms`);
  const s2 = tree.last() as { value: { value: BoundName } };
  const addr2 = watch(s2.value.value.addr, cleanups);
  assert.deepEqual(plainAddr(await addr2.until((a) => a.type === 'bound')), { addrs: ['127.0.0.1:8082 {}'], meta: {} });
});

test('an interpreter started while namerd is down stays pending, and is ok once namerd starts', async () => {
  const port = await freePort();
  const i = interpreter(port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => i.stats.ended >= 2, 3000, 'two failed connection attempts');
  assert.equal(tree.last().type, 'pending');
  await namerd(`/svc/web => ${inet(8084)}`, port);
  const s = await tree.until((x) => x.type === 'ok', 3000, 'ok after namerd started');
  assert.deepEqual(okTree(s), { id: inet(8084), residual: '/' });
});

/** A fake namerd whose watch responses the test writes line by line (or chunk by chunk). */
async function scriptedNamerd() {
  const streams = new Map<string, ServerResponse>();
  const waiters = new Map<string, (r: ServerResponse) => void>();
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://namerd');
    const key = `${url.pathname} ${url.searchParams.get('path')}`;
    if (url.searchParams.get('path') === '/svc/missing') {
      res.statusCode = 404;
      res.end('no such thing\n');
      return;
    }
    if (url.searchParams.get('path') === '/svc/busy') {
      res.statusCode = 503;
      res.end('store unavailable\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    streams.set(key, res);
    waiters.get(key)?.(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    stream: (key: string): Promise<ServerResponse> =>
      streams.has(key) ? Promise.resolve(streams.get(key)!) : new Promise((r) => waiters.set(key, r)),
  };
}

test('namerd answers: every JSON tree shape, lines split across chunks, failures, 4xx and 5xx', async () => {
  const fake = await scriptedNamerd();
  const i = interpreter(fake.port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  const res = await fake.stream('/api/1/bind/default /svc/web');
  res.write('{"type":"leaf","bound":{"addr":{"type":"neg"},');
  res.write('"id":"/#/io.l5d.fs/web","path":"/x"}}\n{"type":"alt","alt":[{"type":"neg"},{"type":"empty"}]}');
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: '/#/io.l5d.fs/web', residual: '/x' }));
  res.write('\n');
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ alt: ['neg', 'empty'] }));
  res.write('{"type":"union","union":[{"weight":0.3,"tree":{"type":"fail"}},{"weight":0.7,"tree":{"type":"delegate","delegate":{"type":"leaf","bound":{"id":"/$/inet/10.0.0.1/80","path":"/"}}}}]}\n');
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ union: [[0.3, 'fail'], [0.7, { id: '/$/inet/10.0.0.1/80', residual: '/' }]] }));
  // A failed binding at namerd is a root `fail` with a message: a failed state, not a Fail tree.
  res.write('{"type":"fail","message":"Max recursion level: 100 reached in Namer lookup"}\n');
  let s = await tree.until((x) => x.type === 'failed');
  assert.equal((s as unknown as { error: InterpreterError }).error.code, 'MESH_ERR_INTERPRETER_RESPONSE');
  assert.equal((s as { error: Error }).error.message, 'Max recursion level: 100 reached in Namer lookup');
  res.write('{"type":"fail"}\n');
  await tree.until((x) => okTree(x) === 'fail');
  res.write('not json\n');
  s = await tree.until((x) => x.type === 'failed');
  assert.match((s as { error: Error }).error.message, /^unreadable answer from namerd: /);
  res.write('{"type":"leaf","bound":{}}\n');
  s = await tree.until((x) => x.type === 'failed' && x.error.message.includes('bound.id'));
  assert.equal((s as { error: Error }).error.message, 'unreadable bound tree from namerd: expected a leaf with bound.id, found {"type":"leaf","bound":{}}');

  const addr = watch(i.addr(readPath('/#/io.l5d.fs/web')), cleanups);
  const ares = await fake.stream('/api/1/addr/default /#/io.l5d.fs/web');
  ares.write('{"type":"bound","addrs":[{"ip":"10.0.0.1","port":80,"meta":{"nodeName":"n1"}},{"ip":"::1","port":81,"meta":{}}],"meta":{"m":1}}\n');
  assert.deepEqual(plainAddr(await addr.until((a) => a.type === 'bound')), { addrs: ['10.0.0.1:80 {"nodeName":"n1"}', '::1:81 {}'], meta: { m: 1 } });
  ares.write('{"type":"neg"}\n');
  await addr.until((a) => a.type === 'neg');
  ares.write('{"type":"failed","cause":"gone"}\n');
  assert.deepEqual(plainAddr(await addr.until((a) => a.type === 'failed')), { failed: 'gone' });

  // 4xx: namerd refused the request — a failed state with its answer.
  const missing = watch(i.bind(Dtab.empty, readPath('/svc/missing')).states, cleanups);
  s = await missing.until((x) => x.type === 'failed');
  assert.equal((s as { error: Error }).error.message, 'namerd answered 404 to /api/1/bind/default: no such thing');
  // 5xx: namerd is in trouble — the last state (here: pending) stays while it retries.
  const busy = watch(i.bind(Dtab.empty, readPath('/svc/busy')).states, cleanups);
  const before = i.stats.ended;
  await eventually(() => i.stats.ended >= before + 2, 3000, 'two 503 answers');
  assert.equal(busy.last().type, 'pending');
});

test('tls: trustCerts and commonName verify namerd; an untrusted certificate never binds', async () => {
  const certs = makeTestCerts();
  cleanups.push(() => certs.cleanup());
  const { n } = await namerd(`/svc/web => ${inet(8085)}`);
  const front = await recordingFront(n, { key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) });
  const good = interpreter(front.port, { tls: { trustCerts: [certs.caCert], commonName: 'localhost' } });
  const t = watch(good.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await t.until((x) => x.type === 'ok')), { id: inet(8085), residual: '/' });

  const untrusted = interpreter(front.port, { tls: { commonName: 'localhost' } });
  const u = watch(untrusted.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => untrusted.stats.ended >= 2, 3000, 'two refused handshakes');
  assert.equal(u.last().type, 'pending');

  const wrongName = interpreter(front.port, { tls: { trustCerts: [certs.caCert], commonName: 'namerd.example' } });
  const w = watch(wrongName.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => wrongName.stats.ended >= 2, 3000, 'two refused handshakes');
  assert.equal(w.last().type, 'pending');
});

test('delegate: namerd explains the name under its namespace dtab followed by the dtab given; errors are namerd\'s', async () => {
  const { port } = await namerd(`/svc/web => ${inet(8081)}`);
  const i = interpreter(port);
  assert.deepEqual(await i.delegate(readDtab('/svc=>/alias'), readPath('/svc/web')), {
    type: 'alt',
    path: '/svc/web',
    alt: [
      { type: 'neg', path: '/alias/web', dentry: { prefix: '/svc', dst: '/alias' } },
      {
        type: 'leaf',
        path: inet(8081),
        dentry: { prefix: '/svc/web', dst: inet(8081) },
        bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 8081, meta: {} }], meta: {} }, id: inet(8081), path: '/' },
      },
    ],
  });
  const fake = await scriptedNamerd();
  await assert.rejects(interpreter(fake.port).delegate(Dtab.empty, readPath('/svc/missing')), {
    code: 'MESH_ERR_INTERPRETER_RESPONSE',
    message: 'namerd answered 404 to /api/1/delegate/default: no such thing',
  });
});

test('config errors: dst, namespace and tls files name the key, what was found and what is allowed', () => {
  const where = { file: 'linkerd.yaml', keyPath: 'routers[1].interpreter' };
  const check = (cfg: Record<string, unknown>, message: string): void => {
    assert.throws(
      () => new NamerdHttpInterpreter({ dst: inet(4180), ...cfg } as never, readPath, where),
      (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_CONFIG' && e.message === message,
    );
  };
  check({ dst: '/#/io.l5d.fs/namerd' }, `linkerd.yaml: routers[1].interpreter.dst: found "/#/io.l5d.fs/namerd"; allowed: /$/inet/<host>/<port> naming namerd's interface`);
  check({ namespace: '' }, 'linkerd.yaml: routers[1].interpreter.namespace: found ""; allowed: a non-empty namerd namespace');
  check(
    { tls: { trustCerts: ['/nonexistent/ca.pem'] } },
    'linkerd.yaml: routers[1].interpreter.tls.trustCerts: found "/nonexistent/ca.pem"; allowed: a readable file (ENOENT)',
  );
});

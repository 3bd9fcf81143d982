/**
 * io.l5d.namerd (src/interpreters/namerd-thrift.ts) against an in-test namerd: a MuxServer on
 * loopback whose handler decodes each namer.thrift call, records it and holds it (a long poll)
 * until the test answers. Exact requests (stamps), exact trees, Addrs and delegation JSON,
 * retries with the same / the empty stamp after the backoff, discards, a silent connection
 * noticed by pings, TLS, close(), and config errors.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import '../../src/config/builtin-plugins.js';
import { parseLinkerdConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { NamerdThriftInterpreter, NOP_DENTRY } from '../../src/interpreters/namerd-thrift.js';
import { InterpreterError } from '../../src/interpreters/errors.js';
import { decodeCall, encodeApplicationException, encodeReply } from '../../src/namerd/thrift/codec.js';
import { THRIFT_APP_EXCEPTION, type BoundNode, type BoundTreeT, type DelegateNodeT, type NamerMethod, type NamerMethods, type NamerReply } from '../../src/namerd/thrift/types.js';
import { MuxServer } from '../../src/protocol/mux/index.js';
import type { ActivityState, BoundName } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { Dtab, readDtab, readPath } from '../../src/naming/index.js';
import { makeTestCerts } from '../support/certs.js';
import { eventually, okTree, plainAddr, watch, type Cleanups } from './support.js';

const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const RETRY = { baseSeconds: 0.1, maxSeconds: 0.4 };
const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const EMPTY_STAMP = Buffer.alloc(0);
const tpath = (p: string): Buffer[] => readPath(p).elems.map(B);

// ---------------------------------------------------------------------------------------------
// The scripted namerd

interface HeldCall<M extends NamerMethod> {
  readonly method: M;
  readonly req: NamerMethods[M]['req'];
  readonly signal: AbortSignal;
  /** Date.now() when the call arrived. */
  readonly at: number;
  answer(reply: NamerReply<M>): void;
  /** Answers with a TApplicationException (message type EXCEPTION). */
  appError(message: string): void;
}

class ScriptedNamerd {
  /** Every call received, in order. */
  readonly calls: HeldCall<NamerMethod>[] = [];
  private readonly unread: HeldCall<NamerMethod>[] = [];
  private readonly open = new Set<() => void>();
  private waiters: Array<() => void> = [];
  readonly server: MuxServer;
  port = 0;

  constructor(tls?: TlsOptions) {
    this.server = new MuxServer({
      ip: '127.0.0.1',
      port: 0,
      ...(tls ? { tls } : {}),
      handler: (body, signal) =>
        new Promise<Buffer>((resolve, reject) => {
          const c = decodeCall(body);
          const release = (): void => {
            this.open.delete(release);
            reject(new Error('released by the test'));
          };
          this.open.add(release);
          const settle = (b: Buffer): void => {
            this.open.delete(release);
            resolve(b);
          };
          const held: HeldCall<NamerMethod> = {
            method: c.method,
            req: c.req,
            signal,
            at: Date.now(),
            answer: (r) => settle(encodeReply(c.method, c.seqid, r as never)),
            appError: (m) => settle(encodeApplicationException(c.method, c.seqid, THRIFT_APP_EXCEPTION.INTERNAL_ERROR, m)),
          };
          signal.addEventListener('abort', release, { once: true });
          this.calls.push(held);
          this.unread.push(held);
          const w = this.waiters;
          this.waiters = [];
          for (const f of w) f();
        }),
    });
  }

  async start(): Promise<this> {
    this.port = (await this.server.listen()).port;
    cleanups.unshift(async () => {
      for (const r of [...this.open]) r();
      await this.server.close();
    });
    return this;
  }

  /** The oldest call of `method` the test has not taken yet (waits, bounded). */
  async next<M extends NamerMethod>(method: M, ms = 3000): Promise<HeldCall<M>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.unread.findIndex((c) => c.method === method);
      if (i >= 0) return this.unread.splice(i, 1)[0] as unknown as HeldCall<M>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${method} call within ${ms} ms (calls so far: ${this.calls.map((c) => c.method).join(', ')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  unreadOf(method: NamerMethod): number {
    return this.unread.filter((c) => c.method === method).length;
  }
}

/**
 * A TCP relay in front of the namerd: `cut()` drops every connection (a lost connection, the
 * relay keeps listening), `freeze()` keeps them open but lets nothing through.
 */
async function relay(target: number): Promise<{ port: number; live(): number; cut(): void; freeze(): void }> {
  const live = new Set<Socket>();
  const frozen = new Set<Socket>();
  const server = createServer((c) => {
    const u = connect(target, '127.0.0.1');
    live.add(c).add(u);
    const drop = (): void => {
      c.destroy();
      u.destroy();
      live.delete(c);
      live.delete(u);
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.unshift(() => {
    for (const s of [...live, ...frozen]) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    live: () => live.size,
    cut: () => {
      for (const s of [...live]) s.destroy();
    },
    freeze: () => {
      for (const s of live) {
        s.unpipe();
        s.pause();
        frozen.add(s);
      }
      live.clear();
    },
  };
}

const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;

function interpreter(port: number, extra: Record<string, unknown> = {}): NamerdThriftInterpreter {
  const i = new NamerdThriftInterpreter({ dst: inet(port), retry: RETRY, ...extra } as never, readPath);
  cleanups.push(() => i.close());
  return i;
}

/** Every state a Var publishes, kept in order. */
function history<T>(v: { observe(fn: (x: T) => void): { close(): void } }): T[] {
  const seen: T[] = [];
  const h = v.observe((x) => seen.push(x));
  cleanups.push(() => h.close());
  return seen;
}

const leafNode = (id: string, residual = '/'): BoundNode => ({ type: 'leaf', leaf: { id: tpath(id), residual: tpath(residual) } });
const bound = (stamp: string, root: BoundNode, nodes: Array<[number, BoundNode]> = []): NamerReply<'bind'> => ({
  ok: true,
  value: { stamp: B(stamp), tree: { root, nodes: new Map(nodes) } as BoundTreeT, ns: 'default' },
});
const bindReq = (dtab: string, path: string, stamp: Buffer, ns = 'default'): NamerMethods['bind']['req'] => ({
  dtab,
  name: { stamp, name: tpath(path), ns },
  clientId: [],
});
const addrReq = (id: string, stamp: Buffer, ns = 'default'): NamerMethods['addr']['req'] => ({ name: { stamp, name: tpath(id), ns }, clientId: [] });

/** The leaf reached by following branch indexes (alt: tree i; union: weighted tree i). */
function leafAt(s: ActivityState<NameTree<BoundName>>, ...at: number[]): BoundName {
  assert.equal(s.type, 'ok');
  let t = (s as { value: NameTree<BoundName> }).value;
  for (const i of at) {
    if (t.type === 'alt') t = t.trees[i]!;
    else if (t.type === 'union') t = t.trees[i]!.tree;
    else assert.fail(`no branch ${i} in a ${t.type}`);
  }
  assert.equal(t.type, 'leaf');
  return (t as { value: BoundName }).value;
}

// ---------------------------------------------------------------------------------------------

test('bind: the exact tree (alt + union + leaf), addr of its leaves, stamps sent back, a change pushed', async () => {
  const namerd = await new ScriptedNamerd().start();
  const i = interpreter(namerd.port, { namespace: 'prod' });
  const dtab = readDtab('/svc => /srv;/srv/web => /#/io.l5d.fs/web');
  const tree = watch(i.bind(dtab, readPath('/svc/web/a')).states, cleanups);

  const c1 = await namerd.next('bind');
  assert.deepEqual(c1.req, { dtab: '/svc=>/srv;/srv/web=>/#/io.l5d.fs/web', name: { stamp: EMPTY_STAMP, name: [B('svc'), B('web'), B('a')], ns: 'prod' }, clientId: [] });
  assert.equal(tree.last().type, 'pending');
  // alt(union(3 * leaf, 1 * leaf), neg), numbered as Linkerd's mkTree does.
  c1.answer(
    bound('b1', { type: 'alt', alt: [0, 3] }, [
      [0, { type: 'weighted', weighted: [{ weight: 3, id: 1 }, { weight: 1, id: 2 }] }],
      [1, leafNode('/#/io.l5d.fs/web', '/a')],
      [2, leafNode('/#/io.l5d.fs/web-canary', '/a')],
      [3, { type: 'neg' }],
    ]),
  );
  const s1 = await tree.until((x) => x.type === 'ok');
  assert.deepEqual(okTree(s1), {
    alt: [{ union: [[3, { id: '/#/io.l5d.fs/web', residual: '/a' }], [1, { id: '/#/io.l5d.fs/web-canary', residual: '/a' }]] }, 'neg'],
  });
  // The next long poll carries the first answer's stamp.
  const c2 = await namerd.next('bind');
  assert.deepEqual(c2.req, bindReq('/svc=>/srv;/srv/web=>/#/io.l5d.fs/web', '/svc/web/a', B('b1'), 'prod'));

  // The leaf's Addr comes from addr, polled by id.
  const addr = watch(leafAt(s1, 0, 0).addr, cleanups);
  const a1 = await namerd.next('addr');
  assert.deepEqual(a1.req, addrReq('/#/io.l5d.fs/web', EMPTY_STAMP, 'prod'));
  const v6 = Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 7]);
  a1.answer({
    ok: true,
    value: {
      stamp: B('a1'),
      value: {
        type: 'bound',
        bound: {
          addresses: [
            { ip: Buffer.from([10, 0, 0, 1]), port: 8080, meta: { nodeName: 'node-1', endpointAddrWeight: 2.5 } },
            { ip: v6, port: 8081 },
            { ip: mapped, port: 8082, meta: { authority: 'web.internal:8082' } },
          ],
          meta: { authority: 'web.svc' },
        },
      },
    },
  });
  const got = await addr.until((a) => a.type === 'bound');
  assert.deepEqual(got, {
    type: 'bound',
    addrs: [
      { host: '10.0.0.1', port: 8080, meta: { nodeName: 'node-1', endpoint_addr_weight: 2.5 } },
      { host: '2001:db8:0:0:0:0:0:1', port: 8081, meta: {} },
      { host: '192.168.1.7', port: 8082, meta: { authority: 'web.internal:8082' } },
    ],
    meta: { authority: 'web.svc' },
  });
  const a2 = await namerd.next('addr');
  assert.deepEqual(a2.req, addrReq('/#/io.l5d.fs/web', B('a1'), 'prod'));
  // A change: namerd answers the held poll.
  a2.answer({ ok: true, value: { stamp: B('a2'), value: { type: 'neg' } } });
  assert.equal((await addr.until((a) => a.type === 'neg')).type, 'neg');
  assert.deepEqual((await namerd.next('addr')).req, addrReq('/#/io.l5d.fs/web', B('a2'), 'prod'));

  c2.answer(bound('b2', leafNode('/#/io.l5d.fs/web-v2', '/a')));
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: '/#/io.l5d.fs/web-v2', residual: '/a' }), 3000, 'the pushed tree');
  assert.equal((await namerd.next('bind')).req.name.stamp.toString(), 'b2');
  // Both bind observers share one loop: a second bind of the same key is the same Activity.
  assert.equal(i.bind(dtab, readPath('/svc/web/a')), i.bind(dtab, readPath('/svc/web/a')));
  assert.equal(namerd.calls.filter((c) => c.method === 'bind').length, 3);
});

test('bind: a node id missing from the map makes the state failed; the next answer is ok again', async () => {
  const namerd = await new ScriptedNamerd().start();
  const i = interpreter(namerd.port);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  (await namerd.next('bind')).answer(bound('x1', { type: 'alt', alt: [0, 7] }, [[0, leafNode('/#/a')]]));
  assert.deepEqual(okTree(await tree.until((x) => x.type === 'failed')), { failed: 'unreadable bound tree from namerd: unknown node id: 7' });
  const c2 = await namerd.next('bind');
  assert.equal(c2.req.name.stamp.toString(), 'x1');
  c2.answer(bound('x2', { type: 'empty' }));
  assert.equal(okTree(await tree.until((x) => x.type === 'ok')), 'empty');
});

test('bind: a BindFailure is retried with the same stamp after the backoff, a dropped connection with the empty stamp; the last tree stays', async () => {
  const namerd = await new ScriptedNamerd().start();
  const r = await relay(namerd.port);
  const i = interpreter(r.port);
  // Jitter pinned near its top, so each wait says which attempt it was.
  Object.assign(i, { backoff: { ...i.backoff, random: () => 0.999 } });
  const states = history(i.bind(Dtab.empty, readPath('/svc/web')).states);
  const good = { id: '/#/io.l5d.fs/web', residual: '/' };

  (await namerd.next('bind')).answer(bound('s1', leafNode('/#/io.l5d.fs/web')));
  const c2 = await namerd.next('bind');
  assert.deepEqual(c2.req, bindReq('', '/svc/web', B('s1')));
  const failedAt = Date.now();
  c2.answer({ ok: false, failure: { reason: 'namer exploded', retryInSeconds: 0, name: c2.req.name, ns: 'default' } });
  const c3 = await namerd.next('bind');
  assert.deepEqual(c3.req, bindReq('', '/svc/web', B('s1')), 'the same stamp again');
  const wait1 = c3.at - failedAt;
  // The first wait is exactly retry.baseSeconds (100 ms).
  assert.ok(wait1 >= 95 && wait1 < 1000, `retried after ${wait1} ms`);
  assert.deepEqual(states.map(okTree), ['pending', good], 'the failure published nothing');

  // The connection is lost while c3 is held.
  const cutAt = Date.now();
  r.cut();
  const c4 = await namerd.next('bind');
  assert.deepEqual(c4.req, bindReq('', '/svc/web', EMPTY_STAMP), 'the empty stamp after an error');
  const wait2 = c4.at - cutAt;
  // Second attempt in a row: jittered in [base, 2·base], here near 2·base.
  assert.ok(wait2 >= 190 && wait2 < 1000, `reconnected after ${wait2} ms`);
  assert.deepEqual(states.map(okTree), ['pending', good], 'the last tree stayed in place');
  assert.equal(i.stats.failures, 1);
  assert.ok(i.stats.errors >= 1);

  // An application exception is an error too: the empty stamp again.
  c4.appError('boom');
  const c5 = await namerd.next('bind');
  assert.deepEqual(c5.req.name.stamp, EMPTY_STAMP);
  c5.answer(bound('s2', leafNode('/#/io.l5d.fs/web2')));
  await eventually(() => states.length === 3, 3000, 'the new tree');
  assert.deepEqual(states.map(okTree), ['pending', good, { id: '/#/io.l5d.fs/web2', residual: '/' }]);
  // After a success the backoff starts again from base.
  const c6 = await namerd.next('bind');
  const failed2 = Date.now();
  c6.answer({ ok: false, failure: { reason: 'again', retryInSeconds: 0, name: c6.req.name, ns: 'default' } });
  const c7 = await namerd.next('bind');
  assert.equal(c7.req.name.stamp.toString(), 's2');
  // Without the reset this would be the fourth attempt in a row (near 4·base = 400 ms).
  assert.ok(c7.at - failed2 >= 95 && c7.at - failed2 < 300, `base wait after a success: ${c7.at - failed2} ms`);
});

test('addr: an AddrFailure is retried with the same stamp, an application exception with the empty stamp; bad ip bytes fail the Addr', async () => {
  const namerd = await new ScriptedNamerd().start();
  const i = interpreter(namerd.port);
  const seen = history(i.addr(readPath('/#/io.l5d.fs/web')));
  const a1 = await namerd.next('addr');
  a1.answer({ ok: true, value: { stamp: B('t1'), value: { type: 'bound', bound: { addresses: [{ ip: Buffer.from([127, 0, 0, 1]), port: 9000 }] } } } });
  const a2 = await namerd.next('addr');
  assert.deepEqual(a2.req, addrReq('/#/io.l5d.fs/web', B('t1')));
  const t0 = Date.now();
  a2.answer({ ok: false, failure: { reason: 'no such id', retryInSeconds: 0, name: a2.req.name } });
  const a3 = await namerd.next('addr');
  assert.deepEqual(a3.req, addrReq('/#/io.l5d.fs/web', B('t1')));
  assert.ok(a3.at - t0 >= 95, `retried after ${a3.at - t0} ms`);
  a3.appError('internal');
  const a4 = await namerd.next('addr');
  assert.deepEqual(a4.req, addrReq('/#/io.l5d.fs/web', EMPTY_STAMP));
  assert.deepEqual(seen.map(plainAddr), ['pending', { addrs: ['127.0.0.1:9000 {}'], meta: {} }]);
  a4.answer({ ok: true, value: { stamp: B('t2'), value: { type: 'bound', bound: { addresses: [{ ip: Buffer.from([1, 2, 3]), port: 1 }] } } } });
  await eventually(() => seen.length === 3, 3000, 'the failed Addr');
  assert.deepEqual(plainAddr(seen[2]!), { failed: 'unreadable address from namerd: an ip of 3 bytes (4 or 16 expected)' });
  assert.equal((await namerd.next('addr')).req.name.stamp.toString(), 't2');
});

test('stopping observation discards the pending long poll (the handler signal aborts) and stops the loop', async () => {
  const namerd = await new ScriptedNamerd().start();
  const i = interpreter(namerd.port);
  const act = i.bind(Dtab.empty, readPath('/svc/web'));
  const h = act.states.observe(() => {});
  const c1 = await namerd.next('bind');
  assert.equal(c1.signal.aborted, false);
  const aborted = new Promise<void>((resolve) => c1.signal.addEventListener('abort', () => resolve(), { once: true }));
  h.close();
  await Promise.race([aborted, new Promise((_, rej) => setTimeout(() => rej(new Error('no discard within 2000 ms')), 2000).unref())]);
  // Nothing more is sent: wait past a backoff and look.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(namerd.unreadOf('bind'), 0);
  assert.equal(namerd.calls.length, 1);
  // Observed again: a new loop, from the empty stamp.
  const h2 = act.states.observe(() => {});
  cleanups.push(() => h2.close());
  assert.deepEqual((await namerd.next('bind')).req.name.stamp, EMPTY_STAMP);
});

test('delegate: one DelegateReq with a path-leaf tree; the answer becomes Linkerd\'s delegation JSON', async () => {
  const namerd = await new ScriptedNamerd().start();
  const i = interpreter(namerd.port);
  const json = i.delegate(readDtab('/svc => /x'), readPath('/svc/web'), 2000);
  const d = await namerd.next('delegate');
  assert.deepEqual(d.req, {
    dtab: '/svc=>/x',
    delegation: {
      stamp: EMPTY_STAMP,
      tree: { root: { path: [B('svc'), B('web')], dentry: '/\\x2f=>~', contents: { type: 'pathLeaf', pathLeaf: [B('svc'), B('web')] } }, nodes: new Map() },
      ns: 'default',
    },
    clientId: [],
  });
  assert.equal(NOP_DENTRY, '/\\x2f=>~');
  const node = (path: string, dentry: string, contents: DelegateNodeT['contents']): DelegateNodeT => ({ path: tpath(path), dentry, contents });
  d.answer({
    ok: true,
    value: {
      stamp: EMPTY_STAMP,
      ns: 'default',
      tree: {
        root: node('/svc/web', NOP_DENTRY, { type: 'delegate', delegate: 3 }),
        nodes: new Map([
          [3, node('/x/web', '/svc=>/x', { type: 'alt', alt: [0, 1, 2] })],
          [0, node('/#/io.l5d.fs/web', '/x=>/#/io.l5d.fs', { type: 'boundLeaf', boundLeaf: { id: tpath('/#/io.l5d.fs/web'), residual: [] } })],
          [1, node('/y/web', '/x=>/y', { type: 'neg' })],
          [2, node('/z/web', '/x=>/z', { type: 'error', error: 'namer z failed' })],
        ]),
      },
    },
  });
  // The bound leaf's Addr is asked of namerd's addr.
  const a = await namerd.next('addr');
  assert.deepEqual(a.req, addrReq('/#/io.l5d.fs/web', EMPTY_STAMP));
  a.answer({ ok: true, value: { stamp: B('1'), value: { type: 'bound', bound: { addresses: [{ ip: Buffer.from([10, 1, 2, 3]), port: 8080, meta: { nodeName: 'n1' } }] } } } });
  assert.deepEqual(await json, {
    type: 'delegate',
    path: '/svc/web',
    delegate: {
      type: 'alt',
      path: '/x/web',
      dentry: { prefix: '/svc', dst: '/x' },
      alt: [
        {
          type: 'leaf',
          path: '/#/io.l5d.fs/web',
          dentry: { prefix: '/x', dst: '/#/io.l5d.fs' },
          bound: { addr: { type: 'bound', addrs: [{ ip: '10.1.2.3', port: 8080, meta: { nodeName: 'n1' } }], meta: {} }, id: '/#/io.l5d.fs/web', path: '/' },
        },
        { type: 'neg', path: '/y/web', dentry: { prefix: '/x', dst: '/y' } },
        { type: 'exception', path: '/z/web', dentry: { prefix: '/x', dst: '/z' }, message: 'namer z failed' },
      ],
    },
  });

  // A DelegationFailure rejects with its reason.
  const failing = i.delegate(Dtab.empty, readPath('/svc/web'), 2000);
  (await namerd.next('delegate')).answer({ ok: false, failure: { reason: 'dtab did not parse' } });
  await assert.rejects(failing, (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_RESPONSE' && e.message === 'namerd delegation failed: dtab did not parse');
  // No answer in time: rejected, and the held call is discarded.
  const slow = i.delegate(Dtab.empty, readPath('/svc/web'), 100);
  const held = await namerd.next('delegate');
  await assert.rejects(slow, (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_STREAM' && e.message === 'namerd delegation failed: no answer within 100 ms');
  await eventually(() => held.signal.aborted, 2000, 'the late delegate discarded');
});

test('failureThreshold: a silent connection is noticed by the mux pings and the poll starts over on a new one', { timeout: 15_000 }, async () => {
  const namerd = await new ScriptedNamerd().start();
  const r = await relay(namerd.port);
  const i = interpreter(r.port, { failureThreshold: { minPeriodMs: 100, closeTimeoutMs: 200 } });
  assert.deepEqual([i.pingIntervalMs, i.pingTimeoutMs], [100, 200]);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  (await namerd.next('bind')).answer(bound('p1', leafNode('/#/a')));
  await tree.until((x) => x.type === 'ok');
  await namerd.next('bind');
  r.freeze();
  const again = await namerd.next('bind', 5000);
  assert.deepEqual(again.req.name.stamp, EMPTY_STAMP);
  again.answer(bound('p2', leafNode('/#/b')));
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: '/#/b', residual: '/' }), 3000, 'the tree over the new connection');
  assert.deepEqual([interpreter(1).pingIntervalMs, interpreter(1).pingTimeoutMs], [5000, 4000], "Linkerd's defaults");
});

test('tls: caCert and commonName verify namerd; a wrong commonName never reaches it', async () => {
  const certs = makeTestCerts();
  cleanups.push(() => certs.cleanup());
  const namerd = await new ScriptedNamerd({ key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) }).start();
  const good = interpreter(namerd.port, { tls: { commonName: 'localhost', caCert: certs.caCert } });
  const t = watch(good.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  (await namerd.next('bind')).answer(bound('1', leafNode('/#/tls')));
  assert.deepEqual(okTree(await t.until((x) => x.type === 'ok')), { id: '/#/tls', residual: '/' });

  const wrong = interpreter(namerd.port, { tls: { commonName: 'namerd.example', caCert: certs.caCert } });
  const w = watch(wrong.bind(Dtab.empty, readPath('/svc/other')).states, cleanups);
  await eventually(() => wrong.stats.errors >= 2, 3000, 'two refused handshakes');
  assert.equal(w.last().type, 'pending');
  assert.deepEqual(
    namerd.calls.map((c) => c.method),
    ['bind', 'bind'],
    'only the good interpreter\'s polls arrived',
  );
});

test('close(): every loop stops, its calls are discarded, no socket stays open; observers keep their state', async () => {
  const namerd = await new ScriptedNamerd().start();
  const r = await relay(namerd.port);
  const i = new NamerdThriftInterpreter({ dst: inet(r.port), retry: RETRY }, readPath);
  const tree = watch(i.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  (await namerd.next('bind')).answer(bound('1', leafNode('/#/web')));
  const addr = watch(leafAt(await tree.until((x) => x.type === 'ok')).addr, cleanups);
  const b2 = await namerd.next('bind');
  const a1 = await namerd.next('addr');
  assert.equal(r.live(), 2, 'one mux session through the relay (both of its sockets)');
  i.close();
  await eventually(() => b2.signal.aborted && a1.signal.aborted, 2000, 'the held calls ended');
  await eventually(() => r.live() === 0, 2000, 'no socket left');
  await new Promise((res) => setTimeout(res, 250));
  assert.equal(namerd.unreadOf('bind') + namerd.unreadOf('addr'), 0, 'nothing sent after close');
  assert.deepEqual(okTree(tree.last()), { id: '/#/web', residual: '/' });
  assert.equal(addr.last().type, 'pending');
});

test('config errors name the key path, what was found and what is allowed', () => {
  const where = { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' };
  const check = (cfg: Record<string, unknown>, message: string): void => {
    assert.throws(
      () => new NamerdThriftInterpreter({ dst: inet(4100), ...cfg } as never, readPath, where),
      (e: unknown) => e instanceof InterpreterError && e.code === 'MESH_ERR_INTERPRETER_CONFIG' && e.message === message,
    );
  };
  check({ dst: '/$/inet/namerd' }, `linkerd.yaml: routers[0].interpreter.dst: found "/$/inet/namerd"; allowed: /$/inet/<host>/<port> naming namerd's interface`);
  check({ dst: '/#/io.l5d.serversets/namerd' }, `linkerd.yaml: routers[0].interpreter.dst: found "/#/io.l5d.serversets/namerd"; allowed: /$/inet/<host>/<port> naming namerd's interface`);
  check({ retry: { baseSeconds: 10, maxSeconds: 5 } }, 'linkerd.yaml: routers[0].interpreter.retry.maxSeconds: found 5; allowed: a number of seconds >= baseSeconds (10)');
  check({ retry: { baseSeconds: -1 } }, 'linkerd.yaml: routers[0].interpreter.retry.baseSeconds: found -1; allowed: a number of seconds >= 0');
  check({ namespace: '' }, 'linkerd.yaml: routers[0].interpreter.namespace: found ""; allowed: a non-empty namerd namespace');
  check({ failureThreshold: { minPeriodMs: 0 } }, 'linkerd.yaml: routers[0].interpreter.failureThreshold.minPeriodMs: found 0; allowed: a whole number of milliseconds >= 1');
  check({ tls: { commonName: 'namerd', caCert: '/nonexistent/ca.pem' } }, 'linkerd.yaml: routers[0].interpreter.tls.caCert: found "/nonexistent/ca.pem"; allowed: a readable file (ENOENT)');

  // Through the config loader: the schema names the key too.
  const load = (interp: string): ConfigError => {
    try {
      parseLinkerdConfig(`routers:\n- protocol: http\n  interpreter:\n${interp}  servers: [{port: 4140}]\n`, 'linkerd.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e;
    }
    assert.fail('loaded');
  };
  const ok = parseLinkerdConfig(`routers:\n- protocol: http\n  interpreter:\n    kind: io.l5d.namerd\n    dst: /$/inet/localhost/4100\n    retry: {baseSeconds: 0.05, maxSeconds: 1}\n  servers: [{port: 4140}]\n`, 'linkerd.yaml');
  assert.deepEqual(ok.routers[0]!.interpreter['retry'], { baseSeconds: 0.05, maxSeconds: 1 });
  assert.equal(ok.routers[0]!.interpreter['namespace'], 'default');
  assert.deepEqual(
    load('    kind: io.l5d.namerd\n    dst: /$/inet/localhost/4100\n    retry: {baseSeconds: -1}\n').errors.map((e) => e.keyPath),
    ['routers[0].interpreter.retry.baseSeconds'],
  );
  assert.deepEqual(
    load('    kind: io.l5d.namerd\n    dst: /$/inet/localhost/4100\n    tls: {caCert: ca.pem}\n').errors.map((e) => e.keyPath),
    ['routers[0].interpreter.tls.commonName'],
  );
});

test("against Meshwork's namerd (io.l5d.thriftNameInterpreter): bind follows a dtab write; delegate JSON equals namerd's HTTP API", async () => {
  const { parseNamerdConfig } = await import('../../src/config/load.js');
  const { startNamerd } = await import('../../src/namerd/namerd.js');
  const dtab = '/svc => /alias; /alias/web => 3 * /$/inet/127.0.0.1/8081 & 1 * /$/inet/127.0.0.1/8082';
  const yaml =
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: ${JSON.stringify(dtab)}\n` +
    `interfaces:\n- kind: io.l5d.thriftNameInterpreter\n  ip: 127.0.0.1\n  port: 0\n- kind: io.l5d.httpController\n  ip: 127.0.0.1\n  port: 0\n`;
  const n = await startNamerd(parseNamerdConfig(yaml, 'namerd.yaml'));
  // namerd closes last (after the interpreter's cleanup discards its polls).
  cleanups.unshift(() => n.close());
  const port = (kind: string): number => n.listeners.find((l) => l.kind === kind)!.port;
  const api = port('io.l5d.httpController');
  const i = interpreter(port('io.l5d.thriftNameInterpreter'));
  const tree = watch(i.bind(readDtab('/alias/web/x => /$/inet/127.0.0.1/8083'), readPath('/svc/web/y')).states, cleanups);
  const s = await tree.until((x) => x.type === 'ok');
  assert.deepEqual(okTree(s), { union: [[3, { id: '/$/inet/127.0.0.1/8081', residual: '/y' }], [1, { id: '/$/inet/127.0.0.1/8082', residual: '/y' }]] });
  const addr = watch(leafAt(s, 0).addr, cleanups);
  assert.deepEqual(plainAddr(await addr.until((a) => a.type === 'bound')), { addrs: ['127.0.0.1:8081 {}'], meta: {} });
  const put = await fetch(`http://127.0.0.1:${api}/api/1/dtabs/default`, { method: 'PUT', headers: { 'content-type': 'application/dtab' }, body: '/svc => /$/inet/127.0.0.1/9090' });
  assert.equal(put.status, 204);
  await tree.until((x) => JSON.stringify(okTree(x)) === JSON.stringify({ id: '/$/inet/127.0.0.1/9090', residual: '/web/y' }), 3000, 'the tree after the dtab write');

  const extra = '/svc/web/x => /$/fail';
  const viaThrift = await i.delegate(readDtab(extra), readPath('/svc/web/x'), 2000);
  const viaHttp = await (await fetch(`http://127.0.0.1:${api}/api/1/delegate/default?path=/svc/web/x&dtab=${encodeURIComponent(extra)}`)).json();
  assert.deepEqual(viaThrift, viaHttp);
  // The request's dentry is tried first (alt), then the namespace's.
  assert.deepEqual(viaThrift, {
    type: 'alt',
    path: '/svc/web/x',
    alt: [
      { type: 'fail', path: '/$/fail', dentry: { prefix: '/svc/web/x', dst: '/$/fail' } },
      {
        type: 'leaf',
        path: '/$/inet/127.0.0.1/9090/web/x',
        dentry: { prefix: '/svc', dst: '/$/inet/127.0.0.1/9090' },
        bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 9090, meta: {} }], meta: {} }, id: '/$/inet/127.0.0.1/9090', path: '/web/x' },
      },
    ],
  });
});

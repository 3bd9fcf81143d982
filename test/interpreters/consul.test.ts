/**
 * io.l5d.consul.interpreter (src/interpreters/consul.ts) against the in-test Consul
 * (test/support/fake-consul.ts, KV with blocking queries): the dtab at
 * `<pathPrefix>/<namespace>` is followed under the router's entries; a missing namespace is an
 * empty dtab; Consul going away keeps the last dtab.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { consulInterpreter } from '../../src/interpreters/consul.js';
import { Dtab, bind, readDtab, readPath } from '../../src/naming/index.js';
import { createNamers } from '../../src/namers/registry.js';
import { startFakeConsul, type FakeConsul } from '../support/fake-consul.js';
import { okTree, watch, type Cleanups } from './support.js';

let consul: FakeConsul;
const cleanups: Cleanups = [];
before(async () => {
  consul = await startFakeConsul({ datacenter: 'dc1' });
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await consul.stop();
});

const namers = createNamers([], { readPath });
const leaf = (id: string, residual = '/') => JSON.stringify({ id, residual });

function interpreter(config: Record<string, unknown>, log: string[] = []) {
  const i = consulInterpreter({ kind: 'io.l5d.consul.interpreter', host: consul.host, port: consul.port, ...config }, { bind: (d, p) => bind(d, p, namers), log: (line) => log.push(line) }, { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' });
  cleanups.push(() => i.close());
  return i;
}

test('the namespace\'s dtab in Consul is followed, under the router\'s entries', async () => {
  consul.set('namerd/dtabs/internal', '/svc => /$/inet/127.0.0.1/1111');
  const i = interpreter({ namespace: 'internal' });
  const w = watch(i.bind(Dtab.empty, readPath('/svc/a')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111', '/a'), 3000, 'the stored dtab');
  consul.set('namerd/dtabs/internal', '/svc => /$/inet/127.0.0.1/2222');
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222', '/a'), 3000, 'the edited dtab');
  const routerWins = await i.bind(readDtab('/svc/a => /$/inet/127.0.0.1/3333'), readPath('/svc/a')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: routerWins })), leaf('/$/inet/127.0.0.1/3333'));
  // Consul gone: the last dtab keeps routing.
  await consul.stop();
  try {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(JSON.stringify(okTree(w.last())), leaf('/$/inet/127.0.0.1/2222', '/a'));
  } finally {
    await consul.start();
  }
});

test('a dtab stored with a typo keeps the last good one (said once) until it is fixed', async () => {
  consul.set('namerd/dtabs/typo', '/svc => /$/inet/127.0.0.1/1111');
  const log: string[] = [];
  const i = interpreter({ namespace: 'typo' }, log);
  const w = watch(i.bind(Dtab.empty, readPath('/svc')).states, cleanups);
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/1111'), 3000, 'the stored dtab');
  consul.set('namerd/dtabs/typo', '/svc => => broken');
  for (let k = 0; k < 100 && log.length === 0; k++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(log.length, 1, JSON.stringify(log));
  assert.match(log[0]!, /stored dtab for namespace 'typo' does not parse: .*; routing stays on the last dtab read from it/);
  assert.equal(JSON.stringify(okTree(w.last())), leaf('/$/inet/127.0.0.1/1111'));
  consul.set('namerd/dtabs/typo', '/svc => /$/inet/127.0.0.1/2222');
  await w.until((s) => JSON.stringify(okTree(s)) === leaf('/$/inet/127.0.0.1/2222'), 3000, 'the fixed dtab');
  assert.equal(log.length, 1);
});

test('a namespace that does not exist is an empty dtab; pathPrefix moves the key', async () => {
  const i = interpreter({ namespace: 'nothere' });
  assert.deepEqual(await i.bind(Dtab.empty, readPath('/svc/a')).toPromise(3000), { type: 'neg' });
  const viaRouter = await i.bind(readDtab('/svc => /$/inet/127.0.0.1/4444'), readPath('/svc/a')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: viaRouter })), leaf('/$/inet/127.0.0.1/4444', '/a'));
  consul.set('mesh/dtabs/default', '/svc => /$/inet/127.0.0.1/5555');
  const prefixed = interpreter({ pathPrefix: '/mesh/dtabs' });
  const t = await prefixed.bind(Dtab.empty, readPath('/svc/b')).toPromise(3000);
  assert.equal(JSON.stringify(okTree({ type: 'ok', value: t })), leaf('/$/inet/127.0.0.1/5555', '/b'));
  assert.throws(() => interpreter({ namespace: '' }), /linkerd\.yaml: routers\[0\]\.interpreter\.namespace: found ""/);
});

test('tls: the interpreter reads the dtab from Consul over HTTPS; an unreadable CA file is named with its key path', async () => {
  const { makeTestCerts } = await import('../support/certs.js');
  const { readFileSync } = await import('node:fs');
  const certs = makeTestCerts();
  const secure = await startFakeConsul({ tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) } });
  try {
    secure.set('namerd/dtabs/default', '/svc => /$/inet/127.0.0.1/6666');
    const deps = { bind: (d: Dtab, p: ReturnType<typeof readPath>) => bind(d, p, namers) };
    const where = { file: 'linkerd.yaml', keyPath: 'routers[0].interpreter' };
    const i = consulInterpreter({ kind: 'io.l5d.consul.interpreter', host: secure.host, port: secure.port, tls: { commonName: 'localhost', trustCerts: [certs.caCert] } }, deps, where);
    cleanups.push(() => i.close());
    const t = await i.bind(Dtab.empty, readPath('/svc/x')).toPromise(3000);
    assert.equal(JSON.stringify(okTree({ type: 'ok', value: t })), leaf('/$/inet/127.0.0.1/6666', '/x'));
    assert.throws(
      () => consulInterpreter({ kind: 'io.l5d.consul.interpreter', host: secure.host, port: secure.port, tls: { trustCerts: ['/nonexistent/ca.pem'] } }, deps, where),
      /linkerd\.yaml: routers\[0\]\.interpreter\.tls\.trustCerts\[0\]: found "\/nonexistent\/ca\.pem"; allowed: a readable PEM file \(ENOENT\)/,
    );
  } finally {
    await secure.stop();
    certs.cleanup();
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MarathonNamer, addrOf, appIdsOf, type MarathonNamerOptions } from '../../src/namers/marathon.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { BoundName, Name } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { collectAddrs as collect, hostPorts as hp } from '../support/addrs.js';
import { startFakeMarathon, type FakeMarathon } from '../support/fake-marathon.js';

let marathon: FakeMarathon;
const namers: MarathonNamer[] = [];
before(async () => {
  marathon = await startFakeMarathon();
});
after(async () => {
  for (const n of namers) n.client.close();
  await marathon.stop();
});

function namer(o: Partial<MarathonNamerOptions> = {}, m: FakeMarathon = marathon): MarathonNamer {
  const n = new MarathonNamer(readPath('/#/io.l5d.marathon'), {
    connectHost: m.host, connectPort: m.port, host: 'marathon.mesos', uriPrefix: m.prefix, ttlMs: 40, jitterMs: 0, useHealthCheck: false, ...o,
  });
  namers.push(n);
  return n;
}


/** The bound leaf a lookup settles on (fails the test on anything else). */
async function leafOf(n: MarathonNamer, name: string): Promise<BoundName> {
  const tree = await n.lookup(readPath(name)).toPromise(3000);
  assert.equal(tree.type, 'leaf', JSON.stringify(tree));
  return (tree as { value: BoundName }).value;
}

/** Observes a lookup until `pred` holds for its tree (bounded in time). */
function until(n: MarathonNamer, name: string, pred: (t: NameTree<Name>) => boolean): Promise<NameTree<Name>> {
  return new Promise((resolve, reject) => {
    let last: unknown;
    const timer = setTimeout(() => { c.close(); reject(new Error(`timeout; last state ${JSON.stringify(last)}`)); }, 4000);
    const c = n.lookup(readPath(name)).observe((s) => {
      last = s;
      if (s.type === 'ok' && pred(s.value)) {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve(s.value);
      }
    });
  });
}


test('/<app>/residual binds the app\'s tasks (host and first port) and follows them from poll to poll', async () => {
  marathon.setApp('/users', { tasks: [{ host: '127.0.0.2', ports: [31001, 31002] }, { host: '127.0.0.1', ports: [31000] }] });
  const b = await leafOf(namer(), '/users/a/b');
  assert.equal((b.id as Path).show(), '/#/io.l5d.marathon/users');
  assert.equal(b.residual.show(), '/a/b');
  const seen = await collect(b, 2, (i) => {
    if (i === 1) marathon.setApp('/users', { tasks: [{ host: '127.0.0.3', ports: [32000] }] });
  });
  assert.deepEqual(seen, [['127.0.0.1:31000', '127.0.0.2:31001'], ['127.0.0.3:32000']]);
  const taskReads = marathon.requests.filter((r) => r.url.startsWith('/v2/apps/users'));
  assert.ok(taskReads.length >= 2, JSON.stringify(marathon.requests));
  assert.equal(taskReads[0]!.url, '/v2/apps/users?embed=app.tasks');
  assert.equal(taskReads[0]!.host, 'marathon.mesos');
});

test('app ids of several segments match case-insensitively, and the shortest matching prefix wins', async () => {
  marathon.setApp('/appgroup/usergroup/users', { tasks: [{ host: '127.0.0.4', ports: [4000] }] });
  const n = namer();
  const b = await leafOf(n, '/AppGroup/UserGroup/Users/Profile');
  assert.equal((b.id as Path).show(), '/#/io.l5d.marathon/appgroup/usergroup/users');
  assert.equal(b.residual.show(), '/Profile');
  assert.deepEqual(await new Promise<string[]>((r) => { const c = b.addr.observe((a) => { if (a.type !== 'pending') { queueMicrotask(() => c.close()); r(hp(a)); } }); }), ['127.0.0.4:4000']);
  // An app whose id is a shorter prefix of the same name takes it over on the next poll.
  marathon.setApp('/appgroup', { tasks: [{ host: '127.0.0.5', ports: [5000] }] });
  const t = await until(n, '/appgroup/usergroup/users/profile', (tree) => tree.type === 'leaf' && ((tree as { value: BoundName }).value.id as Path).show() === '/#/io.l5d.marathon/appgroup');
  assert.equal((t as { value: BoundName }).value.residual.show(), '/usergroup/users/profile');
  marathon.deleteApp('/appgroup');
});

test('an unknown app and an app without tasks are Neg; an app that appears later binds', async () => {
  marathon.setApp('/idle', { tasks: [] });
  const n = namer();
  assert.deepEqual(await n.lookup(readPath('/nothere/x')).toPromise(3000), { type: 'neg' });
  assert.deepEqual(await n.lookup(readPath('/idle')).toPromise(3000), { type: 'neg' });
  assert.deepEqual(await n.lookup(readPath('/')).toPromise(3000), { type: 'neg' });
  setTimeout(() => marathon.setApp('/later', { tasks: [{ host: '127.0.0.6', ports: [6000] }] }), 60);
  const t = await until(n, '/later', (tree) => tree.type === 'leaf');
  assert.equal(((t as { value: BoundName }).value.id as Path).show(), '/#/io.l5d.marathon/later');
});

test('useHealthCheck keeps only tasks whose health check results are all alive', async () => {
  marathon.setApp('/checked', {
    tasks: [
      { host: '127.0.0.1', ports: [1001], alive: [true, true] },
      { host: '127.0.0.1', ports: [1002], alive: [true, false] },
      { host: '127.0.0.1', ports: [1003] },
      { host: '127.0.0.1', ports: [1004], alive: [false] },
    ],
  });
  const all = await leafOf(namer(), '/checked');
  const healthy = await leafOf(namer({ useHealthCheck: true }), '/checked');
  const first = (b: BoundName): Promise<string[]> =>
    new Promise((r) => { const c = b.addr.observe((a) => { if (a.type !== 'pending') { queueMicrotask(() => c.close()); r(hp(a)); } }); });
  assert.deepEqual(await first(all), ['127.0.0.1:1001', '127.0.0.1:1002', '127.0.0.1:1003', '127.0.0.1:1004']);
  assert.deepEqual(await first(healthy), ['127.0.0.1:1001']);
});

test('task addresses: IP-per-task apps use the task\'s IP and the app\'s discovery port; tasks with neither are skipped', () => {
  const body = JSON.stringify({
    app: {
      id: '/ipapp',
      ipAddress: { discovery: { ports: [{ number: 8080, name: 'http' }] } },
      tasks: [
        { host: 'agent-1', ports: [], ipAddresses: [{ ipAddress: '10.0.0.7', protocol: 'IPv4' }] },
        { host: 'agent-2', ports: [31005], ipAddresses: [{ ipAddress: '10.0.0.8' }] },
        { host: 'agent-3', ports: [] },
        { ports: [31006] },
      ],
    },
  });
  assert.deepEqual(hp(addrOf(body, false)), ['10.0.0.7:8080', 'agent-2:31005']);
  assert.deepEqual(addrOf(JSON.stringify({ app: { id: '/x', tasks: [] } }), false), { type: 'neg' });
  assert.deepEqual([...appIdsOf(JSON.stringify({ apps: [{ id: '/a' }, { id: 'b/c/' }, { id: '' }, {}] }))], ['/a', '/b/c']);
  assert.throws(() => addrOf('not json', false), SyntaxError);
});

test('Marathon down before the first answer fails the name; errors after it keep the last answer', async () => {
  marathon.setApp('/steady', { tasks: [{ host: '127.0.0.9', ports: [9000] }] });
  marathon.failing = true;
  try {
    await assert.rejects(namer().lookup(readPath('/steady')).toPromise(3000), /marathon GET \/v2\/apps: HTTP 503/);
  } finally {
    marathon.failing = false;
  }
  const n = namer();
  const b = await leafOf(n, '/steady');
  const states: string[][] = [];
  const c = b.addr.observe((a) => states.push(hp(a)));
  try {
    marathon.failing = true;
    const before = marathon.requests.length;
    for (let i = 0; i < 100 && marathon.requests.length < before + 4; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(marathon.requests.length >= before + 4, 'the namer kept polling while Marathon failed');
    assert.deepEqual(states.at(-1), ['127.0.0.9:9000']);
    assert.ok(!states.some((s) => s[0] === 'failed'), JSON.stringify(states));
  } finally {
    marathon.failing = false;
    c.close();
  }
});

test('a Marathon that takes requests and never answers fails the name after requestTimeoutMs, saying so', async () => {
  marathon.stalled = true;
  try {
    await assert.rejects(namer({ requestTimeoutMs: 150 }).lookup(readPath('/users')).toPromise(3000), /marathon GET \/v2\/apps: no answer within 150 ms/);
  } finally {
    marathon.stalled = false;
  }
});

test('polling stops when nothing observes the name any more', async () => {
  marathon.setApp('/quiet', { tasks: [{ host: '127.0.0.1', ports: [7000] }] });
  const n = namer();
  const b = await leafOf(n, '/quiet');
  const c = b.addr.observe(() => {});
  await new Promise((r) => setTimeout(r, 100));
  c.close();
  await new Promise((r) => setTimeout(r, 60));
  const count = marathon.requests.filter((r) => r.url.startsWith('/v2/apps/quiet')).length;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(marathon.requests.filter((r) => r.url.startsWith('/v2/apps/quiet')).length, count);
});

test('config: uriPrefix, host and port, dst, and basic authentication from MARATHON_HTTP_AUTH_CREDENTIAL', async () => {
  const secured = await startFakeMarathon('/marathon', Buffer.from('ops:s3cret').toString('base64'));
  const saved = process.env['MARATHON_HTTP_AUTH_CREDENTIAL'];
  try {
    secured.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    const ctx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' };
    const mk = (cfg: Record<string, unknown>): { prefix: Path; namer: MarathonNamer } => {
      const m = createNamer(cfg, ctx);
      assert.ok(m.namer instanceof MarathonNamer);
      namers.push(m.namer);
      return { prefix: m.prefix, namer: m.namer };
    };
    // Without credentials Marathon answers 401 and the name fails.
    delete process.env['MARATHON_HTTP_AUTH_CREDENTIAL'];
    const anon = mk({ kind: 'io.l5d.marathon', host: secured.host, port: secured.port, uriPrefix: 'marathon/' });
    await assert.rejects(anon.namer.lookup(readPath('/web')).toPromise(3000), /HTTP 401/);
    process.env['MARATHON_HTTP_AUTH_CREDENTIAL'] = Buffer.from('ops:s3cret').toString('base64');
    const made = mk({ kind: 'io.l5d.marathon', prefix: '/marathon', host: 'leader.mesos', dst: `/$/inet/127.0.0.1/${secured.port}`, uriPrefix: '/marathon', ttlMs: 1000 });
    assert.equal(made.prefix.show(), '/#/marathon');
    const tree = await made.namer.lookup(readPath('/web/x')).toPromise(3000);
    assert.equal(tree.type, 'leaf');
    assert.equal(((tree as { value: BoundName }).value.id as Path).show(), '/#/marathon/web');
    const last = secured.requests.at(-1)!;
    assert.match(last.url, /^\/marathon\/v2\/apps/);
    assert.equal(last.host, 'leader.mesos');
    assert.equal(last.authorization, `Basic ${Buffer.from('ops:s3cret').toString('base64')}`);
    assert.throws(
      () => createNamer({ kind: 'io.l5d.marathon', dst: '/#/io.l5d.fs/marathon' }, ctx),
      /linkerd\.yaml: namers\[0\]\.dst: found "\/#\/io\.l5d\.fs\/marathon"; allowed: a path \/\$\/inet\/<host>\/<port>/,
    );
    process.env['DCOS_SERVICE_ACCOUNT_CREDENTIAL'] = '{"uid":"svc"}';
    assert.throws(() => createNamer({ kind: 'io.l5d.marathon' }, ctx), /DCOS_SERVICE_ACCOUNT_CREDENTIAL.*not supported yet: DC\/OS service-account login/);
  } finally {
    delete process.env['DCOS_SERVICE_ACCOUNT_CREDENTIAL'];
    if (saved === undefined) delete process.env['MARATHON_HTTP_AUTH_CREDENTIAL'];
    else process.env['MARATHON_HTTP_AUTH_CREDENTIAL'] = saved;
    await secured.stop();
  }
});

test('linkerd.yaml: a marathon namer validates, tls block included; unknown tls keys are named', async () => {
  const { parseLinkerdConfig } = await import('../../src/config/load.js');
  await import('../../src/config/builtin-plugins.js');
  const routers = 'routers:\n- protocol: http\n  dtab: /svc => /#/io.l5d.marathon\n  servers:\n  - port: 0\n';
  parseLinkerdConfig(`namers:\n- kind: io.l5d.marathon\n  host: marathon.mesos\n  uriPrefix: /marathon\n  ttlMs: 1000\n  jitterMs: 10\n  useHealthCheck: true\n${routers}`, 'linkerd.yaml');
  for (const kind of ['io.l5d.marathon', 'io.l5d.consul']) {
    parseLinkerdConfig(`namers:\n- kind: ${kind}\n  tls:\n    disableValidation: false\n    commonName: master.mesos\n    trustCerts:\n    - /certs/ca.pem\n${routers}`, 'linkerd.yaml');
    assert.throws(() => parseLinkerdConfig(`namers:\n- kind: ${kind}\n  tls:\n    trustCert: /certs/ca.pem\n${routers}`, 'linkerd.yaml'), /namers\[0\]\.tls\.trustCert: unknown key/);
  }
  assert.throws(() => parseLinkerdConfig(`namers:\n- kind: io.l5d.marathon\n  ttlMs: soon\n${routers}`, 'linkerd.yaml'), /namers\[0\]\.ttlMs/);
});

test('tls: the namer speaks HTTPS to Marathon, checks commonName against the CA, and names unreadable files', async () => {
  const { makeTestCerts } = await import('../support/certs.js');
  const { readFileSync } = await import('node:fs');
  const certs = makeTestCerts();
  const secure = await startFakeMarathon('', undefined, { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
  try {
    secure.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8443] }] });
    const ctx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' };
    const mk = (tls: Record<string, unknown>): MarathonNamer => {
      const m = createNamer({ kind: 'io.l5d.marathon', host: '127.0.0.1', port: secure.port, ttlMs: 1000, tls }, ctx);
      assert.ok(m.namer instanceof MarathonNamer);
      namers.push(m.namer);
      return m.namer;
    };
    const good = mk({ commonName: 'localhost', trustCerts: [certs.caCert] });
    const tree = await good.lookup(readPath('/web')).toPromise(3000);
    assert.equal(tree.type, 'leaf');
    await assert.rejects(mk({ commonName: 'master.mesos', trustCerts: [certs.caCert] }).lookup(readPath('/web')).toPromise(3000), /master\.mesos|ERR_TLS_CERT_ALTNAME_INVALID/);
    await assert.rejects(mk({ commonName: 'localhost' }).lookup(readPath('/web')).toPromise(3000), /certificate|UNABLE_TO_VERIFY|self.signed/i);
    assert.throws(() => mk({ trustCerts: ['/nonexistent/ca.pem'] }), /linkerd\.yaml: namers\[0\]\.tls\.trustCerts\[0\]: found "\/nonexistent\/ca\.pem"; allowed: a readable PEM file \(ENOENT\)/);
  } finally {
    await secure.stop();
    certs.cleanup();
  }
});

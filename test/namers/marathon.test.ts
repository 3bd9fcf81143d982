import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitForValue } from '../support/activity.js';
import { generateKeyPairSync, verify } from 'node:crypto';
import { MarathonNamer, addrOf, appIdsOf, type MarathonNamerOptions } from '../../src/namers/marathon.js';
import { DcosLogin, loginJwt, parseDcosCredential, type DcosCredential } from '../../src/namers/marathon-auth.js';
import { HttpClient } from '../../src/namerd/stores/http-client.js';
import type { NamerError } from '../../src/namers/errors.js';
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
  return waitForValue(n.lookup(readPath(name)), pred, 4000, `a tree for ${name}`);
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
  } finally {
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

// DC/OS service-account login (DCOS_SERVICE_ACCOUNT_CREDENTIAL).

const account = generateKeyPairSync('rsa', { modulusLength: 2048 });
const accountPem = account.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
const DCOS_ENV = 'DCOS_SERVICE_ACCOUNT_CREDENTIAL';
const LOGIN_PATH = '/acs/api/v1/auth/login';
const dcosCtx = { readPath, file: 'linkerd.yaml', keyPath: 'namers[0]' };

/** The credential JSON DC/OS puts in a service's environment. */
function credentialJson(loginEndpoint: string, o: Record<string, unknown> = {}): string {
  return JSON.stringify({ login_endpoint: loginEndpoint, private_key: accountPem, scheme: 'RS256', uid: 'linkerd-sa', ...o });
}

function dcosCredential(m: FakeMarathon): DcosCredential {
  return parseDcosCredential(credentialJson(`http://127.0.0.1:${m.port}${LOGIN_PATH}`), dcosCtx);
}

/** Runs `f` with environment variables set (undefined: unset), restoring them after. */
function withEnv<T>(vars: Record<string, string | undefined>, f: () => T): T {
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  const put = (k: string, v: string | undefined): void => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  try {
    for (const [k, v] of Object.entries(vars)) put(k, v);
    return f();
  } finally {
    for (const [k, v] of saved) put(k, v);
  }
}

async function dcosMarathon(prefix = ''): Promise<FakeMarathon> {
  const m = await startFakeMarathon(prefix);
  m.enableDcosLogin({ uid: 'linkerd-sa', publicKey: account.publicKey });
  return m;
}

/** Waits (at most 4 s, in 10 ms steps) until `cond` holds. */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting until ${what}`);
}

/** Observes `b.addr` until it is `want` (at most 4 s). */
function untilAddrs(b: BoundName, want: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let last: string[] = [];
    const timer = setTimeout(() => { c.close(); reject(new Error(`timeout; last ${JSON.stringify(last)}`)); }, 4000);
    const c = b.addr.observe((a) => {
      last = hp(a);
      if (JSON.stringify(last) === JSON.stringify(want)) {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve();
      }
    });
  });
}

/** Every state of a lookup until it is ok with a leaf (at most 4 s). */
function statesUntilLeaf(n: MarathonNamer, name: string): Promise<{ type: string; error?: Error }[]> {
  return new Promise((resolve, reject) => {
    const states: { type: string; error?: Error }[] = [];
    const timer = setTimeout(() => { c.close(); reject(new Error(`timeout; states ${JSON.stringify(states)}`)); }, 4000);
    const c = n.lookup(readPath(name)).observe((s) => {
      states.push(s.type === 'failed' ? { type: s.type, error: s.error } : { type: s.type });
      if (s.type === 'ok' && s.value.type === 'leaf') {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve(states);
      }
    });
  });
}

const decode = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

test('DC/OS login JWT: RS256 over header.claims, claims {uid, exp} with exp five minutes on, verifiable only with the account\'s key', () => {
  const cred = parseDcosCredential(credentialJson('https://leader.mesos/acs/api/v1/auth/login'), dcosCtx);
  assert.equal(cred.loginPath, LOGIN_PATH);
  const jwt = loginJwt(cred, 1_700_000_000_500);
  const [h, c, sig] = jwt.split('.') as [string, string, string];
  assert.equal(jwt.split('.').length, 3);
  assert.deepEqual(decode(h), { alg: 'RS256', typ: 'JWT' });
  assert.deepEqual(decode(c), { uid: 'linkerd-sa', exp: 1_700_000_300 });
  assert.match(jwt, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'base64url without padding');
  assert.equal(verify('sha256', Buffer.from(`${h}.${c}`), account.publicKey, Buffer.from(sig, 'base64url')), true);
  const other = generateKeyPairSync('rsa', { modulusLength: 1024 });
  assert.equal(verify('sha256', Buffer.from(`${h}.${c}`), other.publicKey, Buffer.from(sig, 'base64url')), false);
  const forged = Buffer.from(JSON.stringify({ uid: 'admin', exp: 1_700_000_300 })).toString('base64url');
  assert.equal(verify('sha256', Buffer.from(`${h}.${forged}`), account.publicKey, Buffer.from(sig, 'base64url')), false);
});

test('DC/OS login: the namer logs in once, as the account, and polls with Authorization: token=<token>; the DC/OS credential wins over basic auth', async () => {
  const m = await dcosMarathon('/marathon');
  try {
    m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    const made = withEnv(
      { [DCOS_ENV]: credentialJson(`http://127.0.0.1:${m.port}${LOGIN_PATH}`), MARATHON_HTTP_AUTH_CREDENTIAL: Buffer.from('ops:s3cret').toString('base64') },
      () => createNamer({ kind: 'io.l5d.marathon', host: 'leader.mesos', dst: `/$/inet/127.0.0.1/${m.port}`, uriPrefix: '/marathon', ttlMs: 30, jitterMs: 0 }, dcosCtx),
    );
    assert.ok(made.namer instanceof MarathonNamer);
    namers.push(made.namer);
    const b = await leafOf(made.namer, '/web/x');
    assert.equal((b.id as Path).show(), '/#/io.l5d.marathon/web');
    // Keep polling a while: several polls, still one login.
    const c = made.namer.lookup(readPath('/web')).observe(() => {});
    try {
      await eventually(() => m.requests.filter((r) => r.url === '/marathon/v2/apps').length >= 4, 'four polls of /v2/apps');
    } finally {
      c.close();
    }
    assert.equal(m.logins.length, 1, JSON.stringify(m.logins));
    const login = m.logins[0]!;
    assert.equal(login.status, 200, login.reason);
    assert.equal(login.host, 'leader.mesos');
    assert.equal(login.uid, 'linkerd-sa');
    assert.deepEqual(m.requests[0], { method: 'POST', url: LOGIN_PATH, host: 'leader.mesos', authorization: undefined });
    const gets = m.requests.slice(1);
    assert.ok(gets.length >= 5, JSON.stringify(gets));
    for (const r of gets) {
      assert.equal(r.method, 'GET');
      assert.equal(r.authorization, `token=${login.token!}`);
    }
    // The JWT as the login endpoint received it: RS256, the account's uid, an exp in the future.
    const [h, cl, sig] = (login.jwt as string).split('.') as [string, string, string];
    assert.deepEqual(decode(h), { alg: 'RS256', typ: 'JWT' });
    const claims = decode(cl) as { uid: unknown; exp: number };
    assert.equal(claims.uid, 'linkerd-sa');
    assert.ok(Number.isInteger(claims.exp) && claims.exp > login.at / 1000 && claims.exp <= login.at / 1000 + 300, String(claims.exp));
    assert.equal(verify('sha256', Buffer.from(`${h}.${cl}`), account.publicKey, Buffer.from(sig, 'base64url')), true);
  } finally {
    await m.stop();
  }
});

test('DC/OS login: a token Marathon answers 401 for is renewed by one login and the same request is sent again', async () => {
  const m = await dcosMarathon();
  try {
    m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    // As in Linkerd only login_endpoint's path is used: the login goes to Marathon's address,
    // never to 127.0.0.1:1.
    const dcos = parseDcosCredential(credentialJson(`http://127.0.0.1:1${LOGIN_PATH}`), dcosCtx);
    // A ttl far beyond the test: every request below is one the test caused.
    const n = namer({ dcos, ttlMs: 60_000 }, m);
    const b = await leafOf(n, '/web');
    m.expireTokens();
    m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8082] }] });
    // Observing the addresses again polls the app's tasks once: 401, login, the same GET again.
    await untilAddrs(b, ['127.0.0.1:8082']);
    assert.deepEqual(m.logins.map((l) => l.status), [200, 200]);
    const [t1, t2] = m.logins.map((l) => `token=${l.token!}`);
    assert.notEqual(t1, t2);
    assert.deepEqual(m.requests.map((r) => `${r.method} ${r.url} ${r.authorization ?? '-'}`), [
      `POST ${LOGIN_PATH} -`,
      `GET /v2/apps ${t1}`,
      `GET /v2/apps/web?embed=app.tasks ${t1}`,
      `GET /v2/apps/web?embed=app.tasks ${t1}`,
      `POST ${LOGIN_PATH} -`,
      `GET /v2/apps/web?embed=app.tasks ${t2}`,
    ]);
  } finally {
    await m.stop();
  }
});

test('DC/OS login: polls that meet 401 while a login is under way wait for it: one login serves them all', async () => {
  const m = await dcosMarathon();
  try {
    for (const app of ['/web', '/api', '/db']) m.setApp(app, { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    const n = namer({ dcos: dcosCredential(m), ttlMs: 60_000 }, m);
    const bound = await Promise.all(['/web', '/api', '/db'].map((name) => leafOf(n, name)));
    assert.equal(m.logins.length, 1);
    m.expireTokens();
    m.loginDelayMs = 100;
    for (const app of ['/web', '/api', '/db']) m.setApp(app, { tasks: [{ host: '127.0.0.1', ports: [8082] }] });
    // Three task polls at once, all answered 401, while the first re-login is held 100 ms.
    await Promise.all(bound.map((b) => untilAddrs(b, ['127.0.0.1:8082'])));
    assert.deepEqual(m.logins.map((l) => l.status), [200, 200]);
    const t2 = `token=${m.logins[1]!.token!}`;
    const retried = m.requests.filter((r) => r.url.endsWith('?embed=app.tasks') && r.authorization === t2).map((r) => r.url).sort();
    assert.deepEqual(retried, ['/v2/apps/api?embed=app.tasks', '/v2/apps/db?embed=app.tasks', '/v2/apps/web?embed=app.tasks']);
  } finally {
    await m.stop();
  }
});

test('DC/OS login: a late 401 for an older token does not throw away the newer one', async () => {
  const m = await dcosMarathon();
  const client = new HttpClient(m.host, m.port);
  try {
    const login = new DcosLogin(client, dcosCredential(m), { host: 'marathon.mesos', timeoutMs: 3000 });
    const t1 = await login.current();
    assert.equal(await login.current(), t1);
    login.expire(t1);
    const t2 = await login.current();
    assert.notEqual(t2, t1);
    login.expire(t1);
    assert.equal(await login.current(), t2);
    assert.deepEqual(m.logins.map((l) => l.token), [t1, t2]);
  } finally {
    client.close();
    await m.stop();
  }
});

test('DC/OS login: a login endpoint answering 500 fails the name with the reason, and the login is tried again after the backoff', async () => {
  const m = await dcosMarathon();
  try {
    m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    m.loginFailures = 1;
    const n = namer({ dcos: dcosCredential(m), ttlMs: 20, loginBackoffMs: 100 }, m);
    const states = await statesUntilLeaf(n, '/web');
    const failures = states.filter((s) => s.type === 'failed');
    assert.equal(failures.length, 1, JSON.stringify(states));
    const err = failures[0]!.error as NamerError;
    assert.equal(err.code, 'MESH_ERR_NAMER_UNAVAILABLE');
    assert.match(err.message, /^marathon POST \/acs\/api\/v1\/auth\/login \(DC\/OS login as linkerd-sa\): HTTP 500 .*IAM is unavailable.*\(next login in 100 ms\)$/);
    assert.equal(states.at(-1)!.type, 'ok');
    assert.deepEqual(m.logins.map((l) => l.status), [500, 200]);
    const gap = m.logins[1]!.at - m.logins[0]!.at;
    assert.ok(gap >= 95, `second login ${gap} ms after the first`);
  } finally {
    await m.stop();
  }
});

test('DC/OS login: once bound, failed logins keep the last answer and are retried with a doubling backoff until one succeeds', async () => {
  const m = await dcosMarathon();
  try {
    m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8081] }] });
    const n = namer({ dcos: dcosCredential(m), ttlMs: 20, loginBackoffMs: 50 }, m);
    const b = await leafOf(n, '/web');
    const seen: string[][] = [];
    const c = b.addr.observe((a) => seen.push(hp(a)));
    try {
      await eventually(() => seen.length > 0, 'the addresses are observed');
      m.loginFailures = 3;
      m.expireTokens();
      await eventually(() => m.logins.length >= 5, 'five logins');
      m.setApp('/web', { tasks: [{ host: '127.0.0.1', ports: [8082] }] });
      await eventually(() => JSON.stringify(seen.at(-1)) === '["127.0.0.1:8082"]', 'the new task is seen');
    } finally {
      c.close();
    }
    assert.deepEqual(seen, [['127.0.0.1:8081'], ['127.0.0.1:8082']]);
    // The apps poll and the tasks poll both met 401s, yet each login was made once.
    assert.deepEqual(m.logins.map((l) => l.status), [200, 500, 500, 500, 200]);
    const gaps = m.logins.slice(2).map((l, i) => l.at - m.logins[i + 1]!.at);
    assert.ok(gaps[0]! >= 45 && gaps[1]! >= 95 && gaps[2]! >= 195, `gaps between logins ${JSON.stringify(gaps)}`);
  } finally {
    await m.stop();
  }
});

test('DC/OS login: a bad DCOS_SERVICE_ACCOUNT_CREDENTIAL is a config error naming the variable and what is wrong, never the key', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const encrypted = account.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
  const publicPem = account.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const endpoint = 'https://leader.mesos/acs/api/v1/auth/login';
  const where = 'linkerd\\.yaml: namers\\[0\\] \\(environment DCOS_SERVICE_ACCOUNT_CREDENTIAL\\)';
  const cases: [string, string, RegExp][] = [
    // A PEM pasted with its line breaks is not JSON; the error quotes none of it.
    ['not JSON', `{"login_endpoint": "${endpoint}", "uid": "linkerd-sa", "scheme": "RS256", "private_key": "${accountPem}"}`, new RegExp(`^${where}: found "\\(\\d+ characters, not JSON\\)"; allowed: a JSON object \\{"login_endpoint"`)],
    ['an array', '[]', new RegExp(`^${where}: found "\\(JSON array\\)"; allowed: a JSON object`)],
    ['missing fields', '{"uid":"svc"}', new RegExp(`^${where}: found \\{"uid":"svc"\\}; allowed: .*missing or not a non-empty string: login_endpoint, private_key, scheme$`)],
    ['missing uid', JSON.stringify({ login_endpoint: endpoint, private_key: accountPem, scheme: 'RS256' }), new RegExp(`^${where}: found \\{"login_endpoint":"https://leader\\.mesos/acs/api/v1/auth/login","private_key":"\\(hidden\\)","scheme":"RS256"\\}; allowed: .*missing or not a non-empty string: uid$`)],
    ['scheme', credentialJson(endpoint, { scheme: 'HS256' }), new RegExp(`^${where}\\.scheme: found "HS256"; allowed: RS256`)],
    ['login_endpoint', credentialJson('leader.mesos/acs/api/v1/auth/login'), new RegExp(`^${where}\\.login_endpoint: found "leader\\.mesos/acs/api/v1/auth/login"; allowed: an absolute http or https URL`)],
    ['garbage key', credentialJson(endpoint, { private_key: 'bad private key' }), new RegExp(`^${where}\\.private_key: found "\\(hidden; not PEM\\)"; allowed: a PEM RSA private key without a passphrase$`)],
    ['damaged PEM', credentialJson(endpoint, { private_key: accountPem.replace(/\n[A-Za-z0-9+/]{64}\n/, '\n') }), new RegExp(`^${where}\\.private_key: found "\\(hidden; unreadable: [^"]+\\)"; allowed: a PEM RSA private key`)],
    ['public key', credentialJson(endpoint, { private_key: publicPem }), new RegExp(`^${where}\\.private_key: found "\\(hidden; a public key or certificate, not a private key\\)"`)],
    ['encrypted key', credentialJson(endpoint, { private_key: encrypted }), new RegExp(`^${where}\\.private_key: found "\\(hidden; encrypted\\)"`)],
    ['EC key', credentialJson(endpoint, { private_key: ec }), new RegExp(`^${where}\\.private_key: found "\\(hidden; a ec key\\)"; allowed: a PEM RSA private key \\(RS256 signs with RSA\\)$`)],
  ];
  const keyLines = [accountPem, ec, encrypted, publicPem].flatMap((p) => p.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----')));
  for (const [what, value, want] of cases) {
    assert.throws(
      () => withEnv({ [DCOS_ENV]: value }, () => createNamer({ kind: 'io.l5d.marathon' }, dcosCtx)),
      (e: NamerError) => {
        assert.equal(e.code, 'MESH_ERR_NAMER_CONFIG', what);
        assert.match(e.message, want, what);
        assert.ok(!/PRIVATE KEY|PUBLIC KEY/.test(e.message), `${what}: ${e.message}`);
        for (const l of keyLines) assert.ok(!e.message.includes(l.slice(0, 16)), `${what} quotes the key: ${e.message}`);
        return true;
      },
    );
  }
  // Unset or empty: no login; the basic credential is used alone.
  const basic = withEnv({ [DCOS_ENV]: '', MARATHON_HTTP_AUTH_CREDENTIAL: 'b3BzOnMzY3JldA==' }, () => createNamer({ kind: 'io.l5d.marathon' }, dcosCtx));
  assert.ok(basic.namer instanceof MarathonNamer);
  namers.push(basic.namer);
  assert.equal(basic.namer.opts.authorization, 'Basic b3BzOnMzY3JldA==');
  assert.equal(basic.namer.opts.dcos, undefined);
});

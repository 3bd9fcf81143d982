/**
 * `failFast` on http, h2 and thrift clients through a real `meshwork linkerd`: after a
 * connection to an endpoint fails, the endpoint is out (`/client_state.json` says `failFast`,
 * the balancer stops offering it) until a probe connects again, and then it is used again.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { freePort } from '../support/process.js';
import * as http from 'node:http';
import { request } from '../router/support.js';
import { ThriftCaller, callMessage, thriftUpstream, MessageTypes, type ThriftUpstream } from '../support/thrift.js';

const { procs } = e2eScratch('mw-failfast-');
const thriftUps: ThriftUpstream[] = [];
const h2Servers: http2.Http2Server[] = [];
const httpServers: http.Server[] = [];
after(async () => {
  for (const u of thriftUps) await u.close();
  for (const s of h2Servers) await new Promise((r) => s.close(r));
  for (const s of httpServers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

type State = Record<string, Record<string, { addresses: { port: number; accrual: string; available: boolean }[] }>>;

/** The endpoint's state in /client_state.json: `failFast`, or whether the balancer may pick it. */
async function accrualOf(admin: number, label: string, port: number): Promise<string | undefined> {
  const s = JSON.parse((await request(admin, { path: '/client_state.json' })).body) as State;
  for (const c of Object.values(s[label] ?? {})) for (const a of c.addresses) if (a.port === port) return a.accrual === 'failFast' ? 'failFast' : a.available ? 'available' : a.accrual;
  return undefined;
}

async function until(f: () => Promise<boolean>, ms: number): Promise<boolean> {
  const t0 = Date.now();
  for (let i = 0; i < 1000 && Date.now() - t0 < ms; i++) {
    if (await f()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

test('failFast: a refused endpoint is out until it accepts connections again (http, h2, thrift)', async () => {
  const [hp, h2p, tp] = [await freePort(), await freePort(), await freePort()];
  const file = linkerdYaml(`
admin:
  port: 0
routers:
- protocol: http
  label: web
  dtab: /svc => /$/inet/127.0.0.1/${hp};
  client:
    failFast: true
  servers:
  - port: 0
- protocol: h2
  label: h2
  dtab: /svc => /$/inet/127.0.0.1/${h2p};
  client:
    failFast: true
  servers:
  - port: 0
- protocol: thrift
  label: thr
  dtab: /svc => /$/inet/127.0.0.1/${tp};
  client:
    failFast: true
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'web');
  procs.push(l.proc);
  const out = l.proc.output();
  const portOf = (label: string): number => Number(new RegExp(`^listening ${label} 127\\.0\\.0\\.1:(\\d+)`, 'm').exec(out)![1]);

  // One request each, refused: the endpoint is marked failFast at once.
  assert.equal((await request(l.port, { headers: { host: 'x' } })).status, 502);
  const session = http2.connect(`http://127.0.0.1:${portOf('h2')}`);
  const h2call = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const st = session.request({ ':path': '/', ':authority': 'x' });
      st.on('response', (h) => resolve(Number(h[':status'])));
      st.on('error', reject);
      st.resume();
      st.end();
    });
  const thrift = await ThriftCaller.connect(portOf('thr'));
  try {
    assert.equal(await h2call(), 502);
    assert.equal((await thrift.call(callMessage('binary', 'ping', 1, 'x'))).type, MessageTypes.EXCEPTION);
    assert.equal(await accrualOf(l.admin, 'web', hp), 'failFast');
    assert.equal(await accrualOf(l.admin, 'h2', h2p), 'failFast');
    assert.equal(await accrualOf(l.admin, 'thr', tp), 'failFast');

    // The endpoints come up: the probes find them and they serve again.
    const srv = http.createServer((_q, r) => r.end('up'));
    httpServers.push(srv);
    await new Promise<void>((r) => srv.listen(hp, '127.0.0.1', r));
    const h2srv = http2.createServer((_q, r) => r.end('up'));
    await new Promise<void>((r) => h2srv.listen(h2p, '127.0.0.1', r));
    h2Servers.push(h2srv);
    thriftUps.push(await thriftUpstream('T', { port: tp }));
    // (Requeues of the refused request may also have tripped failure accrual: `available`
    // then means its probe may be sent.) The probes back off from 100 ms, doubling: on a slow
    // machine the endpoints may come up just after the 3.2 s one, and the next is at 6.4 s.
    for (const [label, port] of [['web', hp], ['h2', h2p], ['thr', tp]] as const) {
      assert.ok(await until(async () => (await accrualOf(l.admin, label, port)) === 'available', 15_000), `${label} endpoint back: ${await accrualOf(l.admin, label, port)}`);
    }
    assert.equal((await request(l.port, { headers: { host: 'x' } })).body, 'up');
    assert.equal(await h2call(), 200);
    assert.equal((await thrift.call(callMessage('binary', 'ping', 2, 'y'))).text, 'T:ping:y');
  } finally {
    session.close();
    thrift.close();
  }
});

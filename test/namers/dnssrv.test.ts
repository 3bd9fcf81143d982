import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsSrvNamer, dnsSrvNamerSpec } from '../../src/namers/dnssrv.js';
import { createNamer } from '../../src/namers/registry.js';
import { readPath } from '../../src/naming/parser.js';
import type { Path } from '../../src/naming/path.js';
import type { Addr } from '../../src/naming/addr.js';
import { startFakeDns, type FakeDns } from '../support/fake-dns.js';

let dns: FakeDns;
before(async () => {
  dns = await startFakeDns();
});
after(async () => {
  await dns.close();
});

function namer(refreshMs = 50): DnsSrvNamer {
  return new DnsSrvNamer(readPath('/#/io.l5d.dnssrv'), refreshMs, [`${dns.host}:${dns.port}`]);
}

function hostPorts(a: Addr): string[] {
  assert.equal(a.type, 'bound');
  return a.type === 'bound' ? a.addrs.map((x) => `${x.host}:${x.port}`) : [];
}

test('SRV targets resolve through their A records, sorted', async () => {
  dns.srv.set('_http._tcp.web.test', [
    { port: 8081, target: 'b.web.test' },
    { port: 8080, target: 'a.web.test' },
  ]);
  dns.a.set('a.web.test', ['127.0.0.2']);
  dns.a.set('b.web.test', ['127.0.0.3', '127.0.0.4']);
  const addr = await namer().resolve('_http._tcp.web.test');
  assert.deepEqual(hostPorts(addr), ['127.0.0.2:8080', '127.0.0.3:8081', '127.0.0.4:8081']);
});

test('NXDOMAIN is Neg; lookup of a missing record is a neg tree', async () => {
  const n = namer();
  assert.deepEqual(await n.resolve('_nope._tcp.test'), { type: 'neg' });
  const tree = await n.lookup(readPath('/_nope._tcp.test/x')).toPromise(3000);
  assert.deepEqual(tree, { type: 'neg' });
});

test('lookup binds id prefix + record with the residual, and follows changes on refresh', async () => {
  dns.srv.set('_svc._tcp.t', [{ port: 9000, target: 'h.t' }]);
  dns.a.set('h.t', ['127.0.0.5']);
  const n = namer(30);
  const tree = await n.lookup(readPath('/_svc._tcp.t/rest/of')).toPromise(3000);
  assert.equal(tree.type, 'leaf');
  if (tree.type !== 'leaf') return;
  const b = tree.value as { id: Path; residual: Path; addr: { observe(f: (a: Addr) => void): { close(): void } } };
  assert.equal(b.id.show(), '/#/io.l5d.dnssrv/_svc._tcp.t');
  assert.equal(b.residual.show(), '/rest/of');
  const seen: string[][] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no update: ${JSON.stringify(seen)}`)), 3000);
    const c = b.addr.observe((a) => {
      if (a.type !== 'bound') return;
      seen.push(hostPorts(a));
      if (seen.length === 1) dns.a.set('h.t', ['127.0.0.6']);
      if (seen.length === 2) {
        clearTimeout(timer);
        queueMicrotask(() => c.close());
        resolve();
      }
    });
  });
  assert.deepEqual(seen, [['127.0.0.5:9000'], ['127.0.0.6:9000']]);
});

test('registry builds io.l5d.dnssrv from config with the default prefix', () => {
  const made = createNamer({ kind: 'io.l5d.dnssrv', dnsHosts: ['127.0.0.1'], refreshIntervalSeconds: 2 }, { file: 'l.yaml', keyPath: 'namers[0]', readPath });
  assert.equal(made.kind, 'io.l5d.dnssrv');
  assert.equal(made.prefix.show(), '/#/io.l5d.dnssrv');
  assert.equal((made.namer as DnsSrvNamer).refreshMs, 2000);
  assert.equal(dnsSrvNamerSpec.experimental, true);
});

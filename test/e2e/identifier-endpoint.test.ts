/**
 * `admin.httpIdentifierPort` through a real `meshwork linkerd`: any request to that port is
 * identified by every http router (nothing routed) and answered with Linkerd's JSON map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { request } from '../router/support.js';

const { procs } = e2eScratch('mw-idport-');

test('the identifier endpoint answers each http router\'s name for a request, or its reason', async () => {
  const file = linkerdYaml(`
admin:
  port: 0
  httpIdentifierPort: 0
routers:
- protocol: http
  label: byhost
  dtab: /svc => /$/inet/127.0.0.1/1;
  servers:
  - port: 0
- protocol: http
  label: bypath
  identifier:
    kind: io.l5d.path
    segments: 2
  servers:
  - port: 0
`);
  const l = await startLinker(file, 'byhost');
  procs.push(l.proc);
  const port = Number(/^http identifier listening on 127\.0\.0\.1:(\d+)$/m.exec(l.proc.output())![1]);

  const a = await request(port, { path: '/users/list/x?q=1', headers: { host: 'web' } });
  assert.equal(a.status, 200);
  assert.equal(a.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(a.body), {
    byhost: { path: '/svc/web', dtab: '/svc=>/$/inet/127.0.0.1/1' },
    bypath: { path: '/svc/users/list' },
  });

  // Too few segments for the path identifier: its reason instead.
  const b = JSON.parse((await request(port, { path: '/one', headers: { host: 'web' } })).body) as Record<string, { error?: string; path?: string }>;
  assert.equal(b['byhost']!.path, '/svc/web');
  assert.equal(typeof b['bypath']!.error, 'string');
  assert.equal(b['bypath']!.path, undefined);

  // Nothing was routed: the router's own server counted no request.
  const m = JSON.parse((await request(l.admin, { path: '/admin/metrics.json' })).body) as Record<string, number>;
  assert.equal(Object.keys(m).filter((k) => /^rt\/by(host|path)\/server\/.*\/requests$/.test(k) && m[k]! > 0).length, 0);
});

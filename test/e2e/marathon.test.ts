/**
 * A real `meshwork linkerd` routing through the io.l5d.marathon namer with the dtab Linkerd's
 * namer docs give (`/host => /$/io.buoyant.http.domainToPathPfx/marathonId`): `Host:
 * frontend.web` reaches the tasks of Marathon app `/web/frontend`; when Marathon moves the app's
 * task, traffic follows on a later poll; an unknown app answers 502 naming the logical name.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadyProcess } from '../support/process.js';
import { startLinker, untilBody } from '../support/linker.js';
import { request, upstream, type Upstream } from '../router/support.js';
import { startFakeMarathon, type FakeMarathon } from '../support/fake-marathon.js';

const dir = mkdtempSync(join(tmpdir(), 'meshwork-marathon-'));
const procs: ReadyProcess[] = [];
const ups: Upstream[] = [];
let marathon: FakeMarathon | undefined;

after(async () => {
  for (const p of procs) await p.stop(1000);
  for (const u of ups) await u.close();
  await marathon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('Host frontend.web routes to Marathon app /web/frontend and follows its task to a new host', async () => {
  const a = await upstream((_q, r) => r.end('task a'));
  const b = await upstream((_q, r) => r.end('task b'));
  ups.push(a, b);
  marathon = await startFakeMarathon('/marathon');
  marathon.setApp('/web/frontend', { tasks: [{ host: '127.0.0.1', ports: [a.port] }] });
  const file = join(dir, 'linkerd.yaml');
  writeFileSync(
    file,
    `admin:\n  port: 0\nnamers:\n- kind: io.l5d.marathon\n  host: 127.0.0.1\n  port: ${marathon.port}\n  uriPrefix: /marathon\n  ttlMs: 100\n  jitterMs: 10\n` +
      `routers:\n- protocol: http\n  label: web\n  dtab: |\n    /marathonId => /#/io.l5d.marathon;\n    /host => /$/io.buoyant.http.domainToPathPfx/marathonId;\n    /svc => /host;\n  servers:\n  - port: 0\n`,
  );
  const { proc, port } = await startLinker(file);
  procs.push(proc);

  const first = await request(port, { headers: { host: 'frontend.web' } });
  assert.equal(first.status, 200, `${first.status} ${first.headers['l5d-err'] ?? ''}`);
  assert.equal(first.body, 'task a');

  marathon.setApp('/web/frontend', { tasks: [{ host: '127.0.0.1', ports: [b.port] }] });
  assert.equal(await untilBody(port, 'frontend.web', 'task b'), 'task b', 'traffic moved to the new task within 5 s');

  const missing = await request(port, { headers: { host: 'missing.web' } });
  assert.equal(missing.status, 502);
  assert.match(String(missing.headers['l5d-err']), /No hosts are available for \/svc\/missing\.web/);
  assert.ok(marathon.requests.some((r) => r.url === '/marathon/v2/apps/web/frontend?embed=app.tasks'), JSON.stringify(marathon.requests.slice(0, 5)));
});

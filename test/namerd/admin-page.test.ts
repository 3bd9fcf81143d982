/**
 * namerd's admin page (src/namerd/admin): an in-process namerd (io.l5d.inMemory with two
 * namespaces, an io.l5d.fs namer, admin on port 0). First the JSON routes over HTTP, then the
 * page in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core).
 * Screenshots go to test-output/.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/config/builtin-plugins.js';
import { loadNamerdConfig } from '../../src/config/load.js';
import { startNamerd, type RunningNamerd } from '../../src/namerd/namerd.js';
import { readDtab } from '../../src/naming/index.js';
import type { NamerdConfig } from '../../src/config/types.js';
import { openPage, skipBrowser } from '../support/browser.js';

if (skipBrowser) console.log(`# skipping namerd admin page browser test: ${skipBrowser}`);

const dir = mkdtempSync(join(tmpdir(), 'meshwork-namerd-admin-'));
mkdirSync(join(dir, 'disco'));
writeFileSync(join(dir, 'disco', 'users'), '127.0.0.1 8081\n');
const running: RunningNamerd[] = [];
after(async () => {
  for (const n of running) await n.close();
  rmSync(dir, { recursive: true, force: true });
});

const ALL_ENABLED = { uiEnabled: true, controlEnabled: true, diagnosticsEnabled: true, pathWhitelist: [], pathBlacklist: [] };
const DEFAULT_DTAB = '/svc=>/#/io.l5d.fs';
const STAGING_DTAB = '/svc/users=>/$/inet/127.0.0.1/9000';

/**
 * Starts namerd in this process. `security` is set on the loaded config: namerd.yaml's
 * `admin.security` is still refused at config validation ("not supported yet"), while the
 * admin server itself implements it.
 */
async function namerd(name: string, security?: Partial<NonNullable<NamerdConfig['admin']['security']>>): Promise<{ n: RunningNamerd; url: string }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n` +
      `    default: /svc => /#/io.l5d.fs\n    staging: /svc/users => /$/inet/127.0.0.1/9000\n` +
      `namers:\n- kind: io.l5d.fs\n  rootDir: ${join(dir, 'disco')}\ninterfaces:\n- kind: io.l5d.httpController\n  port: 0\n`,
  );
  const config = await loadNamerdConfig(file);
  const n = await startNamerd(security === undefined ? config : { ...config, admin: { ...config.admin, security: { ...ALL_ENABLED, ...security } } });
  running.push(n);
  const admin = n.listeners.find((l) => l.kind === 'admin')!;
  return { n, url: `http://127.0.0.1:${admin.port}` };
}

async function call(url: string, method: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: string; type: string | null; allow: string | null }> {
  const res = await fetch(url, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type'), allow: res.headers.get('allow') };
}

async function stored(n: RunningNamerd, ns: string): Promise<{ dtab: string; version: string } | null> {
  const v = await n.namespaces.store.get(ns);
  return v === null ? null : { dtab: v.dtab.show(), version: v.version };
}

const USERS_LEAF = {
  type: 'leaf',
  path: '/#/io.l5d.fs/users',
  dentry: { prefix: '/svc', dst: '/#/io.l5d.fs' },
  bound: { addr: { type: 'bound', addrs: [{ ip: '127.0.0.1', port: 8081, meta: {} }], meta: {} }, id: '/#/io.l5d.fs/users', path: '/' },
};

test('namespaces.json lists every namespace with its dtab and version', async () => {
  const { url } = await namerd('list');
  const r = await call(url + '/namespaces.json', 'GET');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json;charset=utf-8');
  assert.equal(
    r.body,
    `[{"namespace":"default","dtab":"${DEFAULT_DTAB}","version":"1"},{"namespace":"staging","dtab":"${STAGING_DTAB}","version":"2"}]`,
  );
});

test('save writes with the version (CAS): right version 200, stale 412, bad dtab 400, store unchanged on errors', async () => {
  const { n, url } = await namerd('save');
  const ok = await call(url + '/namespaces/save', 'PUT', { namespace: 'staging', dtab: '/svc/users => /$/inet/127.0.0.1/9001 # moved', version: '2' });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { namespace: 'staging', dtab: '/svc/users=>/$/inet/127.0.0.1/9001', version: '3' });
  assert.deepEqual(await stored(n, 'staging'), { dtab: '/svc/users=>/$/inet/127.0.0.1/9001', version: '3' });

  const stale = await call(url + '/namespaces/save', 'POST', { namespace: 'staging', dtab: '/svc=>/$/nil', version: '2' });
  assert.equal(stale.status, 412);
  assert.deepEqual(JSON.parse(stale.body), { code: 'MESH_ERR_DTAB_VERSION_MISMATCH', message: "dtab namespace 'staging' is not at version '2'" });
  assert.deepEqual(await stored(n, 'staging'), { dtab: '/svc/users=>/$/inet/127.0.0.1/9001', version: '3' });

  const bad = await call(url + '/namespaces/save', 'PUT', { namespace: 'staging', dtab: '/svc/users', version: '3' });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body), { code: 'MESH_ERR_DTAB_INVALID', message: "Invalid dtab: '=' expected but end of input found at '/svc/users[]'" });
  assert.deepEqual(await stored(n, 'staging'), { dtab: '/svc/users=>/$/inet/127.0.0.1/9001', version: '3' });

  const missing = await call(url + '/namespaces/save', 'PUT', { namespace: 'nope', dtab: '/a=>/b', version: '1' });
  assert.equal(missing.status, 404);
  assert.deepEqual(JSON.parse(missing.body), { code: 'MESH_ERR_DTAB_NOT_FOUND', message: "dtab namespace 'nope' does not exist" });

  // nothing changes state on GET; writes take JSON only; the body is checked
  const get = await call(url + '/namespaces/save', 'GET');
  assert.equal(get.status, 405);
  assert.equal(get.allow, 'POST, PUT');
  const form = await call(url + '/namespaces/save', 'POST', 'namespace=staging&dtab=%2Fa%3D%3E%2Fb&version=3', 'application/x-www-form-urlencoded');
  assert.equal(form.status, 415);
  assert.deepEqual(JSON.parse(form.body), { code: 'MESH_ERR_NAMERD_ADMIN_CONTENT_TYPE', message: "expected content-type application/json, found 'application/x-www-form-urlencoded'" });
  const noVersion = await call(url + '/namespaces/save', 'PUT', { namespace: 'staging', dtab: '/a=>/b' });
  assert.equal(noVersion.status, 400);
  assert.deepEqual(JSON.parse(noVersion.body), { code: 'MESH_ERR_NAMERD_ADMIN_BODY', message: "field 'version' must be a string, found nothing" });
  const notJson = await call(url + '/namespaces/save', 'PUT', '{"namespace":');
  assert.equal(notJson.status, 400);
  assert.equal(JSON.parse(notJson.body).code, 'MESH_ERR_NAMERD_ADMIN_BODY');
  assert.deepEqual(await stored(n, 'staging'), { dtab: '/svc/users=>/$/inet/127.0.0.1/9001', version: '3' });
});

test('create and delete namespaces', async () => {
  const { n, url } = await namerd('create');
  const created = await call(url + '/namespaces/create', 'POST', { namespace: 'prod', dtab: '/svc => /#/io.l5d.fs;' });
  assert.equal(created.status, 201);
  assert.deepEqual(JSON.parse(created.body), { namespace: 'prod', dtab: DEFAULT_DTAB, version: '3' });
  assert.deepEqual(await stored(n, 'prod'), { dtab: DEFAULT_DTAB, version: '3' });

  const again = await call(url + '/namespaces/create', 'POST', { namespace: 'prod', dtab: '' });
  assert.equal(again.status, 409);
  assert.deepEqual(JSON.parse(again.body), { code: 'MESH_ERR_DTAB_EXISTS', message: "dtab namespace 'prod' already exists" });
  const badName = await call(url + '/namespaces/create', 'POST', { namespace: 'a/b', dtab: '' });
  assert.equal(badName.status, 400);
  assert.equal(JSON.parse(badName.body).code, 'MESH_ERR_NAMESPACE_INVALID');
  const badDtab = await call(url + '/namespaces/create', 'POST', { namespace: 'qa', dtab: '/a=>' });
  assert.equal(badDtab.status, 400);
  assert.equal(JSON.parse(badDtab.body).code, 'MESH_ERR_DTAB_INVALID');
  assert.equal(await stored(n, 'qa'), null);

  const staleDelete = await call(url + '/namespaces/delete', 'POST', { namespace: 'prod', version: '1' });
  assert.equal(staleDelete.status, 412);
  assert.deepEqual(await stored(n, 'prod'), { dtab: DEFAULT_DTAB, version: '3' });
  const deleted = await call(url + '/namespaces/delete', 'POST', { namespace: 'prod', version: '3' });
  assert.equal(deleted.status, 200);
  assert.deepEqual(JSON.parse(deleted.body), { namespace: 'prod' });
  assert.equal(await stored(n, 'prod'), null);
  const gone = await call(url + '/namespaces/delete', 'POST', { namespace: 'prod' });
  assert.equal(gone.status, 404);
  assert.equal((await call(url + '/namespaces/delete', 'GET')).status, 405);
  const list = await call(url + '/namespaces.json', 'GET');
  assert.deepEqual(
    JSON.parse(list.body).map((r: { namespace: string }) => r.namespace),
    ['default', 'staging'],
  );
});

test('delegator.json explains with namerd namers: the given dtab alone, or a namespace ++ dtab', async () => {
  const { url } = await namerd('delegate');
  const alone = await call(url + '/delegator.json', 'POST', { dtab: DEFAULT_DTAB, path: '/svc/users' });
  assert.equal(alone.status, 200);
  assert.deepEqual(JSON.parse(alone.body), { type: 'delegate', path: '/svc/users', delegate: USERS_LEAF });

  const viaNs = await call(url + `/delegator.json?namespace=default&path=/svc/users&dtab=`, 'GET');
  assert.equal(viaNs.status, 200);
  assert.deepEqual(JSON.parse(viaNs.body), { type: 'delegate', path: '/svc/users', delegate: USERS_LEAF });

  // the dtab alone does not include the stored one
  const neg = await call(url + '/delegator.json', 'POST', { dtab: '', path: '/svc/users' });
  assert.deepEqual(JSON.parse(neg.body), { type: 'neg', path: '/svc/users' });

  const bad = await call(url + '/delegator.json', 'POST', { dtab: '/svc', path: '/svc/users' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body, "Invalid dtab: '=' expected but end of input found at '/svc[]'");
});

test('a store that cannot answer is a 503 with its code, for the list and for writes', async () => {
  const { n, url } = await namerd('closed');
  await n.namespaces.store.close();
  const list = await call(url + '/namespaces.json', 'GET');
  assert.equal(list.status, 503);
  assert.deepEqual(JSON.parse(list.body), { code: 'MESH_ERR_STORE_CLOSED', message: 'io.l5d.inMemory storage is closed' });
  const save = await call(url + '/namespaces/save', 'PUT', { namespace: 'default', dtab: '/a=>/b', version: '1' });
  assert.equal(save.status, 503);
  assert.equal(JSON.parse(save.body).code, 'MESH_ERR_STORE_CLOSED');
});

test('the page replaces linkerd dashboard at / and reuses its common files', async () => {
  const { url } = await namerd('page');
  const page = await call(url + '/', 'GET');
  assert.equal(page.status, 200);
  assert.equal(page.type, 'text/html;charset=utf-8');
  assert.match(page.body, /<title>Meshwork · namerd<\/title>/);
  for (const f of ['/files/namerd-namespaces.js', '/files/namerd-namespaces.css', '/files/common.js', '/files/delegator.js', '/files/admin.css']) {
    assert.equal((await call(url + f, 'GET')).status, 200, f);
  }
  assert.equal((await call(url + '/delegator', 'GET')).status, 404);
  assert.equal((await call(url + '/admin/ping', 'GET')).body, 'pong');
});

test('admin security: writes are control (403 when controlEnabled is false), the list is ui', async () => {
  const ro = await namerd('readonly', { controlEnabled: false });
  assert.equal((await call(ro.url + '/namespaces.json', 'GET')).status, 200);
  assert.equal((await call(ro.url + '/', 'GET')).status, 200);
  for (const [path, body] of [
    ['/namespaces/save', { namespace: 'default', dtab: '/a=>/b', version: '1' }],
    ['/namespaces/create', { namespace: 'x', dtab: '' }],
    ['/namespaces/delete', { namespace: 'default' }],
  ] as const) {
    const r = await call(ro.url + path, 'POST', body);
    assert.equal(r.status, 403, path);
    assert.equal(r.body, `forbidden by admin security: ${path}\n`);
  }
  assert.deepEqual(await stored(ro.n, 'default'), { dtab: DEFAULT_DTAB, version: '1' });
  assert.equal(await stored(ro.n, 'x'), null);

  const noUi = await namerd('noui', { uiEnabled: false });
  assert.equal((await call(noUi.url + '/', 'GET')).status, 403);
  assert.equal((await call(noUi.url + '/namespaces.json', 'GET')).status, 403);
  // writes are not ui: still allowed while control is on
  assert.equal((await call(noUi.url + '/namespaces/save', 'PUT', { namespace: 'default', dtab: '/a=>/b', version: '1' })).status, 200);
});

test('the page lists, edits, saves, shows errors inline, explains the edited dtab, creates and deletes', { skip: skipBrowser, timeout: 60_000 }, async (t) => {
  mkdirSync('test-output', { recursive: true });
  const { n, url } = await namerd('browser');
  const { page, pageErrors, external } = await openPage(t, url);
  const W = { timeout: 10_000 };

  // 1. both namespaces listed with their dtabs and versions
  await page.goto(url + '/');
  await page.waitForSelector('#rows tr[data-ns="staging"]', W);
  assert.deepEqual(await page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))), [
    ['default', DEFAULT_DTAB, '1'],
    ['staging', STAGING_DTAB, '2'],
  ]);
  assert.equal(await page.locator('#workspace').isHidden(), true);

  // 2. select one: its dtab in the editor; the playground explains a path through it
  await page.click('#rows tr[data-ns="default"] a');
  await page.waitForSelector('#workspace:not([hidden])', W);
  assert.equal(await page.locator('#ns-name').textContent(), 'default');
  assert.equal(await page.locator('#ns-version').textContent(), '1');
  assert.equal(await page.inputValue('#dtab'), DEFAULT_DTAB);
  assert.equal(new URL(page.url()).search, '?ns=default');
  await page.fill('#path', '/svc/users');
  await page.click('#go');
  await page.waitForSelector('#tree .node[data-type="leaf"]', W);
  assert.deepEqual(await page.locator('#tree .node').evaluateAll((els) => els.map((e) => [e.getAttribute('data-type'), e.classList.contains('chosen')])), [
    ['delegate', true],
    ['leaf', true],
  ]);
  assert.equal(await page.locator('#tree .node[data-type="leaf"]').textContent(), 'leaf/#/io.l5d.fs/users → /#/io.l5d.fs/users [127.0.0.1:8081]/svc => /#/io.l5d.fs');

  // 3. edit (unsaved): the playground follows the edited dtab, the store does not change
  const edited = `${DEFAULT_DTAB};\n/svc/users=>/$/inet/127.0.0.1/9100`;
  await page.fill('#dtab', edited);
  await page.waitForSelector('#tree .node[data-type="alt"]', W);
  assert.deepEqual(await page.locator('#tree .node').evaluateAll((els) => els.map((e) => [e.getAttribute('data-type'), e.querySelector('code')!.textContent, e.classList.contains('chosen')])), [
    ['alt', '/svc/users', true],
    ['leaf', '/$/inet/127.0.0.1/9100', true],
    ['leaf', '/#/io.l5d.fs/users', false],
  ]);
  assert.equal(await page.locator('#dirty').isVisible(), true);
  assert.deepEqual(await stored(n, 'default'), { dtab: DEFAULT_DTAB, version: '1' });
  await page.screenshot({ path: 'test-output/namerd-admin.png', fullPage: true });
  // switching namespaces asks before dropping the edits; declining keeps them
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await page.click('#rows tr[data-ns="staging"] a');
  assert.equal(asked, 'Drop your unsaved changes to default?');
  assert.equal(await page.locator('#ns-name').textContent(), 'default');
  assert.equal(await page.inputValue('#dtab'), edited);

  // 4. save: the store changes, the list and version follow
  await page.click('#save');
  await page.waitForSelector('#saved:not([hidden])', W);
  assert.equal(await page.locator('#saved').textContent(), 'saved as version 3');
  const savedDtab = `${DEFAULT_DTAB};/svc/users=>/$/inet/127.0.0.1/9100`;
  assert.deepEqual(await stored(n, 'default'), { dtab: savedDtab, version: '3' });
  assert.equal(await page.locator('#ns-version').textContent(), '3');
  assert.equal(await page.locator('#rows tr[data-ns="default"] td.version').textContent(), '3');
  assert.equal(await page.inputValue('#dtab'), edited);
  assert.equal(await page.locator('#dirty').isHidden(), true);

  // 5. a bad dtab: the parser's message inline, nothing saved; the playground says so too
  await page.fill('#dtab', '/svc/users');
  await page.click('#save');
  await page.waitForSelector('#save-error:not([hidden])', W);
  assert.equal(await page.locator('#save-message').textContent(), "Invalid dtab: '=' expected but end of input found at '/svc/users[]'");
  assert.equal(await page.locator('#reload').isHidden(), true);
  await page.waitForSelector('#play-error:not([hidden])', W);
  assert.equal(await page.locator('#play-error').textContent(), "Invalid dtab: '=' expected but end of input found at '/svc/users[]'");
  assert.equal(await page.locator('#tree .node').count(), 0);
  assert.deepEqual(await stored(n, 'default'), { dtab: savedDtab, version: '3' });
  await page.screenshot({ path: 'test-output/namerd-admin-error.png', fullPage: true });

  // 6. someone else writes meanwhile: 412 shown inline with a reload, nothing overwritten
  await page.click('#revert');
  await n.namespaces.store.put('default', readDtab('/svc=>/$/nil'));
  await page.fill('#dtab', '/svc=>/$/fail');
  await page.click('#save');
  await page.waitForSelector('#reload:not([hidden])', W);
  assert.equal(
    await page.locator('#save-message').textContent(),
    'default was changed by someone else since you loaded it; reload to see the new dtab (your edits are replaced).',
  );
  assert.deepEqual(await stored(n, 'default'), { dtab: '/svc=>/$/nil', version: '4' });
  await page.screenshot({ path: 'test-output/namerd-admin-conflict.png', fullPage: true });
  await page.click('#reload');
  await page.waitForFunction(() => (document.getElementById('ns-version') as HTMLElement).textContent === '4', undefined, W);
  assert.equal(await page.inputValue('#dtab'), '/svc=>/$/nil');
  assert.equal(await page.locator('#save-error').isHidden(), true);

  // 7. create a namespace, then delete it (confirmed)
  await page.fill('#new-ns', 'prod');
  await page.click('#create-go');
  await page.waitForSelector('#rows tr[data-ns="prod"].selected', W);
  assert.deepEqual(await stored(n, 'prod'), { dtab: '', version: '5' });
  assert.equal(await page.locator('#ns-name').textContent(), 'prod');
  await page.fill('#new-ns', 'prod');
  await page.click('#create-go');
  await page.waitForSelector('#create-error:not([hidden])', W);
  assert.equal(await page.locator('#create-error').textContent(), "dtab namespace 'prod' already exists");
  page.once('dialog', (d) => void d.accept());
  await page.click('#delete');
  await page.waitForSelector('#rows tr[data-ns="prod"]', { state: 'detached', timeout: 10_000 });
  assert.equal(await stored(n, 'prod'), null);
  assert.equal(await page.locator('#workspace').isHidden(), true);
  assert.equal(await page.locator('#rows tr').count(), 2);

  // 8. readable at a laptop's width: nothing overflows sideways at 1024 px
  await page.setViewportSize({ width: 1024, height: 700 });
  await page.goto(url + '/?ns=staging&path=/svc/users');
  await page.waitForSelector('#tree .node[data-type="leaf"]', W);
  assert.equal(await page.locator('#tree .node[data-type="leaf"] code').first().textContent(), '/$/inet/127.0.0.1/9000');
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);

  assert.deepEqual(pageErrors, []);
  assert.deepEqual(external, []);
});

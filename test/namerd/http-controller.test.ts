import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createNamers } from '../../src/namers/registry.js';
import { readPath, readDtab } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { HttpController } from '../../src/namerd/http-controller.js';
import { NamerdError } from '../../src/namerd/errors.js';
import type { DtabStore } from '../../src/namerd/stores/store.js';
import { rawExchange } from '../router/support.js';
import { sendBodyAfterAnswer, wholeAnswer } from '../support/early-answer.js';

const dir = mkdtempSync(join(tmpdir(), 'namerd-http-'));
writeFileSync(join(dir, 'web'), '127.0.0.1 8080\n127.0.0.1 8081\n');
const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/io.l5d.fs' } });
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const ctl = new HttpController(new Namespaces(store, namers), { ip: '127.0.0.1', port: 0 });
const { port } = await ctl.listen();
after(async () => {
  await ctl.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Rsp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}, p = port): Promise<Rsp> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: p, method, path, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Reads `n` NDJSON lines of a watch stream, running `between` after each line but the last. */
function watchLines(path: string, n: number, between: (i: number) => Promise<void>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const timer = setTimeout(() => reject(new Error(`only ${lines.length} lines: ${lines.join(' | ')}`)), 5000);
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (lines.length === n) {
            clearTimeout(timer);
            req.destroy();
            resolve(lines);
            return;
          }
          between(lines.length - 1).catch(reject);
        }
      });
    });
    req.on('error', (e) => (lines.length === n ? undefined : reject(e)));
    req.end();
  });
}

const etagOf = (r: Rsp): string => String(r.headers['etag']);

test('list, get (JSON and application/dtab), HEAD with ETag', async () => {
  assert.deepEqual(await call('GET', '/api/1/dtabs').then((r) => [r.status, r.body]), [200, '["default"]']);
  const g = await call('GET', '/api/1/dtabs/default');
  assert.equal(g.status, 200);
  assert.equal(g.headers['content-type'], 'application/json');
  assert.equal(g.body, '[{"prefix":"/svc","dst":"/#/io.l5d.fs"}]\n');
  const t = await call('GET', '/api/1/dtabs/default', undefined, { accept: 'application/dtab' });
  assert.equal(t.body, '/svc=>/#/io.l5d.fs\n');
  assert.equal(t.headers['content-type'], 'application/dtab');
  const h = await call('HEAD', '/api/1/dtabs/default');
  assert.equal(h.status, 200);
  assert.equal(etagOf(h), etagOf(g));
  assert.equal((await call('GET', '/api/1/dtabs/nope')).status, 404);
  assert.equal((await call('HEAD', '/api/1/dtabs/nope')).status, 404);
});

test('create 204 then 409; bad dtab 400 with the parser message and nothing stored; bad content type 400', async () => {
  assert.equal((await call('POST', '/api/1/dtabs/canary', '/a=>/b', { 'content-type': 'application/dtab' })).status, 204);
  assert.equal((await call('POST', '/api/1/dtabs/canary', '/a=>/b', { 'content-type': 'application/dtab' })).status, 409);
  const bad = await call('PUT', '/api/1/dtabs/canary', '/a=>b', { 'content-type': 'text/plain' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body, "Invalid dtab: simple expected but 'b' found at '/a=>[b]'\n");
  assert.equal((await call('GET', '/api/1/dtabs/canary', undefined, { accept: 'application/dtab' })).body, '/a=>/b\n');
  const badJson = await call('PUT', '/api/1/dtabs/canary', '[{"prefix":"/a"}]', { 'content-type': 'application/json' });
  assert.equal(badJson.status, 400);
  assert.equal((await call('PUT', '/api/1/dtabs/canary', '/a=>/c', { 'content-type': 'image/png' })).status, 400);
  const json = await call('PUT', '/api/1/dtabs/canary', '[{"prefix":"/x","dst":"/y | /z"}]', { 'content-type': 'application/json' });
  assert.equal(json.status, 204);
  assert.equal((await call('GET', '/api/1/dtabs/canary', undefined, { accept: 'text/plain' })).body, '/x=>/y | /z\n');
  assert.equal((await call('DELETE', '/api/1/dtabs/canary')).status, 204);
  assert.equal((await call('DELETE', '/api/1/dtabs/canary')).status, 404);
  assert.equal((await call('PATCH', '/api/1/dtabs/default')).status, 405);
  const malformed = await call('GET', '/api/1/dtabs/%E0');
  assert.deepEqual([malformed.status, malformed.body], [400, "malformed percent-encoding in namespace '%E0'\n"]);
  assert.equal((await call('GET', '/api/1/bind/%E0?path=/a')).status, 400);
});

test('If-Match compare-and-set: the current ETag wins, a stale one gets 412', async () => {
  await call('POST', '/api/1/dtabs/cas', '/a=>/b', { 'content-type': 'application/dtab' });
  const v1 = etagOf(await call('HEAD', '/api/1/dtabs/cas'));
  assert.equal((await call('PUT', '/api/1/dtabs/cas', '/a=>/c', { 'content-type': 'application/dtab', 'if-match': v1 })).status, 204);
  assert.equal((await call('PUT', '/api/1/dtabs/cas', '/a=>/d', { 'content-type': 'application/dtab', 'if-match': v1 })).status, 412);
  assert.equal((await call('PUT', '/api/1/dtabs/missing', '/a=>/d', { 'content-type': 'application/dtab', 'if-match': v1 })).status, 404);
  assert.equal((await call('GET', '/api/1/dtabs/cas', undefined, { accept: 'application/dtab' })).body, '/a=>/c\n');
});

test('50 concurrent CAS writers: each wins or gets 412, and no win is lost', async () => {
  await call('POST', '/api/1/dtabs/race', '/base=>/x', { 'content-type': 'application/dtab' });
  let wins = 0;
  let conflicts = 0;
  await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const cur = await call('GET', '/api/1/dtabs/race', undefined, { accept: 'application/dtab' });
        const body = `${cur.body.trim()};/w${i}=>/x`;
        const r = await call('PUT', '/api/1/dtabs/race', body, { 'content-type': 'application/dtab', 'if-match': etagOf(cur) });
        if (r.status === 204) {
          wins++;
          return;
        }
        assert.equal(r.status, 412);
        conflicts++;
      }
      assert.fail(`writer ${i} never won`);
    }),
  );
  assert.equal(wins, 50);
  assert.ok(conflicts > 0, 'concurrent writers must have collided at least once');
  const final = readDtab((await call('GET', '/api/1/dtabs/race', undefined, { accept: 'application/dtab' })).body);
  assert.equal(final.size, 51);
  for (let i = 0; i < 50; i++) assert.ok(final.show().includes(`/w${i}=>/x`), `w${i} lost`);
});

test('bind, addr, resolve and delegate answer namerd JSON', async () => {
  const addr = '{"type":"bound","addrs":[{"ip":"127.0.0.1","port":8080,"meta":{}},{"ip":"127.0.0.1","port":8081,"meta":{}}],"meta":{}}';
  const b = await call('GET', '/api/1/bind/default?path=/svc/web');
  assert.equal(b.status, 200);
  assert.equal(b.body, `{"type":"leaf","bound":{"addr":${addr},"id":"/#/io.l5d.fs/web","path":"/"}}`);
  assert.equal((await call('GET', '/api/1/addr/default?path=/%23/io.l5d.fs/web')).body, addr);
  assert.equal((await call('GET', '/api/1/resolve/default?path=/svc/web')).body, addr);
  assert.equal((await call('GET', '/api/1/bind/default?path=/svc/nope')).body, '{"type":"neg"}');
  assert.equal((await call('GET', '/api/1/resolve/default?path=/svc/nope')).body, '{"type":"neg"}');
  const d = await call('GET', '/api/1/delegate/default?path=/svc/web');
  assert.equal(
    d.body,
    `{"type":"delegate","path":"/svc/web","delegate":{"type":"leaf","path":"/#/io.l5d.fs/web","dentry":{"prefix":"/svc","dst":"/#/io.l5d.fs"},"bound":{"addr":${addr},"id":"/#/io.l5d.fs/web","path":"/"}}}`,
  );
  const extra = await call('GET', `/api/1/delegate?path=/foo&dtab=${encodeURIComponent('/foo=>/bar')}`);
  assert.equal(extra.body, '{"type":"delegate","path":"/foo","delegate":{"type":"neg","path":"/bar","dentry":{"prefix":"/foo","dst":"/bar"}}}');
  const withDtab = await call('GET', `/api/1/bind/default?path=/svc/alias&dtab=${encodeURIComponent('/svc/alias=>/svc/web')}`);
  assert.match(withDtab.body, /"id":"\/#\/io.l5d.fs\/web"/);
  const badPath = await call('GET', '/api/1/bind/default?path=nope');
  assert.equal(badPath.status, 400);
  assert.equal(badPath.body, "Invalid path: nope\n'/' expected but 'n' found at '[n]ope'\n");
  assert.equal((await call('GET', '/api/1/bind/default?path=/a&dtab=/a=>x')).status, 400);
  const names = JSON.parse((await call('GET', '/api/1/bound-names')).body) as string[];
  assert.ok(names.includes('/#/io.l5d.fs/web'));
});

test('watch streams a line per change and drops duplicates', async () => {
  await call('POST', '/api/1/dtabs/w', '/svc=>/#/io.l5d.fs', { 'content-type': 'application/dtab' });
  const lines = await watchLines('/api/1/dtabs/w?watch=true', 3, async (i) => {
    if (i === 0) {
      // the same dtab again: a new version but an identical document, so no line
      await call('PUT', '/api/1/dtabs/w', '/svc=>/#/io.l5d.fs', { 'content-type': 'application/dtab' });
      await call('PUT', '/api/1/dtabs/w', '/svc=>/$/nil', { 'content-type': 'application/dtab' });
    } else {
      await call('PUT', '/api/1/dtabs/w', '/svc=>/$/fail', { 'content-type': 'application/dtab' });
    }
  });
  assert.deepEqual(lines, [
    '[{"prefix":"/svc","dst":"/#/io.l5d.fs"}]',
    '[{"prefix":"/svc","dst":"/$/nil"}]',
    '[{"prefix":"/svc","dst":"/$/fail"}]',
  ]);
  const binds = await watchLines('/api/1/bind/w?path=/svc/web&watch=true', 2, async () => {
    await call('PUT', '/api/1/dtabs/w', '/svc=>/#/io.l5d.fs', { 'content-type': 'application/dtab' });
  });
  assert.deepEqual(binds[0], '{"type":"fail"}');
  assert.match(binds[1]!, /^\{"type":"leaf","bound":\{.*"id":"\/#\/io.l5d.fs\/web"/);
});

test('a watch from an HTTP/1.0 client is sent unchunked, ended by the close; HTTP/1.1 gets chunked', async () => {
  await call('POST', '/api/1/dtabs/w10', '/svc=>/#/io.l5d.fs', { 'content-type': 'application/dtab' });
  const watch10 = (version: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      let changed = false;
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no second watch line within 5 s; got ${JSON.stringify(got)}`)); }, 5000);
      s.on('error', reject);
      s.write(`GET /api/1/dtabs/w10?watch=true ${version}\r\nHost: x\r\n\r\n`);
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        const body = got.split('\r\n\r\n')[1];
        if (body === undefined) return;
        if (!changed && body.includes('\n')) {
          changed = true;
          void call('PUT', '/api/1/dtabs/w10', version === 'HTTP/1.0' ? '/svc=>/$/nil' : '/svc=>/#/io.l5d.fs', { 'content-type': 'application/dtab' });
        } else if (changed && body.split('\n').filter((l) => l.startsWith('[')).length >= 2) {
          clearTimeout(timer);
          s.destroy();
          resolve(got);
        }
      });
    });
  const got10 = await watch10('HTTP/1.0');
  const [head10, body10] = got10.split('\r\n\r\n') as [string, string];
  assert.doesNotMatch(head10, /transfer-encoding/i, head10);
  assert.match(head10, /^connection: close$/im, head10);
  assert.equal(body10, '[{"prefix":"/svc","dst":"/#/io.l5d.fs"}]\n[{"prefix":"/svc","dst":"/$/nil"}]\n');
  const got11 = await watch10('HTTP/1.1');
  const [head11, body11] = got11.split('\r\n\r\n') as [string, string];
  assert.match(head11, /^transfer-encoding: chunked$/im, head11);
  assert.match(body11, /^[0-9a-f]+\r\n\[\{"prefix":"\/svc","dst":"\/\$\/nil"\}\]\n\r\n/, body11);
});

test('a watch in application/dtab says so; a watch on a name no store allows is a 400', async () => {
  const head = await new Promise<{ type: string | undefined; line: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no line within 5 s')), 5000);
    const req = request({ host: '127.0.0.1', port, path: '/api/1/dtabs/default?watch=true', headers: { accept: 'application/dtab' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        const i = buf.indexOf('\n');
        if (i < 0) return;
        clearTimeout(timer);
        req.destroy();
        resolve({ type: res.headers['content-type'], line: buf.slice(0, i) });
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
  assert.deepEqual(head, { type: 'application/dtab', line: '/svc=>/#/io.l5d.fs' });
  // Bounded: the stream this replaces never ended.
  let timer: NodeJS.Timeout | undefined;
  const bad = await Promise.race([
    call('GET', '/api/1/dtabs/caf%C3%A9?watch=true'),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer to the watch within 5 s')), 5000))),
  ]).finally(() => clearTimeout(timer));
  assert.equal(bad.status, 400);
  assert.match(bad.body, /caf\u00e9|café/);
  // The plain GET of the same name answers the same.
  assert.equal((await call('GET', '/api/1/dtabs/caf%C3%A9')).status, 400);
});

test('a bind that fails on the name asked for is a 400 with the reason, not a 500', async () => {
  const a = await call('GET', '/api/1/bind/default?path=/$/inet/127.0.0.1/1%');
  assert.deepEqual([a.status, a.body], [400, 'Unknown namer: inet for path: /$/inet/127.0.0.1/1%\n']);
  const b = await call('GET', '/api/1/bind/default?path=/$/nosuchnamer/x');
  assert.deepEqual([b.status, b.body], [400, 'Unknown namer: nosuchnamer for path: /$/nosuchnamer/x\n']);
  const c = await call('GET', '/api/1/bind/default?path=/$/io.buoyant.rinet/notaport/127.0.0.1');
  assert.deepEqual([c.status, c.body], [400, 'Invalid port: notaport\n']);
});

test('a store that is down answers 503 with the reason', async () => {
  const down = new Proxy(store, {
    get(target, prop) {
      if (['names', 'get', 'create', 'update', 'put', 'delete'].includes(String(prop))) {
        return () => Promise.reject(new NamerdError('MESH_ERR_STORE_UNAVAILABLE', 'etcd at 127.0.0.1:1 is unreachable', { retryable: true }));
      }
      return Reflect.get(target, prop) as unknown;
    },
  }) as DtabStore;
  const c = new HttpController(new Namespaces(down, namers), { ip: '127.0.0.1', port: 0 });
  const p = (await c.listen()).port;
  try {
    const r = await call('GET', '/api/1/dtabs', undefined, {}, p);
    assert.deepEqual([r.status, r.body], [503, 'etcd at 127.0.0.1:1 is unreachable\n']);
    assert.equal((await call('PUT', '/api/1/dtabs/default', '/a=>/b', { 'content-type': 'application/dtab' }, p)).status, 503);
  } finally {
    await c.close();
  }
});

test('a watch on a namespace that does not exist yet answers its head at once, then streams the create', async () => {
  const ns = `later${Date.now()}`;
  const t0 = Date.now();
  const got = await new Promise<{ status: number; headMs: number; first: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no head or line within 3 s')), 3000);
    const req = request({ host: '127.0.0.1', port, path: `/api/1/dtabs/${ns}?watch=true` }, (res) => {
      const headMs = Date.now() - t0;
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c: string) => {
        buf += c;
        const i = buf.indexOf('\n');
        if (i < 0) return;
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, headMs, first: buf.slice(0, i) });
      });
      // The head arrived before any change: now create the namespace.
      void call('POST', `/api/1/dtabs/${ns}`, '/svc => /#/io.l5d.fs/web', { 'content-type': 'application/dtab' });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(got.status, 200);
  assert.ok(got.headMs < 1000, `head after ${got.headMs} ms`);
  assert.deepEqual(JSON.parse(got.first), [{ prefix: '/svc', dst: '/#/io.l5d.fs/web' }]);
});

/** Writes `bytes` on a new connection (then half-closes) and resolves with all the server wrote. */
const raw = (bytes: string): Promise<string> => rawExchange(port, bytes, 5000, true);

test('bytes the parser refuses, an absolute target that is no URL and a bogus Expect are 4xx with a reason', async () => {
  const bad = await raw('G ET /api/1/dtabs HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request: HPE_INVALID_METHOD \(.+\)\n$/);
  // Node's parser lets `http://[::1` through; `new URL` then threw and it was a 500.
  const target = await raw('GET http://[::1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.match(target, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nbad request target "http:\/\/\[::1"\n$/);
  // An unencoded '#' cut the query: the dtab after it was dropped without a word.
  const frag = await call('GET', '/api/1/resolve/default?path=/#/io.l5d.fs/web&dtab=/a=>/b');
  assert.deepEqual([frag.status, frag.body], [400, `bad request target "/api/1/resolve/default?path=/#/io.l5d.fs/web&dtab=/a=>/b": '#' must be sent as %23\n`]);
  assert.equal((await call('GET', '/api/1/resolve/default?path=/%23/io.l5d.fs/web')).status, 200);
  // Node's own Host check answered a bare 400.
  const noHost = await raw('GET /api/1/dtabs HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.match(noHost, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nBad Request: an HTTP\/1\.1 request must carry a Host header\n$/);
  const expect = await call('GET', '/api/1/dtabs', undefined, { expect: 'bogus' });
  assert.deepEqual([expect.status, expect.body], [417, 'unsupported expectation "bogus": only 100-continue is\n']);
});

test('a body over the limit is answered 400 saying so, on a connection that stays usable', async () => {
  const r = await call('PUT', '/api/1/dtabs/big', '/'.repeat((1 << 20) + 100), { 'content-type': 'application/dtab', connection: 'keep-alive' });
  assert.deepEqual([r.status, r.body], [400, `body larger than ${1 << 20} bytes\n`]);
  assert.equal((await call('GET', '/api/1/dtabs/big')).status, 404);
});

test('a body still arriving after an early answer is read and dropped before the connection closes', async () => {
  const MB4 = 4 << 20;
  const whole = (s: string): boolean => wholeAnswer(s) !== undefined;
  const over = await sendBodyAfterAnswer(port, `PUT /api/1/dtabs/big HTTP/1.1\r\nHost: h\r\nContent-Type: application/dtab\r\nContent-Length: ${MB4}\r\nConnection: close\r\n\r\n`, MB4, whole, (1 << 20) + 65_536);
  assert.deepEqual(wholeAnswer(over.answer), { status: 400, body: `body larger than ${1 << 20} bytes\n` });
  assert.deepEqual([over.sendError, over.sent], [undefined, MB4]);
  const unknown = await sendBodyAfterAnswer(port, `POST /nope HTTP/1.0\r\nContent-Length: ${MB4}\r\n\r\n`, MB4, whole);
  assert.equal(wholeAnswer(unknown.answer)?.status, 405);
  assert.deepEqual([unknown.sendError, unknown.sent], [undefined, MB4]);
  assert.equal((await call('GET', '/api/1/dtabs/big')).status, 404);
});

/**
 * Seeded fuzz of the HTTP APIs a client can reach, against one real `meshwork namerd`
 * (io.l5d.inMemory store, io.l5d.fs namer, io.l5d.httpController, admin server) and one real
 * `meshwork linkerd` (an http router and its admin server). A few hundred requests each go to
 * namerd's httpController (`/api/1/dtabs[/<ns>]` with every method and bodies in JSON,
 * application/dtab, text, garbage, huge and bad UTF-8, odd If-Match values;
 * `/api/1/bind|addr|resolve|delegate` with malformed paths, dtabs and percent-encodings;
 * `?watch=true` streams the client drops at once or after a little), to namerd's admin server
 * and to linkerd's admin server (every registered endpoint, random methods, queries, long
 * paths, `..`, bodies); a share of each goes over raw sockets, malformed.
 *
 * Every answer must be well-formed HTTP/1.1 with a status the case allows (never a 5xx: the
 * in-memory store cannot be down), every 4xx must say why in its body, and every connection and
 * watch stream must end within a bound. Meanwhile a control client checks exact answers: a valid
 * dtab written is read back exactly; an invalid write is a 400 that leaves the stored dtab and
 * its ETag unchanged; a stale If-Match is a 412. Afterwards both processes are up and answer
 * exactly, their open descriptors are back near where they started and their RSS is bounded.
 * The seed is printed; set MESHWORK_FUZZ_SEED to replay a run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { FuzzGen, seededRandom as prng } from '../support/prng.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
/** Cases per server. */
const CASES = { api: 400, nadmin: 250, ladmin: 250 } as const;
/** Of each server's cases, this share goes over a raw socket, malformed. */
const RAW_SHARE = 0.25;
const CONCURRENCY = 24;
/** Bound on one exchange; a server that has not finished by then hangs. */
const CASE_MS = 8000;
/** Quiet time after which a raw case half-closes its connection. */
const RAW_IDLE_MS = 300;
const TOTAL_MS = 45_000;
const RSS_GROWTH_KB = 100 * 1024;
/** Longest body kept from one answer (a watch stream is dropped long before). */
const KEEP_BYTES = 1 << 20;

type Target = 'api' | 'nadmin' | 'ladmin';

interface HttpCase {
  readonly kind: 'http';
  readonly target: Target;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** A watch the client drops: 'now' as soon as it is sent, 'head' once the head came, 'later' after a while. */
  readonly drop?: 'now' | 'head' | 'later';
  /** Statuses this case may get; absent: anything but a 5xx. */
  readonly allow?: ReadonlySet<number>;
  /** The exact body when the status is 200 (checked only then). */
  readonly body200?: string;
}

interface RawCase {
  readonly kind: 'raw';
  readonly target: Target;
  readonly bytes: Buffer;
}

type Case = HttpCase | RawCase;

// ---- inputs -----------------------------------------------------------------------------------

/** Dentries with their canonical text (what the store prints back). */
const DENTRIES: ReadonlyArray<readonly [prefix: string, dst: string, written: string]> = [
  ['/svc/a', '/#/io.l5d.fs/a', '/svc/a => /#/io.l5d.fs/a'],
  ['/svc/b', '/b | /c', '/svc/b=>/b|/c'],
  ['/svc', '~', '/svc => ~'],
  ['/x', '!', '/x=>!'],
  ['/y', '$', '/y =>$'],
  ['/a/*', '/b', '/a/* => /b'],
  ['/w', '0.50*/b & 0.50*/c', '/w => 0.5 * /b & 0.5 * /c'],
  ['/svc/web', '/$/inet/127.0.0.1/1', '/svc/web => /$/inet/127.0.0.1/1'],
  ['/svc/web', '/#/io.l5d.fs/web', '/svc/web=>/#/io.l5d.fs/web'],
];

/** Dtab texts that do not parse (checked against the parser when this test was written). */
const BAD_DTABS = ['garbage', '/a =>', '=> /b', ';', '/a=>/b;;/c=>/d', '/a b=>/c', '/a=>/b\ufffd', '/a=>(/b', '/a=>/b|', '/a=>/b&', '/svc/web/=>/x', '/\\xZZ=>/a'];

/** Paths that parse, and ones that do not. */
const GOOD_PATHS = ['/svc/web', '/svc/web/extra', '/#/io.l5d.fs/web', '/$/inet/127.0.0.1/1', '/svc/nobody', '/', '/svc/%zz', '/..', '/a/../b', '/svc/a'];
const BAD_PATHS = ['', 'svc', '/a b', '//', '/a//b', '/\u0000', '/\\xZZ', '/svc/web/', '/a=b', '/a\ufffd'];

/** Namespaces the fuzz may write (control namespaces `ctl*` and the configured ones are left alone). */
const FUZZ_NS = ['fz0', 'fz1', 'fz2', 'fz3'];
/** Namespaces the store refuses (as URL path segments, percent-encoded where needed). */
const BAD_NS = ['..', '.', 'a%20b', 'a%2Fb', '%00', 'caf%C3%A9', 'x%3F'];
const MALFORMED_NS = ['%zz', '%', '%E0%A4%A', 'a%', '%E2%82'];

interface GenDtab {
  readonly canon: string;
  readonly text: string;
  readonly json: string;
}

function validDtab(g: FuzzGen): GenDtab {
  const n = g.int(4);
  const picks = Array.from({ length: n }, () => g.pick(DENTRIES));
  return {
    canon: picks.map(([p, d]) => `${p}=>${d}`).join(';'),
    text: picks.map((x) => x[2]).join(g.pick([';', ';\n', ' ; '])),
    json: JSON.stringify(picks.map(([prefix, dst]) => ({ prefix, dst }))),
  };
}

function badJson(g: FuzzGen): string {
  return g.pick([
    'not json',
    '{}',
    '[1]',
    '[{"prefix":1,"dst":"/b"}]',
    '{"prefix":"/a","dst":"/b"}',
    '[{"prefix":"/a","dst":"=>"}]',
    '[{"prefix":"/a b","dst":"/b"}]',
    'null',
    '"/a=>/b"',
    '[null]',
    '['.repeat(10_000),
    '[{"prefix":"/a","dst":"/b"}',
  ]);
}

const enc = encodeURIComponent;

function shuffle<T>(g: FuzzGen, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function pctMangle(g: FuzzGen, s: string): string {
  switch (g.int(6)) {
    case 0:
      return s + '%';
    case 1:
      return s + '%zz';
    case 2:
      return s + '%C3%28';
    case 3:
      return s.replace(/\//g, '%2F');
    case 4:
      return s + '%00';
    default:
      return s + '%E2%82%AC';
  }
}

// ---- namerd's httpController --------------------------------------------------------------------

const WRITE_TYPES = ['application/json', 'application/dtab', 'text/plain', 'application/dtab; charset=utf-8', 'APPLICATION/JSON'];

function apiCase(g: FuzzGen): HttpCase {
  const r = g.rnd();
  const any = (method: string, path: string, extra: Partial<HttpCase> = {}): HttpCase => ({ kind: 'http', target: 'api', method, path, headers: {}, ...extra });
  if (r < 0.1) {
    // The list of namespaces.
    const method = g.pick(['GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const watch = method === 'GET' && g.chance(0.4);
    const path = `/api/1/dtabs${g.pick(['', '/'])}${watch ? '?watch=true' : g.pick(['', '?x=%zz', '?watch=maybe'])}`;
    const allow = new Set(method === 'GET' || method === 'HEAD' ? [200] : [405]);
    return any(method, path, { allow, ...(watch ? { drop: g.pick(['now', 'head', 'later'] as const) } : {}) });
  }
  if (r < 0.5) {
    // One namespace: reads, writes in every encoding, deletes.
    const nsKind = g.int(10);
    const ns = nsKind < 6 ? g.pick(FUZZ_NS) : nsKind < 7 ? g.pick(['default', 'other']) : nsKind < 9 ? g.pick(BAD_NS) : g.pick(MALFORMED_NS);
    const readOnly = ns === 'default' || ns === 'other';
    // `.` and `..` are dot segments: the URL resolves them, so the request addresses another route.
    if (ns === '.' || ns === '..') return any(g.pick(['GET', 'HEAD', 'PUT', 'DELETE']), `/api/1/dtabs/${ns}`);
    const nsStatus = MALFORMED_NS.includes(ns) || BAD_NS.includes(ns) ? 400 : undefined;
    const method = readOnly ? g.pick(['GET', 'HEAD']) : g.pick(['GET', 'HEAD', 'POST', 'PUT', 'PUT', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const headers: Record<string, string> = {};
    if (g.chance(0.3)) headers['accept'] = g.pick(['application/dtab', 'application/json', 'text/plain', '*/*', 'x/y, application/dtab', ',,,']);
    let path = `/api/1/dtabs/${ns}`;
    if (method === 'GET' && g.chance(0.25)) {
      path += '?watch=' + g.pick(['true', '1']);
      // A watch of a name the store refuses is a 400, as a plain GET of it.
      const allowWatch = nsStatus !== undefined ? [nsStatus] : [200];
      return any(method, path, { headers, allow: new Set(allowWatch), drop: g.pick(['now', 'head', 'later'] as const) });
    }
    if (method === 'GET' || method === 'HEAD') {
      const body200 = ns === 'default' && method === 'GET' && headers['accept'] === 'application/dtab' ? '/svc=>/#/io.l5d.fs\n' : undefined;
      return any(method, path, { headers, allow: new Set(nsStatus !== undefined ? [nsStatus] : [200, 404]), ...(body200 !== undefined ? { body200 } : {}) });
    }
    if (method === 'DELETE') return any(method, path, { allow: new Set([nsStatus ?? 204, 404]) });
    if (method === 'PATCH' || method === 'OPTIONS') return any(method, path, { allow: new Set([nsStatus ?? 405, 405]) });
    // POST / PUT with a body.
    const ct = g.pick([...WRITE_TYPES, 'text/html', 'application/x-www-form-urlencoded', '', 'application/dtab;', ';;']);
    if (ct !== '') headers['content-type'] = ct;
    const json = /json/i.test(ct);
    const known = WRITE_TYPES.some((t) => t.toLowerCase().split(';')[0] === ct.toLowerCase().split(';')[0]!.trim());
    let body: Buffer;
    let valid: boolean | undefined;
    const b = g.int(10);
    if (b < 4) {
      const d = validDtab(g);
      body = Buffer.from(json ? d.json : d.text);
      valid = true;
    } else if (b < 6) {
      body = Buffer.from(json ? badJson(g) : g.pick(BAD_DTABS));
      valid = false;
    } else if (b < 7) {
      body = g.bytes(g.int(300));
    } else if (b < 8) {
      // Bad UTF-8 inside an otherwise plausible dtab.
      body = Buffer.concat([Buffer.from('/svc/a=>/b'), Buffer.from([g.pick([0xff, 0xc3, 0xe2, 0x80])]), Buffer.from(g.pick(['', ';/c=>/d']))]);
    } else if (b < 9) {
      // Large but allowed (limit 1 MiB), or over the limit.
      body = Buffer.alloc(g.chance(0.5) ? 200_000 : (1 << 20) + 1 + g.int(4096), g.pick(['/', 'a', ';', ' ']));
    } else {
      body = Buffer.from(g.printable(g.int(80)));
    }
    if (g.chance(0.25)) headers['if-match'] = g.pick(['*', '""', '"', 'W/"MQ=="', 'MQ==', '!!!', 'x'.repeat(3000), '"Mg=="', '\u00ff'.replace('\u00ff', '%FF'), 'MQ==, Mg==']);
    let allow: number[];
    if (nsStatus !== undefined) allow = [400];
    else if (!known) allow = [400];
    else if (valid === false) allow = [400];
    else if (valid === true) allow = method === 'POST' ? [204, 409] : headers['if-match'] !== undefined ? [204, 404, 412] : [204];
    else allow = [204, 400, 404, 409, 412];
    return any(method, path, { headers, body, allow: new Set(allow) });
  }
  // bind / addr / resolve / delegate.
  const kind = g.pick(['bind', 'addr', 'resolve', 'delegate']);
  const nsPick = g.int(10);
  const ns = nsPick < 5 ? 'default' : nsPick < 7 ? g.pick(FUZZ_NS) : nsPick < 8 ? g.pick(BAD_NS) : nsPick < 9 ? g.pick(MALFORMED_NS) : undefined;
  const dotSegment = ns === '.' || ns === '..';
  const q: string[] = [];
  let pathOk: boolean | undefined;
  let dtabOk: boolean | undefined = true;
  const pk = g.int(10);
  if (pk < 6) {
    q.push('path=' + enc(g.pick(GOOD_PATHS)));
    pathOk = true;
  } else if (pk < 8) {
    q.push('path=' + enc(g.pick(BAD_PATHS)));
    pathOk = false;
  } else if (pk < 9) {
    q.push('path=' + pctMangle(g, g.pick(GOOD_PATHS)));
    pathOk = undefined;
  } else pathOk = false; // missing
  if (g.chance(0.5)) {
    const dk = g.int(4);
    if (dk < 2) q.push('dtab=' + enc(validDtab(g).text));
    else if (dk < 3) {
      q.push('dtab=' + enc(g.pick(BAD_DTABS)));
      dtabOk = false;
    } else {
      q.push('dtab=' + pctMangle(g, enc('/svc=>/x')));
      dtabOk = undefined; // some manglings still decode to a dtab
    }
  }
  const watch = g.chance(0.25);
  if (watch) q.push('watch=true');
  if (g.chance(0.1)) q.push(g.pick(['x=%', 'path=/second', '&&', '=', 'watch']));
  const nsPart = ns === undefined ? '' : '/' + ns;
  const params = shuffle(g, q);
  const path = `/api/1/${kind}${nsPart}?${params.join('&')}`;
  // `watch` is read from its first occurrence too: a bare `watch` (the junk above) before
  // `watch=true` is not a watch (not "true"), as namerd reads the parameter.
  const firstWatch = params.find((p) => p === 'watch' || p.startsWith('watch='));
  const watching = firstWatch === 'watch=true';
  const method = g.chance(0.85) ? 'GET' : g.pick(['HEAD', 'POST', 'DELETE', 'PUT']);
  let allow: number[];
  if (dotSegment) allow = [200, 400, 404, 405];
  else if (method !== 'GET') allow = [405];
  else if (ns !== undefined && MALFORMED_NS.includes(ns)) allow = [400];
  else if (pathOk === false || dtabOk === false) allow = [400];
  else if (pathOk === undefined || dtabOk === undefined) allow = [200, 400, 404];
  else if (ns === undefined && kind !== 'delegate') allow = [404];
  else allow = [200];
  // bind and delegate of a name the store refuses fail at once (400); addr and resolve answer
  // their `fail` document, and watches stream what the namespace's state gives.
  if (ns !== undefined && BAD_NS.includes(ns) && method === 'GET' && !watching && (kind === 'bind' || kind === 'delegate') && allow.length === 1 && allow[0] === 200) allow = [400];
  // A repeated `path=` or `dtab=` is read as its first value.
  if (q.some((p) => p === 'path=/second')) allow = [...allow, 200, 400, 404];
  return any(method, path, { allow: new Set(allow), ...(watch && method === 'GET' ? { drop: g.pick(['now', 'head', 'later'] as const) } : {}) });
}

// ---- admin servers --------------------------------------------------------------------------------

const ADMIN_COMMON = [
  '/admin',
  '/admin/index.txt',
  '/admin/ping',
  '/admin/metrics.json',
  '/config.json',
  '/admin/routers.json',
  '/delegator.json',
  '/client_state.json',
  '/bound-names.json',
  '/namer_state/io.l5d.fs.json',
  '/namer_state/#/io.l5d.fs.json',
  '/namer_state/.json',
  '/namer_state/x',
  '/admin/server_info',
  '/admin/shutdown',
  '/admin/profile.cpuprofile',
  '/files/common.js',
  '/files/admin.css',
  '/files/delegator.js',
  '/files/../../package.json',
  '/files/%2e%2e/%2e%2e/package.json',
  '/files/',
  '/nope',
  '/admin/',
  '/..',
  '/./admin/ping',
  '//admin/ping',
  '/admin/ping/',
  '/%zz',
  '/admin%2Fping',
];
const NAMERD_ADMIN = ['/', '/files/namerd-namespaces.js', '/files/namerd-namespaces.css', '/namespaces.json', '/namespaces/create', '/namespaces/save', '/namespaces/delete'];
const LINKERD_ADMIN = ['/', '/delegator', '/requests', '/clients', '/files/dashboard.js', '/requests.json', '/admin/metrics/prometheus'];

const ADMIN_QUERIES = [
  '',
  '?tree=1',
  '?pretty=1',
  '?q=rt',
  '?q=rt/fz',
  '?q=%zz',
  '?q=',
  '?q=/../..',
  '?path=/svc/web',
  '?path=' + enc('/svc/web') + '&dtab=' + enc('/svc/web=>/$/inet/127.0.0.1/2'),
  '?namespace=fz&path=/svc/web',
  '?namespace=default&path=/svc/web',
  '?namespace=nobody&path=/svc/web',
  '?path=%',
  '?path=',
  '?dtab=' + enc('=>'),
  '?path=/svc/web&dtab=' + enc('/a=>(/b'),
  '?path=' + enc('/a b'),
  '?seconds=abc',
  '?seconds=-1',
  '?seconds=1e9',
  '?interval_us=1',
  '?seconds=0.1&interval_us=1e9',
  '?%%%',
  '?' + 'k=v&'.repeat(500),
];

function adminCase(g: FuzzGen, target: 'nadmin' | 'ladmin'): HttpCase {
  const own = target === 'nadmin' ? NAMERD_ADMIN : LINKERD_ADMIN;
  let path = g.chance(0.35) ? g.pick(own) : g.pick(ADMIN_COMMON);
  if (g.chance(0.05)) path = '/' + 'a/'.repeat(1000 + g.int(2000));
  if (g.chance(0.05)) path = path + '/' + g.pick(['..', '%2e%2e', '.', '%00', '%C3%28', '~', ';x']);
  let query = g.pick(ADMIN_QUERIES);
  // A real profile takes its seconds; one at a time in the whole run is enough.
  if (path === '/admin/profile.cpuprofile' && !/seconds=(abc|-1|1e9)|interval_us=1($|&)|interval_us=1e9/.test(query)) query = g.pick(['?seconds=abc', '?seconds=-1', '?seconds=1e9', '?interval_us=1']);
  let method = g.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
  // POST /admin/shutdown is the one request that may stop the process: the fuzz never sends it.
  if (path === '/admin/shutdown' && method === 'POST') method = 'GET';
  const headers: Record<string, string> = {};
  let body: Buffer | undefined;
  if (method !== 'GET' && method !== 'HEAD' && g.chance(0.8)) {
    headers['content-type'] = g.pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/dtab']);
    const bk = g.int(8);
    if (bk < 4) {
      // The JSON a write or a delegation takes, with some fields wrong.
      const o: Record<string, unknown> = {};
      if (g.chance(0.8)) o['namespace'] = g.pick([...FUZZ_NS, ...FUZZ_NS, '..', 'a b', '', 'fz\u0000', 7, null]);
      if (g.chance(0.8)) o['dtab'] = g.pick([validDtab(g).text, validDtab(g).text, g.pick(BAD_DTABS), 5, '']);
      if (g.chance(0.5)) o['version'] = g.pick(['1', '999', '', 'x', 3]);
      if (g.chance(0.6)) o['path'] = g.pick([...GOOD_PATHS, ...BAD_PATHS, 9]);
      body = Buffer.from(JSON.stringify(o));
    } else if (bk < 5) body = Buffer.from(g.pick(['', 'null', '[]', '"x"', '{', '{"dtab":"/a=>/b"', '{"path":"/svc/web","dtab":""}']));
    else if (bk < 6) body = g.bytes(g.int(500));
    else if (bk < 7) body = Buffer.alloc((1 << 20) + 1 + g.int(1000), 'z');
    else body = Buffer.from('{"namespace":"fz0","dtab":"/a=>/b\xff"}', 'latin1');
  }
  if (g.chance(0.1)) headers['accept'] = g.pick(['*/*', 'text/html', '', 'application/json;q=0']);
  return { kind: 'http', target, method, path: path + query, headers, ...(body !== undefined ? { body } : {}) };
}

// ---- raw, malformed -------------------------------------------------------------------------------

function rawCase(g: FuzzGen, target: Target): RawCase {
  const paths = target === 'api' ? ['/api/1/dtabs', '/api/1/dtabs/fz0', '/api/1/bind/default?path=/svc/web', '/api/1/delegate?path=/svc/web'] : ['/admin/ping', '/delegator.json?path=/svc/web', '/admin/metrics.json', target === 'nadmin' ? '/namespaces.json' : '/admin/routers.json'];
  const targetStr = g.pick([...paths, '//[', 'http://[::1', 'http://x:99999/', '*', '/%', '/a b', '/\x7f', '/\x01', 'http://namerd/api/1/dtabs', '/' + 'x'.repeat(20_000), '?', '/api/1/dtabs/fz0#frag', '/api/1/dtabs/%E0%A4%A']);
  const method = g.pick(['GET', 'GET', 'POST', 'PUT', 'HEAD', 'FOO', 'G ET', '', 'get', 'DELETE', 'PRI', 'CONNECT']);
  const version = g.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', '']);
  const eol = g.chance(0.9) ? '\r\n' : g.pick(['\n', '\r', '\n\r']);
  const headers: string[] = ['Host: h'];
  for (let k = g.int(4); k > 0; k--) {
    headers.push(
      g.pick([
        'Content-Length: 3',
        'Content-Length: -1',
        'Content-Length: 99999999999999999999',
        'Content-Length: 1, 2',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: gzip',
        'Content-Type: application/json',
        'Content-Type: application/dtab',
        'If-Match: \x01',
        'Expect: 100-continue',
        'Expect: bogus',
        'x\ttab: v',
        ': novalue',
        ' folded',
        'x-ctl: a\x00b',
        'Connection: close',
      ]),
    );
  }
  if (g.chance(0.05)) headers.push('x-big: ' + 'b'.repeat(20_000 + g.int(80_000)));
  let body = '';
  if (headers.some((h) => /chunked/.test(h))) body = g.pick(['0\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n', 'x\r\n', '3\r\nabcdef\r\n0\r\n\r\n', 'ffffffffffffffff\r\n']);
  else if (g.chance(0.5)) body = g.pick(['abc', '/a=>/b', '', g.printable(20)]);
  let bytes = Buffer.from(`${method} ${targetStr} ${version}${eol}${headers.map((h) => h + eol).join('')}${eol}${body}`, 'latin1');
  const r = g.int(10);
  if (r < 3) {
    // A few bytes flipped, inserted or cut.
    for (let k = 1 + g.int(3); k > 0; k--) {
      const at = g.int(bytes.length + 1);
      bytes = g.chance(0.5) ? Buffer.concat([bytes.subarray(0, at), g.bytes(1 + g.int(4)), bytes.subarray(at)]) : Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + g.int(6)))]);
    }
  } else if (r < 4) bytes = Buffer.concat([g.bytes(1 + g.int(200)), Buffer.from('\r\n\r\n')]);
  else if (r < 5) bytes = Buffer.concat([Buffer.from(`GET ${paths[0]} HTTP/1.1\r\nHost: h\r\n\r\n`), bytes]);
  return { kind: 'raw', target, bytes };
}

// ---- exchanges ------------------------------------------------------------------------------------

interface Outcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body: Buffer;
  /** Client-side failure (a reset is one when the server refused a body it did not want). */
  error?: string;
  /** The exchange was still open at CASE_MS. */
  hung: boolean;
  /** Raw cases: the answers, parsed. */
  raw?: { statuses: number[]; bodies: Array<string | undefined>; problem?: string };
  ms: number;
}

let ports: Record<Target, number> = { api: 0, nadmin: 0, ladmin: 0 };

function httpExchange(c: HttpCase, g: FuzzGen): Promise<Outcome> {
  const t0 = performance.now();
  const laterMs = 30 + g.int(250);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let done = false;
    const out: Outcome = { body: Buffer.alloc(0), hung: false, ms: 0 };
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      out.body = Buffer.concat(chunks);
      out.ms = performance.now() - t0;
      resolve(out);
    };
    // Without an agent Node's client asks for `Connection: close`: a server that answers before a
    // large body is in (a 404, a refused size) must still read it, or its reset can beat the
    // answer to the client (client-errors.ts, lingerBeforeClose). Node's client sends the body
    // of a GET, DELETE, OPTIONS or TRACE without Content-Length, which makes it a second, garbled
    // request to the server; the length is given so that it is the body it is meant to be.
    const framed = c.body === undefined || Object.keys(c.headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h));
    const headers = framed ? c.headers : { ...c.headers, 'content-length': String(c.body!.length) };
    const req = http.request({ host: '127.0.0.1', port: ports[c.target], method: c.method, path: c.path, headers, agent: false });
    const timer = setTimeout(() => {
      out.hung = true;
      req.destroy();
      finish();
    }, CASE_MS);
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (c.drop === undefined) out.error = e.code ?? e.message;
      finish();
    });
    req.on('close', () => {
      // A response whose body did not end is not finished by 'close' alone; its 'end' or 'aborted' decides.
      if (out.status === undefined) finish();
    });
    req.on('response', (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.on('data', (b: Buffer) => {
        if (kept < KEEP_BYTES) chunks.push(b);
        kept += b.length;
      });
      res.on('end', finish);
      res.on('aborted', () => {
        if (c.drop === undefined) out.error = 'aborted';
        finish();
      });
      res.on('error', () => finish());
      res.on('close', finish);
      if (c.drop === 'head') req.destroy();
      else if (c.drop === 'later') setTimeout(() => req.destroy(), laterMs);
    });
    if (c.drop === 'now') {
      req.end();
      setImmediate(() => {
        req.destroy();
        finish();
      });
      return;
    }
    req.end(c.body);
  });
}

function rawExchange(c: RawCase): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const s = net.connect(ports[c.target], '127.0.0.1');
    const chunks: Buffer[] = [];
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      s.destroy();
    }, CASE_MS);
    let idle = setTimeout(() => s.end(), RAW_IDLE_MS);
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      clearTimeout(idle);
      idle = setTimeout(() => s.end(), RAW_IDLE_MS);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(idle);
      const body = Buffer.concat(chunks);
      const heads = (c.bytes.toString('latin1').match(/(^|\n)HEAD /g) ?? []).length;
      resolve({ body, hung, raw: parseRaw(body, heads), ms: performance.now() - t0 });
    });
    s.write(c.bytes);
  });
}

/** Splits what a server wrote on a raw connection into responses; anything malformed is a problem. */
function parseRaw(buf: Buffer, headRequests: number): { statuses: number[]; bodies: Array<string | undefined>; problem?: string } {
  const statuses: number[] = [];
  /** undefined: an answer to HEAD, which has no body. */
  const bodies: Array<string | undefined> = [];
  let at = 0;
  let heads = headRequests;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) return { statuses, bodies, problem: `truncated head at ${at}` };
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const sl = /^HTTP\/1\.1 (\d{3}) [\x20-\x7e]*$/.exec(lines[0]!);
    if (sl === null) return { statuses, bodies, problem: `bad status line ${JSON.stringify(lines[0])}` };
    const status = Number(sl[1]);
    const h = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(l);
      if (m === null) return { statuses, bodies, problem: `bad header line ${JSON.stringify(l)}` };
      h.set(m[1]!.toLowerCase(), m[2]!);
    }
    at = end + 4;
    if (status === 100) continue;
    statuses.push(status);
    let body: string | undefined = '';
    // An answer to HEAD has no body: the next bytes are the next answer, or nothing.
    if (heads > 0 && (at === buf.length || buf.subarray(at, at + 9).toString('latin1') === 'HTTP/1.1 ')) {
      heads--;
      body = undefined;
    } else if (h.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      for (;;) {
        const le = buf.indexOf('\r\n', at, 'latin1');
        if (le < 0) return { statuses, bodies, problem: 'truncated chunk size' };
        const size = parseInt(buf.subarray(at, le).toString('latin1'), 16);
        if (!Number.isFinite(size)) return { statuses, bodies, problem: 'bad chunk size' };
        at = le + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        body += buf.subarray(at, at + size).toString('utf8');
        at += size + 2;
      }
    } else if (h.has('content-length')) {
      const n = Number(h.get('content-length'));
      if (at + n > buf.length) return { statuses, bodies, problem: `body shorter than content-length ${n}` };
      body = buf.subarray(at, at + n).toString('utf8');
      at += n;
    } else if (status !== 204 && status !== 304) {
      body = buf.subarray(at).toString('utf8');
      at = buf.length;
    }
    bodies.push(body);
  }
  return { statuses, bodies };
}

// ---- processes ------------------------------------------------------------------------------------

let dir: string;
let namerd: ReadyProcess;
let linkerd: ReadyProcess;

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]);
}
function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-api-fuzz-'));
  writeFileSync(join(dir, 'web'), '127.0.0.1 1\n');
  writeFileSync(join(dir, 'a'), '127.0.0.1 2\n');
  writeFileSync(
    join(dir, 'namerd.yaml'),
    `admin:
  port: 0
storage:
  kind: io.l5d.inMemory
  namespaces:
    default: /svc => /#/io.l5d.fs
    other: /svc => /$/inet/127.0.0.1/1
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
interfaces:
- kind: io.l5d.httpController
  port: 0
`,
  );
  writeFileSync(
    join(dir, 'linkerd.yaml'),
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  label: fz
  dtab: /svc => /#/io.l5d.fs
  servers:
  - port: 0
`,
  );
  [namerd, linkerd] = await Promise.all([
    spawnReady(process.execPath, [BIN, 'namerd', join(dir, 'namerd.yaml')], /^namerd admin listening on /m, 15_000),
    spawnReady(process.execPath, [BIN, 'linkerd', join(dir, 'linkerd.yaml')], /^admin listening on /m, 15_000),
  ]);
  ports = {
    api: Number(/^namerd io\.l5d\.httpController listening on \S+:(\d+)$/m.exec(namerd.output())![1]),
    nadmin: Number(/^namerd admin listening on \S+:(\d+)$/m.exec(namerd.output())![1]),
    ladmin: Number(/^admin listening on \S+:(\d+)$/m.exec(linkerd.output())![1]),
  };
});

after(async () => {
  await Promise.all([namerd?.stop(2000), linkerd?.stop(2000)]);
  rmSync(dir, { recursive: true, force: true });
});

/** One well-formed request with the whole answer (the control client's). */
async function call(target: Target, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const o = await httpExchange({ kind: 'http', target, method, path, headers, ...(body !== undefined ? { body: Buffer.from(body) } : {}) }, new FuzzGen(() => 0.5));
  if (o.status === undefined) throw new Error(`${method} ${path}: no answer (${o.error ?? (o.hung ? 'hung' : 'closed')})`);
  return { status: o.status, headers: o.headers!, body: o.body.toString('utf8') };
}

const RESOLVED_WEB = '{"type":"bound","addrs":[{"ip":"127.0.0.1","port":1,"meta":{}}],"meta":{}}';

/**
 * The control client: exact answers for well-formed requests while the fuzz runs, on
 * namespaces the fuzz never writes. Returns what went wrong.
 */
async function control(g: FuzzGen, rounds: number): Promise<string[]> {
  const bad: string[] = [];
  const eq = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  for (let k = 0; k < rounds; k++) {
    const ns = `ctl${k % 3}`;
    const at = `/api/1/dtabs/${ns}`;
    const d = validDtab(g);
    const asJson = g.chance(0.5);
    const put = await call('api', 'PUT', at, asJson ? d.json : d.text, { 'content-type': asJson ? 'application/json' : 'application/dtab' });
    eq(`round ${k} PUT ${ns}`, [put.status, put.body], [204, '']);
    const read = async (what: string): Promise<string | undefined> => {
      const r = await call('api', 'GET', at, undefined, { accept: 'application/dtab' });
      eq(`round ${k} ${what}: GET ${ns} as application/dtab`, [r.status, r.headers['content-type'], r.body], [200, 'application/dtab', d.canon + '\n']);
      const j = await call('api', 'GET', at);
      eq(`round ${k} ${what}: GET ${ns} as JSON`, [j.status, j.body], [200, JSON.stringify(JSON.parse(d.json)) + '\n']);
      return r.headers['etag'] as string | undefined;
    };
    const etag = await read('after PUT');
    // An invalid write of each kind: 400 with a reason, nothing stored.
    const invalid = g.pick([
      { ct: 'application/dtab', body: g.pick(BAD_DTABS), reason: /^Invalid dtab: / },
      { ct: 'application/json', body: badJson(g), reason: /^(invalid JSON: |expected a JSON list|dentry \d+: |Invalid dtab: )/ },
      { ct: 'text/html', body: d.text, reason: /^unsupported content type 'text\/html'/ },
    ]);
    const method = g.pick(['PUT', 'POST']);
    const ifMatch: Record<string, string> = g.chance(0.5) && etag !== undefined ? { 'if-match': etag } : {};
    const w = await call('api', method, at, invalid.body, { 'content-type': invalid.ct, ...ifMatch });
    if (w.status !== 400 || !invalid.reason.test(w.body)) bad.push(`round ${k}: ${method} ${ns} of ${JSON.stringify(invalid.body.slice(0, 60))} as ${invalid.ct}: ${w.status} ${JSON.stringify(w.body.slice(0, 200))}`);
    eq(`round ${k}: ETag after the refused write`, await read('after a refused write'), etag);
    // A stale or odd If-Match: 412 with a reason, nothing stored.
    const d2 = validDtab(g);
    const stale = g.pick(['"MA=="', 'bm9wZQ==', '*', '""', 'W/' + (etag ?? '')]);
    const s = await call('api', 'PUT', at, d2.text, { 'content-type': 'application/dtab', 'if-match': stale });
    if (s.status !== 412 || s.body === '') bad.push(`round ${k}: PUT with If-Match ${stale}: ${s.status} ${JSON.stringify(s.body)}`);
    eq(`round ${k}: ETag after the stale write`, await read('after a stale write'), etag);
    // The namerd admin page lists it exactly.
    const list = await call('nadmin', 'GET', '/namespaces.json');
    const row = (JSON.parse(list.body) as Array<{ namespace: string; dtab?: string }>).find((r) => r.namespace === ns);
    eq(`round ${k}: /namespaces.json row of ${ns}`, row?.dtab, d.canon);
    // Names resolve exactly through namerd and linkerd's playground.
    const res = await call('api', 'GET', '/api/1/resolve/default?path=/svc/web');
    eq(`round ${k}: resolve /svc/web`, [res.status, res.body], [200, RESOLVED_WEB]);
    const ping = await call(g.pick(['nadmin', 'ladmin'] as const), 'GET', '/admin/ping');
    eq(`round ${k}: ping`, [ping.status, ping.body], [200, 'pong']);
  }
  return bad;
}

test('fuzz: namerd httpController, namerd admin and linkerd admin answer every request sanely and stay up', async (t) => {
  const seed = (process.env['MESHWORK_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fuzz seed ${seed} (replay: MESHWORK_FUZZ_SEED=${seed})`);
  console.log(`http-api-fuzz: seed ${seed}`);
  const g = new FuzzGen(prng(seed));
  const cases: Case[] = [];
  for (const target of ['api', 'nadmin', 'ladmin'] as const) {
    for (let i = 0; i < CASES[target]; i++) {
      if (g.chance(RAW_SHARE)) cases.push(rawCase(g, target));
      else cases.push(target === 'api' ? apiCase(g) : adminCase(g, target));
    }
  }
  // Interleave the servers' cases, deterministically.
  const order = shuffle(g, cases.map((_, i) => i));
  const caseRnd = cases.map(() => Math.floor(g.rnd() * 2 ** 31));

  const pids = { namerd: namerd.child.pid!, linkerd: linkerd.child.pid! };
  // Warm up the paths the cases take so the baselines include them.
  for (const p of ['/admin/ping', '/admin/metrics.json', '/delegator.json?path=/svc/web']) {
    assert.equal((await call('nadmin', 'GET', p)).status, 200);
    assert.equal((await call('ladmin', 'GET', p)).status, 200);
  }
  assert.equal((await call('api', 'GET', '/api/1/bind/default?path=/svc/web')).status, 200);
  const rssBefore = { namerd: rssKb(pids.namerd), linkerd: rssKb(pids.linkerd) };
  const fdsBefore = { namerd: fds(pids.namerd), linkerd: fds(pids.linkerd) };

  const outcomes: Outcome[] = new Array(cases.length);
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < order.length && Date.now() - t0 < TOTAL_MS) {
      const i = order[next++]!;
      const c = cases[i]!;
      outcomes[i] = c.kind === 'http' ? await httpExchange(c, new FuzzGen(prng(caseRnd[i]!))) : await rawExchange(c);
    }
  };
  const [controlProblems] = await Promise.all([control(new FuzzGen(prng(seed ^ 0x5eed)), 12), ...Array.from({ length: CONCURRENCY }, worker)]);
  const elapsed = Date.now() - t0;
  assert.equal(next, order.length, `only ${next} of ${order.length} cases ran in ${TOTAL_MS} ms`);

  const failures: string[] = [...controlProblems.map((p) => `control: ${p}`)];
  const tally = new Map<string, number>();
  const count = (k: string): void => void tally.set(k, (tally.get(k) ?? 0) + 1);
  let slowest = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    const o = outcomes[i]!;
    slowest = Math.max(slowest, o.ms);
    const sent = c.kind === 'http' ? `${c.method} ${c.path.slice(0, 200)} ${JSON.stringify(c.headers)} body ${JSON.stringify((c.body ?? Buffer.alloc(0)).toString('latin1').slice(0, 120))}${c.body !== undefined && c.body.length > 120 ? ` (${c.body.length} bytes)` : ''}${c.drop !== undefined ? ` (dropped ${c.drop})` : ''}` : `raw ${JSON.stringify(c.bytes.toString('latin1').slice(0, 200))}`;
    const why = (msg: string): void => void failures.push(`case ${i} (${c.target}): ${msg}\n  sent ${sent}\n  got  ${o.status ?? '-'} ${JSON.stringify(o.body.toString('utf8').slice(0, 200))}`);
    if (o.hung) {
      why(`still open after ${CASE_MS} ms`);
      continue;
    }
    if (c.kind === 'raw') {
      const p = o.raw!;
      if (p.problem !== undefined) why(p.problem);
      if (p.statuses.length === 0) count(`${c.target} raw: closed without an answer`);
      p.statuses.forEach((s, k) => {
        count(`${c.target} raw ${s}`);
        if (s >= 500) why(`status ${s}`);
        if (s >= 400 && p.bodies[k] !== undefined && p.bodies[k]!.trim() === '') why(`${s} without a reason`);
      });
      continue;
    }
    if (o.status === undefined) {
      // Only a watch the client dropped may end unanswered.
      if (c.drop !== undefined) count(`${c.target} watch dropped before its head`);
      else why(`no answer: ${o.error ?? 'closed'}`);
      continue;
    }
    count(`${c.target} ${o.status}${c.drop !== undefined ? ' watch' : ''}`);
    if (o.status >= 500) why(`status ${o.status}`);
    // A '#' left unencoded in the target (a mangled path) is refused before any route: it would
    // cut the query short.
    else if (c.path.includes('#')) {
      if (o.status !== 400) why(`status ${o.status} for a target with a '#', want 400`);
    } else if (c.allow !== undefined && !c.allow.has(o.status)) why(`status ${o.status}, allowed ${[...c.allow].join('/')}`);
    // A watch dropped at once or at its head was cut by the client before any body.
    const cut = c.drop === 'now' || c.drop === 'head';
    if (o.status >= 400 && c.method !== 'HEAD' && !cut && o.body.toString('utf8').trim() === '') why(`${o.status} without a reason`);
    if (o.error !== undefined && c.drop === undefined) why(`answer cut: ${o.error}`);
    if (o.status === 200 && c.body200 !== undefined && o.body.toString('utf8') !== c.body200) why(`body ${JSON.stringify(o.body.toString('utf8'))}, want ${JSON.stringify(c.body200)}`);
    // What a watch sent before it was dropped is whole JSON documents, one per line (unless the
    // client asked for dtab text, which the stream then sends, an empty dtab as an empty line).
    if (c.drop !== undefined && o.status === 200 && !/dtab|text\/plain/.test(c.headers['accept'] ?? '')) {
      const text = o.body.toString('utf8');
      const lines = text.split('\n');
      for (const l of lines.slice(0, -1)) {
        try {
          JSON.parse(l);
        } catch {
          why(`watch line is not JSON: ${JSON.stringify(l.slice(0, 200))}`);
        }
      }
    }
  }

  // Every connection and watch the cases opened ends: the processes' descriptors come back.
  const settle = async (name: 'namerd' | 'linkerd'): Promise<number> => {
    let n = fds(pids[name]);
    for (let k = 0; k < 50 && n > fdsBefore[name] + 4; k++) {
      await new Promise((r) => setTimeout(r, 100));
      n = fds(pids[name]);
    }
    return n;
  };
  const fdsAfter = { namerd: await settle('namerd'), linkerd: await settle('linkerd') };
  const rssAfter = { namerd: rssKb(pids.namerd), linkerd: rssKb(pids.linkerd) };
  const summary = [...tally].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}: ${v}`).join(', ');
  const line = `http-api-fuzz: seed ${seed}, ${cases.length} cases in ${elapsed} ms (slowest ${Math.round(slowest)} ms); ${summary}; fds namerd ${fdsBefore.namerd} -> ${fdsAfter.namerd}, linkerd ${fdsBefore.linkerd} -> ${fdsAfter.linkerd}; RSS namerd ${Math.round(rssBefore.namerd / 1024)} -> ${Math.round(rssAfter.namerd / 1024)} MB, linkerd ${Math.round(rssBefore.linkerd / 1024)} -> ${Math.round(rssAfter.linkerd / 1024)} MB`;
  t.diagnostic(line);
  console.log(line);
  // To read every failure of a run, not only the first 20.
  const dump = process.env['MESHWORK_FUZZ_FAILURES'];
  if (dump !== undefined) writeFileSync(dump, failures.join('\n') + '\n');
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed})`);

  // Both up, both answering exactly.
  assert.equal(namerd.child.exitCode, null);
  assert.equal(linkerd.child.exitCode, null);
  assert.deepEqual(await call('api', 'GET', '/api/1/dtabs/default', undefined, { accept: 'application/dtab' }).then((r) => [r.status, r.body]), [200, '/svc=>/#/io.l5d.fs\n']);
  assert.deepEqual(await call('api', 'GET', '/api/1/resolve/other?path=/svc/x').then((r) => [r.status, r.body]), [200, RESOLVED_WEB]);
  const names = JSON.parse((await call('api', 'GET', '/api/1/dtabs')).body) as string[];
  for (const ns of ['ctl0', 'ctl1', 'ctl2', 'default', 'other']) assert.ok(names.includes(ns), `${ns} in ${JSON.stringify(names)}`);
  assert.deepEqual(await call('nadmin', 'GET', '/admin/ping').then((r) => [r.status, r.body]), [200, 'pong']);
  assert.deepEqual(await call('ladmin', 'GET', '/admin/ping').then((r) => [r.status, r.body]), [200, 'pong']);
  assert.deepEqual(await call('ladmin', 'GET', '/admin/routers.json').then((r) => [r.status, JSON.parse(r.body)]), [200, [{ label: 'fz', protocol: 'http', dtab: '/svc => /#/io.l5d.fs' }]]);
  // A watch opened now still hears a write.
  const heard = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('watch heard nothing')), 5000);
    const req = http.get({ host: '127.0.0.1', port: ports.api, path: '/api/1/dtabs/ctl0?watch=true', headers: { accept: 'application/dtab' }, agent: false }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        buf += s;
        const lines = buf.split('\n');
        if (lines.length >= 3) {
          clearTimeout(timer);
          req.destroy();
          resolve(lines[1]!);
        } else if (lines.length === 2) void call('api', 'PUT', '/api/1/dtabs/ctl0', '/svc/after=>/x', { 'content-type': 'application/dtab' });
      });
    });
    req.on('error', () => {});
  });
  assert.equal(heard, '/svc/after=>/x');
  for (const p of [namerd, linkerd]) assert.doesNotMatch(p.output(), /TypeError|RangeError|ReferenceError|Uncaught|FATAL/);
  for (const name of ['namerd', 'linkerd'] as const) {
    assert.ok(fdsAfter[name] <= fdsBefore[name] + 4, `${name} holds ${fdsAfter[name]} descriptors, ${fdsBefore[name]} before`);
    assert.ok(rssAfter[name] > 0 && rssAfter[name] - rssBefore[name] < RSS_GROWTH_KB, `${name} RSS grew from ${rssBefore[name]} kB to ${rssAfter[name]} kB`);
  }
});

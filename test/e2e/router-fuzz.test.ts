/**
 * Raw-socket fuzz against a real `meshwork linkerd` process: 2,000 generated, mutated and random
 * HTTP/1.1 requests, each on its own connection. Every connection must end with well-formed
 * HTTP/1.1 responses whose statuses are a parse refusal (400/408/413/414/431/501/505), a routing
 * failure (502/503/504) or the upstream's own answer to a request it received intact; the process must
 * stay up and answer afterwards, and its RSS must stay bounded. The seed is printed; set
 * MESHWORK_FUZZ_SEED to replay a run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as http from 'node:http';
import * as net from 'node:net';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { request, upstream, type Upstream } from '../router/support.js';
import { FuzzGen, seededRandom as prng } from '../support/prng.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const CASES = 2000;
const CONCURRENCY = 200;
/**
 * Quiet time after which a case half-closes its connection: the router must then finish and
 * close. Cases wait a little so heads left unfinished get their 408 first.
 */
const IDLE_MS = 1000;
/** Bound on one connection; the router must have closed it by then. */
const CASE_MS = 5000;
const TOTAL_MS = 20_000;
const ROUTER_STATUSES = new Set([400, 408, 413, 414, 431, 501, 505, 502, 503, 504]);


/** A tag the upstream echoes so a response can be traced to the connection that caused it. */
function tag(i: number): string {
  return `c${i}k${(i * 7919 + 13) % 100003}`;
}
function untag(s: string): number | undefined {
  const m = /^c(\d+)k(\d+)$/.exec(s);
  if (m === null) return undefined;
  const i = Number(m[1]);
  return (i * 7919 + 13) % 100003 === Number(m[2]) ? i : undefined;
}

/** Requests a well-behaved client sends; `T` is replaced by the case tag. */
const CORPUS: readonly string[] = [
  'GET /a?b=c HTTP/1.1\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: t\r\n\r\n',
  'GET / HTTP/1.0\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'GET http://dog/abs HTTP/1.1\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'HEAD /h HTTP/1.1\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'PUT /e HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  'OPTIONS * HTTP/1.1\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'GET /n HTTP/1.1\r\nHost: nobody\r\nx-case: T\r\n\r\n',
  'GET /d HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nl5d-dtab: /svc/dog => /#/io.l5d.fs/dog\r\n\r\n',
  'GET /bd HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nl5d-dtab: /svc => \r\n\r\n',
  'DELETE /k HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\nGET /k2 HTTP/1.1\r\nHost: dog\r\nx-case: T\r\n\r\n',
  'GET /t HTTP/1.1\r\nHost: dog\r\nx-case: T\r\nl5d-ctx-trace: AAAAAAAAAAEAAAAAAAAAAQAAAAAAAAABAAAAAAAAAAY=\r\nl5d-ctx-deadline: 0 0\r\nVia: 1.1 a, 1.1 b\r\n\r\n',
];

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'get', 'G ET', 'FOO', '', 'GET\x00', 'CONNECT', 'PRI'];
const TARGETS = ['/', '/a/b?c=d', '*', 'http://dog/x', '//x', 'dog', '/%zz', '/\x7f', '/a b', 'dog:80', 'http://nobody/', '/#frag'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'http/1.1', 'HTTP/11', '', 'HTTP/1.1 '];
const EXTRA_HEADERS = [
  'Content-Length: 3',
  'Content-Length: 0',
  'Content-Length: -1',
  'Content-Length: 99999999999999999999',
  'Content-Length: abc',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: Chunked',
  'Transfer-Encoding: chunked, chunked',
  'Transfer-Encoding: gzip, chunked',
  'Connection: close',
  'Connection: keep-alive, x',
  'Expect: 100-continue',
  'Expect: bogus',
  'l5d-dtab: /svc/dog => /#/io.l5d.fs/dog',
  'l5d-dtab: =>',
  'l5d-ctx-dtab: /a=>/b',
  'l5d-ctx-trace: !!!',
  'l5d-ctx-deadline: x y',
  'l5d-sample: 2',
  'Via: ' + Array.from({ length: 30 }, () => '1.1 hop').join(', '),
  'Host: dog',
  'Host:',
  'x-empty:',
  ': novalue',
  'bad header name: v',
  'x-utf8: caf\xc3\xa9',
  'x-ctl: a\x01b',
  'x\ttab: v',
];

/** A request from a small grammar: mostly plausible, often subtly wrong. */
function grammar(g: FuzzGen, t: string): Buffer {
  const eol = g.chance(0.9) ? '\r\n' : g.pick(['\n', '\r', '\r\r\n', '\n\r']);
  let target = g.pick(TARGETS);
  if (g.chance(0.05)) target = '/' + 'a'.repeat(1000 + g.int(3000));
  if (g.chance(0.1)) target = '/' + g.printable(g.int(40));
  const line = `${g.pick(METHODS)} ${target} ${g.pick(VERSIONS)}`;
  const headers: string[] = [];
  if (g.chance(0.9)) headers.push(g.pick(['Host: dog', 'Host: dog', 'Host: dog', 'Host: nobody', 'Host: dog:80', 'host: DOG', 'Host: ']));
  if (g.chance(0.9)) headers.push(`x-case: ${t}`);
  for (let k = g.int(4); k > 0; k--) headers.push(g.pick(EXTRA_HEADERS));
  if (g.chance(0.05)) headers.push('x-big: ' + 'b'.repeat(2000 + g.int(6000)));
  if (g.chance(0.05)) for (let k = 0; k < 200; k++) headers.push(`x-h${k}: ${k}`);
  if (g.chance(0.1)) g.pick([() => headers.push(' folded'), () => headers.unshift(' leading-space: x')])();
  let body = '';
  const chunked = headers.some((h) => /^transfer-encoding:.*chunked/i.test(h));
  if (chunked) {
    body = g.pick(['0\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n', '3\r\nabcdef\r\n0\r\n\r\n', 'x\r\n', '3\r\nabc', '-1\r\n', '3 \r\nabc\r\n0\r\n\r\n', '3;a=b\r\nabc\r\n0\r\n\r\n']);
  } else if (g.chance(0.4)) {
    body = g.pick(['abc', '', 'abcdef', g.printable(g.int(20))]);
  }
  return Buffer.from(line + eol + headers.map((h) => h + eol).join('') + eol + body, 'latin1');
}

/** A corpus request with a few bytes flipped, inserted, deleted, duplicated or cut. */
function mutate(g: FuzzGen, t: string): Buffer {
  let b = Buffer.from(g.pick(CORPUS).replaceAll('x-case: T', `x-case: ${t}`), 'latin1');
  for (let k = 1 + g.int(4); k > 0; k--) {
    const at = g.int(b.length + 1);
    switch (g.int(6)) {
      case 0:
        if (at < b.length) b[at] = g.int(256);
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(g.pick(['\r\n', '\n', '\r', '\x00', ' ', ':', '\t', ',', '0', 'chunked', '\r\n\r\n']), 'latin1'), b.subarray(at)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + g.int(8)))]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + g.int(20)), b.subarray(at)]);
        break;
      case 4:
        b = b.subarray(0, at);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), g.bytes(1 + g.int(4)), b.subarray(at)]);
    }
  }
  return b;
}

function generate(g: FuzzGen, i: number): Buffer {
  const t = tag(i);
  const r = g.rnd();
  if (r < 0.3) return grammar(g, t);
  if (r < 0.7) return mutate(g, t);
  if (r < 0.82) return g.bytes(g.int(300));
  if (r < 0.9) return Buffer.from(g.printable(g.int(200)) + '\r\n\r\n', 'latin1');
  // Pipelined: a valid request followed by a mutated or generated one on the same connection.
  return Buffer.concat([Buffer.from(CORPUS[0]!.replace('x-case: T', `x-case: ${t}`), 'latin1'), g.chance(0.5) ? mutate(g, t) : grammar(g, t)]);
}

interface Parsed {
  statuses: number[];
  /** Tags the upstream echoed back in its bodies. */
  tags: string[];
  /** Upstream sequence numbers of the upstream's answers. */
  seqs: number[];
  error?: string;
}

/** Splits what the router wrote into HTTP/1.1 responses; any malformed byte is an error. */
function parseResponses(buf: Buffer, headRequests: number): Parsed {
  const out: Parsed = { statuses: [], tags: [], seqs: [] };
  let at = 0;
  let heads = headRequests;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) return { ...out, error: `truncated head at ${at}` };
    const head = buf.subarray(at, end).toString('latin1');
    const lines = head.split('\r\n');
    const sl = /^HTTP\/1\.1 (\d{3}) [\x20-\x7e]*$/.exec(lines[0]!);
    if (sl === null) return { ...out, error: `bad status line ${JSON.stringify(lines[0])}` };
    const status = Number(sl[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(l);
      if (m === null || /[\x00-\x08\x0a-\x1f\x7f]/.test(m[2]!)) return { ...out, error: `bad header line ${JSON.stringify(l)}` };
      const k = m[1]!.toLowerCase();
      if (headers.has(k) && (k === 'content-length' || k === 'transfer-encoding')) return { ...out, error: `duplicate ${k}` };
      headers.set(k, m[2]!);
    }
    at = end + 4;
    if (status >= 100 && status < 200) {
      if (status === 101) return { ...out, error: 'unexpected 101' };
      continue;
    }
    out.statuses.push(status);
    // A response to HEAD has no body: the upstream says so in x-up-method; for the router's own
    // answers, a HEAD was sent and the next bytes are already the next response (or nothing).
    const nextIsHead = at === buf.length || buf.subarray(at, at + 9).toString('latin1') === 'HTTP/1.1 ';
    const isHead = heads > 0 && (status === 200 ? headers.get('x-up-method') === 'HEAD' : nextIsHead);
    if (isHead) heads--;
    let body: Buffer;
    if (isHead || status === 204 || status === 304) body = Buffer.alloc(0);
    else if (headers.has('transfer-encoding')) {
      if (headers.get('transfer-encoding')!.toLowerCase() !== 'chunked') return { ...out, error: `transfer-encoding ${headers.get('transfer-encoding')}` };
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', at, 'latin1');
        if (le < 0) return { ...out, error: 'truncated chunk size' };
        const size = parseInt(buf.subarray(at, le).toString('latin1').split(';')[0]!, 16);
        if (!Number.isFinite(size)) return { ...out, error: 'bad chunk size' };
        at = le + 2;
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', at - 2, 'latin1');
          if (te < 0) return { ...out, error: 'truncated trailers' };
          at = te + 4;
          break;
        }
        if (at + size + 2 > buf.length) return { ...out, error: 'truncated chunk' };
        parts.push(buf.subarray(at, at + size));
        at += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers.has('content-length')) {
      const n = Number(headers.get('content-length'));
      if (!/^\d+$/.test(headers.get('content-length')!)) return { ...out, error: `content-length ${headers.get('content-length')}` };
      if (at + n > buf.length) return { ...out, error: `body shorter than content-length ${n}` };
      body = buf.subarray(at, at + n);
      at += n;
    } else {
      body = buf.subarray(at);
      at = buf.length;
    }
    // Every response is either the router's own (it says why in l5d-err) or the upstream's answer
    // to a request it received (it numbers them in x-up-seq and echoes the case tag).
    if (headers.has('l5d-err')) {
      if (!ROUTER_STATUSES.has(status)) return { ...out, error: `router answered ${status}` };
    } else if (headers.has('x-up-seq')) {
      if (status !== 200 && status !== 417) return { ...out, error: `upstream status ${status}` };
      const seq = Number(headers.get('x-up-seq'));
      out.seqs.push(seq);
      if (!isHead) {
        const m = /^up:(\d+):(.*)$/s.exec(body.toString('latin1'));
        if (m === null || Number(m[1]) !== seq) return { ...out, error: `upstream body ${JSON.stringify(body.toString('latin1').slice(0, 80))} for x-up-seq ${seq}` };
        out.tags.push(m[2]!);
      }
    } else if (headers.has('x-up-refused')) {
      // The upstream's parser refused what the router sent; judged from the upstream's side.
      if (status !== 400) return { ...out, error: `upstream refusal with status ${status}` };
    } else {
      return { ...out, error: `response ${status} carries neither l5d-err nor x-up-seq` };
    }
  }
  return out;
}

interface Outcome {
  reply: Buffer;
  closedByServer: boolean;
}

/** Per case: how many requests carrying its tag the upstream has answered. */
const answeredFor = new Map<number, number>();
/** Per case: when it half-closed (the router drops what it still owes a half-closed client). */
const finAt = new Map<number, number>();

function exchange(port: number, i: number, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, CASE_MS);
    // Nothing more will come from us: say so once the connection has been quiet for IDLE_MS and
    // every answer the upstream gave to this case has come back.
    let idle: NodeJS.Timeout;
    const quiet = (): void => {
      const got = (Buffer.concat(chunks).toString('latin1').match(/\r\nx-up-seq: /gi) ?? []).length;
      if (got >= (answeredFor.get(i) ?? 0)) {
        finAt.set(i, performance.now());
        s.end();
      } else idle = setTimeout(quiet, 50);
    };
    idle = setTimeout(quiet, IDLE_MS);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(idle);
      idle = setTimeout(quiet, IDLE_MS);
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(idle);
      resolve({ reply: Buffer.concat(chunks), closedByServer: !timedOut });
    });
    s.write(bytes);
  });
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]);
}

interface UpSeen {
  seq: number;
  method: string;
  tag: string;
  dst: string;
  complete: boolean;
  answeredAt: number;
}

let dir: string;
let lk: ReadyProcess;
let port = 0;
let adminPort = 0;
let up: Upstream;
const upSeen: UpSeen[] = [];
/** What the upstream's parser refused, and the tag of the request before it on that connection. */
const upRefused: Array<{ code: string; packet: string; after: string | undefined }> = [];
const lastTagOn = new WeakMap<net.Socket, string>();
const refusedSockets = new WeakSet<net.Socket>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-fuzz-'));
  const record = (req: http.IncomingMessage): UpSeen => {
    const seen: UpSeen = {
      seq: upSeen.length,
      method: req.method ?? '',
      tag: String(req.headers['x-case'] ?? ''),
      dst: String(req.headers['l5d-dst-service'] ?? ''),
      complete: false,
      answeredAt: 0,
    };
    upSeen.push(seen);
    lastTagOn.set(req.socket, seen.tag);
    req.on('error', () => {});
    return seen;
  };
  const answer = (res: http.ServerResponse, seen: UpSeen, status: number): void => {
    const from = untag(seen.tag);
    if (from !== undefined) answeredFor.set(from, (answeredFor.get(from) ?? 0) + 1);
    seen.answeredAt = performance.now();
    const body = `up:${seen.seq}:${seen.tag}`;
    res.writeHead(status, { 'content-length': Buffer.byteLength(body, 'latin1'), 'x-up-method': seen.method, 'x-up-seq': seen.seq });
    res.end(body, 'latin1');
  };
  up = await upstream((req, res) => {
    const seen = record(req);
    req.resume();
    req.on('end', () => {
      seen.complete = true;
      answer(res, seen, 200);
    });
  });
  // An Expect other than 100-continue: the upstream refuses it (as Node does by default), numbered.
  up.server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const seen = record(req);
    seen.complete = true;
    req.resume();
    answer(res, seen, 417);
  });
  up.server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => {
    // Once refused, the rest of that message (its body) is not a request of its own.
    if (refusedSockets.has(socket)) return void socket.destroy();
    refusedSockets.add(socket);
    upRefused.push({ code: err.code ?? '', packet: err.rawPacket?.toString('latin1') ?? '', after: lastTagOn.get(socket) });
    // Answer the refusal instead of resetting, so the router relays it rather than requeueing.
    if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nx-up-refused: ${err.code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    else socket.destroy();
  });
  writeFileSync(join(dir, 'dog'), `127.0.0.1 ${up.port}\n`);
  const cfg = join(dir, 'linkerd.yaml');
  writeFileSync(
    cfg,
    `admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${dir}
routers:
- protocol: http
  label: fz
  maxInitialLineKB: 1
  maxHeadersKB: 2
  dtab: /svc => /#/io.l5d.fs
  servers:
  - port: 0
`,
  );
  // Heads left unfinished get their 408 before the case half-closes (IDLE_MS).
  lk = await spawnReady(process.execPath, [BIN, 'linkerd', cfg], /^admin listening on /m, 15_000, { ...process.env, MESHWORK_HEADERS_TIMEOUT_MS: '500' });
  port = Number(/^listening fz 127\.0\.0\.1:(\d+)$/m.exec(lk.output())![1]);
  adminPort = Number(/^admin listening on \S+:(\d+)$/m.exec(lk.output())![1]);
});

after(async () => {
  await lk?.stop(2000);
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

test(`fuzz: ${CASES} random and mutated requests over raw sockets; the process answers each sanely and stays up`, async (t) => {
  const seed = (process.env['MESHWORK_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fuzz seed ${seed} (replay: MESHWORK_FUZZ_SEED=${seed})`);
  console.log(`router-fuzz: seed ${seed}`);
  const g = new FuzzGen(prng(seed));
  const cases = Array.from({ length: CASES }, (_, i) => generate(g, i));
  // To look at a run's inputs: one JSON string (latin1) per line, case i on line i + 1.
  const dump = process.env['MESHWORK_FUZZ_DUMP'];
  if (dump !== undefined) writeFileSync(dump, cases.map((c) => JSON.stringify(c.toString('latin1'))).join('\n') + '\n');

  // Warm up so the baseline RSS includes the code paths a request takes.
  for (let i = 0; i < 20; i++) assert.equal((await request(port, { headers: { host: 'dog' } })).status, 200);
  const pid = lk.child.pid!;
  const rssBefore = rssKb(pid);
  const upBefore = upSeen.length;
  const refusedBefore = upRefused.length;

  const outcomes: Outcome[] = new Array(CASES);
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < CASES && Date.now() - t0 < TOTAL_MS) {
      const i = next++;
      outcomes[i] = await exchange(port, i, cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = Date.now() - t0;
  assert.equal(next, CASES, `only ${next} of ${CASES} cases ran in ${TOTAL_MS} ms`);

  const failures: string[] = [];
  const tally = new Map<string, number>();
  const delivered = new Map<number, number>();
  const count = (k: string): void => void tally.set(k, (tally.get(k) ?? 0) + 1);
  for (let i = 0; i < CASES; i++) {
    const o = outcomes[i]!;
    const bytes = cases[i]!;
    const why = (msg: string): void => void failures.push(`case ${i}: ${msg}\n  sent ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}\n  got  ${JSON.stringify(o.reply.toString('latin1').slice(0, 300))}`);
    if (!o.closedByServer) {
      why(`connection still open after ${CASE_MS} ms`);
      continue;
    }
    const heads = (bytes.toString('latin1').match(/(^|\n)HEAD /g) ?? []).length;
    const p = parseResponses(o.reply, heads);
    if (p.error !== undefined) why(p.error);
    if (p.statuses.length === 0) count('closed without a response');
    for (const s of p.statuses) count(String(s));
    for (const seq of p.seqs) delivered.set(seq, (delivered.get(seq) ?? 0) + 1);
    for (const tg of p.tags) {
      const from = untag(tg);
      if (from !== undefined && from !== i) why(`got the upstream's answer to case ${from}`);
    }
  }
  // What the upstream received: parsed by its own strict parser, routed by the Host it was sent.
  const received = upSeen.slice(upBefore);
  const incomplete = received.filter((s) => !s.complete).length;
  for (const s of received) {
    if (s.dst !== '/svc/dog') failures.push(`upstream request ${s.seq} (${s.method}, tag ${s.tag}) has l5d-dst-service ${JSON.stringify(s.dst)}`);
    if (s.complete && delivered.get(s.seq) !== 1) {
      const from = untag(s.tag);
      // Answered only after its client had half-closed (under load, quiet for IDLE_MS is not
      // always enough): the router is right to drop it. With a mangled tag the case is unknown,
      // so any earlier half-close counts.
      const fin = from === undefined ? Math.min(...finAt.values()) : finAt.get(from);
      if ((delivered.get(s.seq) ?? 0) === 0 && fin !== undefined && fin < s.answeredAt) {
        count('answer dropped: its client had half-closed first');
        continue;
      }
      const detail = from === undefined ? '' : `\n  case ${from} sent ${JSON.stringify(cases[from]!.toString('latin1').slice(0, 300))}\n  got  ${JSON.stringify(outcomes[from]!.reply.toString('latin1').slice(0, 300))}`;
      failures.push(`upstream answer ${s.seq} (${s.method}, tag ${s.tag}) reached ${delivered.get(s.seq) ?? 0} clients${detail}`);
    }
  }
  // The upstream's parser only knows the registered methods (and takes PRI for the HTTP/2
  // preface): an extension method that is a valid token is the router's to forward. A body the
  // client cut is cut at the upstream too. Anything else the upstream refuses, the router should
  // not have sent.
  for (const r of upRefused.slice(refusedBefore)) {
    const requestLine = r.packet.slice(0, r.packet.indexOf('\r\n'));
    const tokenLine = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) \S+ HTTP\/1\.\d$/.exec(requestLine);
    if (tokenLine !== null && (r.code === 'HPE_INVALID_METHOD' || (r.code === 'HPE_INVALID_VERSION' && tokenLine[1] === 'PRI'))) count('extension method the upstream does not know');
    else if (r.code === 'HPE_INVALID_EOF_STATE' && r.packet === '') count('message cut at the upstream (its client cut the body)');
    // The router gave up a request (its client went away) by resetting the upstream connection.
    else if ((r.code === 'ECONNRESET' || r.code === 'EPIPE') && r.packet === '') count('upstream connection reset by the router');
    else {
      const from = untag(/x-case: (\S+)/.exec(r.packet)?.[1] ?? '');
      const prev = untag(r.after ?? '');
      let sent = from === undefined ? '' : `\n  case ${from} sent ${JSON.stringify(cases[from]!.toString('latin1').slice(0, 400))}`;
      if (prev !== undefined) sent += `\n  after a request of case ${prev} on that connection, which sent ${JSON.stringify(cases[prev]!.toString('latin1').slice(0, 400))}`;
      failures.push(`the upstream's parser refused what the router sent (${r.code}): ${JSON.stringify(r.packet.slice(0, 300))}${sent}`);
    }
  }

  const rssAfter = rssKb(pid);
  const summary = [...tally].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
  const line = `router-fuzz: seed ${seed}, ${CASES} cases in ${elapsed} ms; ${summary}; upstream received ${received.length} (${incomplete} with a cut body); RSS ${Math.round(rssBefore / 1024)} MB -> ${Math.round(rssAfter / 1024)} MB`;
  t.diagnostic(line);
  console.log(line);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (seed ${seed})`);

  // Still alive and still routing.
  assert.equal(lk.child.exitCode, null);
  const ok = await request(port, { headers: { host: 'dog' } });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /^up:\d+:$/);
  assert.equal((await request(adminPort, { path: '/admin/ping' })).body, 'pong');
  assert.doesNotMatch(lk.output(), /TypeError|RangeError|ReferenceError|Uncaught|FATAL/);
  assert.ok(rssAfter > 0 && rssAfter - rssBefore < 150 * 1024, `RSS grew from ${rssBefore} kB to ${rssAfter} kB`);
});

/**
 * A bounded fixed-rate HTTP/1.1 load generator (wrk has no fixed rate and Debian has no wrk2).
 * Requests are due at t0 + k/rate. Every due request goes out on an idle keep-alive connection
 * at the first chance the generator gets: its 1 ms tick, or an answer arriving (the loop is
 * awake then anyway; node's timers cannot wake it more often). Sending on the tick alone held
 * requests back and sent them in bursts: through a proxy at 20,000-21,500 req/s on this
 * machine half went out 61-102 µs after their due time and one in ten 182-329 µs after; with
 * answers sending too, 33-41 and 64-93 µs in five rounds of six. How late the recorded requests
 * went out is reported (`lateP50`, `lateP99`). Latency is recorded twice: from the write
 * (service time) and from the due time (corrected for coordinated omission: a
 * stalled proxy cannot hide its backlog).
 * Responses must be 200s framed by Content-Length (the bench upstream's always are); their
 * heads are read with the engine's own parser (src/protocol/http1/response-head.ts).
 *
 * The first `warmupSeconds` run at the same rate and are not recorded: the generator's own
 * start (V8 compiling its hot paths on the shared load core, first GCs) otherwise lands in
 * every candidate's tail. Against nginx alone at 25k req/s, p99 over a 4 s run was 3.3 ms and
 * over 12 s 1.9 ms: the same start-up, diluted (wrk2 likewise calibrates before it records).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { BODY_LENGTH, BODY_NONE } from '../../src/protocol/http1/framing.js';
import { RESPONSE_NEED_MORE, ResponseInfo, parseResponseHead } from '../../src/protocol/http1/response-head.js';

export interface FixedRateOptions {
  host: string;
  port: number;
  path: string;
  rate: number;
  seconds: number;
  connections: number;
  /** Seconds sent at the rate before recording starts (default 0). */
  warmupSeconds?: number;
}

export interface FixedRateResult {
  target: number;
  achievedRps: number;
  /** Requests sent and answered in the recorded window (after the warm-up). */
  sent: number;
  completed: number;
  errors: number;
  /** Service-time percentiles in microseconds. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Percentiles measured from the due time, microseconds. */
  correctedP99: number;
  correctedP999: number;
  /** How long after its due time a recorded request was sent, microseconds. */
  lateP50: number;
  lateP99: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** One keep-alive connection; one request in flight at a time. */
class Conn {
  sock!: Socket;
  busy = false;
  sentAt = 0;
  dueAt = 0;
  got = 0;
  need = -1;
  /** Head bytes of a response whose head spans reads (rare: heads are ~200 bytes). */
  partial: Buffer | null = null;
}

export function runFixedRate(o: FixedRateOptions): Promise<FixedRateResult> {
  const req = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: bench\r\n\r\n`, 'latin1');
  const warmMs = (o.warmupSeconds ?? 0) * 1000;
  const max = Math.ceil((o.rate * (warmMs + o.seconds * 1000)) / 1000) + 1;
  const service = new Float64Array(max);
  const corrected = new Float64Array(max);
  const late = new Float64Array(max);
  let recorded = 0;
  let sentInWindow = 0;
  let answered = 0;
  let sent = 0;
  let errors = 0;
  const idle: Conn[] = [];
  const conns: Conn[] = [];
  const interval = 1000 / o.rate;
  let t0 = 0;
  let recordFrom = 0;
  let lastDone = 0;
  let stopAt = 0;

  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      clearTimeout(guard);
      for (const c of conns) c.sock.destroy();
      // From the window's start to its last answer (not to when the tick noticed it).
      const elapsed = (lastDone > recordFrom ? lastDone : performance.now()) - recordFrom;
      const s = service.slice(0, recorded).sort();
      const c = corrected.slice(0, recorded).sort();
      const l = late.slice(0, sentInWindow).sort();
      resolve({
        target: o.rate, achievedRps: (recorded * 1000) / elapsed, sent: sentInWindow, completed: recorded, errors,
        p50: percentile(s, 50), p99: percentile(s, 99), p999: percentile(s, 99.9), max: s.length ? s[s.length - 1]! : 0,
        correctedP99: percentile(c, 99), correctedP999: percentile(c, 99.9),
        lateP50: percentile(l, 50), lateP99: percentile(l, 99),
      });
    };
    const send = (c: Conn, due: number) => {
      c.busy = true;
      c.got = 0;
      c.need = -1;
      c.partial = null;
      c.dueAt = due;
      c.sentAt = performance.now();
      sent++;
      if (due >= recordFrom) late[sentInWindow++] = (c.sentAt - due) * 1000;
      c.sock.write(req);
    };
    const dueTime = (k: number) => t0 + k * interval;
    const dueBy = (now: number) => Math.min(max - 1, Math.floor((Math.min(now, stopAt) - t0) / interval) + 1);
    /** Sends every request due by `now` that has an idle connection, latest-idled first. */
    const pump = (now: number) => {
      const dueCount = dueBy(now);
      while (sent < dueCount && idle.length > 0) send(idle.pop()!, dueTime(sent));
    };
    const tick = () => {
      const now = performance.now();
      pump(now);
      if (now >= stopAt && sent === answered + errors) finish();
      if (now >= stopAt + 5000) finish();
    };
    const onBytes = (c: Conn, b: Buffer, n: number) => {
      if (!c.busy) { errors++; c.sock.destroy(); return; }
      c.got += n;
      if (c.need < 0) {
        const head = c.partial === null ? b.subarray(0, n) : Buffer.concat([c.partial, b.subarray(0, n)]);
        const end = parseResponseHead(head, 0, false, info);
        if (end === RESPONSE_NEED_MORE) {
          c.partial = Buffer.from(head); // a copy: `b` is reused by the next read
          return;
        }
        c.partial = null;
        if (end < 0 || info.status !== 200 || (info.bodyKind !== BODY_LENGTH && info.bodyKind !== BODY_NONE)) { errors++; c.sock.destroy(); return; }
        c.need = end + info.contentLength;
      }
      if (c.got < c.need) return;
      const now = performance.now();
      answered++;
      if (c.dueAt >= recordFrom) {
        service[recorded] = (now - c.sentAt) * 1000;
        corrected[recorded] = (now - c.dueAt) * 1000;
        recorded++;
        lastDone = now;
      }
      c.busy = false;
      idle.push(c);
      // What is due goes out now, this connection first; a backlog (proxy slower than the rate)
      // is drained at once, still timed from its due time.
      pump(now);
    };
    let opened = 0;
    // Responses are read through `onread` into one buffer (each is handled before the next read),
    // so the generator spends its share of the load core on little more than system calls.
    const readBuf = Buffer.allocUnsafe(65536);
    const info = new ResponseInfo();
    for (let i = 0; i < o.connections; i++) {
      const c = new Conn();
      const sock = connect({ port: o.port, host: o.host, onread: { buffer: readBuf, callback: (n: number, b: Uint8Array) => { onBytes(c, b as Buffer, n); return true; } } });
      c.sock = sock;
      sock.setNoDelay(true);
      conns.push(c);
      sock.on('error', () => { if (c.busy) errors++; c.busy = false; });
      sock.once('connect', () => {
        idle.push(c);
        if (++opened === o.connections) {
          t0 = performance.now();
          recordFrom = t0 + warmMs;
          stopAt = recordFrom + o.seconds * 1000;
        }
      });
    }
    const timer = setInterval(() => { if (t0 > 0) tick(); }, 1);
    const guard = setTimeout(() => { if (t0 === 0) { finished = true; clearInterval(timer); for (const c of conns) c.sock.destroy(); reject(new Error('fixed-rate: could not connect')); } else finish(); }, warmMs + o.seconds * 1000 + 15_000);
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const [host, port, path, rate, seconds, connections, warmup = '0'] = process.argv.slice(2);
  const nums = { port, rate, seconds, connections, warmup };
  const bad = Object.entries(nums).filter(([k, v]) => v === undefined || !(Number(v) > 0 || (k === 'warmup' && Number(v) === 0)));
  if (host === undefined || path === undefined || !path.startsWith('/') || bad.length > 0) {
    const found = bad.map(([k, v]) => `${k}=${JSON.stringify(v ?? null)}`).join(', ') || `path=${JSON.stringify(path ?? null)}`;
    process.stderr.write(`usage: fixed-rate.js HOST PORT /PATH RATE SECONDS CONNECTIONS [WARMUP_SECONDS]: positive numbers (warm-up may be 0) and a path starting with /; found ${found}\n`);
    process.exitCode = 2;
  } else {
    runFixedRate({ host, port: Number(port), path, rate: Number(rate), seconds: Number(seconds), connections: Number(connections), warmupSeconds: Number(warmup) })
      .then((r) => { process.stdout.write(`FIXEDJSON ${JSON.stringify(r)}\n`); })
      .catch((e: Error) => { process.stderr.write(`${e.message}\n`); process.exitCode = 1; });
  }
}

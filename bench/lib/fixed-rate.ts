/**
 * A bounded fixed-rate HTTP/1.1 load generator (wrk has no fixed rate and Debian has no wrk2).
 * Requests are due at t0 + k/rate; each tick sends every due request on an idle keep-alive
 * connection. Latency is recorded twice: from the write (service time) and from the due time
 * (corrected for coordinated omission: a stalled proxy cannot hide its backlog).
 * Responses must carry Content-Length (the bench upstream always does).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface FixedRateOptions {
  host: string;
  port: number;
  path: string;
  rate: number;
  seconds: number;
  connections: number;
}

export interface FixedRateResult {
  target: number;
  achievedRps: number;
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
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Length of a response whose head ends at `headEnd` (index of the blank line's CRLFCRLF). */
export function responseLength(head: string, headEnd: number): number {
  if (!head.startsWith('HTTP/1.1 200') && !head.startsWith('HTTP/1.0 200')) return -1;
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (!m) return -1;
  return headEnd + 4 + Number(m[1]);
}

class Conn {
  sock: Socket;
  busy = false;
  sentAt = 0;
  dueAt = 0;
  got = 0;
  need = -1;
  head = '';
  constructor(sock: Socket) { this.sock = sock; }
}

export function runFixedRate(o: FixedRateOptions): Promise<FixedRateResult> {
  const req = Buffer.from(`GET ${o.path} HTTP/1.1\r\nHost: bench\r\n\r\n`, 'latin1');
  const max = Math.ceil(o.rate * o.seconds) + 1;
  const service = new Float64Array(max);
  const corrected = new Float64Array(max);
  let completed = 0;
  let sent = 0;
  let errors = 0;
  const idle: Conn[] = [];
  const conns: Conn[] = [];
  const interval = 1000 / o.rate;
  let t0 = 0;
  let stopAt = 0;

  return new Promise((resolve, reject) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      clearTimeout(guard);
      for (const c of conns) c.sock.destroy();
      const elapsed = performance.now() - t0;
      const s = service.slice(0, completed).sort();
      const c = corrected.slice(0, completed).sort();
      resolve({
        target: o.rate, achievedRps: (completed * 1000) / elapsed, sent, completed, errors,
        p50: percentile(s, 50), p99: percentile(s, 99), p999: percentile(s, 99.9), max: s.length ? s[s.length - 1]! : 0,
        correctedP99: percentile(c, 99), correctedP999: percentile(c, 99.9),
      });
    };
    const send = (c: Conn, due: number) => {
      c.busy = true;
      c.got = 0;
      c.need = -1;
      c.head = '';
      c.dueAt = due;
      c.sentAt = performance.now();
      sent++;
      c.sock.write(req);
    };
    const dueTime = (k: number) => t0 + k * interval;
    const tick = () => {
      const now = performance.now();
      const dueCount = Math.min(max - 1, Math.floor((Math.min(now, stopAt) - t0) / interval) + 1);
      while (sent < dueCount && idle.length > 0) send(idle.pop()!, dueTime(sent));
      if (now >= stopAt && sent === completed + errors) finish();
      if (now >= stopAt + 5000) finish();
    };
    const onData = (c: Conn, b: Buffer) => {
      c.got += b.length;
      if (c.need < 0) {
        c.head += b.toString('latin1');
        const he = c.head.indexOf('\r\n\r\n');
        if (he < 0) return;
        c.need = responseLength(c.head, he);
        if (c.need < 0) { errors++; c.sock.destroy(); return; }
      }
      if (c.got < c.need) return;
      const now = performance.now();
      service[completed] = (now - c.sentAt) * 1000;
      corrected[completed] = (now - c.dueAt) * 1000;
      completed++;
      c.busy = false;
      // A backlog (proxy slower than the rate) is drained at once, still timed from its due time.
      const dueCount = Math.min(max - 1, Math.floor((Math.min(now, stopAt) - t0) / interval) + 1);
      if (sent < dueCount) send(c, dueTime(sent));
      else idle.push(c);
    };
    let opened = 0;
    for (let i = 0; i < o.connections; i++) {
      const sock = connect(o.port, o.host);
      sock.setNoDelay(true);
      const c = new Conn(sock);
      conns.push(c);
      sock.on('data', (b: Buffer) => onData(c, b));
      sock.on('error', () => { if (c.busy) errors++; c.busy = false; });
      sock.once('connect', () => {
        idle.push(c);
        if (++opened === o.connections) {
          t0 = performance.now();
          stopAt = t0 + o.seconds * 1000;
        }
      });
    }
    const timer = setInterval(() => { if (t0 > 0) tick(); }, 1);
    const guard = setTimeout(() => { if (t0 === 0) { finished = true; clearInterval(timer); for (const c of conns) c.sock.destroy(); reject(new Error('fixed-rate: could not connect')); } else finish(); }, o.seconds * 1000 + 15_000);
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const [host, port, path, rate, seconds, connections] = process.argv.slice(2);
  runFixedRate({ host: host!, port: Number(port), path: path!, rate: Number(rate), seconds: Number(seconds), connections: Number(connections) })
    .then((r) => { process.stdout.write(`FIXEDJSON ${JSON.stringify(r)}\n`); })
    .catch((e: Error) => { process.stderr.write(`${e.message}\n`); process.exitCode = 1; });
}

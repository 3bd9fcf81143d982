import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput } from '../../bench/lib/wrk.js';
import { parseCpuMicros, parseCpuSplit, parseRssBytes, requireTools } from '../../bench/lib/proc.js';
import { percentile, runFixedRate } from '../../bench/lib/fixed-rate.js';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addedP99, busyShare, markdown, medianByP99, pairedMedian, pairedRatios, ratios, type CandidateResult, type PairedRuns } from '../../bench/lib/report.js';
import type { FixedRateResult } from '../../bench/lib/fixed-rate.js';
import { probe, summarizeGaps } from '../../bench/lib/stall-probe.js';
import { cpuLayout } from '../../bench/lib/layout.js';
import { partOf, serverRequests, summarizeProfile, type CpuProfile } from '../../src/admin/profile-summary.js';
import { profileMarkdown } from '../../bench/lib/profile-report.js';

test('wrk result line is parsed and req/s derived from the run duration', () => {
  const out = 'Running 5s test @ http://127.0.0.1:1/small\n  1 threads and 50 connections\nWRKJSON {"requests":100000,"durationUs":5000000,"bytes":2400000,"errors":0,"non2xx":3,"p50":1500,"p99":4000,"p999":9000,"max":12000}\n';
  assert.deepEqual(parseWrkOutput(out), { requests: 100000, durationUs: 5000000, bytes: 2400000, errors: 0, non2xx: 3, p50: 1500, p99: 4000, p999: 9000, max: 12000, rps: 20000 });
  assert.throws(() => parseWrkOutput('wrk: connection refused'), /wrk printed no result line/);
});

test('/proc stat and status readings', () => {
  // comm with spaces and parentheses must not shift the fields.
  const stat = '1234 (node (x) y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 11 0 99 1000 2000';
  assert.equal(parseCpuMicros(stat, 100), 3_000_000);
  assert.deepEqual(parseCpuSplit(stat, 100), { user: 2_500_000, sys: 500_000 });
  assert.equal(parseRssBytes('Name:\tnode\nVmRSS:\t   51200 kB\nVmHWM:\t 60000 kB\n'), 51200 * 1024);
});

test('fixed-rate helpers: nearest-rank percentiles', () => {
  const a = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual([percentile(a, 50), percentile(a, 99), percentile(a, 99.9), percentile(new Float64Array(0), 50)], [5, 10, 10, 0]);
});

test('ratios and the markdown table', () => {
  const t = (rps: number, cpu: number) => ({ '/small': { requests: 1, durationUs: 1, bytes: 1, errors: 0, non2xx: 0, p50: 1000, p99: 2000, p999: 3000, max: 4000, rps, cpuUsPerReq: cpu, upstreamCpuUsPerReq: 5 } });
  const cands: CandidateResult[] = [
    { name: 'direct', throughput: t(30000, 0), rssIdleMB: 0, rssLoadMB: 0 },
    { name: 'haproxy', throughput: { '/small': { ...t(20000, 30)['/small'], userUsPerReq: 10 } }, rssIdleMB: 15, rssLoadMB: 16 },
    { name: 'meshwork http1-proxy', throughput: t(18000, 40), rssIdleMB: 50, rssLoadMB: 60 },
    { name: 'undici', throughput: t(9000, 80), rssIdleMB: 70, rssLoadMB: 120 },
  ];
  assert.deepEqual(ratios(cands), { 'meshwork http1-proxy/haproxy': 0.9, 'meshwork http1-proxy/undici': 2, 'meshwork http1-proxy CPU efficiency/haproxy': 0.75, 'meshwork http1-proxy CPU efficiency/undici': 2 });
  const md = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false }, candidates: cands, ratios: ratios(cands) });
  assert.match(md, /^### D — commit abc\n/);
  assert.match(md, /\n\| meshwork http1-proxy \| 18,000 \| 1\.00 \| 2\.00 \| 3\.00 \| 40\.0 \| - \| - \| - \| - \| 50\.0 \| 60\.0 \| - \|\n/);
  assert.match(md, /meshwork http1-proxy\/haproxy = 0\.90; meshwork http1-proxy\/undici = 2\.00/);
  // The user/system split is printed for the candidates that have it (older records have none).
  // With the share of its CPU the run kept busy: 20,000 req/s at 30 µs each is 60%.
  assert.match(md, /\nProxy CPU µs\/req in the 13 B round of the table, user \/ system \(share of one CPU busy\): haproxy 10\.0 \/ 20\.0 \(60% busy\)\.\n/);
});

test('per-round ratios pair each round with the same round of the reference', () => {
  assert.equal(pairedMedian([10, 20, 30], [20, 20, 20]), 1);
  assert.equal(pairedMedian([9, 30, 8], [10, 40, 20]), 0.75);
  assert.equal(pairedMedian([1, 2, 3, 4], [2, 2, 2, 2]), 1.25);
  assert.equal(pairedMedian([10], [20]), undefined);
  assert.equal(pairedMedian(undefined, [1, 2]), undefined);
  const t = (rps: number) => ({ '/small': { requests: 1, durationUs: 1, bytes: 1, errors: 0, non2xx: 0, p50: 1, p99: 1, p999: 1, max: 1, rps, cpuUsPerReq: 0, upstreamCpuUsPerReq: 0 } });
  // The best rounds (40 vs 30) say 0.75; paired round by round the proxy is at 0.8 of HAProxy.
  const cands: CandidateResult[] = [
    { name: 'haproxy', throughput: t(40), rssIdleMB: 0, rssLoadMB: 0, rounds: [40, 25, 30] },
    { name: 'meshwork linkerd', throughput: t(30), rssIdleMB: 0, rssLoadMB: 0, rounds: [30, 20, 24] },
  ];
  const r = ratios(cands);
  assert.equal(r['meshwork linkerd/haproxy'], 0.75);
  assert.ok(Math.abs(r['meshwork linkerd/haproxy, median of rounds']! - 0.8) < 1e-9);
  const md = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false }, candidates: cands, ratios: r });
  assert.match(md, /13 B req\/s per round: haproxy 40 \/ 25 \/ 30; meshwork linkerd 30 \/ 20 \/ 24\./);
  assert.match(md, /meshwork linkerd\/haproxy, median of rounds = 0\.80/);
});

test('back-to-back pairs: the median of each pair\'s ratios, shown pair by pair', () => {
  const pr = (first: 'a' | 'b', aRps: number, bRps: number, aCpu: number, bCpu: number) => ({ first, aRps, bRps, aCpuUsPerReq: aCpu, bCpuUsPerReq: bCpu });
  // The machine slowed down for pairs 2 and 3; each pair's ratio stays near 0.85.
  const paired: PairedRuns = { a: 'meshwork linkerd', b: 'haproxy', seconds: 2, pairs: [pr('a', 34_000, 40_000, 29, 24), pr('b', 25_500, 30_000, 39, 33), pr('a', 17_000, 25_000, 50, 40), pr('b', 36_000, 40_000, 27, 24)] };
  const r = pairedRatios(paired)!;
  assert.ok(Math.abs(r.rps - 0.85) < 1e-9, String(r.rps));
  assert.ok(Math.abs(r.cpu - (24 / 29 + 33 / 39) / 2) < 1e-9, String(r.cpu));
  assert.equal(pairedRatios({ ...paired, pairs: paired.pairs.slice(0, 1) }), undefined);
  const t = (rps: number) => ({ '/small': { requests: 1, durationUs: 1, bytes: 1, errors: 0, non2xx: 0, p50: 1, p99: 1, p999: 1, max: 1, rps, cpuUsPerReq: 0, upstreamCpuUsPerReq: 0 } });
  const cands: CandidateResult[] = [
    { name: 'haproxy', throughput: t(40_000), rssIdleMB: 0, rssLoadMB: 0 },
    { name: 'meshwork linkerd', throughput: t(36_000), rssIdleMB: 0, rssLoadMB: 0 },
  ];
  const rat = ratios(cands, [paired]);
  assert.ok(Math.abs(rat['meshwork linkerd/haproxy, median of back-to-back pairs']! - 0.85) < 1e-9);
  const md = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false }, candidates: cands, paired: [paired], ratios: rat });
  assert.match(md, /Back-to-back pairs of 2 s 13 B runs, meshwork linkerd \(a\) against haproxy \(b\), order ab ba ab ba: req\/s a\/b per pair 0\.85 \/ 0\.85 \/ 0\.68 \/ 0\.90; CPU µs\/req a vs b per pair 29\.0 vs 24\.0 \/ 39\.0 vs 33\.0 \/ 50\.0 vs 40\.0 \/ 27\.0 vs 24\.0; CPU busy a\/b % per pair 99\/96 99\/99 85\/100 97\/96 \(saturated: both at least 95%\)\./);
  assert.match(md, /meshwork linkerd\/haproxy, median of back-to-back pairs = 0\.85/);
  // Pair 3's linkerd run was held to 85% of its CPU by the load: left out of the saturated median.
  const sat = pairedRatios(paired, true)!;
  assert.equal(sat.pairs, 3);
  assert.ok(Math.abs(sat.rps - 0.85) < 1e-9, String(sat.rps));
  assert.ok(Math.abs(sat.cpu - 33 / 39) < 1e-9, String(sat.cpu));
  assert.match(md, /meshwork linkerd\/haproxy, median of saturated back-to-back pairs \(3\) = 0\.85/);
});

test('saturated pairs: none when the load held every run below the line', () => {
  const pr = (aRps: number, bRps: number, aCpu: number, bCpu: number) => ({ first: 'a' as const, aRps, bRps, aCpuUsPerReq: aCpu, bCpuUsPerReq: bCpu });
  // 30k req/s at 27 µs/req is 81% of a CPU: HAProxy was waiting for the load, not saturated.
  const p: PairedRuns = { a: 'meshwork linkerd', b: 'haproxy', seconds: 2, pairs: [pr(30_000, 30_000, 29.5, 27.4), pr(30_400, 30_500, 29.5, 27.0)] };
  assert.ok(Math.abs(busyShare(30_000, 27.4) - 0.822) < 1e-9);
  assert.equal(pairedRatios(p, true), undefined);
  assert.ok(pairedRatios(p) !== undefined);
  assert.ok(!Object.keys(ratios([], [p])).some((k) => k.includes('saturated')));
});

test('added p99 is the median of per-round differences from direct', () => {
  const fr = (p99: number): FixedRateResult => ({ target: 1, achievedRps: 1, sent: 1, completed: 1, errors: 0, p50: 100, p99, p999: p99 * 2, max: p99 * 3, correctedP99: p99, correctedP999: p99, lateP50: p99 / 20, lateP99: p99 / 2 });
  const t = { '/small': { requests: 1, durationUs: 1, bytes: 1, errors: 0, non2xx: 0, p50: 1, p99: 1, p999: 1, max: 1, rps: 1, cpuUsPerReq: 0, upstreamCpuUsPerReq: 0 } };
  // Round 2 disturbed both alike and round 3 only the proxy: the per-round differences are
  // 0.5, 0.5 and 1.0 ms, so 0.5 ms added, while the median rounds (1.8 against 0.9) say 0.9.
  const directRounds = [fr(900), fr(3000), fr(800)];
  const proxyRounds = [fr(1400), fr(3500), fr(1800)];
  const direct: CandidateResult = { name: 'direct', throughput: t, rssIdleMB: 0, rssLoadMB: 0, fixedRateRounds: directRounds, fixedRate: medianByP99(directRounds)! };
  const proxy: CandidateResult = { name: 'meshwork linkerd', throughput: t, rssIdleMB: 0, rssLoadMB: 0, fixedRateRounds: proxyRounds, fixedRate: medianByP99(proxyRounds)! };
  assert.equal(direct.fixedRate!.p99, 900);
  assert.equal(proxy.fixedRate!.p99, 1800);
  assert.equal(medianByP99([fr(5), fr(1), fr(3), fr(2)])!.p99, 2);
  assert.equal(medianByP99([]), undefined);
  assert.equal(addedP99(proxy, direct), 500);
  assert.equal(addedP99(direct, direct), undefined);
  // A single round (BENCH_QUICK) is its own difference.
  assert.equal(addedP99({ ...proxy, fixedRateRounds: [fr(1400)] }, { ...direct, fixedRateRounds: [fr(900)] }), 500);
  const md = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, fixedRounds: 3, fixedSeconds: 5, idleConns: 10000, quick: false }, candidates: [direct, proxy], ratios: {} });
  assert.match(md, /fixed rate 10,000 req\/s \(3 interleaved rounds of 5s\)/);
  assert.match(md, /\| meshwork linkerd \|[^\n]*\| 0\.10 \/ 1\.80 \/ 3\.60 \| 0\.50 \|/);
  assert.match(md, /Fixed-rate p99 ms per round[^\n]*: direct 0\.90 \/ 3\.00 \/ 0\.80; meshwork linkerd 1\.40 \/ 3\.50 \/ 1\.80\./);
  assert.match(md, /Fixed-rate requests sent after their due time per round, p50\/p99 µs: direct 45\/450 150\/1,500 40\/400; meshwork linkerd 70\/700 175\/1,750 90\/900\./);
  assert.doesNotMatch(md, /Proxy CPU at the fixed rate/, 'no line without CPU figures');
  // With the proxy's CPU over each round: per request and as a share of one CPU.
  const busy = { ...proxy, fixedRateRounds: proxyRounds.map((x, i) => ({ ...x, proxyCpuUsPerReq: 40 + i, proxyBusy: 0.8 + i / 100 })) };
  const md2 = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false }, candidates: [direct, busy], ratios: {} });
  assert.match(md2, /Proxy CPU at the fixed rate per round, µs\/req \(share of one CPU busy\): meshwork linkerd 40\.0 \(80%\) \/ 41\.0 \(81%\) \/ 42\.0 \(82%\)\./);
});

test('a missing tool fails loudly with the install command', () => {
  assert.throws(() => requireTools(['sh', 'meshwork-no-such-tool']), {
    message: 'bench: missing tool(s): meshwork-no-such-tool; install with: apt-get install haproxy wrk nginx-light util-linux',
  });
  assert.equal(typeof requireTools(['sh'])['sh'], 'string');
});

test('fixed-rate generator: keeps the rate, records only after the warm-up, reads heads split across reads', async () => {
  // A raw upstream: every other response arrives in three writes 2 ms apart, the head split.
  let answered = 0;
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('close', () => sockets.delete(sock));
    let pending = '';
    sock.on('data', (b) => {
      pending += b.toString('latin1');
      let end: number;
      while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
        pending = pending.slice(end + 4);
        const n = answered++;
        if (n % 2 === 0) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        else {
          sock.write('HTTP/1.1 200 OK\r\nConte');
          // Chained: two timers of different lengths may fire out of order on a busy loop.
          setTimeout(() => {
            sock.write('nt-Length: 5\r\n\r\nhel');
            setTimeout(() => sock.write('lo'), 2);
          }, 2);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const r = await runFixedRate({ host: '127.0.0.1', port, path: '/', rate: 400, seconds: 1, connections: 8, warmupSeconds: 0.5 });
    assert.equal(r.errors, 0);
    // 0.5 s unrecorded + 1 s recorded at 400/s: ~600 answered, ~400 recorded.
    assert.ok(answered >= 560 && answered <= 610, `answered ${answered}`);
    assert.ok(r.completed >= 380 && r.completed <= 410, `recorded ${r.completed}`);
    assert.equal(r.completed, r.sent);
    // A loaded machine (the suite runs files in parallel) may lag the schedule, never pass it.
    assert.ok(r.achievedRps > 250 && r.achievedRps < 420, `achieved ${r.achievedRps}`);
    // Half the responses waited 4 ms for their last bytes: p99 sees them, p50 need not.
    assert.ok(r.p99 >= 4000, `p99 ${r.p99} µs`);
    assert.ok(r.p50 < r.p99);
    // How late requests went out after their due time: the 1 ms tick bounds it on a quiet loop.
    assert.ok(r.lateP50 >= 0 && r.lateP50 <= r.lateP99, `late p50 ${r.lateP50} p99 ${r.lateP99} µs`);
    assert.ok(r.lateP99 < 500_000, `late p99 ${r.lateP99} µs`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('fixed-rate generator: a response that is not a 200 framed by length counts as an error', async () => {
  for (const answer of ['HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n']) {
    const sockets = new Set<Socket>();
    const server = createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('data', () => sock.write(answer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const r = await runFixedRate({ host: '127.0.0.1', port, path: '/', rate: 100, seconds: 0.3, connections: 2 });
      assert.equal(r.completed, 0, answer);
      // Each connection closes at its first bad answer and takes no more requests.
      assert.equal(r.errors, 2, JSON.stringify(answer));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
});

test('fixed-rate generator command: bad arguments exit 2 naming the value found', () => {
  const script = fileURLToPath(new URL('../../bench/lib/fixed-rate.js', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 10_000 });
  const r = run('127.0.0.1', '80', '/x', 'abc', '1', '2');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /found rate="abc"/);
  const p = run('127.0.0.1', '80', 'x', '5', '1', '2', '0');
  assert.equal(p.status, 2);
  assert.match(p.stderr, /found path="x"/);
  assert.equal(r.stdout + p.stdout, '');
});

test('stall probe: gaps over 0.2 ms count as time lost; shorter ones do not', () => {
  assert.deepEqual(summarizeGaps([0.1, 0.2, 0.5, 1.5, 6, 0.05], 1000), { ms: 1000, lost: 0.008, gaps: 3, over1ms: 2, max: 6 });
  assert.deepEqual(summarizeGaps([], 2000), { ms: 2000, lost: 0, gaps: 0, over1ms: 0, max: 0 });
});

test('stall probe: the loop finds the clock jumps and ignores the settling time', () => {
  // A clock advancing 0.01 ms a reading, with jumps of 3 ms (while settling: not counted),
  // 0.5 ms and 5 ms (counted).
  let t = 1000;
  let n = 0;
  const jumps = new Map([[100, 3], [3000, 0.5], [6000, 5]]);
  const clock = () => {
    n++;
    t += jumps.get(n) ?? 0.01;
    return t;
  };
  const r = probe(80, 2, clock);
  assert.equal(r.gaps, 2);
  assert.equal(r.over1ms, 1);
  assert.ok(Math.abs(r.max - 5) < 1e-9);
  assert.ok(Math.abs(r.lost - 5.5 / 80) < 1e-9);
  // The real clock, briefly: a share of time between 0 and 1, however long the test runner's
  // machine takes the CPU away.
  const real = probe(20, 0);
  assert.ok(real.lost >= 0 && real.lost <= 1 && real.max >= 0, JSON.stringify(real));
});

test('stall probe: a gap past the end of the probe counts up to the end', () => {
  // 0.01 ms a reading from t = 1000.01 (start 1002.01, end 1082.01); reading 7000 jumps 50 ms,
  // from 1069.99 to 1119.99: 12.02 ms of it fall inside the probe.
  let t = 1000;
  let n = 0;
  const clock = () => {
    n++;
    t += n === 7000 ? 50 : 0.01;
    return t;
  };
  const r = probe(80, 2, clock);
  assert.equal(r.gaps, 1);
  assert.ok(Math.abs(r.max - 12.02) < 1e-6, String(r.max));
  assert.ok(Math.abs(r.lost - 12.02 / 80) < 1e-6, String(r.lost));
});

test('stall probe in the table and its command', () => {
  const cands: CandidateResult[] = [{ name: 'direct', throughput: {}, rssIdleMB: 0, rssLoadMB: 0 }];
  const one = { ms: 2000, lost: 0.0057, gaps: 9, over1ms: 3, max: 6.04 };
  const md = markdown({
    date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' },
    settings: { layout: cpuLayout(3).describe, rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false },
    candidates: cands, ratios: {},
    stalls: [{ cpu: '0', role: 'proxy', rounds: [one, { ...one, lost: 0.001, over1ms: 0, max: 0.4 }] }, { cpu: '1', role: 'load', rounds: [] }],
  });
  assert.match(md, /Idle CPU stalls before each fixed-rate round \(a 2 s busy loop .*: CPU 0 \(proxy\) 0\.57% \/ 3 \/ 6\.0, 0\.10% \/ 0 \/ 0\.4\.\n/);
  assert.doesNotMatch(md, /CPU 1 \(load\)/);
  assert.match(md, /kernel k; proxy on CPU 0 \(`--workers 2` on CPUs 0-1\), wrk\/nginx\/load generator on CPU 2; wrk 1 thread/);
  const script = fileURLToPath(new URL('../../bench/lib/stall-probe.js', import.meta.url));
  const ok = spawnSync(process.execPath, [script, '30'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(ok.status, 0, ok.stderr);
  const r = JSON.parse(ok.stdout.replace(/^STALLJSON /, '')) as { ms: number; lost: number };
  assert.equal(r.ms, 30);
  const bad = spawnSync(process.execPath, [script, 'soon'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /found "soon"/);
});

test('CPU layout: the load leaves CPU 1 to the second worker when there are 3 or more CPUs', () => {
  const two = cpuLayout(2);
  assert.deepEqual([two.proxy, two.workers2, two.load], ['0', '0,1', '1']);
  assert.deepEqual(two.roles, [{ cpu: '0', role: 'proxy' }, { cpu: '1', role: 'load' }]);
  assert.match(two.describe, /sharing CPU 1 with the load/);
  const three = cpuLayout(3);
  assert.deepEqual([three.proxy, three.workers2, three.load], ['0', '0,1', '2']);
  assert.match(three.describe, /load generator on CPU 2$/);
  const eight = cpuLayout(8);
  assert.equal(eight.load, '2-7');
  assert.deepEqual(eight.roles.map((r) => r.role), ['proxy', 'second worker', 'load', 'load', 'load', 'load', 'load', 'load']);
  assert.match(eight.describe, /on CPUs 2-7$/);
  assert.throws(() => cpuLayout(1), /needs 2 CPUs.*found 1/);
});

test('profile summary: self time per function and part, per request, from sample gaps', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });
  const prof: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', '') },
      { id: 2, callFrame: frame('parse', 'file:///x/dist/src/protocol/http1/server.js', 319) },
      { id: 3, callFrame: frame('prepare', 'file:///x/dist/src/router/router.js', 131) },
      { id: 4, callFrame: frame('writeBuffer', '') },
      { id: 5, callFrame: frame('(idle)', '') },
      { id: 6, callFrame: frame('onStreamRead', 'node:internal/stream_base_commons', 167) },
      { id: 7, callFrame: frame('', 'file:///x/dist/src/telemetry/tracing.js', 9) },
    ],
    // Each sample's time is the next delta: parse 10, prepare 40, writeBuffer 10, idle 5,
    // onStreamRead 30, and the last (the anonymous telemetry function) the mean, 115 / 6.
    samples: [2, 3, 4, 5, 6, 7],
    timeDeltas: [20, 10, 40, 10, 5, 30],
    startTime: 0,
    endTime: 115,
  };
  const s = summarizeProfile(prof, 10, 3);
  const us = (part: string) => s.parts.find((p) => p.part === part)?.usPerReq;
  assert.equal(us('engine (src/protocol)'), 1);
  assert.equal(us('router (src/router)'), 4);
  assert.equal(us('native called from JS (bindings: socket writes, Buffer)'), 1);
  assert.equal(us('event loop poll (epoll, socket reads in libuv, idle)'), 0.5);
  assert.equal(us('Node.js internals (node:*)'), 3);
  assert.ok(Math.abs(us('telemetry (src/telemetry)')! - 115 / 6 / 10) < 1e-9);
  assert.deepEqual(s.top.map((t) => [t.fn, t.where]), [['prepare', 'src/router/router.js:132'], ['onStreamRead', 'node:internal/stream_base_commons:168'], ['(anonymous)', 'src/telemetry/tracing.js:10']]);
  assert.ok(Math.abs(s.profileMs - (10 + 40 + 10 + 5 + 30 + 115 / 6) / 1000) < 1e-9);
  assert.equal(partOf(frame('(garbage collector)', '')), 'garbage collector');
  assert.equal(partOf(frame('parse', 'file:///x/node_modules/yaml/dist/index.js')), 'libraries (node_modules)');
  assert.equal(partOf(frame('f', 'file:///x/dist/src/naming/path.js')), 'other Meshwork (src/naming)');
  const md = profileMarkdown({ ...s, date: 'D', commit: 'abc', candidate: 'meshwork linkerd', layout: 'L', seconds: 5, requests: 10, processCpuUsPerReq: 12.345, wrkRps: 32000 });
  assert.match(md, /^### Profile D — commit abc, meshwork linkerd\n/);
  assert.match(md, /the process used 12\.35 µs of CPU per request/);
  assert.match(md, /\n\| router \(src\/router\) \| 4\.00 \| /);
  assert.match(md, /\n\| prepare \| src\/router\/router\.js:132 \| router \(src\/router\) \| 4\.00 \| /);
});

test('server requests: only the routers\' server counters, summed', () => {
  assert.equal(serverRequests({
    'rt/web/server/127.0.0.1/4140/requests': 7,
    'rt/api/server/0.0.0.0/4141/requests': 5,
    'rt/web/client/$/inet/127.1/80/requests': 100,
    'rt/web/server/127.0.0.1/4140/success': 6,
    'rt/web/server/127.0.0.1/4140/requests.p99': 3,
    'rt/odd/server/x/requests': 'n/a',
  }), 12);
  assert.equal(serverRequests({}), 0);
});

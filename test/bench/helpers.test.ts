import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput } from '../../bench/lib/wrk.js';
import { parseCpuMicros, parseRssBytes, requireTools } from '../../bench/lib/proc.js';
import { percentile, responseLength } from '../../bench/lib/fixed-rate.js';
import { markdown, ratios, type CandidateResult } from '../../bench/lib/report.js';

test('wrk result line is parsed and req/s derived from the run duration', () => {
  const out = 'Running 5s test @ http://127.0.0.1:1/small\n  1 threads and 50 connections\nWRKJSON {"requests":100000,"durationUs":5000000,"bytes":2400000,"errors":0,"non2xx":3,"p50":1500,"p99":4000,"p999":9000,"max":12000}\n';
  assert.deepEqual(parseWrkOutput(out), { requests: 100000, durationUs: 5000000, bytes: 2400000, errors: 0, non2xx: 3, p50: 1500, p99: 4000, p999: 9000, max: 12000, rps: 20000 });
  assert.throws(() => parseWrkOutput('wrk: connection refused'), /wrk printed no result line/);
});

test('/proc stat and status readings', () => {
  // comm with spaces and parentheses must not shift the fields.
  const stat = '1234 (node (x) y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 11 0 99 1000 2000';
  assert.equal(parseCpuMicros(stat, 100), 3_000_000);
  assert.equal(parseRssBytes('Name:\tnode\nVmRSS:\t   51200 kB\nVmHWM:\t 60000 kB\n'), 51200 * 1024);
});

test('fixed-rate helpers: nearest-rank percentiles and response lengths', () => {
  const a = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual([percentile(a, 50), percentile(a, 99), percentile(a, 99.9), percentile(new Float64Array(0), 50)], [5, 10, 10, 0]);
  const head = 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 13\r\n\r\n';
  assert.equal(responseLength(head, head.length - 4), head.length + 13);
  assert.equal(responseLength('HTTP/1.1 503 x\r\ncontent-length: 0\r\n\r\n', 33), -1);
});

test('ratios and the markdown table', () => {
  const t = (rps: number, cpu: number) => ({ '/small': { requests: 1, durationUs: 1, bytes: 1, errors: 0, non2xx: 0, p50: 1000, p99: 2000, p999: 3000, max: 4000, rps, cpuUsPerReq: cpu, upstreamCpuUsPerReq: 5 } });
  const cands: CandidateResult[] = [
    { name: 'direct', throughput: t(30000, 0), rssIdleMB: 0, rssLoadMB: 0 },
    { name: 'haproxy', throughput: t(20000, 30), rssIdleMB: 15, rssLoadMB: 16 },
    { name: 'meshwork http1-proxy', throughput: t(18000, 40), rssIdleMB: 50, rssLoadMB: 60 },
    { name: 'undici', throughput: t(9000, 80), rssIdleMB: 70, rssLoadMB: 120 },
  ];
  assert.deepEqual(ratios(cands), { 'meshwork http1-proxy/haproxy': 0.9, 'meshwork http1-proxy/undici': 2, 'meshwork http1-proxy CPU efficiency/haproxy': 0.75, 'meshwork http1-proxy CPU efficiency/undici': 2 });
  const md = markdown({ date: 'D', commit: 'abc', host: { cpus: 2, node: 'v20', kernel: 'k' }, settings: { rounds: 3, loadavg: 1, seconds: 5, connections: 50, fixedRate: 10000, idleConns: 10000, quick: false }, candidates: cands, ratios: ratios(cands) });
  assert.match(md, /^### D — commit abc\n/);
  assert.match(md, /\n\| meshwork http1-proxy \| 18,000 \| 1\.00 \| 2\.00 \| 3\.00 \| 40\.0 \| - \| - \| - \| - \| 50\.0 \| 60\.0 \| - \|\n/);
  assert.match(md, /meshwork http1-proxy\/haproxy = 0\.90; meshwork http1-proxy\/undici = 2\.00/);
});

test('a missing tool fails loudly with the install command', () => {
  assert.throws(() => requireTools(['sh', 'meshwork-no-such-tool']), {
    message: 'bench: missing tool(s): meshwork-no-such-tool; install with: apt-get install haproxy wrk nginx-light util-linux',
  });
  assert.equal(typeof requireTools(['sh'])['sh'], 'string');
});

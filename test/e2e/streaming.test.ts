/**
 * 1 GB up and 1 GB down through a real `meshwork linkerd` process: bodies stream with
 * backpressure, so the linker's resident memory stays flat (sampled from /proc).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import { upstream, type Upstream } from '../router/support.js';
import { startLinker } from '../support/linker.js';

const GB = 1024 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 120);

let dir: string;
let sink: Upstream;
let proc: ChildProcess;
let port = 0;

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meshwork-stream-'));
  sink = await upstream((req, res) => {
    if (req.method === 'POST') {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
      return;
    }
    // GET: 1 GB download, written with backpressure.
    res.writeHead(200, { 'content-length': String(GB) });
    let left = GB;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  writeFileSync(join(dir, 'sink'), `127.0.0.1 ${sink.port}\n`);
  writeFileSync(join(dir, 'l.yaml'), `admin:\n  port: 0\nnamers:\n- kind: io.l5d.fs\n  rootDir: ${dir}\nrouters:\n- protocol: http\n  dtab: /svc => /#/io.l5d.fs\n  servers:\n  - port: 0\n`);
  const l = await startLinker(join(dir, 'l.yaml'), 'http', 10_000);
  proc = l.proc.child;
  port = l.port;
});

after(async () => {
  proc?.kill('SIGKILL');
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

function sampler(pid: number): { stop(): number; base: number } {
  const base = rssKb(pid);
  let peak = base;
  const t = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  return { base, stop: () => (clearInterval(t), peak) };
}

test('1 GB upload streams through with flat memory', async () => {
  const s = sampler(proc.pid!);
  const got = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', headers: { host: 'sink', 'content-length': String(GB) }, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
    let left = GB;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
  const peak = s.stop();
  assert.equal(got, String(GB));
  assert.ok(peak - s.base < 100 * 1024, `RSS grew ${Math.round((peak - s.base) / 1024)} MB`);
});

test('1 GB download streams through with flat memory', async () => {
  const s = sampler(proc.pid!);
  const n = await new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, headers: { host: 'sink' }, agent: false }, (res) => {
        let total = 0;
        res.on('data', (c: Buffer) => (total += c.length));
        res.on('end', () => resolve(total));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  const peak = s.stop();
  assert.equal(n, GB);
  assert.ok(peak - s.base < 100 * 1024, `RSS grew ${Math.round((peak - s.base) / 1024)} MB`);
});

/**
 * The compatibility corpus, run: every Linkerd and namerd config that loads
 * (test/config/compat-loaded.txt) is started as `meshwork linkerd|namerd`, its admin server
 * must answer /admin/ping, and SIGTERM must stop it with exit 0. Only what a test must change
 * is changed: every listening address becomes 127.0.0.1 port 0, TLS files become throw-away
 * test certificates (the corpus ships no key material), access logs go to a temporary
 * directory. Everything else (dtabs, namers pointing at Consul, ZooKeeper or Kubernetes
 * servers that are not there, telemeters, interpreters) is the file's own: those keep retrying
 * in the background, as Linkerd's do, and must neither stop the start nor the stop.
 * The processes run from the corpus's `linkerd/` folder, where its relative paths point.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { detectConfigKind } from '../../src/config/load.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';
import { spawnReady } from '../support/process.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const corpus = resolve(repo, '..', 'shared', 'compat-corpus');
const BIN = join(repo, 'bin', 'meshwork.js');
/** Processes started at once: each is mostly waiting (on its start, or on its stop). */
const PARALLEL = 4;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A listening address, moved to loopback and a port the OS picks. */
function loopback(o: Obj): Obj {
  return { ...o, ip: '127.0.0.1', port: 0 };
}

const CERT_KEYS: Readonly<Record<string, (c: TestCerts) => string>> = {
  certPath: (c) => c.serverCert,
  keyPath: (c) => c.serverKey,
  caCertPath: (c) => c.caCert,
  caCert: (c) => c.caCert,
  trustCertsBundle: (c) => c.caCert,
  intermediateCertsPath: (c) => c.caCert,
};

/** TLS files and access logs replaced, everywhere in the tree. */
function replaceFiles(v: unknown, certs: TestCerts, logs: string): unknown {
  if (Array.isArray(v)) return v.map((x) => replaceFiles(x, certs, logs));
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string' && CERT_KEYS[k] !== undefined) out[k] = CERT_KEYS[k]!(certs);
    else if (k === 'trustCerts' && Array.isArray(x)) out[k] = [certs.caCert];
    else if (/^(http|h2)AccessLog$/.test(k) && typeof x === 'string') out[k] = join(logs, `${k}.log`);
    else out[k] = replaceFiles(x, certs, logs);
  }
  return out;
}

/** The config a test can run: the file's own, on loopback ports the OS picks. */
export function runnable(cfg: Obj, kind: 'linkerd' | 'namerd', certs: TestCerts, logs: string): Obj {
  const c = replaceFiles(cfg, certs, logs) as Obj;
  c['admin'] = loopback(isObj(c['admin']) ? c['admin'] : {});
  if (kind === 'namerd') {
    c['interfaces'] = (Array.isArray(c['interfaces']) ? c['interfaces'] : []).map((i) => (isObj(i) ? loopback(i) : i));
  } else {
    c['routers'] = (Array.isArray(c['routers']) ? c['routers'] : []).map((r) => {
      if (!isObj(r)) return r;
      const servers = Array.isArray(r['servers']) && r['servers'].length > 0 ? r['servers'] : [{}];
      return { ...r, servers: servers.map((s) => (isObj(s) ? loopback(s) : s)) };
    });
    if (typeof (c['admin'] as Obj)['httpIdentifierPort'] === 'number') (c['admin'] as Obj)['httpIdentifierPort'] = 0;
  }
  return c;
}

/** GET /admin/ping over http, or https trusting `ca`. */
function ping(port: number, ca: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path: '/admin/ping', timeout: 5000 };
    const req = ca === undefined ? http.get(opts) : https.get({ ...opts, ca: readFileSync(ca) });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
  });
}

interface Outcome {
  rel: string;
  problem?: string;
}

async function runOne(rel: string, certs: TestCerts, scratch: string, index: number): Promise<Outcome> {
  const text = readFileSync(join(corpus, rel), 'utf8');
  const cfg = parse(text) as Obj;
  const kind = detectConfigKind(cfg);
  if (kind === undefined) return { rel, problem: 'not a linkerd or namerd config' };
  const dir = join(scratch, String(index));
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(runnable(cfg, kind, certs, logs)));
  // The environment a Kubernetes pod gives (io.l5d.k8s.localnode reads these).
  const env = { ...process.env, NODE_NAME: 'node-1', POD_IP: '127.0.0.1', POD_NAME: 'l5d-0', POD_NAMESPACE: 'default' };
  const adminLine = kind === 'namerd' ? /namerd admin listening on 127\.0\.0\.1:(\d+)/ : /^admin listening on 127\.0\.0\.1:(\d+)/m;
  let proc;
  try {
    proc = await spawnReady(process.execPath, [BIN, kind, file], adminLine, 20_000, env, join(corpus, 'linkerd'));
  } catch (e) {
    return { rel, problem: `did not start: ${(e as Error).message.slice(0, 1500)}` };
  }
  try {
    const port = Number(adminLine.exec(proc.output())![1]);
    const admin = (cfg['admin'] ?? {}) as Obj;
    const got = await ping(port, isObj(admin['tls']) ? certs.caCert : undefined);
    // A config whose admin.security closes the diagnostics (ping's category) gets the refusal.
    const refused = isObj(admin['security']) && got.status === 403 && got.body === 'forbidden by admin security: /admin/ping\n';
    if (!(got.status === 200 && got.body === 'pong') && !refused) return { rel, problem: `/admin/ping answered ${got.status} ${JSON.stringify(got.body)}` };
  } catch (e) {
    return { rel, problem: `/admin/ping failed: ${(e as Error).message}` };
  } finally {
    await proc.stop(8000);
  }
  const { exitCode, signalCode } = proc.child;
  if (exitCode !== 0) return { rel, problem: `SIGTERM ended it with ${exitCode ?? signalCode}:\n${proc.output().slice(-1500)}` };
  return { rel };
}

const listFile = join(repo, 'test', 'config', 'compat-loaded.txt');

test('compat corpus, run: every config that loads starts, answers /admin/ping and stops on SIGTERM with exit 0', { skip: existsSync(corpus) ? false : `compat corpus not found at ${corpus}`, timeout: 300_000 }, async (t) => {
  const files = readFileSync(listFile, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(files.length >= 100, `only ${files.length} files listed in ${listFile}`);
  const certs = makeTestCerts();
  const scratch = mkdtempSync(join(tmpdir(), 'mesh-corpus-run-'));
  t.after(() => {
    certs.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });
  const outcomes: Outcome[] = [];
  let next = 0;
  const times: Array<[number, string]> = [];
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const t1 = Date.now();
      outcomes.push(await runOne(files[i]!, certs, scratch, i));
      times.push([Date.now() - t1, files[i]!]);
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const problems = outcomes.filter((o) => o.problem !== undefined).map((o) => `${o.rel}: ${o.problem}`);
  const slowest = times.sort((a, b) => b[0] - a[0]).slice(0, 3).map(([ms, f]) => `${f.split('/').pop()} ${ms} ms`).join(', ');
  t.diagnostic(`compat corpus run: ${outcomes.length - problems.length} of ${outcomes.length} started and stopped cleanly in ${Date.now() - t0} ms (slowest: ${slowest})`);
  assert.deepEqual(problems, []);
});

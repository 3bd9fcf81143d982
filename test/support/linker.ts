/** A `meshwork linkerd` child process for end-to-end tests, and waits on what it answers. */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnReady, type ReadyProcess } from './process.js';
import { request, type Upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');

export interface RunningLinker {
  readonly proc: ReadyProcess;
  /** The port of the router labelled `label`'s first server. */
  readonly port: number;
  readonly admin: number;
}

/** Starts `meshwork linkerd FILE` and waits (at most `timeoutMs`) until router `label` and the admin port listen. */
export async function startLinker(file: string, label = 'web', timeoutMs = 15_000): Promise<RunningLinker> {
  const l = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ready = new RegExp(`^listening ${l} 127\\.0\\.0\\.1:\\d+[\\s\\S]*admin listening on|admin listening on[\\s\\S]*^listening ${l} 127\\.0\\.0\\.1:\\d+`, 'm');
  const proc = await spawnReady(process.execPath, [BIN, 'linkerd', file], ready, timeoutMs);
  return {
    proc,
    port: Number(new RegExp(`^listening ${l} 127\\.0\\.0\\.1:(\\d+)`, 'm').exec(proc.output())![1]),
    admin: Number(/admin listening on [^\s]*:(\d+)/.exec(proc.output())![1]),
  };
}

/**
 * Sends `Host: host` requests until one answers `want` (at most `ms`, 25 ms apart); every
 * answer must be a 200. Returns the last body.
 */
export async function untilBody(port: number, host: string, want: string, ms = 5000): Promise<string> {
  let body = '';
  const t0 = Date.now();
  for (let i = 0; i < 400 && Date.now() - t0 < ms; i++) {
    const r = await request(port, { headers: { host } });
    assert.equal(r.status, 200, `${r.status} ${r.headers['l5d-err'] ?? ''}`);
    body = r.body;
    if (body === want) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  return body;
}

/** Writes `text` as `linkerd.yaml` in a new temporary directory; returns the file's path. */
export function linkerdYaml(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mw-linkerd-')), 'linkerd.yaml');
  writeFileSync(file, text);
  return file;
}

/**
 * A test file's scratch space for end-to-end runs: a temporary directory, and the processes
 * and upstreams it starts, all stopped and removed after the file's tests.
 */
export function e2eScratch(prefix: string): { readonly dir: string; readonly procs: ReadyProcess[]; readonly ups: Upstream[] } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const procs: ReadyProcess[] = [];
  const ups: Upstream[] = [];
  after(async () => {
    for (const p of procs) await p.stop(1000);
    for (const u of ups) await u.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, procs, ups };
}

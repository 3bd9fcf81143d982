/**
 * The programs under test that are not ours: the nginx upstream (same for every candidate)
 * and HAProxy as the 1-thread baseline. Both run from a temp dir with configs written here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnPinned, waitForPort, waitReady, type Pinned } from './proc.js';

/** Bodies served by the upstream, by path. The small one is what most sidecar benches use. */
export const BODIES: Record<string, number> = { '/small': 13, '/1k': 1024, '/64k': 65536 };
const BODY_SMALL = 'hello, world\\n';

export interface Started { proc: Pinned; port: number }

export async function startNginx(nginx: string, dir: string, cpus: string): Promise<Started> {
  const port = await freePort();
  const www = join(dir, 'www');
  mkdirSync(www, { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  for (const [path, size] of Object.entries(BODIES)) {
    writeFileSync(join(www, path.slice(1)), path === '/small' ? 'hello, world\n' : Buffer.alloc(size, 'x'));
  }
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log error;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  # The upstream shares its CPU with wrk, so it must be cheap per request: the 13 B and 1 KiB
  # bodies are answered from memory (one writev with the head; a static file cost open, fstat,
  # sendfile, two TCP_CORK toggles and close per request), the 64 KiB one with sendfile from
  # a file kept open.
  open_file_cache max=16 inactive=1h;
  open_file_cache_valid 1h;
  sendfile on;
  default_type text/plain;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    root ${www};
    etag off;
    location / { }
    location = /small { return 200 "${BODY_SMALL}"; }
    location = /1k { return 200 "${'x'.repeat(1024)}"; }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const proc = spawnPinned(cpus, nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  await waitForPort(port).catch((e) => { throw new Error(`${e.message}\nnginx said: ${proc.output()}`); });
  return { proc, port };
}

/**
 * HAProxy needs about 2 fds per maxconn and refuses to start when the fd limit is lower, so
 * its maxconn (and the idle-connection test against it) is capped by the hard NOFILE limit.
 */
export function haproxyMaxconn(wanted: number, nofile: number): number {
  return Math.min(wanted, Math.floor((nofile - 100) / 2));
}

/**
 * HAProxy with one thread in front of the upstream: `mode http` (keep-alive both sides, upstream
 * connections reused), or `mode tcp` (each client connection spliced to one of its own).
 */
export async function startHaproxy(haproxy: string, dir: string, cpus: string, upstreamPort: number, maxconn: number, mode: 'http' | 'tcp' = 'http'): Promise<Started> {
  const port = await freePort();
  const httpOptions = mode === 'http' ? `
  timeout http-keep-alive 300s
  option http-keep-alive
  http-reuse always` : '';
  const conf = `global
  nbthread 1
  maxconn ${maxconn}
  tune.bufsize 16384

defaults
  mode ${mode}
  timeout connect 5s
  timeout client 300s
  timeout server 300s${httpOptions}

frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream

backend upstream
  server nginx 127.0.0.1:${upstreamPort}
`;
  const cfg = join(dir, `haproxy-${mode}.cfg`);
  writeFileSync(cfg, conf);
  const proc = spawnPinned(cpus, haproxy, ['-f', cfg, '-db']);
  await waitReady(proc, port, 10_000);
  return { proc, port };
}

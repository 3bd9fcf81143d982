/**
 * A real single-member etcd (Debian `etcd-server`, /usr/bin/etcd) on loopback, on ports the OS
 * chose, with a temporary data dir. `stop()` / `start()` keep ports and data, so tests can take
 * the store down and bring it back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnReady, type ReadyProcess } from './process.js';

export const ETCD_BIN = process.env['MESH_ETCD_BIN'] ?? '/usr/bin/etcd';

export interface EtcdServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** The server's recent output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data dir. */
  close(): Promise<void>;
}

export interface EtcdTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** With `tls`, clients must speak TLS and present a certificate signed by `caFile`. */
export async function startEtcd(opts: { tls?: EtcdTlsFiles } = {}): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-etcd-'));
  const host = '127.0.0.1';
  const port = await freePort();
  const peer = await freePort();
  const clientUrl = `${opts.tls ? 'https' : 'http'}://${host}:${port}`;
  const peerUrl = `http://${host}:${peer}`;
  const args = [
    '--name', 'mesh-test',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `mesh-test=${peerUrl}`,
    // A lone member elects itself after one election timeout: keep it short for fast starts.
    '--heartbeat-interval', '10',
    '--election-timeout', '100',
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    ...(opts.tls
      ? ['--cert-file', opts.tls.certFile, '--key-file', opts.tls.keyFile, '--trusted-ca-file', opts.tls.caFile, '--client-cert-auth']
      : []),
  ];
  let proc: ReadyProcess | undefined;
  const start = async () => {
    if (proc !== undefined) return;
    proc = await spawnReady(ETCD_BIN, args, /serving client traffic/, 20000, { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env['ETCD_UNSUPPORTED_ARCH'] ?? '' });
  };
  await start();
  return {
    host,
    port,
    url: clientUrl,
    output: () => proc?.output() ?? '',
    get running() {
      return proc !== undefined;
    },
    start,
    stop: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop();
    },
    close: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

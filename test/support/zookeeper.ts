/**
 * A real standalone ZooKeeper (Debian `zookeeper` package: /usr/share/java/zookeeper.jar) on a
 * loopback port the OS chose, with a generated zoo.cfg and a temporary dataDir; the admin
 * server is off. `stop()` / `start()` keep the port and data, so tests can take it down and
 * bring it back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort, spawnReady, type ReadyProcess } from './process.js';
import zookeeper, { type Client } from 'node-zookeeper-client';

const JARS = process.env['MESH_ZK_JARS'] ?? '/usr/share/java';
const CLASSPATH = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-simple.jar', 'metrics-core.jar']
  .map((j) => join(JARS, j))
  .join(':');

export interface ZkServer {
  readonly host: string;
  readonly port: number;
  readonly running: boolean;
  /** The server's recent output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Deletes all data (the server must be stopped): every session and znode is gone. */
  wipeData(): void;
  close(): Promise<void>;
}

export async function startZooKeeper(): Promise<ZkServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-zk-'));
  const host = '127.0.0.1';
  const port = await freePort();
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [
      'tickTime=200',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      `clientPortAddress=${host}`,
      'admin.enableServer=false',
      'minSessionTimeout=400',
      'maxSessionTimeout=60000',
      '4lw.commands.whitelist=ruok,srvr',
      '',
    ].join('\n'),
  );
  const args = [
    '-Xms32m',
    '-Xmx128m',
    '-XX:TieredStopAtLevel=1',
    '-Dzookeeper.jmx.log4j.disable=true',
    '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
    '-cp',
    CLASSPATH,
    'org.apache.zookeeper.server.ZooKeeperServerMain',
    cfg,
  ];
  let proc: ReadyProcess | undefined;
  const start = async () => {
    if (proc !== undefined) return;
    proc = await spawnReady('java', args, /binding to port/, 30000);
    // The port is bound before the database is loaded, and a client that connects in between
    // hangs: wait until the server says it is serving.
    for (let i = 0; i < 200; i++) {
      if ((await fourLetter(host, port, 'srvr')).includes('Mode:')) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`zookeeper on ${port} never started serving:\n${proc.output().slice(-4000)}`);
  };
  await start();
  return {
    host,
    port,
    output: () => proc?.output() ?? '',
    get running() {
      return proc !== undefined;
    },
    start,
    wipeData: () => {
      if (proc !== undefined) throw new Error('stop the server before wiping its data');
      rmSync(join(dir, 'data'), { recursive: true, force: true });
    },
    stop: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop(1000);
    },
    close: async () => {
      const p = proc;
      proc = undefined;
      await p?.stop(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends a four-letter command and resolves with the reply ('' on any error). */
function fourLetter(host: string, port: number, cmd: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = connect(port, host, () => s.end(cmd));
    s.setTimeout(1000, () => s.destroy());
    s.on('data', (b) => (out += b.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}

/**
 * A client of `server` on a new session, connected. node-zookeeper-client waits forever on a
 * connection that a server still starting took and never served: a client not connected
 * within 3 s is dropped for a new one, at most five times.
 */
export async function connectedClient(server: { host: string; port: number }, opts: { sessionTimeout?: number; spinDelay?: number } = {}): Promise<Client> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const c = zookeeper.createClient(`${server.host}:${server.port}`, { sessionTimeout: opts.sessionTimeout ?? 5000, spinDelay: opts.spinDelay ?? 100, retries: 0 });
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 3000);
      c.once('connected', () => {
        clearTimeout(t);
        resolve(true);
      });
      c.connect();
    });
    if (ok) return c;
    c.close();
  }
  throw new Error(`no ZooKeeper session at ${server.host}:${server.port} after five attempts`);
}

/** One ZooKeeper call, failing after 10 s instead of waiting forever (see connectedClient). */
export const zkCall = <T>(fn: (cb: (err: Error | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('ZooKeeper call unanswered after 10 s')), 10_000);
    fn((err, v) => {
      clearTimeout(t);
      if (err) reject(err);
      else resolve(v);
    });
  });

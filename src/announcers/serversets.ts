/**
 * The `io.l5d.serversets` announcer: a server's `announce` names under `/#/<prefix>` (default
 * `/#/io.l5d.serversets`) become members of the Finagle serverset `<pathPrefix>/<rest of the
 * name>` (pathPrefix default `/discovery`), as Linkerd's ZkAnnouncer writes them: an ephemeral,
 * sequential `member_` znode holding
 * `{"serviceEndpoint":{"host","port"},"additionalEndpoints":{},"status":"ALIVE","shard":0}`.
 *
 * Members live as long as the announcement: closing it deletes the znode (and the session's
 * end would). A ZooKeeper that is down or restarting is waited for; after a session expires
 * (or a connection a starting server took is never served) a new client announces every member
 * again.
 */
import type { Client, ZkException } from 'node-zookeeper-client';
import type { Closable } from '../naming/contracts.js';
import { forceClose, zkLib } from '../namerd/stores/zk-client.js';
import { Path } from '../naming/path.js';
import type { Announcer } from './announcer.js';

export const KIND = 'io.l5d.serversets';
const OPEN_ACL = (): unknown[] => {
  const z = zkLib();
  return [new z.ACL(z.Permission.ALL, new z.Id('world', 'anyone'))];
};

/** What Finagle's serverset join writes for one endpoint (shard 0, as Linkerd announces). */
export function memberJson(host: string, port: number): Buffer {
  return Buffer.from(JSON.stringify({ serviceEndpoint: { host, port }, additionalEndpoints: {}, status: 'ALIVE', shard: 0 }));
}

interface Member {
  readonly dir: string;
  readonly data: Buffer;
  /** The member znode's path while it exists on the current client's session. */
  node: string | undefined;
  /** Creating on this client (a second create must not race it). */
  creating: Client | undefined;
}

export interface ServersetsAnnouncerOptions {
  /** ZooKeeper's connect string. */
  readonly connect: string;
  /** The serverset root, e.g. `/discovery`. */
  readonly pathPrefix: string;
  /** Names under `/#/<prefix>` are announced (`prefix` without the `/#`). */
  readonly prefix: Path;
  readonly sessionTimeoutMs?: number;
  /** Where failures to announce are reported (default: stderr). */
  readonly log?: (line: string) => void;
}

export class ServersetsAnnouncer implements Announcer {
  readonly kind = KIND;
  readonly prefix: Path;
  private client: Client | null = null;
  private readonly members = new Set<Member>();
  private watchdog: NodeJS.Timeout | undefined;
  private waitingSince = 0;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ServersetsAnnouncerOptions) {
    this.prefix = Path.utf8('#').concat(opts.prefix);
    this.log = opts.log ?? ((l) => process.stderr.write(l + '\n'));
  }

  announce(host: string, port: number, name: Path): Closable {
    // The name exactly the prefix announces at pathPrefix itself.
    const dir = (this.opts.pathPrefix.replace(/\/+$/, '') + (name.isEmpty ? '' : name.show())).replace(/^$/, '/');
    const m: Member = { dir, data: memberJson(host, port), node: undefined, creating: undefined };
    this.members.add(m);
    const c = this.zk();
    if (c.getState() === zkLib().State.SYNC_CONNECTED) this.create(c, m);
    return {
      close: () => {
        if (!this.members.delete(m)) return;
        const node = m.node;
        const client = this.client;
        if (node !== undefined && client !== null && client.getState() === zkLib().State.SYNC_CONNECTED) client.remove(node, -1, () => this.idle());
        else this.idle();
      },
    };
  }

  /** Closes every announcement. */
  close(): void {
    for (const m of [...this.members]) {
      this.members.delete(m);
      if (m.node !== undefined && this.client?.getState() === zkLib().State.SYNC_CONNECTED) this.client.remove(m.node, -1, () => undefined);
    }
    this.idle();
  }

  /** With nothing left to announce the session ends (after queued removals are sent). */
  private idle(): void {
    if (this.members.size > 0 || this.client === null) return;
    const c = this.client;
    this.client = null;
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    // Requests queued before close() are sent first; close() ends the session.
    c.close();
  }

  private zk(): Client {
    if (this.client !== null) return this.client;
    const c = zkLib().createClient(this.opts.connect, { sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000, spinDelay: 200, retries: 0 });
    c.on('connected', () => {
      if (this.client !== c) return;
      this.waitingSince = 0;
      for (const m of this.members) if (m.node === undefined) this.create(c, m);
    });
    // An expired session lost every member: a new client announces them again.
    c.on('expired', () => this.replace(c));
    c.connect();
    this.client = c;
    this.watchdog ??= setInterval(() => this.check(), 1000);
    this.watchdog.unref();
    return c;
  }

  /** A client a restarting server took and never served is replaced after the session timeout. */
  private check(): void {
    const c = this.client;
    if (c === null || c.getState() === zkLib().State.SYNC_CONNECTED) {
      this.waitingSince = 0;
      return;
    }
    const now = Date.now();
    if (this.waitingSince === 0) this.waitingSince = now;
    else if (now - this.waitingSince > (this.opts.sessionTimeoutMs ?? 10_000)) this.replace(c);
  }

  private replace(c: Client): void {
    if (this.client !== c) return;
    this.client = null;
    this.waitingSince = 0;
    forceClose(c);
    for (const m of this.members) {
      m.node = undefined;
      m.creating = undefined;
    }
    if (this.members.size > 0) this.zk();
  }

  private create(c: Client, m: Member): void {
    if (m.creating === c || m.node !== undefined) return;
    m.creating = c;
    const z = zkLib();
    const fail = (what: string, e: Error | ZkException): void => {
      m.creating = undefined;
      this.log(`${KIND}: cannot announce ${m.dir}: ${what}: ${e.message}`);
    };
    c.mkdirp(m.dir, null, OPEN_ACL() as never, z.CreateMode.PERSISTENT, (e1) => {
      if (e1 && (e1 as Partial<ZkException>).getCode?.() !== z.Exception.NODE_EXISTS) return fail('mkdirp', e1);
      c.create(`${m.dir}/member_`, m.data, OPEN_ACL() as never, z.CreateMode.EPHEMERAL_SEQUENTIAL, (e2, path) => {
        m.creating = undefined;
        if (e2) return fail('create', e2);
        if (this.client !== c || !this.members.has(m)) {
          // Closed or replaced meanwhile: the member must not outlive its announcement.
          c.remove(path, -1, () => undefined);
          return;
        }
        m.node = path;
      });
    });
  }
}

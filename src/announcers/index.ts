/**
 * The announcer registry (category `announcer`), keyed by Linkerd kind: `io.l5d.serversets`.
 * `createAnnouncer(config, ctx)` builds one from a router's `announcers[i]` (validated and
 * defaulted by src/config); `announceServer` announces one bound server under its names.
 */
import { createRequire } from 'node:module';
import type * as Os from 'node:os';
import { registerPlugin } from '../config/plugins.js';
import type { PluginSpec } from '../config/schema.js';
import type { Closable } from '../naming/contracts.js';
import { Path } from '../naming/path.js';
import type * as ZkDir from '../namers/zk-dir.js';
import { zkAddrs } from '../config/catalogue.js';
import type { Announcer } from './announcer.js';
import type * as Serversets from './serversets.js';

export type { Announcer } from './announcer.js';

export interface AnnouncerContext {
  /** The config file and the announcer's key path, for errors. */
  readonly file?: string;
  readonly keyPath?: string;
  readonly readPath: (s: string) => Path;
  readonly log?: (line: string) => void;
}

type Obj = Readonly<Record<string, unknown>>;

/**
 * The announcers' modules (and node:os) are required when a router announces: the linker
 * imports this registry whether or not its config has announcers, and the serversets one
 * brings the ZooKeeper namers' watch code.
 */
const requireHere = createRequire(import.meta.url);
/** serversets.ts's KIND, known here before that module is loaded. */
const SERVERSETS = 'io.l5d.serversets';

function hostInterfaces(): ReturnType<typeof Os.networkInterfaces> {
  return (requireHere('node:os') as typeof Os).networkInterfaces();
}

export const announcerPlugins: readonly PluginSpec<Record<string, unknown>, Announcer, AnnouncerContext>[] = [
  {
    category: 'announcer',
    kind: SERVERSETS,
    fields: {
      prefix: { type: 'path', default: '/' + SERVERSETS, doc: 'Names under /#/<prefix> are announced.' },
      zkAddrs,
      pathPrefix: { type: 'string', default: '/discovery', doc: 'The ZooKeeper path serversets are announced under.' },
    },
    create: (cfg: Obj, ctx) => {
      const { zkConnect } = requireHere('../namers/zk-dir.js') as typeof ZkDir;
      const { ServersetsAnnouncer } = requireHere('./serversets.js') as typeof Serversets;
      const connect = zkConnect(cfg['zkAddrs'], `${ctx.file ? `${ctx.file}: ` : ''}${ctx.keyPath ?? 'announcer'}`, (m) => new Error(m));
      const pathPrefix = typeof cfg['pathPrefix'] === 'string' && cfg['pathPrefix'] !== '' ? (cfg['pathPrefix'] as string) : '/discovery';
      return new ServersetsAnnouncer({
        connect,
        pathPrefix: pathPrefix.startsWith('/') ? pathPrefix : '/' + pathPrefix,
        prefix: ctx.readPath(typeof cfg['prefix'] === 'string' ? (cfg['prefix'] as string) : '/' + SERVERSETS),
        ...(ctx.log === undefined ? {} : { log: ctx.log }),
      });
    },
  },
];

for (const spec of announcerPlugins) registerPlugin(spec);

export function createAnnouncer(cfg: Obj, ctx: AnnouncerContext): Announcer {
  const spec = announcerPlugins.find((p) => p.kind === cfg['kind']);
  if (spec?.create === undefined) throw new Error(`${ctx.keyPath ?? 'announcer'}.kind: found ${JSON.stringify(cfg['kind'])}; allowed: ${announcerPlugins.map((p) => p.kind).join(', ')}`);
  return spec.create(cfg as Record<string, unknown>, ctx);
}

/**
 * The addresses a server bound to `ip` is announced at: that address, or for a wildcard every
 * non-loopback address of the host, as Linkerd does: IPv4 ones for `0.0.0.0`, both families
 * for `::` (link-local IPv6 addresses are left out: unusable without an interface scope).
 */
export function announcedHosts(ip: string, interfaces: ReturnType<typeof Os.networkInterfaces> = hostInterfaces()): string[] {
  if (ip !== '0.0.0.0' && ip !== '::' && ip !== '') return [ip];
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80'))) continue;
      if (ip === '0.0.0.0' && a.family !== 'IPv4') continue;
      out.push(a.address);
    }
  }
  return out;
}

/**
 * Announces a bound server under each of its `announce` names with every announcer whose prefix
 * the name starts with; a name no announcer owns is reported and skipped, as Linkerd warns.
 */
export function announceServer(
  announcers: readonly Announcer[],
  ip: string,
  port: number,
  names: readonly Path[],
  log: (line: string) => void,
  interfaces: ReturnType<typeof Os.networkInterfaces> = hostInterfaces(),
): Closable {
  const closers: Closable[] = [];
  for (const name of names) {
    const mine = announcers.filter((a) => name.startsWith(a.prefix));
    if (mine.length === 0) {
      log(`no announcer found for ${name.show()}`);
      continue;
    }
    const hosts = announcedHosts(ip, interfaces);
    if (hosts.length === 0) log(`no address to announce ${name.show()} at: ${ip} and the host has no non-loopback address`);
    for (const a of mine) for (const host of hosts) closers.push(a.announce(host, port, name.drop(a.prefix.size)));
  }
  return { close: () => closers.forEach((c) => c.close()) };
}

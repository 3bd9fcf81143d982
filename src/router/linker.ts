/**
 * A linker process's data plane: every router of a loaded linkerd.yaml with its servers,
 * sharing the configured namers and one metrics registry. `start()` listens everywhere and
 * reports the bound addresses; `close(graceMs)` drains.
 */
import type { Activity, BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import type { LinkerdConfig, RouterConfig } from '../config/types.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracer } from '../telemetry/tracing.js';
import { AccessLogWriter } from '../telemetry/access-log.js';
import { createIdentifier, type Identifier } from './identifiers/index.js';
import { Router } from './router.js';
import type { DtabLike } from './router-base.js';
import { RouterServer, serverOptions } from './server.js';
import { RouterError } from './errors.js';
import { TlsFiles } from '../config/tls.js';
import { announceServer, createAnnouncer, type Announcer } from '../announcers/index.js';
import type { Closable } from '../naming/contracts.js';
import type * as H2Build from './h2/build.js';
import type { H2Router } from './h2/router.js';
import type { H2RouterServer } from './h2/server.js';
import type * as ThriftBuild from './thrift/build.js';
import type { ThriftRouter } from './thrift/router.js';
import type { ThriftMuxRouterServer, ThriftRouterServer } from './thrift/server.js';
import type * as MuxBuild from './mux/build.js';
import type { MuxRouter } from './mux/router.js';
import type { MuxRouterServer } from './mux/server.js';
import type * as TcpBuild from './tcp/build.js';
import type { TcpRouter } from './tcp/router.js';
import type { TcpRouterServer } from './tcp/server.js';
import type { MessageBuildDeps } from './message-build.js';

type Obj = Readonly<Record<string, unknown>>;

/** What the linker needs from the naming core (see naming-deps.ts for the real one). */
export interface NamingDeps<D extends DtabLike> {
  readDtab(s: string): D;
  readPath(s: string): Path;
  /** Builds the configured namers once and returns a binder over them. */
  binder(config: LinkerdConfig): (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  /** Wraps a router's binder with its interpreter's transformers (identity when none). */
  interpreter?(router: RouterConfig, bind: (dtab: D, path: Path) => Activity<NameTree<BoundName>>): (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  /** For a router whose interpreter asks namerd and can explain: namerd's delegation JSON. */
  delegator?(label: string): ((dtab: D, path: Path) => Promise<unknown>) | undefined;
  close?(): void;
}

/** Longest the servers wait for identifiers to be ready (io.l5d.ingress's first list). */
const IDENTIFIER_READY_MS = 10_000;

export interface BoundServer {
  readonly label: string;
  readonly ip: string;
  readonly port: number;
}

/** The router modules a config needs, each loaded only when a router uses its protocol. */
export interface RouterModules {
  /** node:http2 and the h2 router's code cost ~1.5 MB of RSS a proxy of HTTP/1.1 routers does not need. */
  readonly h2?: typeof H2Build | undefined;
  readonly thrift?: typeof ThriftBuild | undefined;
  readonly mux?: typeof MuxBuild | undefined;
  readonly tcp?: typeof TcpBuild | undefined;
}

export async function loadRouterModules(config: LinkerdConfig): Promise<RouterModules> {
  const uses = (...ps: string[]): boolean => config.routers.some((r) => ps.includes(r.protocol));
  return {
    h2: uses('h2') ? await import('./h2/build.js') : undefined,
    thrift: uses('thrift', 'thriftmux') ? await import('./thrift/build.js') : undefined,
    mux: uses('mux') ? await import('./mux/build.js') : undefined,
    tcp: uses('tcp') ? await import('./tcp/build.js') : undefined,
  };
}

/**
 * The build function of a message router's protocol (thrift, thriftmux, mux, tcp) from the
 * loaded modules: undefined for http and h2, null when its module was not loaded.
 */
function messageBuilder<D extends DtabLike>(protocol: RouterConfig['protocol'], m: RouterModules): ((rc: Obj, deps: MessageBuildDeps<D>) => { router: Linker<D>['routers'][number]; servers: readonly Linker<D>['servers'][number][] }) | null | undefined {
  switch (protocol) {
    case 'thrift':
    case 'thriftmux':
      return m.thrift === undefined ? null : (rc, deps) => m.thrift!.buildThriftRouter<D>(rc, { ...deps, protocol });
    case 'mux':
      return m.mux === undefined ? null : (rc, deps) => m.mux!.buildMuxRouter<D>(rc, deps);
    case 'tcp':
      return m.tcp === undefined ? null : (rc, deps) => m.tcp!.buildTcpRouter<D>(rc, deps);
    default:
      return undefined;
  }
}

/**
 * Reads the certificates router `i`'s client `tls` blocks name, so a missing one stops the
 * linker naming it. `client:` arrives as prefixed configs (io.l5d.global: one, prefix `/`).
 */
function loadClientTls(rc: RouterConfig, i: number, tlsFiles: TlsFiles): void {
  const client = rc['client'] as unknown as { kind?: string; configs?: readonly Readonly<Record<string, unknown>>[] } | undefined;
  (client?.configs ?? []).forEach((c, k) => {
    const at = client?.kind === 'io.l5d.static' ? `routers[${i}].client.configs[${k}].tls` : `routers[${i}].client.tls`;
    if (c['tls'] !== undefined && c['tls'] !== null) tlsFiles.loadClient(c['tls'] as Readonly<Record<string, unknown>>, at);
  });
}

export class Linker<D extends DtabLike = DtabLike> {
  readonly routers: (Router<D> | H2Router<D> | ThriftRouter<D> | MuxRouter<D> | TcpRouter<D>)[] = [];
  private readonly servers: (RouterServer | H2RouterServer | ThriftRouterServer | ThriftMuxRouterServer | MuxRouterServer | TcpRouterServer)[] = [];
  private readonly identifiers: Identifier[] = [];
  /** The http routers' identifiers, for admin.httpIdentifierPort (admin/identifier-server.ts). */
  readonly httpIdentifiers: { label: string; identifier: Identifier; dtab: string }[] = [];
  private readonly announcers: Announcer[] = [];
  /** Per server (same order as `servers`): its router's announcers and its `announce` names. */
  private readonly serverAnnounce: { announcers: readonly Announcer[]; names: readonly Path[] }[] = [];
  private announcements: Closable[] = [];

  constructor(
    readonly config: LinkerdConfig,
    private readonly naming: NamingDeps<D>,
    readonly metrics: Metrics,
    /** The telemeters' tracer (null: no tracing telemeter). */
    tracer: Tracer | null = null,
    /** From loadRouterModules(config): a router's protocol module must be there. */
    modules: RouterModules = {},
  ) {
    const bind = naming.binder(config);
    // Certificates and keys are read now: a missing one stops the linker naming it.
    const tlsFiles = new TlsFiles(config.file, (m) => new RouterError('MESH_ERR_ROUTER_CONFIG', m));
    // What was built before a config problem stops the linker is let go (an io.l5d.ingress
    // watch or an announcer's ZooKeeper session would keep the process from exiting).
    try {
      for (const [i, rc] of config.routers.entries()) {
        const baseDtab = naming.readDtab(rc.dtab ?? '');
        const dstPrefix = naming.readPath(rc.dstPrefix ?? '/svc');
        if (rc.protocol === 'h2') {
          // HTTP/2 and gRPC: the h2 router (src/router/h2) with its own servers.
          const announcers = this.announcersFor(rc, i);
          loadClientTls(rc, i, tlsFiles);
          if (modules.h2 === undefined) throw new RouterError('MESH_ERR_ROUTER_CONFIG', `routers[${i}]: the h2 router module was not loaded (loadRouterModules)`);
          const built = modules.h2.buildH2Router<D>(rc as unknown as Obj, {
            file: config.file, index: i, baseDtab, dstPrefix, parseDtab: (s) => naming.readDtab(s),
            bind: naming.interpreter ? naming.interpreter(rc, bind) : bind, metrics, tlsFiles, tracer,
          });
          this.identifiers.push(built.identifier);
          this.adopt(rc, announcers, built.router, built.servers);
          continue;
        }
        const build = messageBuilder<D>(rc.protocol, modules);
        if (build !== undefined) {
          // Thrift, ThriftMux, mux and raw TCP: a message router (src/router/<protocol>) with its own servers.
          const announcers = this.announcersFor(rc, i);
          loadClientTls(rc, i, tlsFiles);
          if (build === null) throw new RouterError('MESH_ERR_ROUTER_CONFIG', `routers[${i}]: the ${rc.protocol} router module was not loaded (loadRouterModules)`);
          const built = build(rc as unknown as Obj, {
            index: i, baseDtab, dstPrefix, readPath: (s) => naming.readPath(s), parseDtab: (s) => naming.readDtab(s),
            bind: naming.interpreter ? naming.interpreter(rc, bind) : bind, metrics, tlsFiles, tracer,
          });
          this.adopt(rc, announcers, built.router, built.servers);
          continue;
        }
        const identifier = createIdentifier(rc.identifier as readonly Readonly<Record<string, unknown>>[] | undefined, { dstPrefix, baseDtab });
        this.identifiers.push(identifier);
        this.httpIdentifiers.push({ label: rc.label, identifier, dtab: baseDtab.show() });
        const routerBind = naming.interpreter ? naming.interpreter(rc, bind) : bind;
        const announcers = this.announcersFor(rc, i);
        loadClientTls(rc, i, tlsFiles);
        const router = new Router<D>({
          label: rc.label,
          tlsFiles,
          baseDtab,
          identify: (req) => identifier.identify(req),
          parseDtab: (s) => naming.readDtab(s),
          bind: routerBind,
          metrics,
          config: rc as unknown as Readonly<Record<string, unknown>>,
          tracer,
          accessLog: AccessLogWriter.fromRouterConfig(rc as unknown as Readonly<Record<string, unknown>>, undefined, 'http', `routers[${i}].`),
        });
        this.routers.push(router);
        for (const [j, sc] of rc.servers.entries()) {
          const merged = { ...sc } as Record<string, unknown>;
          // maxCallDepth may be written on the router as well as on each server.
          if (merged['maxCallDepth'] === undefined && typeof rc['maxCallDepth'] === 'number') merged['maxCallDepth'] = rc['maxCallDepth'];
          const tls = tlsFiles.serverOptions(merged['tls'] as Readonly<Record<string, unknown>> | undefined | null, `routers[${i}].servers[${j}].tls`);
          this.servers.push(new RouterServer(router as unknown as Router, serverOptions(merged, tls), metrics));
          this.serverAnnounce.push({ announcers, names: (sc.announce ?? []).map((n) => naming.readPath(n)) });
        }
      }
    } catch (e) {
      for (const i of this.identifiers) i.close?.();
      for (const a of this.announcers) a.close();
      for (const r of this.routers) r.close();
      throw e;
    }
  }

  /** A router built by its protocol's module, and its servers, each with the router's announcers and its `announce` names. */
  private adopt(rc: RouterConfig, announcers: Announcer[], router: Linker<D>['routers'][number], servers: readonly Linker<D>['servers'][number][]): void {
    this.routers.push(router);
    for (const [j, s] of servers.entries()) {
      this.servers.push(s);
      this.serverAnnounce.push({ announcers, names: (rc.servers[j]?.announce ?? []).map((n) => this.naming.readPath(n)) });
    }
  }

  /** Router `i`'s announcers, built now and closed with the linker. */
  private announcersFor(rc: RouterConfig, i: number): Announcer[] {
    const announcers = (rc.announcers ?? []).map((ac, k) =>
      createAnnouncer(ac as unknown as Readonly<Record<string, unknown>>, { file: this.config.file, keyPath: `routers[${i}].announcers[${k}]`, readPath: (s) => this.naming.readPath(s) }),
    );
    this.announcers.push(...announcers);
    return announcers;
  }

  /** Listens on every server; resolves with the bound addresses in config order. */
  async start(): Promise<BoundServer[]> {
    const out: BoundServer[] = [];
    try {
      // Identifiers that read rules from elsewhere (io.l5d.ingress) get them before traffic.
      await Promise.all(this.identifiers.map((i) => i.ready?.(IDENTIFIER_READY_MS)));
      for (const [k, s] of this.servers.entries()) {
        const a = await s.listen();
        out.push({ label: (s as unknown as { router: Router }).router.label, ip: a.ip, port: a.port });
        const { announcers, names } = this.serverAnnounce[k]!;
        if (names.length > 0) this.announcements.push(announceServer(announcers, a.ip, a.port, names, (l) => process.stderr.write(`announce: ${l}\n`)));
      }
    } catch (e) {
      await this.close(0);
      throw e;
    }
    return out;
  }

  /** Every router's clients, for the admin's `/client_state.json`: `{<label>: {<id>: state}}`. */
  clientState(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const r of this.routers) out[r.label] = r.clientSnapshot();
    return out;
  }

  /** Bound names every router has clients for (`/bound-names.json`). */
  boundNames(): string[] {
    const names = new Set<string>();
    for (const r of this.routers) for (const n of r.boundNames()) names.add(n);
    return [...names].sort();
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.servers) n += s.inFlight;
    return n;
  }

  async close(graceMs: number): Promise<void> {
    // Out of service discovery first, then drain (Linkerd closes announcements before servers).
    for (const a of this.announcements) a.close();
    this.announcements = [];
    await Promise.all(this.servers.map((s) => s.close(graceMs)));
    for (const a of this.announcers) a.close();
    for (const r of this.routers) r.close();
    for (const i of this.identifiers) i.close?.();
    this.naming.close?.();
  }
}

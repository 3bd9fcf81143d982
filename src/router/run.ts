/**
 * `meshwork linkerd FILE`: load the config, start every router and the admin server (with the
 * dashboard, delegator and telemeters' routes), print one `listening <label> <ip>:<port>` line
 * per server and `admin listening on <ip>:<port>` (tests and scripts parse them), and drain
 * on SIGTERM / SIGINT within `admin.shutdownGraceMs`.
 */
import type { CommandIO } from '../cli/command.js';
import { compactAfterStart } from '../cli/heap.js';
import '../config/builtin-plugins.js';
import { loadLinkerdConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { LinkerdConfig } from '../config/types.js';
import { MetricsRegistry } from '../telemetry/metrics-registry.js';
import { buildTelemetry } from '../telemetry/telemeters.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import { readDelegateInput } from '../admin/delegate-input.js';
import { IdentifierServer } from '../admin/identifier-server.js';
import { linkerdWarnings } from './config-warnings.js';
import { createNamers } from '../namers/registry.js';
import { Dtab, explainDelegation, readDtab, readPath, showNameTree } from '../naming/index.js';
import { Linker, loadRouterModules, type NamingDeps } from './linker.js';
import { loadInterpreters, namingDeps } from './naming-deps.js';

/** The admin server of a linker: metrics, telemeters' routes, config and the dtab playground. */
function linkerAdmin(config: LinkerdConfig, metrics: MetricsRegistry, routes: Parameters<typeof createAdminServer>[0]['routes'], onShutdown: (graceMs: number) => void, linker: Linker<Dtab>, naming: NamingDeps<Dtab>): AdminServer {
  // The playground explains with the same namer kinds the routers bind with.
  const namers = createNamers(config.namers as unknown as Parameters<typeof createNamers>[0], { file: config.file, readPath });
  const dtabs = new Map(config.routers.map((r) => [r.label, readDtab(r.dtab ?? '')]));
  return createAdminServer({
    config: config.admin,
    metrics,
    routes,
    appName: 'linkerd',
    routers: () => config.routers.map((r) => ({ label: r.label, protocol: r.protocol, dtab: r.dtab ?? '' })),
    configJson: () => config,
    clientState: () => linker.clientState(),
    boundNames: () => linker.boundNames(),
    namerState: (prefix) => namerState(namers, prefix),
    onShutdown,
    delegate: async (namespace, dtabText, pathText) => {
      const { extra, path } = readDelegateInput(dtabText, pathText);
      const label = namespace ?? config.routers[0]?.label ?? '';
      const base = dtabs.get(label) ?? Dtab.empty;
      // A router that follows namerd is explained by namerd, with the dtab it would send.
      const remote = naming.delegator?.(label);
      if (remote !== undefined) return remote(base.concat(extra), path);
      return explainDelegation(base.concat(extra), path, namers, { showTree: showNameTree, timeoutMs: 2000 });
    },
  });
}

/**
 * `/namer_state/<prefix>.json`: the configured namer at that prefix (`/#/io.l5d.fs` or
 * `/io.l5d.fs`), its kind, and its own state when the namer exposes one (`state()`).
 */
function namerState(namers: ReturnType<typeof createNamers>, prefix: string): unknown {
  const want = prefix.startsWith('/#/') ? prefix : '/#' + prefix;
  for (const n of namers.configured) {
    const p = n.prefix.show();
    if (p !== want && p !== prefix) continue;
    const own = (n.namer as { state?: () => unknown }).state;
    return { prefix: p, kind: n.kind ?? null, ...(typeof own === 'function' ? { state: own.call(n.namer) } : {}) };
  }
  return undefined;
}

export async function runLinkerd(file: string, io: CommandIO): Promise<number> {
  let linker: Linker<Dtab>;
  let naming: NamingDeps<Dtab>;
  let config: LinkerdConfig;
  const metrics = new MetricsRegistry();
  let telemetry: ReturnType<typeof buildTelemetry>;
  let loadedFrom: string | undefined;
  try {
    config = await loadLinkerdConfig(file);
    loadedFrom = config.file;
    telemetry = buildTelemetry(config.telemetry as never, { metrics });
    naming = namingDeps(await loadInterpreters(config));
    linker = new Linker(config, naming, metrics, telemetry.tracer, await loadRouterModules(config));
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.errors) io.stderr(issue.message + '\n');
      return 2;
    }
    // A config that loads but cannot be built (a file it names cannot be opened): named by file.
    io.stderr(`meshwork linkerd: ${loadedFrom !== undefined ? `${loadedFrom}: ` : ''}${(e as Error).message}\n`);
    return 2;
  }
  metrics.start();
  const grace = config.admin.shutdownGraceMs ?? 10_000;
  let stop: (graceMs: number) => void = () => undefined;
  let admin: AdminServer;
  try {
    admin = linkerAdmin(config, metrics, telemetry.adminRoutes, (g) => stop(g), linker, naming);
  } catch (e) {
    // admin.tls files that cannot be read: a config problem, named like the others.
    io.stderr(`meshwork linkerd: ${config.file}: ${(e as Error).message}\n`);
    await linker.close(0);
    metrics.close();
    return 2;
  }
  let bound;
  const idPort = config.admin.httpIdentifierPort;
  const identifierServer = typeof idPort === 'number' ? new IdentifierServer(linker.httpIdentifiers) : undefined;
  let idAddress;
  try {
    // The admin port first, as Linkerd does: /admin/ping (a liveness probe) and the dashboard
    // answer while the routers wait for what they need before traffic (io.l5d.ingress's first
    // list, up to 10 s). The `admin listening` line still comes last, once everything listens.
    await admin.listen();
    if (identifierServer !== undefined) idAddress = await identifierServer.listen(idPort as number, config.admin.ip ?? '127.0.0.1');
    bound = await linker.start();
  } catch (e) {
    io.stderr(`meshwork linkerd: cannot listen: ${(e as Error).message}\n`);
    await Promise.allSettled([linker.close(0), admin.close(), identifierServer?.close()]);
    metrics.close();
    return 1;
  }
  // SIGTERM is handled before the listening lines go out: a supervisor that stops the linker as
  // soon as it reads them must get the graceful stop, not the signal's default exit.
  let stopped!: (code: number) => void;
  const done = new Promise<number>((resolve) => (stopped = resolve));
  let stopping = false;
  stop = (graceMs: number): void => {
    if (stopping) return;
    stopping = true;
    void Promise.allSettled([linker.close(graceMs), admin.close(), telemetry.close(), identifierServer?.close()]).then(() => {
      metrics.close();
      io.stdout('stopped\n');
      stopped(0);
    });
  };
  process.once('SIGTERM', () => stop(grace));
  process.once('SIGINT', () => stop(grace));
  for (const w of linkerdWarnings(config)) io.stderr(`meshwork linkerd: warning: ${config.file}: ${w}\n`);
  for (const b of bound) io.stdout(`listening ${b.label} ${b.ip}:${b.port}\n`);
  if (idAddress !== undefined) io.stdout(`http identifier listening on ${idAddress.address}:${idAddress.port}\n`);
  const a = admin.address()!;
  io.stdout(`admin listening on ${a.address}:${a.port}\n`);
  compactAfterStart();
  return done;
}

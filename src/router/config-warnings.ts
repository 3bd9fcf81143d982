/**
 * Keys of a linkerd.yaml that are accepted (Linkerd documents them, configs use them) but that
 * Meshwork cannot apply, each as a warning naming its key path: printed by `meshwork linkerd`
 * at start and by `--validate`, so nothing is ignored silently.
 */
import type { LinkerdConfig, RouterConfig } from '../config/types.js';

type Obj = Readonly<Record<string, unknown>>;

/**
 * The `socketOptions` Meshwork cannot apply: SO_REUSEPORT (not in Node 20's net) and turning
 * SO_REUSEADDR off (Node always sets it on listeners). Every protocol applies the rest,
 * `readTimeoutMs` and `writeTimeoutMs` included.
 */
export function socketOptionWarnings(so: Obj | undefined | null, at: string, server: boolean): string[] {
  if (so === undefined || so === null) return [];
  const out: string[] = [];
  if (so['reusePort'] === true) out.push(`${at}.reusePort: true is not applied (Node 20 cannot set SO_REUSEPORT${server ? '; use --workers to share the port between processes' : ''})`);
  if (so['reuseAddr'] === false) out.push(`${at}.reuseAddr: false is not applied (Node ${server ? 'always sets SO_REUSEADDR on listeners' : 'cannot clear SO_REUSEADDR'})`);
  return out;
}

/** An h2 server's or client's `windowUpdateRatio` (protocol-h2.md; Netty's flow controller takes it). */
function windowUpdateRatioWarning(o: Obj, at: string): string[] {
  const r = o['windowUpdateRatio'];
  return r === undefined || r === null ? [] : [`${at}.windowUpdateRatio: ${String(r)} is not applied (node:http2 sends WINDOW_UPDATE frames by itself and has no setting for the ratio)`];
}

/**
 * An h2 client's `hostConnectionPool`: Linkerd's h2 client replaces Finagle's connection pool
 * with a singleton pool and ignores it; Meshwork's likewise keeps one session per endpoint.
 */
function hostConnectionPoolWarning(c: Obj, at: string): string[] {
  const pool = c['hostConnectionPool'] as Obj | undefined | null;
  if (pool === undefined || pool === null || Object.keys(pool).length === 0) return [];
  return [`${at}.hostConnectionPool: ${JSON.stringify(pool)} is not applied (h2 clients use one multiplexed connection per endpoint; clientSession.idleTimeMs closes it when idle)`];
}

/**
 * A mux client's keys its sessions do not take: one multiplexed session per endpoint (at a
 * time: clientSession expiry replaces it), pinged, with TCP_NODELAY on and no keep-alive.
 */
function muxClientWarnings(c: Obj, at: string): string[] {
  const out: string[] = [];
  const pool = c['hostConnectionPool'] as Obj | undefined | null;
  if (pool !== undefined && pool !== null && Object.keys(pool).length > 0) {
    out.push(`${at}.hostConnectionPool: ${JSON.stringify(pool)} is not applied (mux clients use one multiplexed session per endpoint)`);
  }
  const so = c['socketOptions'] as Obj | undefined | null;
  if (so?.['noDelay'] === false) out.push(`${at}.socketOptions.noDelay: false is not applied (mux sessions always set TCP_NODELAY)`);
  if (so?.['keepAlive'] === true) out.push(`${at}.socketOptions.keepAlive: true is not applied (mux sessions are watched with Tping instead)`);
  return out;
}

/** What a router's client configs ask for that Meshwork does not apply. */
function clientWarnings(rc: RouterConfig, i: number): string[] {
  const client = rc['client'] as unknown as { kind?: string; configs?: readonly Obj[] } | undefined;
  const h2 = rc.protocol === 'h2';
  const out: string[] = [];
  (client?.configs ?? []).forEach((c, k) => {
    const at = client?.kind === 'io.l5d.static' ? `routers[${i}].client.configs[${k}]` : `routers[${i}].client`;
    out.push(...socketOptionWarnings(c['socketOptions'] as Obj | undefined, `${at}.socketOptions`, false));
    if (rc.protocol === 'mux') out.push(...muxClientWarnings(c, at));
    const idle = (c['clientSession'] as Obj | undefined | null)?.['idleTimeMs'];
    if (rc.protocol === 'tcp' && idle !== undefined) out.push(`${at}.clientSession.idleTimeMs: ${String(idle)} is not applied (a tcp connection's idle limit is its server's serverSession.idleTimeMs, which sees both directions)`);
    const session = c['clientSession'] as Obj | undefined | null;
    if (session?.['lifeTimeMs'] !== undefined && rc.protocol === 'tcp') {
      out.push(`${at}.clientSession.lifeTimeMs: ${String(session['lifeTimeMs'])} is not applied (a tcp connection's age limit is its server's serverSession.lifeTimeMs)`);
    }
    if (h2) out.push(...hostConnectionPoolWarning(c, at), ...windowUpdateRatioWarning(c, at));
  });
  return out;
}

/** Every such key of a validated config (servers and clients of every protocol). */
export function linkerdWarnings(config: LinkerdConfig): string[] {
  const out: string[] = [];
  config.routers.forEach((rc, i) => {
    out.push(...clientWarnings(rc, i));
    rc.servers.forEach((sc, j) => {
      const at = `routers[${i}].servers[${j}]`;
      out.push(...socketOptionWarnings((sc as unknown as Obj)['socketOptions'] as Obj | undefined, `${at}.socketOptions`, true));
      if (rc.protocol === 'h2') out.push(...windowUpdateRatioWarning(sc as unknown as Obj, at));
      if (rc.protocol === 'tcp' && sc.clearContext === true) out.push(`${at}.clearContext: true is not applied (a tcp connection carries no context to clear)`);
    });
  });
  return out;
}

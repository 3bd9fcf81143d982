/**
 * What namerd's gRPC interfaces (`io.l5d.mesh`, `io.l5d.destination`, `io.meshwork.xds`) share: credentials from
 * the interface's `tls` block, listening, errors as gRPC statuses, and shutting down.
 */
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { TlsOptions } from 'node:tls';
import type { Address, Addr } from '../naming/addr.js';
import type { Closable, Var } from '../naming/contracts.js';
import type { Path } from '../naming/path.js';

/** The options of an interface that resolves `<prefix>/<name>` in one namespace (destination, xDS). */
export interface NamedInterfaceOptions {
  readonly ip: string;
  readonly port: number;
  readonly tls?: TlsOptions | undefined;
  /** Names are `<prefix>/<name>` (default `/svc`). */
  readonly prefix: Path;
  /** The dtab namespace names are resolved in (default `default`). */
  readonly namespace: string;
  /** Server keepalive (default KEEPALIVE_MS, KEEPALIVE_TIMEOUT_MS). */
  readonly keepalive?: Keepalive;
}

/** How often host names among a watched Addr's addresses are looked up again. */
export const DNS_REFRESH_MS = 5000;

/**
 * Watches an Addr for a client that dials IP addresses (Linkerd 2 proxies, gRPC's xDS clients):
 * `on` gets each bound Addr with its host names replaced by the addresses they name, each
 * ip:port once (the first wins), in order; other states pass through as they are. Host names
 * are looked up again every `refreshMs` while watched (a DNS change reaches the client without
 * any change from the namer), and a lookup that fails keeps the name's last answer.
 */
export function watchLookedUp(addr: Var<Addr>, on: (a: Addr) => void, refreshMs = DNS_REFRESH_MS): Closable {
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  let current: Addr | undefined;
  const known = new Map<string, string[]>();
  const publish = (a: Addr): void => {
    chain = chain
      .then(async () => {
        const out = a.type === 'bound' ? { ...a, addrs: await lookedUp(a.addrs, known) } : a;
        if (!closed) on(out);
      })
      .catch(() => undefined);
  };
  const sub = addr.observe((a) => {
    current = a;
    publish(a);
  });
  const refresh = setInterval(() => {
    if (current?.type === 'bound' && current.addrs.some((x) => isIP(x.host) === 0)) publish(current);
  }, refreshMs);
  refresh.unref();
  return {
    close: () => {
      closed = true;
      clearInterval(refresh);
      sub.close();
    },
  };
}

async function lookedUp(addrs: readonly Address[], known: Map<string, string[]>): Promise<Address[]> {
  const out: Address[] = [];
  const seen = new Set<string>();
  for (const a of addrs) {
    let ips: string[];
    if (isIP(a.host) !== 0) ips = [a.host];
    else {
      try {
        ips = (await lookup(a.host, { all: true })).map((r) => r.address);
      } catch {
        ips = [];
      }
      if (ips.length > 0) known.set(a.host, ips);
      else ips = known.get(a.host) ?? [];
    }
    for (const ip of ips) {
      const key = `${ip} ${a.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(ip === a.host ? a : { ...a, host: ip });
    }
  }
  return out;
}

/** A PEM option of node:tls as one buffer (a chain's parts concatenated). */
function pem(v: TlsOptions['cert'], what: string): Buffer {
  if (v === undefined) throw new Error(`${what} tls: certificate or key missing`);
  const parts = Array.isArray(v) ? v : [v];
  return Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.isBuffer(x) ? x : Buffer.from((x as { pem: string | Buffer }).pem))));
}

/** Server keepalive: a ping after this long without traffic on a connection... */
export const KEEPALIVE_MS = 30_000;
/** ...and the connection's end, with its calls, when the ping is not answered within this. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;

export interface Keepalive {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/**
 * A gRPC server that pings idle connections: watch streams never end by themselves, so a
 * client whose host vanished without closing (no FIN, no RST) would keep its watches for good.
 */
export function grpcServer(options: grpc.ServerOptions = {}, keepalive: Keepalive = { timeMs: KEEPALIVE_MS, timeoutMs: KEEPALIVE_TIMEOUT_MS }): grpc.Server {
  return new grpc.Server({ ...options, 'grpc.keepalive_time_ms': keepalive.timeMs, 'grpc.keepalive_timeout_ms': keepalive.timeoutMs });
}

/** Plain, TLS, or mutual TLS when the block asks for client certificates (`requestCert`). */
export function serverCredentials(tls: TlsOptions | undefined, what: string): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const mutual = tls.requestCert === true;
  return grpc.ServerCredentials.createSsl(mutual ? pem(tls.ca as TlsOptions['cert'], what) : null, [{ cert_chain: pem(tls.cert, what), private_key: pem(tls.key as TlsOptions['cert'], what) }], mutual);
}

/** Binds `server` on ip:port (port 0: one the OS picks); resolves with the port. */
export function listenGrpc(server: grpc.Server, ip: string, port: number, tls: TlsOptions | undefined, what: string): Promise<number> {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, serverCredentials(tls, what), (err, p) => (err ? reject(err) : resolve(p)));
  });
}

/** An error as a gRPC status: its numeric `code` if it has one, else `fallback`. */
export function grpcError(e: unknown, fallback = grpc.status.UNKNOWN): grpc.ServiceError {
  const err = e as { message?: string; code?: unknown };
  const code = typeof err.code === 'number' ? err.code : fallback;
  return Object.assign(new Error(err.message ?? String(e)), { code, details: err.message ?? String(e), metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

/**
 * Stops accepting and lets calls finish within `graceMs`; watch streams never end by
 * themselves (clients follow namerd for as long as it runs), so what is left is then cut.
 */
export async function shutdownGrpc(s: grpc.Server, graceMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      s.forceShutdown();
      resolve();
    }, graceMs);
    s.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  s.forceShutdown();
}

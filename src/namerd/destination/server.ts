/**
 * `io.l5d.destination`: namerd's Linkerd 2 destination interface (proto/destination.proto), so
 * Linkerd 2 proxies in a Linkerd 1.x deployment resolve through namerd's dtabs. `Get` takes a
 * Kubernetes DNS name (`users.default.svc.cluster.local:8080`); its first label names the
 * service, `<prefix>/<service>` is resolved in the interface's namespace as namerd's
 * `/api/1/resolve` does (bind, then merge the addresses of every bound branch), and the stream
 * carries the changes, as Linkerd's DestinationService sends them:
 * - the first time addresses exist: `no_endpoints {exists: true}`, then `add` with all of them;
 * - later: `add` for new addresses and `remove` for gone ones (weight 1 each);
 * - a name that does not bind or fails: `no_endpoints {exists: false}`.
 * Unlike Linkerd, a bound set after a failure is sent whole (Linkerd diffed it against the set
 * before the failure, which the proxy had already dropped), and IPv6 addresses are sent as
 * IPv6 (Linkerd packed every address as IPv4). Host names in an Addr are looked up (DNS, again every 5 s) and
 * sent as the addresses they name. A scheme other than `k8s` or an empty path is
 * UNIMPLEMENTED, as in Linkerd.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { isIP } from 'node:net';
import type { Addr } from '../../naming/addr.js';
import type { Closable } from '../../naming/contracts.js';
import { Path } from '../../naming/path.js';
import type { Namespaces } from '../namespaces.js';
import { grpcServer, listenGrpc, shutdownGrpc, watchLookedUp, type NamedInterfaceOptions } from '../grpc-server.js';
import { protoFile } from '../proto-file.js';

/** Names are `<prefix>/<service>` (Linkerd's `prefix` and `namespace`). */
export type DestinationServerOptions = NamedInterfaceOptions;

/** Linkerd's default port for the interface. */
export const DEFAULT_DESTINATION_PORT = 8086;

/** The Destination service definition (also what tests build clients from). */
export function destinationService(): { Destination: grpc.ServiceClientConstructor } {
  const def = protoLoader.loadSync(protoFile('destination.proto'), { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { io: { linkerd: { proxy: { destination: { Destination: grpc.ServiceClientConstructor } } } } };
  return pkg.io.linkerd.proxy.destination;
}

type TcpAddressMsg = { ip: { ipv4: number } | { ipv6: { first: string; last: string } }; port: number };
export type UpdateMsg =
  | { add: { addrs: { addr: TcpAddressMsg; weight: number }[] } }
  | { remove: { addrs: TcpAddressMsg[] } }
  | { no_endpoints: { exists: boolean } };

/** An IP literal as the API's TcpAddress (IPv4 a fixed32, IPv6 two fixed64 halves). */
export function tcpAddress(ip: string, port: number): TcpAddressMsg {
  if (isIP(ip) === 4) {
    const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
    return { ip: { ipv4: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0 }, port };
  }
  const words = expandIpv6(ip);
  let first = 0n;
  let last = 0n;
  for (let i = 0; i < 4; i++) first = (first << 16n) | BigInt(words[i]!);
  for (let i = 4; i < 8; i++) last = (last << 16n) | BigInt(words[i]!);
  return { ip: { ipv6: { first: first.toString(), last: last.toString() } }, port };
}

/** The eight 16-bit words of an IPv6 literal (with `::` and a trailing dotted IPv4 part). */
function expandIpv6(ip: string): number[] {
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((w) => parseInt(w, 16));
}

/** `users.default.svc.cluster.local:8080` -> `users` (up to the first dot, else the first colon). */
export function serviceOf(path: string): string {
  const dot = path.indexOf('.');
  if (dot >= 0) return path.slice(0, dot);
  const colon = path.indexOf(':');
  return colon >= 0 ? path.slice(0, colon) : path;
}

const key = (ip: string, port: number): string => `${ip}\n${port}`;

/** One Get stream: the Addr's changes as updates, in order. */
class DestinationStream {
  private current = new Map<string, TcpAddressMsg>();
  private announced = false;
  private closed = false;

  constructor(private readonly write: (u: UpdateMsg) => void) {}

  close(): void {
    this.closed = true;
  }

  /** An Addr whose host names are already looked up (watchLookedUp). */
  onAddr(a: Addr): void {
    if (this.closed || a.type === 'pending') return;
    if (a.type !== 'bound') {
      this.current = new Map();
      this.write({ no_endpoints: { exists: false } });
      return;
    }
    const next = new Map<string, TcpAddressMsg>();
    for (const addr of a.addrs) next.set(key(addr.host, addr.port), tcpAddress(addr.host, addr.port));
    const add: TcpAddressMsg[] = [];
    const remove: TcpAddressMsg[] = [];
    for (const [k, m] of next) if (!this.current.has(k)) add.push(m);
    for (const [k, m] of this.current) if (!next.has(k)) remove.push(m);
    this.current = next;
    if (add.length > 0) {
      if (!this.announced) {
        this.announced = true;
        this.write({ no_endpoints: { exists: true } });
      }
      this.write({ add: { addrs: add.map((addr) => ({ addr, weight: 1 })) } });
    }
    if (remove.length > 0) this.write({ remove: { addrs: remove } });
  }
}

export class DestinationServer {
  private server: grpc.Server | undefined;
  private boundPort = 0;

  constructor(
    private readonly namespaces: Namespaces,
    private readonly options: DestinationServerOptions,
  ) {}

  async listen(): Promise<number> {
    const svc = destinationService();
    const server = grpcServer({}, this.options.keepalive);
    server.addService(svc.Destination.service, {
      Get: (call: grpc.ServerWritableStream<{ scheme?: string; path?: string }, UpdateMsg>): void => {
        this.get(call);
      },
    });
    this.server = server;
    this.boundPort = await listenGrpc(server, this.options.ip, this.options.port, this.options.tls, 'io.l5d.destination');
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  private get(call: grpc.ServerWritableStream<{ scheme?: string; path?: string }, UpdateMsg>): void {
    const scheme = call.request.scheme ?? '';
    const path = call.request.path ?? '';
    const refuse = (code: grpc.status, details: string): void => {
      call.emit('error', Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }));
    };
    if (!scheme.includes('k8s')) return refuse(grpc.status.UNIMPLEMENTED, `Unknown scheme: ${scheme === '' ? 'unknown' : scheme}`);
    if (path === '') return refuse(grpc.status.UNIMPLEMENTED, 'Empty request path');
    const service = serviceOf(path);
    if (service === '') return refuse(grpc.status.INVALID_ARGUMENT, `no service name in the request path ${JSON.stringify(path)}`);
    const name = this.options.prefix.concat(Path.utf8(service));
    const stream = new DestinationStream((u) => {
      if (!call.destroyed && !call.writableEnded) call.write(u);
    });
    let sub: Closable | undefined;
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      stream.close();
      sub?.close();
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
    sub = watchLookedUp(this.namespaces.resolve(this.options.namespace, name), (a) => stream.onAddr(a));
    if (stopped) sub.close();
  }

  async close(graceMs = 1000): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await shutdownGrpc(s, graceMs);
  }
}

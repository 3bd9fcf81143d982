/**
 * `io.l5d.thriftNameInterpreter`: namerd's thrift Namer service (service.ts) served over
 * ThriftMux, and over plain framed thrift for clients that do not speak mux (the mux server
 * downgrades them), optionally behind TLS. Linkerd's `io.l5d.namerd` interpreter talks to it.
 */
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { MuxServer } from '../../protocol/mux/index.js';
import type { MetricsRegistry } from '../../telemetry/metrics-registry.js';
import type { Namespaces } from '../namespaces.js';
import { ThriftNamerService, type ThriftNamerCapacity, type ThriftNamerServiceOptions } from './service.js';

/** Linkerd's default address of the interface. */
export const DEFAULT_THRIFT_NAMER_PORT = 4100;

export interface ThriftNamerInterfaceOptions {
  readonly ip: string;
  readonly port: number;
  /** Serve over TLS (the interface's `tls` block; `requestCert` asks for client certificates). */
  readonly tls?: TlsOptions;
  /** The `cache` block (Linkerd's CapacityConfig); missing keys take Linkerd's defaults. */
  readonly cache?: Partial<ThriftNamerCapacity>;
  /** Stamper, clock and host lookup of the service (tests). */
  readonly service?: Omit<ThriftNamerServiceOptions, 'cache'>;
  /** namerd's metrics: the observer caches' sizes as Linkerd names them. */
  readonly metrics?: MetricsRegistry;
}

/** Linkerd's stats scope of the interface (ThriftInterpreterInterfaceConfig). */
const SCOPE = 'io.l5d.thriftNameInterpreter';
/** Linkerd's names of the bind, addr and dtab observer caches (ThriftNamerInterface). */
const CACHES = [
  ['bindingcache', 'bind'],
  ['addrcache', 'addr'],
  ['delegationcache', 'dtab'],
] as const;

export class ThriftNamerInterface {
  readonly service: ThriftNamerService;
  private readonly server: MuxServer;

  constructor(namespaces: Namespaces, opts: ThriftNamerInterfaceOptions) {
    this.service = new ThriftNamerService(namespaces, { ...opts.service, cache: opts.cache });
    this.server = new MuxServer({ ip: opts.ip, port: opts.port, ...(opts.tls ? { tls: opts.tls } : {}), handler: this.service.handle });
    this.metrics = opts.metrics;
    for (const [name, which] of CACHES) {
      this.metrics?.gauge([SCOPE, name, 'active'], () => this.service.observers()[which].active);
      this.metrics?.gauge([SCOPE, name, 'inactive'], () => this.service.observers()[which].inactive);
    }
  }

  private readonly metrics: MetricsRegistry | undefined;

  listen(): Promise<AddressInfo> {
    return this.server.listen();
  }

  /** Sessions open now, by protocol (ThriftMux, or downgraded framed thrift). */
  get sessions(): { readonly mux: number; readonly thrift: number } {
    return this.server.sessions;
  }

  /** Ends the long polls (their observers close) and then the listener and its sessions. */
  async close(): Promise<void> {
    this.metrics?.remove([SCOPE]);
    this.service.close();
    await this.server.close();
  }
}

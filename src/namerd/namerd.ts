/**
 * A namerd process: one dtab store, the configured namers, and the interfaces that serve them
 * (`io.l5d.httpController`, `io.l5d.mesh`, `io.l5d.thriftNameInterpreter`), plus the admin
 * server on 9991. An interface's `tls` (Linkerd's server block: certPath, keyPath,
 * intermediateCertsPath, caCertPath with requireClientAuth for mutual TLS) serves it over HTTPS,
 * gRPC over TLS or ThriftMux over TLS; its files are read at start and one that cannot be read
 * stops namerd naming its key path.
 */
import type { AddressInfo } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { NamerdConfig } from '../config/types.js';
import { TlsFiles, serverTlsOptions } from '../config/tls.js';
import { createNamers } from '../namers/registry.js';
import { readPath } from '../naming/index.js';
import { MetricsRegistry } from '../telemetry/metrics-registry.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import { createStore } from './stores/registry.js';
import type { DtabStore } from './stores/store.js';
import { Namespaces } from './namespaces.js';
import { HttpController } from './http-controller.js';
import { MeshServer } from './mesh/server.js';
import { DestinationServer, DEFAULT_DESTINATION_PORT } from './destination/server.js';
import { XdsServer, DEFAULT_XDS_PORT, type XdsEnvoyOptions } from './xds/server.js';
import type { NamedInterfaceOptions } from './grpc-server.js';
import { DEFAULT_THRIFT_NAMER_PORT, ThriftNamerInterface } from './thrift/server.js';
import type { ThriftNamerCapacity } from './thrift/service.js';
import { namerdAdminPage } from './admin/routes.js';

export interface NamerdListener {
  readonly kind: string;
  readonly ip: string;
  readonly port: number;
}

export interface RunningNamerd {
  readonly listeners: readonly NamerdListener[];
  readonly namespaces: Namespaces;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

/** A config problem found at start (exit status 2, as for config errors). */
const configError = (message: string): Error => Object.assign(new Error(message), { code: 'MESH_ERR_CONFIG_TLS' });

/** gRPC interfaces cannot honour `protocols` or `ciphers` (grpc-js offers TLS 1.2 and 1.3 with Node's ciphers). */
function refuseGrpcTlsKeys(tlsCfg: Readonly<Record<string, unknown>>, kind: string, at: string): void {
  const key = tlsCfg['protocols'] !== undefined ? 'protocols' : tlsCfg['ciphers'] !== undefined ? 'ciphers' : undefined;
  if (key === undefined) return;
  throw configError(`${at}.${key}: found ${JSON.stringify(tlsCfg[key])}; allowed: nothing for ${kind} (its gRPC server offers TLS 1.2 and 1.3 with Node's ciphers)`);
}

/** An interface resolving `<prefix>/<name>` in one namespace: its keys, with their defaults. */
function namedOptions(iface: Readonly<Record<string, unknown>>, ip: string, tls: TlsOptions | undefined, defaultPort: number): NamedInterfaceOptions {
  return {
    ip,
    port: typeof iface['port'] === 'number' ? iface['port'] : defaultPort,
    tls,
    prefix: readPath(typeof iface['prefix'] === 'string' ? iface['prefix'] : '/svc'),
    namespace: typeof iface['namespace'] === 'string' ? iface['namespace'] : 'default',
  };
}

export async function startNamerd(config: NamerdConfig): Promise<RunningNamerd> {
  const store: DtabStore = createStore(config.storage, { file: config.file });
  const namers = createNamers(config.namers as never, { file: config.file, readPath });
  const namespaces = new Namespaces(store, namers);
  const metrics = new MetricsRegistry().start();
  const closers: Array<() => Promise<void>> = [];
  const listeners: NamerdListener[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    metrics.close();
    await store.close().catch(() => undefined);
  };
  try {
    const tlsFiles = new TlsFiles(config.file, configError);
    for (const [i, iface] of config.interfaces.entries()) {
      const ip = typeof iface['ip'] === 'string' ? (iface['ip'] as string) : LOOPBACK;
      const port = typeof iface['port'] === 'number' ? (iface['port'] as number) : 0;
      const tlsCfg = iface['tls'] as Readonly<Record<string, unknown>> | null | undefined;
      const tlsOn = tlsCfg !== undefined && tlsCfg !== null && tlsCfg['enabled'] !== false;
      if (tlsOn) tlsFiles.loadServer(tlsCfg, `interfaces[${i}].tls`);
      const tls = tlsOn ? serverTlsOptions(tlsCfg, tlsFiles) : undefined;
      if (iface.kind === 'io.l5d.httpController') {
        const c = new HttpController(namespaces, { ip, port, tls });
        const a: AddressInfo = await c.listen();
        closers.push(() => c.close());
        listeners.push({ kind: iface.kind, ip: a.address, port: a.port });
      } else if (iface.kind === 'io.l5d.mesh') {
        if (tlsOn) refuseGrpcTlsKeys(tlsCfg, 'io.l5d.mesh', `${config.file ? `${config.file}: ` : ''}interfaces[${i}].tls`);
        const m = new MeshServer(namespaces, { ip, port, tls });
        const p = await m.listen();
        closers.push(() => m.close());
        listeners.push({ kind: iface.kind, ip, port: p });
      } else if (iface.kind === 'io.l5d.destination') {
        if (tlsOn) refuseGrpcTlsKeys(tlsCfg, 'io.l5d.destination', `${config.file ? `${config.file}: ` : ''}interfaces[${i}].tls`);
        const d = new DestinationServer(namespaces, namedOptions(iface, ip, tls, DEFAULT_DESTINATION_PORT));
        const p = await d.listen();
        closers.push(() => d.close());
        listeners.push({ kind: iface.kind, ip, port: p });
      } else if (iface.kind === 'io.meshwork.xds') {
        if (tlsOn) refuseGrpcTlsKeys(tlsCfg, 'io.meshwork.xds', `${config.file ? `${config.file}: ` : ''}interfaces[${i}].tls`);
        const envoy = iface['envoy'] as XdsEnvoyOptions | null | undefined;
        const x = new XdsServer(namespaces, { ...namedOptions(iface, ip, tls, DEFAULT_XDS_PORT), metrics, envoy: envoy ?? undefined });
        const p = await x.listen();
        closers.push(() => x.close());
        listeners.push({ kind: iface.kind, ip, port: p });
      } else if (iface.kind === 'io.l5d.thriftNameInterpreter') {
        const cache = iface['cache'] as Partial<ThriftNamerCapacity> | null | undefined;
        const t = new ThriftNamerInterface(namespaces, {
          ip,
          port: typeof iface['port'] === 'number' ? port : DEFAULT_THRIFT_NAMER_PORT,
          tls,
          cache: cache ?? undefined,
          metrics,
        });
        const a: AddressInfo = await t.listen();
        closers.push(() => t.close());
        listeners.push({ kind: iface.kind, ip: a.address, port: a.port });
      }
    }
    const page = namerdAdminPage(namespaces);
    const admin: AdminServer = createAdminServer({
      config: config.admin as never,
      metrics,
      appName: 'namerd',
      defaultPort: 9991,
      configJson: () => config,
      // namerd's own page at `/` (namespaces, dtab editor, playground) instead of linkerd's dashboard
      dashboard: false,
      routes: page.routes,
      delegate: page.delegate,
    });
    const a = await admin.listen();
    closers.push(() => admin.close());
    listeners.push({ kind: 'admin', ip: a.address, port: a.port });
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { listeners, namespaces, close: closeAll };
}

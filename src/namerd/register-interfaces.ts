/**
 * namerd's interfaces as config plugins: `io.l5d.httpController` (HTTP API), `io.l5d.mesh`
 * (gRPC), `io.l5d.destination` (Linkerd 2's destination API, gRPC), `io.l5d.thriftNameInterpreter` (ThriftMux, with its `cache` block)
 * and Meshwork's `io.meshwork.xds` (Envoy's xDS API, gRPC), all started by
 * namerd.ts.
 */
import { implementPlugin, markKeyBuilt } from '../config/plugins.js';

export interface InterfaceConfig {
  readonly kind: string;
  readonly ip?: string;
  readonly port: number;
}

/** The interface factories only return their validated config; namerd.ts starts them. */
implementPlugin('namerdInterface', 'io.l5d.httpController', (c: InterfaceConfig) => c);
implementPlugin('namerdInterface', 'io.l5d.mesh', (c: InterfaceConfig) => c);
// Linkerd 2's destination API over namerd's dtabs (`prefix`, `namespace`).
implementPlugin('namerdInterface', 'io.l5d.destination', (c: InterfaceConfig) => c);
// Its catalogued `cache` keys (Linkerd's CapacityConfig) are read by the thrift Namer service.
implementPlugin('namerdInterface', 'io.l5d.thriftNameInterpreter', (c: InterfaceConfig) => c);
// Meshwork's own: the dtabs over Envoy's xDS API (`prefix`, `namespace`), for proxyless gRPC clients.
implementPlugin('namerdInterface', 'io.meshwork.xds', (c: InterfaceConfig) => c);

/** An interface's `tls` serves it over HTTPS / gRPC with TLS (namerd.ts). */
markKeyBuilt('interfaces.tls');

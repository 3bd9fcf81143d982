/**
 * A namerd process: one dtab store, the configured namers, and the interfaces that serve them
 * (`io.l5d.httpController`, `io.l5d.mesh`), plus the admin server on 9991.
 */
import type { AddressInfo } from 'node:net';
import type { NamerdConfig } from '../config/types.js';
import { createNamers } from '../namers/registry.js';
import { readPath } from '../naming/index.js';
import { MetricsRegistry } from '../telemetry/metrics-registry.js';
import { createAdminServer, type AdminServer } from '../admin/server.js';
import { createStore } from './stores/registry.js';
import type { DtabStore } from './stores/store.js';
import { Namespaces } from './namespaces.js';
import { HttpController } from './http-controller.js';
import { MeshServer } from './mesh/server.js';
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
    for (const iface of config.interfaces) {
      const ip = typeof iface['ip'] === 'string' ? (iface['ip'] as string) : LOOPBACK;
      const port = typeof iface['port'] === 'number' ? (iface['port'] as number) : 0;
      if (iface.kind === 'io.l5d.httpController') {
        const c = new HttpController(namespaces, { ip, port });
        const a: AddressInfo = await c.listen();
        closers.push(() => c.close());
        listeners.push({ kind: iface.kind, ip: a.address, port: a.port });
      } else if (iface.kind === 'io.l5d.mesh') {
        const m = new MeshServer(namespaces, { ip, port });
        const p = await m.listen();
        closers.push(() => m.close());
        listeners.push({ kind: iface.kind, ip, port: p });
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

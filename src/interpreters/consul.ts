/**
 * `io.l5d.consul.interpreter`: binds through the linker's own namers, like `default`, under the
 * dtab stored in Consul's KV at `<pathPrefix>/<namespace>` (where namerd's io.l5d.consul store
 * keeps it), watched with blocking queries so an edit there reroutes without a restart. As with
 * the file interpreter the stored entries come first and the router's and the request's win.
 * A namespace that does not exist is an empty dtab; a stored dtab that does not parse, or
 * Consul unreachable, keeps the last good dtab (ConfiguredDtabInterpreter); before any,
 * binding waits, up to the router's bindingTimeoutMs, or fails with the reason.
 */
import { Dtab } from '../naming/dtab.js';
import { Activity } from '../naming/activity.js';
import { ConsulDtabStore, type ConsulConfig } from '../namerd/stores/consul.js';
import { ConfiguredDtabInterpreter, type DtabFileDeps } from './dtab-file.js';
import { interpreterConfigError, type ConfigWhere } from './errors.js';

export function consulInterpreter(config: Readonly<Record<string, unknown>>, deps: Pick<DtabFileDeps, 'bind' | 'explain' | 'log'>, where?: ConfigWhere): ConfiguredDtabInterpreter {
  const ns = config['namespace'] ?? 'default';
  if (typeof ns !== 'string' || ns === '') throw interpreterConfigError(where, 'namespace', ns, 'a namespace name (the last element of the KV key)');
  const { kind: _kind, namespace: _ns, ...storeConfig } = config;
  const store = new ConsulDtabStore(storeConfig as ConsulConfig, { tlsAt: { ...(where?.file !== undefined ? { file: where.file } : {}), keyPath: `${where?.keyPath ?? 'interpreter'}.tls` } });
  const dtab = Activity.from(store.observe(ns)).map((v) => (v === null ? Dtab.empty : v.dtab));
  return new ConfiguredDtabInterpreter(deps, dtab, () => void store.close());
}

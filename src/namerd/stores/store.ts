/**
 * The dtab storage contract every `storage.kind` implements. namerd's HTTP controller, its
 * mesh (gRPC) interface and xDS all read and write dtabs only through this interface.
 *
 * Semantics every store keeps (checked by one shared contract test suite):
 * - `version` is an opaque string (the HTTP API's ETag). It changes on every write and is never
 *   reused for a namespace, not even after delete + create.
 * - `create` fails with MESH_ERR_DTAB_EXISTS, `update` with MESH_ERR_DTAB_VERSION_MISMATCH
 *   (or MESH_ERR_DTAB_NOT_FOUND when the namespace is absent), `delete` with
 *   MESH_ERR_DTAB_NOT_FOUND. Each write is one atomic backend operation.
 * - A store that cannot be reached rejects with MESH_ERR_STORE_UNAVAILABLE (retryable).
 * - `list()` / `observe()` share one backend watch per store however many observers there
 *   are. While the backend is unreachable they keep the last value they had (proxies keep
 *   routing on it); before any value was ever read they are failed. They resume on their own
 *   when the backend returns.
 * - A namespace name the store does not allow: `observe` is failed at once and every other call
 *   rejects, with MESH_ERR_NAMESPACE_INVALID.
 * - A stored value that does not parse is a failed state for that namespace
 *   (MESH_ERR_STORED_DTAB_INVALID), never a crash; `get` rejects with the same error.
 */
import type { Activity } from '../../naming/activity.js';
import type { Dtab } from '../../naming/dtab.js';

export type { Dtab };

export interface VersionedDtab {
  readonly dtab: Dtab;
  readonly version: string;
}

export interface DtabStore {
  /** The storage kind, e.g. `io.l5d.etcd`. */
  readonly kind: string;
  /** Namespace names, sorted, over time. */
  list(): Activity<readonly string[]>;
  /** Namespace names read from the backend now (rejects when it is unreachable). */
  names(): Promise<string[]>;
  /** One namespace over time: `null` while it does not exist. */
  observe(ns: string): Activity<VersionedDtab | null>;
  /** One namespace read from the backend now. */
  get(ns: string): Promise<VersionedDtab | null>;
  create(ns: string, dtab: Dtab): Promise<void>;
  /** Compare-and-set: writes only if the namespace is at `version`. */
  update(ns: string, dtab: Dtab, version: string): Promise<void>;
  /** Unconditional write; creates the namespace if needed. */
  put(ns: string, dtab: Dtab): Promise<void>;
  delete(ns: string): Promise<void>;
  /** Stops the backend watch and releases connections; later calls reject with STORE_CLOSED. */
  close(): Promise<void>;
}

/** What a storage plugin's `create` receives besides its config. */
export interface StoreContext {
  /** The namerd.yaml path, for messages. */
  readonly file?: string;
}

/**
 * namerd's stable error codes. The HTTP controller maps them to statuses at one place:
 * EXISTS → 409, NOT_FOUND → 404, VERSION_MISMATCH → 412, STORE_UNAVAILABLE → 503,
 * NAMESPACE_INVALID / DTAB_INVALID → 400, STORED_DTAB_INVALID → 500.
 */
export type NamerdErrorCode =
  | 'MESH_ERR_DTAB_EXISTS'
  | 'MESH_ERR_DTAB_NOT_FOUND'
  | 'MESH_ERR_DTAB_VERSION_MISMATCH'
  | 'MESH_ERR_STORE_UNAVAILABLE'
  | 'MESH_ERR_STORE_CLOSED'
  | 'MESH_ERR_STORED_DTAB_INVALID'
  | 'MESH_ERR_NAMESPACE_INVALID'
  | 'MESH_ERR_DTAB_INVALID'
  | 'MESH_ERR_STORE_PROTOCOL'
  | 'MESH_ERR_STORAGE_KIND';

export class NamerdError extends Error {
  readonly code: NamerdErrorCode;
  /** True when trying again later may succeed (the store was unreachable). */
  readonly retryable: boolean;

  constructor(code: NamerdErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NamerdError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

export class DtabExistsError extends NamerdError {
  constructor(readonly ns: string) {
    super('MESH_ERR_DTAB_EXISTS', `dtab namespace '${ns}' already exists`);
  }
}

export class DtabNotFoundError extends NamerdError {
  constructor(readonly ns: string) {
    super('MESH_ERR_DTAB_NOT_FOUND', `dtab namespace '${ns}' does not exist`);
  }
}

export class DtabVersionMismatchError extends NamerdError {
  constructor(
    readonly ns: string,
    readonly expected: string,
  ) {
    super('MESH_ERR_DTAB_VERSION_MISMATCH', `dtab namespace '${ns}' is not at version '${expected}'`);
  }
}

/**
 * The backing store could not be reached or did not answer in time. `store` is the storage
 * kind, `reason` a short machine-friendly cause (`connection refused`, `timeout`, `http 500`).
 */
export class StoreUnavailableError extends NamerdError {
  constructor(
    readonly store: string,
    readonly reason: string,
    cause?: unknown,
  ) {
    super('MESH_ERR_STORE_UNAVAILABLE', `${store} storage unavailable: ${reason}`, { retryable: true, cause });
  }
}

export class StoreClosedError extends NamerdError {
  constructor(readonly store: string) {
    super('MESH_ERR_STORE_CLOSED', `${store} storage is closed`);
  }
}

/** A value in the store is not a dtab; reported for that namespace only, never a crash. */
export class StoredDtabInvalidError extends NamerdError {
  constructor(
    readonly ns: string,
    readonly text: string,
    readonly reason: string,
  ) {
    super('MESH_ERR_STORED_DTAB_INVALID', `stored dtab for namespace '${ns}' does not parse: ${reason}`);
  }
}

export class NamespaceInvalidError extends NamerdError {
  constructor(
    readonly ns: string,
    readonly allowed: string,
  ) {
    super('MESH_ERR_NAMESPACE_INVALID', `invalid dtab namespace ${JSON.stringify(ns)}: must be ${allowed}`);
  }
}

/** The backend answered something this store cannot understand (a bug or a foreign writer). */
export class StoreProtocolError extends NamerdError {
  constructor(store: string, detail: string) {
    super('MESH_ERR_STORE_PROTOCOL', `${store} storage: unexpected response: ${detail}`);
  }
}

export function isNamerdError(e: unknown, code?: NamerdErrorCode): e is NamerdError {
  return e instanceof NamerdError && (code === undefined || e.code === code);
}

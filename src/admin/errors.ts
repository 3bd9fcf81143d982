/** Stable error codes of the admin area. */
export type AdminErrorCode =
  | 'MESH_ERR_ADMIN_ROUTE_CONFLICT' // two routes claim the same path
  | 'MESH_ERR_ADMIN_TLS' // admin.tls cert/key cannot be read
  | 'MESH_ERR_ADMIN_SECURITY_PATTERN' // a pathWhitelist/pathBlacklist entry is not a valid regex
  | 'MESH_ERR_ADMIN_ASSETS_MISSING'; // the dashboard files are not where the server looks

export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

/**
 * What a `delegate` callback throws to get one of Linkerd's `/delegator.json` answers:
 * `invalidDtab` → 400 `Invalid dtab: <message>`, `invalidPath` → 400 `Invalid path: <message>`,
 * `notDelegator` → 501 `Name Interpreter for <ns> cannot show delegations` (also for an
 * unknown router label, as in Linkerd). Any other error becomes a 500 with its message.
 */
export class DelegateRejection extends Error {
  constructor(
    readonly reason: 'invalidDtab' | 'invalidPath' | 'notDelegator',
    message: string,
  ) {
    super(message);
    this.name = 'DelegateRejection';
  }
}

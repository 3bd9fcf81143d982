/**
 * Stable error codes of namerd's admin page routes. Store failures keep the store's own codes
 * (MESH_ERR_DTAB_EXISTS, MESH_ERR_DTAB_VERSION_MISMATCH, ...); these are the page's own.
 */
export type NamerdAdminErrorCode =
  | 'MESH_ERR_NAMERD_ADMIN_BODY' // the request body is not the JSON object the route takes
  | 'MESH_ERR_NAMERD_ADMIN_CONTENT_TYPE' // a write that is not application/json
  | 'MESH_ERR_NAMERD_ADMIN_ASSETS_MISSING'; // the page's files are not where the server looks

export class NamerdAdminError extends Error {
  constructor(
    readonly code: NamerdAdminErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'NamerdAdminError';
  }
}

/**
 * Stable error codes of the HTTP/2 engine. Callers decide from `code`, never from the prose.
 */
export type H2ErrorCode =
  /** A client session with streams open did not acknowledge SETTINGS in time: it was destroyed (session-pool.ts). */
  | 'MESH_ERR_H2_SESSION_UNANSWERED'
  /** A client session's socket passed `readTimeoutMs` or `writeTimeoutMs`: it was destroyed (session-pool.ts). */
  | 'MESH_ERR_H2_TRANSPORT_TIMEOUT';

export class H2Error extends Error {
  readonly code: H2ErrorCode;
  constructor(code: H2ErrorCode, message: string) {
    super(message);
    this.name = 'H2Error';
    this.code = code;
  }
}

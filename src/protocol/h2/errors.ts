/**
 * Stable error codes of the HTTP/2 engine. Callers decide from `code`, never from the prose.
 */
export type H2ErrorCode =
  /** A client session with streams open did not acknowledge SETTINGS in time: it was destroyed (session-pool.ts). */
  'MESH_ERR_H2_SESSION_UNANSWERED';

export class H2Error extends Error {
  readonly code: H2ErrorCode;
  constructor(code: H2ErrorCode, message: string) {
    super(message);
    this.name = 'H2Error';
    this.code = code;
  }
}

/**
 * The one place where router failures become HTTP responses (Linkerd's ErrorResponder):
 * status by error code, the reason in `l5d-err` and in a plain-text body, and `l5d-retryable`
 * when the request is known not to have reached the application. With `clearContext` the
 * router must not leak its internals to an untrusted caller, so headers and body are omitted.
 */
import type { ServerResponse } from 'node:http';
import { RouterError, type RouterErrorCode } from './errors.js';

const STATUS: Readonly<Record<RouterErrorCode, number>> = {
  MESH_ERR_ROUTER_UNIDENTIFIED: 400,
  MESH_ERR_ROUTER_BAD_DTAB: 400,
  MESH_ERR_ROUTER_CALL_DEPTH: 400,
  MESH_ERR_ROUTER_BAD_PATH: 400,
  MESH_ERR_ROUTER_LINE_TOO_LONG: 414,
  MESH_ERR_ROUTER_HEADERS_TOO_LARGE: 431,
  MESH_ERR_ROUTER_NO_BROKERS: 502,
  MESH_ERR_ROUTER_BINDING_FAILED: 502,
  MESH_ERR_ROUTER_CONNECT_FAILED: 502,
  MESH_ERR_ROUTER_UPSTREAM_RESET: 502,
  MESH_ERR_ROUTER_TIMEOUT: 504,
  MESH_ERR_ROUTER_BODY_TIMEOUT: 408,
  MESH_ERR_ROUTER_OVERLOADED: 503,
  MESH_ERR_ROUTER_POOL_EXHAUSTED: 503,
  MESH_ERR_ROUTER_CONFIG: 500,
  MESH_ERR_ROUTER_SHUTTING_DOWN: 503,
};

export interface ErrorResponse {
  readonly status: number;
  /** Value for `l5d-err` (header-safe), or undefined when context is cleared. */
  readonly l5dErr: string | undefined;
  readonly retryable: boolean;
  readonly body: string;
}

export function statusFor(code: RouterErrorCode): number {
  return STATUS[code];
}

/** Maps any thrown value to the response Linkerd would give. Unknown errors are a 502. */
export function errorResponse(err: unknown, clearContext: boolean): ErrorResponse {
  let status = 502;
  let message: string;
  let retryable = false;
  if (err instanceof RouterError) {
    status = STATUS[err.code];
    message = err.message;
    retryable = err.retryable;
  } else if (err instanceof Error) {
    message = err.message || err.name;
  } else {
    message = String(err);
  }
  if (clearContext) return { status, l5dErr: undefined, retryable: false, body: '' };
  return { status, l5dErr: headerSafe(message), retryable, body: message + '\n' };
}

/** Writes the synthesised response; a response already under way is cut instead. */
export function respondWithError(res: ServerResponse, err: unknown, clearContext: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const r = errorResponse(err, clearContext);
  const body = Buffer.from(r.body, 'utf8');
  const headers: string[] = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)];
  if (r.l5dErr !== undefined) headers.push('l5d-err', r.l5dErr);
  if (r.retryable) headers.push('l5d-retryable', 'true');
  res.writeHead(r.status, headers);
  res.end(body);
}

/** Raw-socket form for requests that never became an IncomingMessage (upgrade failures). */
export function rawErrorResponse(err: unknown, clearContext: boolean): Buffer {
  const r = errorResponse(err, clearContext);
  const body = Buffer.from(r.body, 'utf8');
  let head = `HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n`;
  if (r.l5dErr !== undefined) head += `l5d-err: ${r.l5dErr}\r\n`;
  if (r.retryable) head += 'l5d-retryable: true\r\n';
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** Header values may not hold CR, LF or other controls; keep the message readable. */
function headerSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
}

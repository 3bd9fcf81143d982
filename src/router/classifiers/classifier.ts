/**
 * The response classifier contract: `classify(method, status, err, responseRetryable?,
 * chunkedRequest?)` says whether an attempt succeeded, failed, or failed in a way that may be
 * retried. `status` is the response status (undefined when the attempt ended in `err`).
 *
 * Every HTTP classifier is wrapped as Linkerd wraps them: kinds that do not decide a case fall
 * back to "5XX is a failure" and then "an error is a failure, a response a success"; a
 * failure whose response carries `l5d-retryable: true` becomes retryable; and a request with a
 * chunked (streamed, not replayable) body is never retryable.
 */
export type ResponseClass = 'success' | 'failure' | 'retryable-failure';

export interface ResponseClassifier {
  readonly kind: string;
  classify(method: string, status: number | undefined, err: unknown, responseRetryable?: boolean, chunkedRequest?: boolean): ResponseClass;
}

/** The method sets of Linkerd's ResponseClassifiers.Requests. */
export const READ_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS', 'TRACE'];
export const IDEMPOTENT_METHODS: readonly string[] = [...READ_METHODS, 'PUT', 'DELETE'];
export const ALL_METHODS: readonly string[] = [...IDEMPOTENT_METHODS, 'PATCH', 'POST'];

/**
 * Errors a retrying classifier may retry (Finagle's timeout, write and channel-closed
 * exceptions): the router marks them with the `retryable` (never reached the application) or
 * `interrupted` (timed out) flag, or the upstream-reset code.
 */
export function isRetryableError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { retryable?: unknown; interrupted?: unknown; code?: unknown };
  return e.retryable === true || e.interrupted === true || e.code === 'MESH_ERR_ROUTER_UPSTREAM_RESET';
}

function methodTable(methods: readonly string[]): Readonly<Record<string, true>> {
  const t: Record<string, true> = Object.create(null) as Record<string, true>;
  for (const m of methods) t[m] = true;
  return t;
}

/**
 * `retryable`: methods whose 5XX / retryable errors may be retried (null for none);
 * `allSuccessful`: every response is a success.
 */
export class HttpClassifier implements ResponseClassifier {
  private readonly retryMethods: Readonly<Record<string, true>> | null;

  constructor(
    readonly kind: string,
    retryable: readonly string[] | null,
    private readonly allSuccessful = false,
  ) {
    this.retryMethods = retryable === null ? null : methodTable(retryable);
  }

  classify(method: string, status: number | undefined, err: unknown, responseRetryable = false, chunkedRequest = false): ResponseClass {
    let cls: ResponseClass;
    if (status === undefined) {
      cls = this.retryMethods !== null && this.retryMethods[method] === true && isRetryableError(err) ? 'retryable-failure' : 'failure';
    } else if (status >= 500 && status <= 599 && !this.allSuccessful) {
      cls = this.retryMethods !== null && this.retryMethods[method] === true ? 'retryable-failure' : 'failure';
      if (cls === 'failure' && responseRetryable) cls = 'retryable-failure';
    } else {
      return 'success';
    }
    return cls === 'retryable-failure' && chunkedRequest ? 'failure' : cls;
  }
}

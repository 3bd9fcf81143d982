/** Stable error codes of the telemetry area; tests assert codes, not prose. */
export type TelemetryErrorCode =
  | 'MESH_ERR_METRIC_KIND_CONFLICT' // a path registered as one kind is asked for as another
  | 'MESH_ERR_METRIC_PATH_INVALID' // an empty path or an empty element
  | 'MESH_ERR_TRACE_CONTEXT_INVALID' // an l5d-ctx-trace / b3 / traceparent value that does not parse
  | 'MESH_ERR_TRACE_PROPAGATOR_UNKNOWN' // a tracePropagator kind no propagator has
  | 'MESH_ERR_ACCESS_LOG_CONFIG'; // httpAccessLog* keys that cannot be used

export class TelemetryError extends Error {
  constructor(
    readonly code: TelemetryErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'TelemetryError';
  }
}

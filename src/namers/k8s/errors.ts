/** Errors of the Kubernetes namers. Codes are stable; tests assert them. */
export type K8sErrorCode =
  | 'MESH_ERR_K8S_API' // the API server answered a list with an unexpected status
  | 'MESH_ERR_K8S_PORT'; // a path's port element is neither a port name nor a number 1-65535

export class K8sError extends Error {
  constructor(
    readonly code: K8sErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'K8sError';
  }
}

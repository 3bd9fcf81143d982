/** Errors of the namers area. Codes are stable; tests assert them. */

export type NamerErrorCode =
  | 'MESH_ERR_UNKNOWN_NAMER' // `/$/<kind>` names no built-in namer
  | 'MESH_ERR_NAMER_KIND' // `namers[i].kind` is not a registered namer kind
  | 'MESH_ERR_NAMER_CONFIG' // a namer's config is missing a key or has a bad value
  | 'MESH_ERR_FS_MALFORMED_ADDRESS' // an io.l5d.fs file has a line that is not `host port [* weight]`
  | 'MESH_ERR_FS_READ' // an io.l5d.fs file or directory could not be read
  | 'MESH_ERR_NAMER_UNAVAILABLE' // a service-discovery API did not answer, or answered an error
  | 'MESH_ERR_NAMER_BAD_DATA' // a discovery record the namer cannot read (e.g. io.l5d.zkLeader data not host:port)
  | 'MESH_ERR_NAMER_BAD_PATH'; // a name the namer cannot read (e.g. a serverset job `a:b:c`)

export class NamerError extends Error {
  constructor(
    readonly code: NamerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NamerError';
  }
}

/** Linkerd's text: `Unknown namer: <kind> for path: <path>`. */
export function unknownNamer(kind: string, path: string): NamerError {
  return new NamerError('MESH_ERR_UNKNOWN_NAMER', `Unknown namer: ${kind} for path: ${path}`);
}

/** A config error naming the file, key path, what was found and what is allowed. */
export function namerConfigError(
  code: 'MESH_ERR_NAMER_KIND' | 'MESH_ERR_NAMER_CONFIG',
  file: string | undefined,
  keyPath: string,
  found: unknown,
  allowed: string,
): NamerError {
  const where = file ? `${file}: ` : '';
  return new NamerError(code, `${where}${keyPath}: found ${JSON.stringify(found) ?? 'undefined'}; allowed: ${allowed}`);
}

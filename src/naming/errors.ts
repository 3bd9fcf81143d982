/** Stable error codes of the naming core. */
export class NamingParseError extends Error {
  readonly code = 'MESH_ERR_NAMING_PARSE';
  constructor(message: string) {
    super(message);
    this.name = 'NamingParseError';
  }
}

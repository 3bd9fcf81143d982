/**
 * Config errors. Every problem found in a config file is one `ConfigIssue` naming the file, the
 * key path (`routers[0].client.loadBalancer.kind`), what was found and what is allowed; a file
 * that does not load throws one `ConfigError` carrying all of them.
 */
export type ConfigIssueCode =
  | 'MESH_ERR_CONFIG_SYNTAX' // YAML/JSON does not parse
  | 'MESH_ERR_CONFIG_READ' // the file cannot be read
  | 'MESH_ERR_CONFIG_UNKNOWN_KEY'
  | 'MESH_ERR_CONFIG_MISSING_KEY'
  | 'MESH_ERR_CONFIG_TYPE' // wrong type or value not in an enum
  | 'MESH_ERR_CONFIG_RANGE' // a number outside its min/max
  | 'MESH_ERR_CONFIG_UNKNOWN_KIND'
  | 'MESH_ERR_CONFIG_NOT_SUPPORTED' // documented by Linkerd, not built in Meshwork yet
  | 'MESH_ERR_CONFIG_EXPERIMENTAL' // an experimental kind without `experimental: true`
  | 'MESH_ERR_CONFIG_BAD_PATH'
  | 'MESH_ERR_CONFIG_BAD_DTAB'
  | 'MESH_ERR_CONFIG_INVALID'; // a rule across keys (e.g. overlapping namerd namer prefixes)

export interface ConfigIssue {
  readonly code: ConfigIssueCode;
  readonly file: string;
  /** Where the problem is, e.g. `routers[0].servers[1].port`; '' for the whole file. */
  readonly keyPath: string;
  /** The value found there (undefined when a key is missing). */
  readonly found: unknown;
  /** What would have been accepted (key names, kinds, enum values, a type name). */
  readonly allowed: readonly string[];
  /** One line: `linkerd.yaml: routers[0].servers[0].port: expected integer, found "abc"`. */
  readonly message: string;
}

export class ConfigError extends Error {
  readonly code = 'MESH_ERR_CONFIG';
  constructor(
    readonly file: string,
    readonly errors: readonly ConfigIssue[],
  ) {
    super(
      errors.length === 1
        ? errors[0]!.message
        : `${file}: ${errors.length} config errors:\n` + errors.map((e) => '  ' + e.message).join('\n'),
    );
    this.name = 'ConfigError';
  }

  /** True when every problem is a documented feature Meshwork does not build yet. */
  get onlyNotSupported(): boolean {
    return this.errors.length > 0 && this.errors.every((e) => e.code === 'MESH_ERR_CONFIG_NOT_SUPPORTED');
  }
}

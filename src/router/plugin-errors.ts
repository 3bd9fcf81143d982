/**
 * Errors raised while building the router's pluggable pieces (identifiers, balancers, failure
 * accrual, classifiers, retry budgets) from an already-validated config. Codes are stable;
 * messages name the kind, the key, the value found and what is allowed.
 */
export type PluginErrorCode =
  | 'MESH_ERR_PLUGIN_BAD_VALUE'
  | 'MESH_ERR_PLUGIN_MISSING_KEY'
  | 'MESH_ERR_PLUGIN_UNKNOWN_KIND'
  | 'MESH_ERR_PLUGIN_NOT_SUPPORTED'
  | 'MESH_ERR_PLUGIN_EMPTY_LIST';

export class PluginError extends Error {
  constructor(
    readonly code: PluginErrorCode,
    message: string,
    /** The config key (relative to the plugin object), when one is at fault. */
    readonly key?: string,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}

type Obj = Readonly<Record<string, unknown>>;

/** Reads a number key, applying the default; rejects non-numbers and values out of range. */
export function numberKey(kind: string, cfg: Obj, key: string, dflt: number | undefined, min?: number, max?: number, int = false): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) throw new PluginError('MESH_ERR_PLUGIN_MISSING_KEY', `${kind}: '${key}' is required`, key);
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || (int && !Number.isInteger(v))) {
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be ${int ? 'an integer' : 'a number'}, found ${JSON.stringify(v)}`, key);
  }
  if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
    const range = max === undefined ? `>= ${min}` : min === undefined ? `<= ${max}` : `between ${min} and ${max}`;
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be ${range}, found ${v}`, key);
  }
  return v;
}

export function booleanKey(kind: string, cfg: Obj, key: string, dflt: boolean): boolean {
  const v = cfg[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') {
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be true or false, found ${JSON.stringify(v)}`, key);
  }
  return v;
}

export function stringKey(kind: string, cfg: Obj, key: string, dflt: string | undefined): string {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) throw new PluginError('MESH_ERR_PLUGIN_MISSING_KEY', `${kind}: '${key}' is required`, key);
    return dflt;
  }
  if (typeof v !== 'string' || v === '') {
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be a non-empty string, found ${JSON.stringify(v)}`, key);
  }
  return v;
}

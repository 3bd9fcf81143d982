/**
 * The config schema vocabulary every plugin uses to declare its keys. A plugin exports a
 * `Fields` literal; src/config validates a config object against it and reports errors with
 * the file, key path, found value and allowed values.
 */
export type FieldType =
  | 'string'
  | 'int'
  | 'number'
  | 'boolean'
  | 'path' // a Finagle path, e.g. /svc
  | 'dtab' // a dtab string
  | 'any'
  | { readonly enum: readonly string[] }
  | { readonly object: Fields; readonly open?: boolean } // open: extra keys allowed
  | { readonly array: FieldType }
  | { readonly map: FieldType } // an object with arbitrary keys and values of one type
  | { readonly plugin: PluginCategory } // an object with `kind:` chosen from a registry
  | { readonly oneOf: readonly FieldType[] };

export interface FieldSpec {
  readonly type: FieldType;
  readonly required?: boolean;
  readonly default?: unknown;
  /**
   * Key is recognised (documented by Linkerd) but its feature is not built yet: a config setting
   * it is refused, unless it sets it to its `default` (what Meshwork does anyway).
   */
  readonly notSupported?: boolean;
  readonly doc?: string;
  readonly min?: number;
  readonly max?: number;
  /** `min` and `max` themselves are out of range (Linkerd's "between 0 and 1, exclusive"). */
  readonly exclusive?: boolean;
}

export type Fields = Readonly<Record<string, FieldSpec>>;

/** Registries of `kind:` plugins, named after where they appear in a Linkerd config. */
export type PluginCategory =
  | 'namer'
  | 'transformer'
  | 'interpreter'
  | 'identifier'
  | 'loadBalancer'
  | 'failureAccrual'
  | 'responseClassifier'
  | 'retryBackoff'
  | 'client' // io.l5d.global / io.l5d.static
  | 'service'
  | 'telemeter'
  | 'announcer'
  | 'storage' // namerd
  | 'namerdInterface' // namerd interfaces
  | 'tracePropagator'
  | 'requestAuthorizer'
  | 'tlsClientAuth'
  // Added by the config loader: a router's `protocol:` (http, h2, thrift, mux, thriftmux) and the
  // h2 flavours of plugins whose kinds share names with their HTTP/1.1 counterparts.
  | 'protocol'
  | 'h2Identifier'
  | 'h2TracePropagator'
  | 'h2RequestAuthorizer'
  | 'forwardedLabeler';

/** A plugin: its exact Linkerd kind, its keys, and (when built) a factory. */
export interface PluginSpec<Cfg = Record<string, unknown>, Made = unknown, Ctx = unknown> {
  readonly category: PluginCategory;
  readonly kind: string;
  readonly fields: Fields;
  /** Absent for kinds Linkerd documents that Meshwork does not build yet. */
  readonly create?: (config: Cfg, ctx: Ctx) => Made;
  readonly experimental?: boolean;
  /** Said after "not supported yet" for a kind without `create`, e.g. what to use instead. */
  readonly hint?: string;
}

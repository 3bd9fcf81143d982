/**
 * The validated, defaulted shape of linkerd.yaml and namerd.yaml as returned by
 * `loadLinkerdConfig` / `loadNamerdConfig`. Everything documented by Linkerd keeps its Linkerd
 * key name. Defaults listed in Linkerd's docs are filled in; keys whose default is "none" or
 * "unbounded" stay absent. Dtabs and paths are kept as validated text (the router parses them
 * once at build time with `readDtab` / `readPath`).
 */

/** Any `kind:` object (namer, identifier, telemeter, ...) after validation and defaults. */
export interface PluginConfig {
  readonly kind: string;
  readonly experimental?: boolean;
  readonly [key: string]: unknown;
}

export interface SocketOptionsConfig {
  readonly noDelay: boolean;
  readonly reuseAddr: boolean;
  readonly reusePort: boolean;
  readonly keepAlive: boolean;
  readonly readTimeoutMs?: number;
  readonly writeTimeoutMs?: number;
  readonly backlog?: number;
}

/** `servers[].tls` and `admin.tls`. */
export interface ServerTlsConfig {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caCertPath?: string;
  readonly ciphers?: readonly string[];
  readonly protocols?: readonly string[];
  readonly requireClientAuth?: boolean;
  readonly [key: string]: unknown;
}

/** `client.tls` (may contain `{var}` captures from a static client prefix). */
export interface ClientTlsConfig {
  readonly disableValidation?: boolean;
  readonly commonName?: string;
  readonly trustCerts?: readonly string[];
  readonly trustCertsBundle?: string;
  readonly clientAuth?: { readonly certPath: string; readonly keyPath: string; readonly intermediateCertsPath?: string };
  readonly protocols?: readonly string[];
  readonly [key: string]: unknown;
}

export interface AdminSecurityConfig {
  readonly uiEnabled: boolean;
  readonly controlEnabled: boolean;
  readonly diagnosticsEnabled: boolean;
  readonly pathWhitelist: readonly string[];
  readonly pathBlacklist: readonly string[];
}

export interface AdminConfig {
  /** Default: loopback (`127.0.0.1`). */
  readonly ip: string;
  /** Default 9990 for linkerd, 9991 for namerd. */
  readonly port: number;
  readonly socketOptions?: SocketOptionsConfig;
  readonly httpIdentifierPort?: number;
  readonly shutdownGraceMs: number;
  readonly tls?: ServerTlsConfig;
  readonly security?: AdminSecurityConfig;
  readonly workerThreads: number;
}

export interface ServerSessionConfig {
  readonly idleTimeMs?: number;
  readonly lifeTimeMs?: number;
}

/** One entry of `routers[].servers`. Protocol-specific keys (e.g. http `addForwardedHeader`,
 * `timestampHeader`, `maxCallDepth`; h2 `maxConcurrentStreamsPerConnection`; thrift
 * `thriftFramed`) are present under their Linkerd names. */
export interface ServerConfig {
  readonly ip: string;
  readonly port: number;
  readonly socketOptions?: SocketOptionsConfig;
  readonly tls?: ServerTlsConfig;
  readonly maxConcurrentRequests?: number;
  readonly announce: readonly string[];
  readonly clearContext: boolean;
  readonly serverSession?: ServerSessionConfig;
  readonly [key: string]: unknown;
}

export interface HostConnectionPoolConfig {
  readonly minSize?: number;
  readonly maxSize?: number;
  readonly idleTimeMs?: number;
  readonly maxWaiters?: number;
}

export interface RetryBudgetConfig {
  readonly ttlSecs?: number;
  readonly minRetriesPerSec?: number;
  readonly percentCanRetry?: number;
}

/** Client parameters (all optional: several static configs merge, later ones win). */
export interface ClientParams {
  readonly hostConnectionPool?: HostConnectionPoolConfig;
  readonly tls?: ClientTlsConfig;
  readonly loadBalancer?: PluginConfig;
  readonly failFast?: boolean;
  readonly requeueBudget?: RetryBudgetConfig;
  readonly failureAccrual?: PluginConfig;
  readonly requestAttemptTimeoutMs?: number;
  readonly clientSession?: ServerSessionConfig;
  readonly socketOptions?: SocketOptionsConfig;
  readonly requestAuthorizers?: readonly PluginConfig[];
  readonly [key: string]: unknown;
}

export interface RetriesConfig {
  readonly budget?: RetryBudgetConfig;
  readonly backoff?: PluginConfig;
}

export interface ServiceParams {
  readonly retries?: RetriesConfig;
  readonly totalTimeoutMs?: number;
  readonly responseClassifier?: PluginConfig;
  readonly [key: string]: unknown;
}

/**
 * `client:` / `service:` normalised to a list of prefixed configs: `io.l5d.global` becomes one
 * entry with prefix `/` (matches every name), `io.l5d.static` keeps its `configs` in order
 * (later matching entries override earlier ones, as in Linkerd).
 */
export interface PrefixedConfigs<P> {
  readonly kind: 'io.l5d.global' | 'io.l5d.static';
  readonly configs: ReadonlyArray<P & { readonly prefix: string }>;
}
export type ClientConfig = PrefixedConfigs<ClientParams>;
export type ServiceConfig = PrefixedConfigs<ServiceParams>;

export interface BindingCacheConfig {
  readonly paths: number;
  readonly trees: number;
  readonly bounds: number;
  readonly clients: number;
  readonly idleTtlSecs: number;
}

export type Protocol = 'http' | 'h2' | 'thrift' | 'mux' | 'thriftmux' | 'tcp';

export interface RouterConfig {
  readonly protocol: Protocol;
  /** Default: the protocol name (Linkerd). */
  readonly label: string;
  /** Base dtab text ('' when absent). */
  readonly dtab: string;
  /** Default `/svc` for every protocol. */
  readonly dstPrefix: string;
  readonly servers: readonly ServerConfig[];
  /** Always a list (a single `identifier:` object becomes a one-element list); absent → the
   * protocol's default identifier. */
  readonly identifier?: readonly PluginConfig[];
  /** Default `{kind: 'default'}`. */
  readonly interpreter: PluginConfig;
  readonly client: ClientConfig;
  readonly service: ServiceConfig;
  readonly announcers: readonly PluginConfig[];
  readonly bindingTimeoutMs: number;
  readonly bindingCache: BindingCacheConfig;
  readonly originator: boolean;
  /** Protocol-specific router keys under their Linkerd names (httpAccessLog, maxHeadersKB,
   * streamingEnabled, thriftMethodInDst, ...). */
  readonly [key: string]: unknown;
}

export interface UsageConfig {
  readonly orgId?: string;
  readonly enabled: boolean;
}

export interface LinkerdConfig {
  /** Where the config came from (`-` for stdin). */
  readonly file: string;
  readonly admin: AdminConfig;
  readonly routers: readonly RouterConfig[];
  /** Namers with `prefix` defaulted to `/<kind>` (the namer is reached as `/#<prefix>`). */
  readonly namers: readonly NamerConfig[];
  readonly telemetry: readonly PluginConfig[];
  readonly usage: UsageConfig;
}

export interface NamerConfig extends PluginConfig {
  readonly prefix: string;
  readonly transformers?: readonly PluginConfig[];
}

export interface NamerdConfig {
  readonly file: string;
  /** Default port 9991. */
  readonly admin: AdminConfig;
  readonly storage: PluginConfig;
  readonly namers: readonly NamerConfig[];
  /** At least one. */
  readonly interfaces: readonly PluginConfig[];
  readonly telemetry: readonly PluginConfig[];
}

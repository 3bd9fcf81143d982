/**
 * The registry of `kind:` plugins by category. It starts with the catalogue (every kind Linkerd
 * 1.x documents, as "known, not supported yet"); areas that build a kind register a spec with a
 * `create` factory, which replaces the catalogue entry. A kind without `create` loads as a
 * config error `not supported yet: <kind> at <key path>` — never silently ignored.
 */
import type { Fields, PluginCategory, PluginSpec } from './schema.js';
import { catalogueSpecs } from './catalogue.js';

type AnySpec = PluginSpec<any, any, any>;

const registry = new Map<PluginCategory, Map<string, AnySpec>>();

function table(category: PluginCategory): Map<string, AnySpec> {
  let t = registry.get(category);
  if (t === undefined) {
    t = new Map();
    registry.set(category, t);
  }
  return t;
}

/**
 * Registers a plugin under its exact Linkerd kind. An implemented spec (with `create`) replaces
 * whatever is there; a spec without `create` never replaces an implemented one, so the order in
 * which modules register does not matter.
 */
export function registerPlugin(spec: AnySpec): void {
  const t = table(spec.category);
  const existing = t.get(spec.kind);
  if (existing?.create !== undefined && spec.create === undefined) return;
  t.set(spec.kind, spec);
}

/**
 * Marks a catalogued kind as built, keeping the catalogue's documented keys (plus `fields`, which
 * override them). For areas that do not want to restate every key Linkerd documents.
 */
export function implementPlugin<Cfg = Record<string, unknown>, Made = unknown, Ctx = unknown>(
  category: PluginCategory,
  kind: string,
  create: (config: Cfg, ctx: Ctx) => Made,
  fields?: Fields,
): PluginSpec<Cfg, Made, Ctx> {
  const base = table(category).get(kind);
  // Linkerd's `experimental` flag is not carried over: the implementing area decides (pass a
  // full spec to registerPlugin to mark Meshwork's version experimental).
  const spec: PluginSpec<Cfg, Made, Ctx> = {
    category,
    kind,
    fields: { ...(base?.fields ?? {}), ...(fields ?? {}) },
    create,
  };
  table(category).set(kind, spec);
  return spec;
}

export function getPlugin(category: PluginCategory, kind: string): AnySpec | undefined {
  return registry.get(category)?.get(kind);
}

/** Every known kind of a category, in registration (catalogue) order. */
export function kinds(category: PluginCategory): string[] {
  return [...(registry.get(category)?.keys() ?? [])];
}

/** Kinds of a category that Meshwork builds (have a `create`). */
export function supportedKinds(category: PluginCategory): string[] {
  return [...(registry.get(category)?.values() ?? [])].filter((s) => s.create !== undefined).map((s) => s.kind);
}

export function isSupported(category: PluginCategory, kind: string): boolean {
  return getPlugin(category, kind)?.create !== undefined;
}

for (const spec of catalogueSpecs()) registerPlugin(spec);

/**
 * Documented keys (not kinds) whose feature no area has built yet, by schema path: the key path
 * without list indexes, client/service params under `routers.client.` / `routers.service.`
 * whether global or static (e.g. `routers.servers.tls`, `routers.client.tls`, `admin.security`).
 * A config using one fails with `not supported yet: <key> at <key path>` instead of being
 * silently ignored — a TLS server must not come up in plaintext. The area that builds one calls
 * `markKeyBuilt`.
 */
const notBuiltKeys = new Set<string>([
  'admin.tls',
  'admin.security',
  'admin.httpIdentifierPort',
  'routers.servers.tls',
  'routers.client.tls',
  'routers.client.forwardClientCert',
  'routers.httpAccessLog',
  'routers.h2AccessLog',
  'interfaces.tls', // namerd interfaces
]);

export function markKeyBuilt(schemaPath: string): void {
  notBuiltKeys.delete(schemaPath);
}

/** The not-built keys, for tests and `meshwork` diagnostics. */
export function keysNotBuilt(): string[] {
  return [...notBuiltKeys];
}

/** `routers[0].client.configs[2].tls` → `routers.client.tls`. */
export function schemaPathOf(keyPath: string): string {
  return keyPath.replace(/\[\d+\]/g, '').replace(/^routers\.(client|service)\.configs\./, 'routers.$1.');
}

export function isKeyBuilt(keyPath: string): boolean {
  return notBuiltKeys.size === 0 || !notBuiltKeys.has(schemaPathOf(keyPath));
}

/**
 * Plugin kinds whose module is loaded when a config uses them. A registry (namers, telemeters,
 * transformers) lists each kind it builds as an entry — the module exporting its spec, relative
 * to the registry's own file, and Linkerd's experimental flag — and registers the stand-in specs
 * `lazyPluginSpecs` makes: their `fields` and `create` require the module (Node 20's synchronous
 * `require` of an ES module) the first time either is used. A process whose config names no
 * Consul, Kubernetes or Zipkin does not hold their code.
 */
import { createRequire } from 'node:module';
import type { Fields, PluginCategory, PluginSpec } from './schema.js';

export interface LazyPluginEntry {
  readonly kind: string;
  /** The module exporting the spec, relative to the registry's file (`./consul.js`). */
  readonly module: string;
  /** The name of the spec among the module's exports. */
  readonly spec: string;
  readonly experimental?: boolean;
  /** The kind's keys, when known without the module: validating a config then does not load it. */
  readonly fields?: Fields;
}

/** The entry's spec from its module, loaded now if it was not; `from` is the registry's `import.meta.url`. */
export function loadPluginEntry<S extends PluginSpec<any, any, any>>(from: string, e: LazyPluginEntry): S {
  const spec = (createRequire(from)(e.module) as Record<string, S | undefined>)[e.spec];
  if (spec === undefined) throw new Error(`plugin registry: ${e.module} exports no ${e.spec}`);
  return spec;
}

/** Stand-in specs for `entries`, in order: kind and experimental flag now, fields (unless given) and factory from the module on first use. */
export function lazyPluginSpecs<S extends PluginSpec<any, any, any>>(category: PluginCategory, from: string, entries: readonly LazyPluginEntry[]): S[] {
  return entries.map((e) => {
    let loaded: S | undefined;
    const load = (): S => (loaded ??= loadPluginEntry<S>(from, e));
    return {
      category,
      kind: e.kind,
      ...(e.experimental ? { experimental: true } : {}),
      get fields(): Fields {
        return e.fields ?? load().fields;
      },
      create: (config: unknown, ctx: unknown) => load().create!(config, ctx),
    } as unknown as S;
  });
}

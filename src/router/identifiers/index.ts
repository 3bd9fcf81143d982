/**
 * Identifier registry (category `identifier`).
 *
 * Contract (see identifier.ts): a router builds its identifier once with
 * `createIdentifier(configs, {dstPrefix, baseDtab})`, where `configs` is the router's
 * `identifier:` value (one object or a list, default `io.l5d.header.token`). The request path
 * calls `identify(req)` with an `IdentifyRequest` (method, url, httpVersion, header(lowercase
 * name)) and gets `{type:'identified', dst, rewrittenUrl?, rewrittenHost?}` or
 * `{type:'unidentified', reason, fatal?}` (answer 400). Proxy-form targets are rewritten
 * before identification; the router forwards `rewrittenUrl`/`rewrittenHost` when present.
 */
import type { PluginSpec } from '../../config/schema.js';
import { PluginError } from '../plugin-errors.js';
import { headerTokenIdentifier } from './header-token.js';
import { headerIdentifier } from './header.js';
import type { Identifier, IdentifierContext } from './identifier.js';
import { ComposedIdentifier, RouterIdentifier } from './identifier.js';
import { ingressIdentifier } from './ingress.js';
import { methodAndHostIdentifier } from './method-and-host.js';
import { pathIdentifier } from './path.js';
import { staticIdentifier } from './static.js';

export type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult, Identified, Unidentified } from './identifier.js';
export { ComposedIdentifier, RouterIdentifier, splitAbsoluteForm } from './identifier.js';

export const DEFAULT_IDENTIFIER_KIND = 'io.l5d.header.token';

export const identifierPlugins: readonly PluginSpec<Record<string, unknown>, Identifier, IdentifierContext>[] = [
  headerTokenIdentifier,
  methodAndHostIdentifier,
  pathIdentifier,
  headerIdentifier,
  staticIdentifier,
  ingressIdentifier,
];

export function identifierKinds(): string[] {
  return identifierPlugins.filter((p) => p.create !== undefined).map((p) => p.kind);
}

/** Builds one identifier from its config object (`{kind, ...}`). */
export function createOneIdentifier(cfg: Readonly<Record<string, unknown>>, ctx: IdentifierContext): Identifier {
  const kind = cfg['kind'];
  const spec = identifierPlugins.find((p) => p.kind === kind);
  if (spec === undefined) {
    throw new PluginError(
      'MESH_ERR_PLUGIN_UNKNOWN_KIND',
      `identifier: unknown kind ${JSON.stringify(kind)}; supported: ${identifierKinds().join(', ')}`,
      'kind',
    );
  }
  if (spec.create === undefined) {
    throw new PluginError('MESH_ERR_PLUGIN_NOT_SUPPORTED', `identifier: kind ${spec.kind} is not supported yet`, 'kind');
  }
  return spec.create(cfg as Record<string, unknown>, ctx);
}

/** Identifiers tried in order until one identifies the request (Linkerd's compose). */
export function composeIdentifiers(all: readonly Identifier[]): Identifier {
  if (all.length === 0) throw new PluginError('MESH_ERR_PLUGIN_EMPTY_LIST', 'identifier: empty identifier list');
  return all.length === 1 ? all[0]! : new ComposedIdentifier(all);
}

/** The router's identifier: its `identifier:` config (object, list or absent) built once. */
export function createIdentifier(
  config: Readonly<Record<string, unknown>> | readonly Readonly<Record<string, unknown>>[] | undefined,
  ctx: IdentifierContext,
): Identifier {
  const list = config === undefined ? [{ kind: DEFAULT_IDENTIFIER_KIND }] : Array.isArray(config) ? config : [config as Readonly<Record<string, unknown>>];
  if (list.length === 0) throw new PluginError('MESH_ERR_PLUGIN_EMPTY_LIST', 'identifier: empty identifier list');
  return new RouterIdentifier(list.map((c) => createOneIdentifier(c, ctx)));
}

/** `io.l5d.static`: every request gets the same name, `dstPrefix ++ path`. */
import type { PluginSpec } from '../../config/schema.js';
import { Path } from '../../naming/path.js';
import { PluginError } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified } from './identifier.js';
import { readPath as readPathText } from '../../naming/parser.js';

export const KIND = 'io.l5d.static';

export class StaticIdentifier implements Identifier {
  readonly kind = KIND;
  private readonly result: IdentifyResult;

  constructor(dst: Path) {
    this.result = identified(dst);
  }

  identify(_req: IdentifyRequest): IdentifyResult {
    return this.result;
  }
}

/** A `path`-typed config value: a Path already, or its text form. */
export function pathValue(kind: string, key: string, v: unknown): Path {
  if (v instanceof Path) return v;
  if (typeof v !== 'string') {
    throw new PluginError(
      v === undefined || v === null ? 'MESH_ERR_PLUGIN_MISSING_KEY' : 'MESH_ERR_PLUGIN_BAD_VALUE',
      v === undefined || v === null ? `${kind}: '${key}' is required` : `${kind}: '${key}' must be a path, found ${JSON.stringify(v)}`,
      key,
    );
  }
  try {
    return readPathText(v);
  } catch (e) {
    throw new PluginError('MESH_ERR_PLUGIN_BAD_VALUE', `${kind}: '${key}' must be a path: ${(e as Error).message}`, key);
  }
}

export const staticIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: {
    path: { type: 'path', required: true, doc: 'The name given to every request (after dstPrefix).' },
  },
  create: (cfg, ctx) => new StaticIdentifier(ctx.dstPrefix.concat(pathValue(KIND, 'path', cfg['path']))),
};

/**
 * The naming part of a linkerd.yaml for the `delegate` and `bind` commands: the `namers:`
 * list built through the registry, and one router's `dtab` (after its io.l5d.fs interpreter's
 * dtab file, when it has one). Kept in one function so the full
 * config loader (src/config) can replace it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseConfigText } from '../config/load.js';
import type { ConfiguredNamers } from '../naming/namer-ops.js';
import type { Path } from '../naming/path.js';
import { NamerError } from './errors.js';
import { createNamers } from './registry.js';
import type { NamerConfigObject } from './spec.js';

export interface NamingSetup {
  /** The router's dtab text ('' when it has none), after its dtab file's (io.l5d.fs interpreter). */
  readonly dtab: string;
  readonly routerLabel: string;
  readonly namers: ConfiguredNamers;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `file` and picks the router labelled `label` (default: the first router). */
export async function namingFromLinkerdConfig(file: string, label: string | undefined, readPath: (s: string) => Path): Promise<NamingSetup> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const raw = parseConfigText(text, file);
  if (!isObject(raw)) throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: expected a mapping at the top level`);
  const namersRaw = raw['namers'] ?? [];
  if (!Array.isArray(namersRaw)) throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: namers: found ${JSON.stringify(namersRaw)}; allowed: a list`);
  const routers = Array.isArray(raw['routers']) ? raw['routers'].filter(isObject) : [];
  const labelOf = (r: Record<string, unknown>): string => String(r['label'] ?? r['protocol'] ?? '');
  const router = label === undefined ? routers[0] : routers.find((r) => labelOf(r) === label);
  if (!router) {
    const known = routers.map(labelOf).join(', ') || '(none)';
    throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: routers: no router labelled ${JSON.stringify(label ?? '')}; allowed: ${known}`);
  }
  const at = `routers[${routers.indexOf(router)}]`;
  const routerDtab = router['dtab'] ?? '';
  if (typeof routerDtab !== 'string') throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: ${at}.dtab: found ${JSON.stringify(routerDtab)}; allowed: a dtab string`);
  let dtab = routerDtab;
  // The io.l5d.fs interpreter binds under its dtab file's entries first, then the router's.
  const interpreter = router['interpreter'];
  if (isObject(interpreter) && interpreter['kind'] === 'io.l5d.fs') {
    const dtabFile = interpreter['dtabFile'];
    if (typeof dtabFile !== 'string' || dtabFile === '') throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: ${at}.interpreter.dtabFile: found ${JSON.stringify(dtabFile) ?? 'undefined'}; allowed: the path of a file holding a dtab`);
    let fileDtab: string;
    try {
      fileDtab = await readFile(resolve(dtabFile), 'utf8');
    } catch (e) {
      throw new NamerError('MESH_ERR_NAMER_CONFIG', `${file}: ${at}.interpreter.dtabFile: cannot read ${dtabFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    dtab = [fileDtab, dtab].map((t) => t.trim().replace(/;+$/, '')).filter((t) => t !== '').join(';\n');
  }
  const namers = createNamers(namersRaw as NamerConfigObject[], { file, readPath });
  return { dtab, routerLabel: labelOf(router), namers };
}

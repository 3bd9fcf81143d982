/**
 * The naming part of a linkerd.yaml for the `delegate` and `bind` commands: the `namers:`
 * list built through the registry, and one router's `dtab` after the dtab its interpreter
 * keeps, when it has one: io.l5d.fs's dtab file, or the dtab stored in Consul
 * (io.l5d.consul.interpreter) or in a ConfigMap (io.l5d.k8s.configMap), read once. Kept in one
 * function so the full config loader (src/config) can replace it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseConfigText } from '../config/load.js';
import type { ConfiguredNamers } from '../naming/namer-ops.js';
import type { Path } from '../naming/path.js';
import { NamerError } from '../namers/errors.js';
import { createNamers } from '../namers/registry.js';
import { consulInterpreter } from '../interpreters/consul.js';
import { k8sConfigMapInterpreter } from '../interpreters/k8s-configmap.js';
import type { ConfiguredDtabInterpreter } from '../interpreters/dtab-file.js';
import type { NamerConfigObject } from '../namers/spec.js';

export interface NamingSetup {
  /** The router's dtab text ('' when it has none), after its interpreter's stored dtab. */
  readonly dtab: string;
  readonly routerLabel: string;
  readonly namers: ConfiguredNamers;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `file` and picks the router labelled `label` (default: the first router). */
export async function namingFromLinkerdConfig(file: string, label: string | undefined, readPath: (s: string) => Path, timeoutMs = 5000): Promise<NamingSetup> {
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
    dtab = joinDtabs(fileDtab, dtab);
  } else if (isObject(interpreter) && (interpreter['kind'] === 'io.l5d.consul.interpreter' || interpreter['kind'] === 'io.l5d.k8s.configMap')) {
    // The dtab the interpreter follows, read once (its stream closed after).
    const kind = interpreter['kind'];
    const where = { file, keyPath: `${at}.interpreter` };
    const deps = { bind: () => { throw new Error('not used'); }, log: () => undefined };
    let remote: ConfiguredDtabInterpreter;
    try {
      remote = kind === 'io.l5d.consul.interpreter' ? consulInterpreter(interpreter, deps, where) : k8sConfigMapInterpreter(interpreter, deps, where);
    } catch (e) {
      throw new NamerError('MESH_ERR_NAMER_CONFIG', (e as Error).message);
    }
    try {
      dtab = joinDtabs((await remote.configuredDtab(timeoutMs)).show(), dtab);
    } catch (e) {
      // Still pending at the timeout (unreachable: the interpreter keeps retrying) or failed.
      const pending = !(e instanceof Error) || e.message === '' || /^no matching value within/.test(e.message);
      const why = pending ? `no answer within ${timeoutMs} ms (--timeout)` : e.message;
      throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${file}: ${at}.interpreter: cannot read the ${String(kind)} dtab: ${why}`);
    } finally {
      remote.close();
    }
  }
  const namers = createNamers(namersRaw as NamerConfigObject[], { file, readPath });
  return { dtab, routerLabel: labelOf(router), namers };
}

/** The interpreter's dtab, then the router's (later entries win), as the interpreter binds. */
function joinDtabs(first: string, then: string): string {
  return [first, then].map((t) => t.trim().replace(/;+$/, '')).filter((t) => t !== '').join(';\n');
}

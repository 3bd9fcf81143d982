/**
 * Loading linkerd.yaml / namerd.yaml: read (a file or `-` for stdin), parse YAML or JSON (JSON
 * is YAML), validate against the schema and the plugin registry, and return the typed,
 * defaulted config — or throw one ConfigError listing every problem.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { LinkerdConfig, NamerdConfig } from './types.js';
import { Validator, isObject, type NamingSyntax } from './validate.js';
import { checkLinkerd } from './linkerd-schema.js';
import { checkNamerd } from './namerd-schema.js';
import { defaultNaming } from './naming-syntax.js';

export interface LoadOptions {
  /** Path and dtab parser; defaults to src/naming's readPath/readDtab. */
  readonly naming?: NamingSyntax;
  /** Where `-` reads from (default process.stdin). */
  readonly stdin?: AsyncIterable<Buffer | string>;
}

/** The name shown in messages: the path as given, `<stdin>` for `-`. */
export function displayName(file: string): string {
  return file === '-' ? '<stdin>' : file;
}

async function readSource(file: string, opts: LoadOptions): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of opts.stdin ?? process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const issue: ConfigIssue = {
      code: 'MESH_ERR_CONFIG_READ',
      file,
      keyPath: '',
      found: file,
      allowed: [],
      message: `${file}: cannot read config: ${err.code ?? err.message}`,
    };
    throw new ConfigError(file, [issue]);
  }
}

/** Parses YAML or JSON text; syntax errors become ConfigError with `file:line:col`. */
export function parseConfigText(text: string, file: string): unknown {
  const name = displayName(file);
  // As Linkerd's parser (SnakeYAML under Jackson) does: YAML 1.1 scalars (`enabled: yes` is
  // true), `<<` merge keys, and a repeated key takes its last value instead of failing.
  const doc = parseDocument(text, { version: '1.1', merge: true, prettyErrors: true, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos === undefined ? name : `${name}:${pos.line}:${pos.col}`;
      const short = e.message.split(' at line ')[0]!.split('\n')[0]!;
      return { code: 'MESH_ERR_CONFIG_SYNTAX', file: name, keyPath: '', found: e.code, allowed: [], message: `${where}: ${short}` };
    });
    throw new ConfigError(name, issues);
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

/** Which config a parsed document is, by its top-level keys (namerd has storage/interfaces). */
export function detectConfigKind(raw: unknown): 'linkerd' | 'namerd' | undefined {
  if (!isObject(raw)) return undefined;
  if ('routers' in raw) return 'linkerd';
  if ('storage' in raw || 'interfaces' in raw) return 'namerd';
  return undefined;
}

export function parseLinkerdConfig(text: string, file: string, naming: NamingSyntax = defaultNaming): LinkerdConfig {
  return checkLinkerdObject(parseConfigText(text, file), file, naming);
}

export function parseNamerdConfig(text: string, file: string, naming: NamingSyntax = defaultNaming): NamerdConfig {
  return checkNamerdObject(parseConfigText(text, file), file, naming);
}

export function checkLinkerdObject(raw: unknown, file: string, naming: NamingSyntax = defaultNaming): LinkerdConfig {
  const v = new Validator(displayName(file), naming);
  const out = checkLinkerd(v, raw);
  if (v.issues.length > 0 || out === undefined) throw new ConfigError(displayName(file), v.issues);
  return { ...out, file };
}

export function checkNamerdObject(raw: unknown, file: string, naming: NamingSyntax = defaultNaming): NamerdConfig {
  const v = new Validator(displayName(file), naming);
  const out = checkNamerd(v, raw);
  if (v.issues.length > 0 || out === undefined) throw new ConfigError(displayName(file), v.issues);
  return { ...out, file };
}

/** Loads linkerd.yaml (or `-` for stdin). Relative paths in it (rootDir, ...) stay as written. */
export async function loadLinkerdConfig(file: string, opts: LoadOptions = {}): Promise<LinkerdConfig> {
  const text = await readSource(file, opts);
  return parseLinkerdConfig(text, file, opts.naming ?? defaultNaming);
}

export async function loadNamerdConfig(file: string, opts: LoadOptions = {}): Promise<NamerdConfig> {
  const text = await readSource(file, opts);
  return parseNamerdConfig(text, file, opts.naming ?? defaultNaming);
}

/**
 * io.l5d.fs: one file per service under `rootDir` (sub-directories add path elements). A file
 * holds lines `host port` or `host port * weight`, `#` starts a comment. A missing name is
 * `Neg` (so a dtab falls back), an empty file is bound with no endpoints, a malformed line
 * makes the Addr fail naming the file and line.
 *
 * Directories and files are watched with fs.watch while somebody observes them, plus a
 * bounded poll (fs.watch can miss renames and events on some file systems) so a change
 * reaches subscribers within a second. Watches close when the last observer leaves.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Activity, PENDING, failed, ok } from '../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../naming/addr.js';
import { addrEquals, boundName } from '../naming/bound.js';
import type { ActivityState, BoundName, Name, NameNamer, Var } from '../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { AsyncVar } from '../naming/var.js';
import { WEIGHT_KEY } from '../naming/addr.js';
import { NamerError } from './errors.js';
import { reader, watchDir } from './fs-watch.js';
import { configuredPrefix, requiredString, type NamerSpec } from './spec.js';

const MAX_BOUND_NAMES = 10_000;

/** Finagle's WeightedAddress metadata key (defined with Addr; namers import it from here too). */
export { WEIGHT_KEY };

type EntryKind = 'file' | 'dir';
type Listing = ReadonlyMap<string, EntryKind>;

const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});

function listingEquals(a: Listing, b: Listing): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function isPortNum(s: string): boolean {
  if (!/^[0-9]+$/.test(s)) return false;
  const n = Number(s);
  return n > 0 && n <= 65535;
}

/** Parses a service file; `file` names it in errors. */
export function parseAddrFile(text: string, file: string): Addr {
  const addrs: Address[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i]!.indexOf('#');
    const line = (hash >= 0 ? lines[i]!.slice(0, hash) : lines[i]!).trim();
    if (line.length === 0) continue;
    const parts = line.split(/\s+/);
    if (parts.length === 2 && isPortNum(parts[1]!)) {
      addrs.push({ host: parts[0]!, port: Number(parts[1]), meta: EMPTY_META });
      continue;
    }
    if (parts.length === 4 && isPortNum(parts[1]!) && parts[2] === '*' && parts[3]!.length > 0 && Number.isFinite(Number(parts[3]))) {
      addrs.push({ host: parts[0]!, port: Number(parts[1]), meta: { [WEIGHT_KEY]: Number(parts[3]) } });
      continue;
    }
    const cause = new NamerError('MESH_ERR_FS_MALFORMED_ADDRESS', `malformed address: ${line} (${file} line ${i + 1})`);
    return { type: 'failed', cause };
  }
  return { type: 'bound', addrs, meta: EMPTY_META };
}

export class FsNamer implements NameNamer {
  private readonly dirs = new Map<string, Activity<Listing>>();
  private readonly files = new Map<string, Var<Addr>>();
  private readonly bounds = new Map<string, BoundName>();

  /** `prefix` is the namer's full prefix (e.g. `/#/io.l5d.fs`); ids start with it. */
  constructor(
    readonly rootDir: string,
    readonly prefix: Path,
  ) {}

  lookup(path: Path): Activity<NameTree<Name>> {
    return this.lookupIn([], path);
  }

  private lookupIn(dirElems: readonly string[], path: Path): Activity<NameTree<Name>> {
    if (path.isEmpty) return Activity.value<NameTree<Name>>(NEG);
    const name = path.utf8Elems[0]!;
    const residual = path.drop(1);
    return this.listing(dirElems).flatMap((children): Activity<NameTree<Name>> => {
      const kind = children.get(name);
      if (kind === 'file') return Activity.value<NameTree<Name>>(leaf<Name>(this.bound([...dirElems, name], residual)));
      if (kind === 'dir') return this.lookupIn([...dirElems, name], residual);
      return Activity.value<NameTree<Name>>(NEG);
    });
  }

  /** One BoundName per (file, residual) so repeated answers are the same object. */
  private bound(elems: string[], residual: Path): BoundName {
    const key = elems.join('/') + '\u0000' + residual.show();
    let b = this.bounds.get(key);
    if (!b) {
      // Residuals come from requests: keep the cache bounded.
      if (this.bounds.size >= MAX_BOUND_NAMES) this.bounds.clear();
      b = boundName(this.prefix.concat(Path.utf8(...elems)), this.fileAddr(elems), residual);
      this.bounds.set(key, b);
    }
    return b;
  }

  private listing(elems: readonly string[]): Activity<Listing> {
    const key = elems.join('/');
    let a = this.dirs.get(key);
    if (!a) {
      const dir = join(this.rootDir, ...elems);
      const v = new AsyncVar<ActivityState<Listing>>(
        PENDING,
        (update) => {
          const r = reader(
            async (): Promise<ActivityState<Listing>> => {
              try {
                const entries = await readdir(dir, { withFileTypes: true });
                const m = new Map<string, EntryKind>();
                for (const e of entries) {
                  if (e.isFile()) m.set(e.name, 'file');
                  else if (e.isDirectory()) m.set(e.name, 'dir');
                }
                return ok(m);
              } catch (e) {
                const code = (e as NodeJS.ErrnoException).code;
                // A directory removed while watched lists nothing (its names become Neg).
                if (code === 'ENOENT' || code === 'ENOTDIR') return ok(new Map());
                return failed(new NamerError('MESH_ERR_FS_READ', `cannot read directory ${dir}: ${(e as Error).message}`));
              }
            },
            update,
          );
          const w = watchDir(dir, undefined, r.run);
          r.run();
          return {
            close: () => {
              r.stop();
              w.close();
            },
          };
        },
        (x, y) => {
          if (x === y) return true;
          if (x.type !== y.type) return false;
          if (x.type === 'ok') return listingEquals(x.value, (y as { value: Listing }).value);
          if (x.type === 'failed') return x.error.message === (y as { error: Error }).error.message;
          return true;
        },
      );
      a = new Activity(v);
      this.dirs.set(key, a);
    }
    return a;
  }

  private fileAddr(elems: readonly string[]): Var<Addr> {
    const key = elems.join('/');
    let v = this.files.get(key);
    if (!v) {
      const dir = join(this.rootDir, ...elems.slice(0, -1));
      const name = elems[elems.length - 1]!;
      const file = join(dir, name);
      v = new AsyncVar<Addr>(
        ADDR_PENDING,
        (update) => {
          const r = reader(async (): Promise<Addr> => {
            try {
              return parseAddrFile(await readFile(file, 'utf8'), file);
            } catch (e) {
              const code = (e as NodeJS.ErrnoException).code;
              if (code === 'ENOENT') return ADDR_NEG;
              return { type: 'failed', cause: new NamerError('MESH_ERR_FS_READ', `cannot read ${file}: ${(e as Error).message}`) };
            }
          }, update);
          const w = watchDir(dir, name, r.run);
          r.run();
          return {
            close: () => {
              r.stop();
              w.close();
            },
          };
        },
        addrEquals,
      );
      this.files.set(key, v);
    }
    return v;
  }
}

export const fsNamerSpec: NamerSpec = {
  category: 'namer',
  kind: 'io.l5d.fs',
  fields: {
    prefix: { type: 'path', default: '/io.l5d.fs' },
    rootDir: { type: 'string', required: true, doc: 'Directory with one file per service.' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, 'io.l5d.fs', ctx);
    const rootDir = resolve(ctx.baseDir ?? process.cwd(), requiredString(config, 'rootDir', ctx));
    return { prefix, namer: new FsNamer(rootDir, prefix) };
  },
};

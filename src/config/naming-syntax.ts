/**
 * The naming parser used to check `path` and `dtab` values. Loaded on first use so that the
 * config area does not fail to load while src/naming's parser is absent; when it is absent,
 * path and dtab values are only checked to be strings.
 */
import type { NamingSyntax } from './validate.js';

let cached: Promise<NamingSyntax | undefined> | undefined;

export function namingSyntax(): Promise<NamingSyntax | undefined> {
  cached ??= (async () => {
    // A variable specifier keeps tsc from requiring the module at build time.
    const specifier = '../naming/index.js';
    try {
      const m = (await import(specifier)) as Partial<NamingSyntax>;
      if (typeof m.readPath === 'function' && typeof m.readDtab === 'function') {
        return { readPath: m.readPath, readDtab: m.readDtab };
      }
    } catch (e) {
      // Only "not there yet" falls back; a parser that exists but fails to load is a real bug.
      if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
    return undefined;
  })();
  return cached;
}

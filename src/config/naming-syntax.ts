/**
 * The naming parser used to check `path` and `dtab` values: src/naming's readPath/readDtab,
 * whose messages (`'/' expected but 's' found at '[s]vc'`) end up in config errors. Injectable
 * (LoadOptions.naming, the `naming` parameter of the parse functions) for tests.
 */
import { readDtab, readPath } from '../naming/index.js';
import type { NamingSyntax } from './validate.js';

export const defaultNaming: NamingSyntax = { readPath, readDtab };

/**
 * The dtab playground's input (`/delegator.json`'s `dtab` and `path`), parsed the same way by
 * linkerd's and namerd's admin servers: a parse error is a DelegateRejection (400 with the
 * parser's message), as Linkerd answers it.
 */
import { readDtab, readPath, type Dtab } from '../naming/index.js';
import type { Path } from '../naming/path.js';
import { DelegateRejection } from './errors.js';

export function readDelegateInput(dtabText: string, pathText: string): { extra: Dtab; path: Path } {
  let extra: Dtab;
  try {
    extra = readDtab(dtabText);
  } catch (e) {
    throw new DelegateRejection('invalidDtab', (e as Error).message);
  }
  try {
    return { extra, path: readPath(pathText) };
  } catch (e) {
    throw new DelegateRejection('invalidPath', (e as Error).message);
  }
}

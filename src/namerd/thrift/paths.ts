/**
 * Conversions between naming paths and namer.thrift's, shared by namerd's thrift service
 * (service.ts) and the io.l5d.namerd interpreter that calls it (interpreters/namerd-thrift.ts).
 */
import { Path } from '../../naming/path.js';
import type { TPath } from './types.js';

/**
 * Finagle's `Dentry.nop` as `show` prints it: prefix of the single label "/" (not showable, so
 * `\x2f`) to a negative tree. Linkerd's ThriftNamerClient sends it as the dentry of the path it
 * asks namerd to explain, and namerd's delegate trees carry it on their root.
 */
export const NOP_DENTRY = '/\\x2f=>~';

/** A thrift Path: one buffer per element (our elements are byte strings). */
export function toTPath(p: Path): Buffer[] {
  return p.elems.map((e) => Buffer.from(e, 'latin1'));
}

/**
 * A Path from a thrift Path. Finagle paths have no empty element: one is refused with the
 * caller's error (`emptyElement`).
 */
export function fromTPathOr(t: TPath, emptyElement: () => Error): Path {
  const elems: string[] = [];
  for (const b of t) {
    if (b.length === 0) throw emptyElement();
    elems.push(b.toString('latin1'));
  }
  return Path.fromElems(elems);
}

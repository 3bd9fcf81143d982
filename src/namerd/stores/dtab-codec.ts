/**
 * The one place stores turn stored text into a Dtab and back. Stores persist the printed
 * form (`dtab.show()`), which `readDtab` reads back to the same dtab.
 */
import { Dtab, readDtab, showNameTree } from '../../naming/index.js';

export { Dtab };

export function readStoredDtab(text: string): Dtab {
  return readDtab(text);
}

export function showDtab(dtab: Dtab): string {
  return dtab.show();
}

/** Dentries as `{prefix, dst}` text pairs: the namerd JSON and k8s DTab shape. */
export function dentriesOf(dtab: Dtab): { prefix: string; dst: string }[] {
  return dtab.dentries.map((d) => ({ prefix: d.prefix.show(), dst: showNameTree(d.dst) }));
}

export function dtabFromDentries(dentries: readonly { prefix: string; dst: string }[]): Dtab {
  return readDtab(dentries.map((d) => `${d.prefix}=>${d.dst}`).join(';'));
}

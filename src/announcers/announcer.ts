/**
 * Announcers (a router's `announcers`, Linkerd's announcer plugins): they register the
 * router's servers in service discovery under the names each server's `announce` lists. An
 * announcer owns the names under its prefix (`/#/<prefix>`); every announcer whose prefix a
 * name starts with announces it, as in Linkerd, with the rest of the name after the prefix.
 */
import type { Closable } from '../naming/contracts.js';
import type { Path } from '../naming/path.js';

export interface Announcer {
  readonly kind: string;
  /** `/#/<prefix>`: the names this announcer announces. */
  readonly prefix: Path;
  /** Announces `host:port` as `name` (the part after the prefix) until the result is closed. */
  announce(host: string, port: number, name: Path): Closable;
  /** Ends every announcement. */
  close(): void;
}

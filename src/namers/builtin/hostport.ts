/**
 * `/$/io.buoyant.hostportPfx/<pfx>/<host>:<port>/rest` → `/<pfx>/<host>/<port>/rest` and
 * `/$/io.buoyant.porthostPfx/...` → `/<pfx>/<port>/<host>/rest`. The port may be a name
 * (`http`): anything shaped like a DNS label of at most 63 characters. IPv6 hosts are not
 * supported (their colons make `host:port` ambiguous), as in Linkerd.
 */
import type { Path } from '../../naming/path.js';
import { RewritingNamer, firstElems, textPath } from './rewriting.js';

const DNS_LABEL = /^[a-z0-9][-a-z0-9]*[a-z0-9]?$/;

function hostColonPort(s: string): [string, string] | undefined {
  const parts = s.split(':');
  if (parts.length !== 2) return undefined;
  const [host, port] = parts as [string, string];
  if (host.length === 0 || port.length > 63 || !DNS_LABEL.test(port)) return undefined;
  return [host, port];
}

function hostportPfx(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  const hp = e && hostColonPort(e[1]!);
  return hp ? textPath([e[0]!, hp[0], hp[1]], path.drop(2)) : undefined;
}

function porthostPfx(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  const hp = e && hostColonPort(e[1]!);
  return hp ? textPath([e[0]!, hp[1], hp[0]], path.drop(2)) : undefined;
}

export const hostPortRewriters: Readonly<Record<string, RewritingNamer>> = {
  'io.buoyant.hostportPfx': new RewritingNamer(hostportPfx),
  'io.buoyant.porthostPfx': new RewritingNamer(porthostPfx),
};

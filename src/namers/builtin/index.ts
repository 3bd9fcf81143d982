/**
 * The built-in `/$/` namers (Finagle's Namer.global plus Linkerd's io.buoyant.* classes):
 * inet, fixedinet, fail, nil, io.buoyant.rinet, io.buoyant.hostportPfx/porthostPfx and the
 * io.buoyant.http.* rewriters. Adding one is a line in BUILTIN_NAMERS.
 */
import { Activity } from '../../naming/activity.js';
import type { Addr } from '../../naming/addr.js';
import { boundName } from '../../naming/bound.js';
import type { Name, NameNamer, Var } from '../../naming/contracts.js';
import { EMPTY, FAIL, NEG, leaf, type NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';
import { NamerError, unknownNamer } from '../errors.js';
import { hostPortRewriters } from './hostport.js';
import { httpRewriters } from './http.js';
import { isPort, resolveInet } from './inet.js';

const NEG_ACTIVITY = Activity.value<NameTree<Name>>(NEG);
const FAIL_ACTIVITY = Activity.value<NameTree<Name>>(FAIL);
const EMPTY_ACTIVITY = Activity.value<NameTree<Name>>(EMPTY);

const MAX_CACHED_ADDRS = 10_000;
const addrCache = new Map<string, Var<Addr>>();

/** One Addr observable per host:port, shared by every bind of it. */
function cachedAddr(host: string, port: number, refresh: boolean): Var<Addr> {
  const key = `${refresh ? 'r' : 'f'} ${host} ${port}`;
  let v = addrCache.get(key);
  if (!v) {
    // Names can come from requests; keep the cache bounded.
    if (addrCache.size >= MAX_CACHED_ADDRS) addrCache.clear();
    v = resolveInet(host, port, refresh);
    addrCache.set(key, v);
  }
  return v;
}

function boundLeaf(id: Path, addr: Var<Addr>, residual: Path): Activity<NameTree<Name>> {
  return Activity.value<NameTree<Name>>(leaf<Name>(boundName(id, addr, residual)));
}

/**
 * `/<host>/<port>[/residual]` or `/<port>[/residual]` (relative to `/$/<kind>`): the id is the
 * full path without the residual. Undefined when the shape does not match.
 */
function inetLookup(full: Path, rest: Path, refresh: boolean): Activity<NameTree<Name>> | undefined {
  const e = rest.take(2).utf8Elems;
  if (e.length >= 2 && isPort(e[1]!)) {
    return boundLeaf(full.take(full.size - rest.size + 2), cachedAddr(e[0]!, Number(e[1]), refresh), rest.drop(2));
  }
  if (e.length >= 1 && isPort(e[0]!)) {
    return boundLeaf(full.take(full.size - rest.size + 1), cachedAddr('', Number(e[0]), refresh), rest.drop(1));
  }
  return undefined;
}

/** `/$/io.buoyant.rinet/<port>/<host>[/residual]`: inet with the port first. */
const rinet: NameNamer = {
  lookup(rest: Path): Activity<NameTree<Name>> {
    if (rest.size < 2) return NEG_ACTIVITY;
    const [port, host] = rest.take(2).utf8Elems as [string, string];
    if (!isPort(port)) return Activity.exception(new NamerError('MESH_ERR_NAMER_BAD_PATH', `Invalid port: ${port}`));
    const id = Path.utf8('$', 'io.buoyant.rinet').concat(rest.take(2));
    return boundLeaf(id, cachedAddr(host, Number(port), true), rest.drop(2));
  },
};

/** Namers found by the element after `/$/`, answering the path after it. */
export const BUILTIN_NAMERS: Readonly<Record<string, NameNamer>> = {
  'io.buoyant.rinet': rinet,
  ...hostPortRewriters,
  ...httpRewriters,
};

/** The `/$/` namer. Paths outside `/$/` are `Neg`. */
export const globalNamer: NameNamer = {
  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.size < 2 || path.elems[0] !== '$') return NEG_ACTIVITY;
    const kind = path.utf8Elems[1]!;
    const rest = path.drop(2);
    if (kind === 'inet' || kind === 'fixedinet') {
      const found = inetLookup(path, rest, kind === 'inet');
      if (found) return found;
    } else if (kind === 'fail') {
      return FAIL_ACTIVITY;
    } else if (kind === 'nil') {
      return EMPTY_ACTIVITY;
    }
    const namer = Object.prototype.hasOwnProperty.call(BUILTIN_NAMERS, kind) ? BUILTIN_NAMERS[kind] : undefined;
    if (!namer) return Activity.exception(unknownNamer(kind, path.show()));
    return Activity.from(namer.lookup(rest));
  },
};

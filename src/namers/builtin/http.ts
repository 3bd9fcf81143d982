/**
 * The `/$/io.buoyant.http.*` rewriters (Linkerd's namer.md): they strip or reshape a method
 * or host element so a dtab can route on the rest. Not HTTP-specific beyond their names.
 */
import type { Path } from '../../naming/path.js';
import { RewritingNamer, firstElems, textPath } from './rewriting.js';

// Coarse host matching so DNS names, IPv4 and IPv6 all pass (as Linkerd does).
const HOST = /^[A-Za-z0-9.:_-]+$/;
const METHOD = /^[A-Z]+$/;

function dropPort(hostname: string): string {
  const idx = hostname.indexOf(':');
  return idx > 0 ? hostname.slice(0, idx) : hostname;
}

function subdomain(domain: string, hostname: string): string | undefined {
  const sfx = '.' + domain;
  const host = dropPort(hostname);
  return host.endsWith(sfx) ? host.slice(0, host.length - sfx.length) : undefined;
}

function reversedLabels(host: string): string[] {
  return host.split('.').filter((s) => s.length > 0).reverse();
}

/** `/<METHOD>/rest` → `/rest` */
function anyMethod(path: Path): Path | undefined {
  const e = firstElems(path, 1);
  return e && METHOD.test(e[0]!) ? path.drop(1) : undefined;
}

/** `/pfx/<METHOD>/rest` → `/pfx/rest` */
function anyMethodPfx(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  return e && METHOD.test(e[1]!) ? textPath([e[0]!], path.drop(2)) : undefined;
}

/** `/<host>/rest` → `/rest` */
function anyHost(path: Path): Path | undefined {
  const e = firstElems(path, 1);
  return e && HOST.test(e[0]!) ? path.drop(1) : undefined;
}

/** `/pfx/<host>/rest` → `/pfx/rest` */
function anyHostPfx(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  return e && HOST.test(e[1]!) ? textPath([e[0]!], path.drop(2)) : undefined;
}

/** `/buoyant.io/foo.buoyant.io[:port]/rest` → `/foo/rest` */
function subdomainOf(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  if (!e || !HOST.test(e[0]!) || !HOST.test(e[1]!)) return undefined;
  const sub = subdomain(e[0]!, e[1]!);
  return sub ? textPath([sub], path.drop(2)) : undefined;
}

/** `/buoyant.io/pfx/foo.buoyant.io[:port]/rest` → `/pfx/foo/rest` */
function subdomainOfPfx(path: Path): Path | undefined {
  const e = firstElems(path, 3);
  if (!e || !HOST.test(e[0]!) || !HOST.test(e[2]!)) return undefined;
  const sub = subdomain(e[0]!, e[2]!);
  return sub ? textPath([e[1]!, sub], path.drop(3)) : undefined;
}

/** `/foo.buoyant.io/rest` → `/io/buoyant/foo/rest` */
function domainToPath(path: Path): Path | undefined {
  const e = firstElems(path, 1);
  if (!e || !HOST.test(e[0]!)) return undefined;
  const labels = reversedLabels(e[0]!);
  return labels.length === 0 ? undefined : textPath(labels, path.drop(1));
}

/** `/pfx/foo.buoyant.io/rest` → `/pfx/io/buoyant/foo/rest` */
function domainToPathPfx(path: Path): Path | undefined {
  const e = firstElems(path, 2);
  if (!e || !HOST.test(e[1]!)) return undefined;
  return textPath([e[0]!, ...reversedLabels(e[1]!)], path.drop(2));
}

/** Keyed by the element after `/$/`. */
export const httpRewriters: Readonly<Record<string, RewritingNamer>> = {
  'io.buoyant.http.anyMethod': new RewritingNamer(anyMethod),
  'io.buoyant.http.anyMethodPfx': new RewritingNamer(anyMethodPfx),
  'io.buoyant.http.anyHost': new RewritingNamer(anyHost),
  'io.buoyant.http.anyHostPfx': new RewritingNamer(anyHostPfx),
  'io.buoyant.http.subdomainOf': new RewritingNamer(subdomainOf),
  'io.buoyant.http.subdomainOfPfx': new RewritingNamer(subdomainOfPfx),
  'io.buoyant.http.domainToPath': new RewritingNamer(domainToPath),
  'io.buoyant.http.domainToPathPfx': new RewritingNamer(domainToPathPfx),
};

/**
 * The naming core as the linker uses it: the parser, the binder over the configured namers
 * (plus the built-in `/$/` ones), and each router's interpreter transformers.
 */
import type { LinkerdConfig, RouterConfig } from '../config/types.js';
import { Dtab, bind as bindPath, readDtab, readPath } from '../naming/index.js';
import type { Path } from '../naming/path.js';
import { createNamers } from '../namers/registry.js';
import { createTransformers, transformBinder } from '../transformers/index.js';
import type { NamingDeps } from './linker.js';
import { namerdInterpreter } from '../interpreters/index.js';

export function namingDeps(): NamingDeps<Dtab> {
  let namers: ReturnType<typeof createNamers> | undefined;
  let linker: LinkerdConfig | undefined;
  return {
    readDtab,
    readPath,
    binder(config: LinkerdConfig) {
      linker = config;
      namers = createNamers(config.namers as unknown as Parameters<typeof createNamers>[0], { file: config.file, readPath });
      const n = namers;
      return (dtab: Dtab, path: Path) => bindPath(dtab, path, n);
    },
    interpreter(router: RouterConfig, bind) {
      const transformers = createTransformers(router.interpreter['transformers'] as readonly Readonly<Record<string, unknown>>[] | undefined, {
        bindGlobal: (p: Path) => bindPath(Dtab.empty, p, { configured: [], global: namers?.global }),
      });
      // io.l5d.mesh / io.l5d.namerd.http: namerd binds instead of the local namers (as Linkerd);
      // the router's dtab (base ++ request dentries) is sent whole, as Linkerd sends it.
      const where = { file: linker?.file, keyPath: `routers[${linker ? linker.routers.indexOf(router) : 0}].interpreter` };
      const remote = namerdInterpreter(router.interpreter as Readonly<Record<string, unknown>>, readPath, where);
      const base = remote ? (dtab: Dtab, path: Path) => remote.bind(dtab, path) : bind;
      return transformBinder(transformers, base);
    },
  };
}

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
import { MeshInterpreter } from '../interpreters/mesh.js';

export function namingDeps(): NamingDeps<Dtab> {
  let namers: ReturnType<typeof createNamers> | undefined;
  return {
    readDtab,
    readPath,
    binder(config: LinkerdConfig) {
      namers = createNamers(config.namers as unknown as Parameters<typeof createNamers>[0], { file: config.file, readPath });
      const n = namers;
      return (dtab: Dtab, path: Path) => bindPath(dtab, path, n);
    },
    interpreter(router: RouterConfig, bind) {
      const transformers = createTransformers(router.interpreter['transformers'] as readonly Readonly<Record<string, unknown>>[] | undefined, {
        bindGlobal: (p: Path) => bindPath(Dtab.empty, p, { configured: [], global: namers?.global }),
      });
      // io.l5d.mesh: namerd binds instead of the local namers (as Linkerd); the router's dtab
      // (base ++ request dentries) travels as the request-local dtab.
      const base =
        router.interpreter.kind === 'io.l5d.mesh'
          ? ((m: MeshInterpreter) => (dtab: Dtab, path: Path) => m.bind(dtab, path))(new MeshInterpreter(router.interpreter as never, readPath))
          : bind;
      return transformBinder(transformers, base);
    },
  };
}

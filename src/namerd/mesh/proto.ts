/**
 * Loads the io.linkerd.mesh API definition (proto/mesh.proto) once, for the namerd server
 * and the proxy-side `io.l5d.mesh` interpreter alike.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

function protoFile(): string {
  // Compiled code runs from dist/src/namerd/mesh; sources from src/namerd/mesh.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'mesh.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('proto/mesh.proto not found next to the meshwork package');
}

export interface MeshServices {
  Interpreter: grpc.ServiceClientConstructor;
  Resolver: grpc.ServiceClientConstructor;
  Delegator: grpc.ServiceClientConstructor;
  Codec: grpc.ServiceClientConstructor;
}

let loaded: MeshServices | undefined;

export function meshServices(): MeshServices {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(protoFile(), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { io: { linkerd: { mesh: MeshServices } } };
  loaded = pkg.io.linkerd.mesh;
  return loaded;
}

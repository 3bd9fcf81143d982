/**
 * Loads the io.linkerd.mesh API definition (proto/mesh.proto) once, for the namerd server
 * and the proxy-side `io.l5d.mesh` interpreter alike.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoFile } from '../proto-file.js';

export interface MeshServices {
  Interpreter: grpc.ServiceClientConstructor;
  Resolver: grpc.ServiceClientConstructor;
  Delegator: grpc.ServiceClientConstructor;
  Codec: grpc.ServiceClientConstructor;
}

let loaded: MeshServices | undefined;

export function meshServices(): MeshServices {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(protoFile('mesh.proto'), {
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

/** The part of node-zookeeper-client (which ships no types) that the zk store, the curator namer and their tests use. */
declare module 'node-zookeeper-client' {
  import type { EventEmitter } from 'node:events';

  export interface Stat {
    readonly czxid: Buffer;
    readonly mzxid: Buffer;
    readonly version: number;
  }
  export class Id {
    constructor(scheme: string, id: string);
  }
  export class ACL {
    constructor(permission: number, id: Id);
  }
  export interface ZkEvent {
    getType(): number;
    getName(): string;
    getPath(): string;
  }
  export interface ZkException extends Error {
    getCode(): number;
    getName(): string;
  }
  export interface ZkState {
    getName(): string;
    getCode(): number;
  }
  export type Watcher = (event: ZkEvent) => void;
  export interface Client extends EventEmitter {
    connect(): void;
    close(): void;
    getState(): ZkState;
    addAuthInfo(scheme: string, auth: Buffer): void;
    create(path: string, data: Buffer, acls: ACL[], mode: number, cb: (err: ZkException | null, path: string) => void): void;
    mkdirp(path: string, data: Buffer | null, acls: ACL[], mode: number, cb: (err: ZkException | null, path: string) => void): void;
    remove(path: string, version: number, cb: (err: ZkException | null) => void): void;
    setData(path: string, data: Buffer, version: number, cb: (err: ZkException | null, stat: Stat) => void): void;
    getData(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, data: Buffer | undefined, stat: Stat) => void): void;
    exists(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, stat: Stat | null) => void): void;
    getChildren(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, children: string[], stat: Stat) => void): void;
  }
  export function createClient(connectionString: string, options?: { sessionTimeout?: number; spinDelay?: number; retries?: number }): Client;
  export const Permission: { READ: number; WRITE: number; CREATE: number; DELETE: number; ADMIN: number; ALL: number };
  export const CreateMode: { PERSISTENT: number; EPHEMERAL: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL_SEQUENTIAL: number };
  export const State: { SYNC_CONNECTED: ZkState; DISCONNECTED: ZkState; EXPIRED: ZkState; AUTH_FAILED: ZkState };
  export const Event: { NODE_CREATED: number; NODE_DELETED: number; NODE_DATA_CHANGED: number; NODE_CHILDREN_CHANGED: number };
  export const Exception: { NO_NODE: number; NODE_EXISTS: number; BAD_VERSION: number; NOT_EMPTY: number; CONNECTION_LOSS: number; NO_AUTH: number };
  const zookeeper: {
    createClient: typeof createClient;
    ACL: typeof ACL;
    Id: typeof Id;
    Permission: typeof Permission;
    CreateMode: typeof CreateMode;
    State: typeof State;
    Event: typeof Event;
    Exception: typeof Exception;
  };
  export default zookeeper;
}

/**
 * node-zookeeper-client, loaded when first used: a linker whose config names no ZooKeeper
 * (most of them) should not hold the library (about 2 MB resident), so the modules that may
 * need it at run time (the io.l5d.curator namer) reach it through `zkLib()`.
 */
import { createRequire } from 'node:module';
import type zookeeper from 'node-zookeeper-client';
import type { Client } from 'node-zookeeper-client';

export type ZkLib = typeof zookeeper;

let lib: ZkLib | undefined;

export function zkLib(): ZkLib {
  return (lib ??= createRequire(import.meta.url)('node-zookeeper-client') as ZkLib);
}

interface ConnectionManagerInternals {
  socket?: { destroy(): void };
  connect(): void;
  onSocketConnected(): void;
}

/**
 * Closes a client in any state. The library's close() only works on a connected client (it
 * writes a close-session request to the socket); one still connecting is stopped by making
 * its reconnect a no-op and dropping its socket.
 */
export function forceClose(c: Client): void {
  c.removeAllListeners();
  c.on('error', () => {});
  if (c.getState() === zkLib().State.SYNC_CONNECTED) {
    c.close();
    return;
  }
  const cm = (c as unknown as { connectionManager: ConnectionManagerInternals }).connectionManager;
  cm.connect = () => {};
  cm.onSocketConnected = function (this: ConnectionManagerInternals) {
    this.socket?.destroy();
  };
  cm.socket?.destroy();
}

/**
 * The process's one read buffer for sockets that read through Node's `onread` without owning
 * their buffer: the http1 engine's accepted client connections (http1/adopt.ts) and the tcp
 * router's upstream connections (tcp/onread.ts). A read's callback runs synchronously after
 * its system call and must copy what it keeps, so every such socket can share it.
 */
export const SHARED_READ_SIZE = 64 * 1024;
export const SHARED_READ = Buffer.allocUnsafeSlow(SHARED_READ_SIZE);

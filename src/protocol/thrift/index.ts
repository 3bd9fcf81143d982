/** The thrift wire module (see wire.ts). */
export * from './wire.js';

/**
 * An in-test DNS server on loopback UDP answering SRV and A queries from mutable tables.
 * A name in neither table gets NXDOMAIN (rcode 3). Enough of RFC 1035 for node:dns.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface SrvTarget {
  priority?: number;
  weight?: number;
  port: number;
  target: string;
}

export interface FakeDns {
  readonly host: string;
  readonly port: number;
  readonly srv: Map<string, SrvTarget[]>;
  readonly a: Map<string, string[]>;
  /** Queries received, by `TYPE name`. */
  readonly queries: string[];
  close(): Promise<void>;
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p.length > 0);
  const bufs = parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function readName(msg: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = off;
  for (let n = 0; n < 128; n++) {
    const len = msg[i]!;
    if (len === 0) return { name: labels.join('.'), end: i + 1 };
    labels.push(msg.toString('ascii', i + 1, i + 1 + len));
    i += 1 + len;
  }
  throw new Error('name too long');
}

function rr(name: string, type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2);
  head.writeUInt32BE(5, 4);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), head, rdata]);
}

export async function startFakeDns(): Promise<FakeDns> {
  const sock: Socket = createSocket('udp4');
  const srv = new Map<string, SrvTarget[]>();
  const a = new Map<string, string[]>();
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    const key = name.toLowerCase();
    queries.push(`${qtype === 33 ? 'SRV' : qtype === 1 ? 'A' : String(qtype)} ${key}`);
    const answers: Buffer[] = [];
    const known = srv.has(key) || a.has(key);
    if (qtype === 33) {
      for (const t of srv.get(key) ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(t.priority ?? 10, 0);
        fixed.writeUInt16BE(t.weight ?? 1, 2);
        fixed.writeUInt16BE(t.port, 4);
        answers.push(rr(name, 33, Buffer.concat([fixed, encodeName(t.target)])));
      }
    } else if (qtype === 1) {
      for (const ip of a.get(key) ?? []) answers.push(rr(name, 1, Buffer.from(ip.split('.').map(Number))));
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, RD, RA, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    sock.send(Buffer.concat([header, question, ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', res));
  const port = sock.address().port;
  return {
    host: '127.0.0.1',
    port,
    srv,
    a,
    queries,
    close: () => new Promise<void>((res) => sock.close(() => res())),
  };
}

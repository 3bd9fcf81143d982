/**
 * HTTP/2 at the byte level for tests that act as a raw client or upstream of the proxy: frames
 * (RFC 9113 §4.1), HPACK integers, strings, the Huffman code and the static table, and a
 * decoder of header blocks (RFC 7541). Written apart from src/protocol on purpose, so the proxy
 * is checked against an independent codec; keep it free of imports from src/.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const F_DATA = 0;
export const F_HEADERS = 1;
export const F_PRIORITY = 2;
export const F_RST = 3;
export const F_SETTINGS = 4;
export const F_PUSH = 5;
export const F_PING = 6;
export const F_GOAWAY = 7;
export const F_WINDOW = 8;
export const F_CONT = 9;
export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY_FLAG = 0x20;

/** One frame; `declared` is the length its header states (a fuzz may make it disagree with the payload). */
export function h2frame(type: number, flags: number, stream: number, payload: Buffer, declared = payload.length): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(declared & 0xffffff, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** A SETTINGS payload of (identifier, value) pairs. */
export function settingsPayload(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const p = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(v >>> 0, 6 * i + 2);
  });
  return p;
}

/** An HPACK integer with an N-bit prefix; `high` is the representation's pattern bits. */
export function hpackInt(value: number, prefix: number, high: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([high | value]);
  const out = [high | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

// The Huffman code of RFC 7541 Appendix B is canonical: it follows from the code lengths of
// symbols 0..256, given here as letters (A = 5 bits).
const HUFFMAN_LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';
/** Per symbol, [code, length]; and per code length, code -> symbol. */
const { HUFF_CODES, HUFF_DECODE } = (() => {
  const lens = [...HUFFMAN_LENGTHS].map((c) => c.charCodeAt(0) - 65 + 5);
  const order = lens.map((_, s) => s).sort((a, b) => lens[a]! - lens[b]! || a - b);
  const codes: Array<[number, number]> = new Array(257);
  const byLen: Array<Map<number, number>> = Array.from({ length: 31 }, () => new Map());
  let code = 0;
  let prev = lens[order[0]!]!;
  for (const s of order) {
    code *= 2 ** (lens[s]! - prev);
    prev = lens[s]!;
    byLen[prev]!.set(code, s);
    codes[s] = [code, prev];
    code++;
  }
  return { HUFF_CODES: codes, HUFF_DECODE: byLen };
})();

export function huffmanEncode(s: Buffer): Buffer {
  const out: number[] = [];
  let cur = 0;
  let n = 0;
  for (const byte of s) {
    const [code, len] = HUFF_CODES[byte]!;
    for (let k = len - 1; k >= 0; k--) {
      cur = (cur << 1) | ((code >>> k) & 1);
      if (++n === 8) {
        out.push(cur);
        cur = 0;
        n = 0;
      }
    }
  }
  if (n > 0) out.push(((cur << (8 - n)) | ((1 << (8 - n)) - 1)) & 0xff);
  return Buffer.from(out);
}

/** The string, or undefined when `b` is not a valid Huffman encoding. */
export function huffmanDecode(b: Buffer): string | undefined {
  let out = '';
  let code = 0;
  let len = 0;
  for (const byte of b) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      if (len > 30) return undefined;
      const sym = HUFF_DECODE[len]!.get(code);
      if (sym === undefined) continue;
      if (sym === 256) return undefined; // EOS inside a string
      out += String.fromCharCode(sym);
      code = 0;
      len = 0;
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  return len < 8 && code === 2 ** len - 1 ? out : undefined;
}

/** An HPACK string literal, raw or Huffman-encoded. */
export function hpackString(s: string, huffman = false): Buffer {
  const raw = Buffer.from(s, 'latin1');
  const b = huffman ? huffmanEncode(raw) : raw;
  return Buffer.concat([hpackInt(b.length, 7, huffman ? 0x80 : 0), b]);
}

export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'],
  ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''], ['content-location', ''], ['content-range', ''], ['content-type', ''],
  ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''],
  ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''],
  ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** Decodes one peer's header blocks in order, keeping its dynamic table. */
export class HpackDecoder {
  private table: Array<readonly [string, string]> = [];
  private size = 0;
  private max = 4096;

  /** `sizeLimit`: the largest dynamic table size update taken (what this side announced in SETTINGS). */
  constructor(private readonly sizeLimit = 4096) {}

  /** Fields as [name, value, never-indexed], or why the block does not decode. */
  decode(block: Buffer): Array<[string, string, boolean]> | string {
    const out: Array<[string, string, boolean]> = [];
    let at = 0;
    const int = (prefix: number): number | undefined => {
      const max = (1 << prefix) - 1;
      let v = block[at++]! & max;
      if (v < max) return v;
      for (let m = 1; at < block.length && m < 2 ** 28; m *= 128) {
        const b = block[at++]!;
        v += (b & 127) * m;
        if ((b & 128) === 0) return v;
      }
      return undefined;
    };
    const str = (): string | undefined => {
      if (at >= block.length) return undefined;
      const huff = (block[at]! & 0x80) !== 0;
      const n = int(7);
      if (n === undefined || at + n > block.length) return undefined;
      const raw = block.subarray(at, at + n);
      at += n;
      return huff ? huffmanDecode(raw) : raw.toString('latin1');
    };
    const entry = (i: number): readonly [string, string] | undefined => (i >= 1 && i <= 61 ? STATIC_TABLE[i - 1] : this.table[i - 62]);
    while (at < block.length) {
      const b = block[at]!;
      if (b & 0x80) {
        const e = entry(int(7) ?? 0);
        if (e === undefined) return `bad index at ${at}`;
        out.push([e[0], e[1], false]);
      } else if ((b & 0xe0) === 0x20) {
        const n = int(5);
        if (n === undefined || n > this.sizeLimit) return 'bad table size update';
        this.max = n;
        this.evict();
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const never = (b & 0xf0) === 0x10;
        const idx = int(indexing ? 6 : 4);
        if (idx === undefined) return 'bad literal';
        const name = idx === 0 ? str() : entry(idx)?.[0];
        const value = str();
        if (name === undefined || value === undefined) return `bad literal at ${at}`;
        out.push([name, value, never]);
        if (indexing) {
          this.table.unshift([name, value]);
          this.size += name.length + value.length + 32;
          this.evict();
        }
      }
    }
    return out;
  }

  private evict(): void {
    while (this.size > this.max && this.table.length > 0) {
      const [n, v] = this.table.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

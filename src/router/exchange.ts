/**
 * The call contract of the router's stacks. A request travels as one `Exchange` (a class with
 * stable fields, filled as it moves down the stack); every layer is `(next: Call) => Call`
 * over it, composed once when a service or client stack is built.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Path } from '../naming/path.js';

/** What the upstream answered: a head, and the body still streaming. */
export interface UpstreamResponse {
  readonly status: number;
  readonly statusMessage: string;
  /** Raw header pairs `[name, value, ...]` as received (hop-by-hop still present). */
  readonly rawHeaders: readonly string[];
  /** The body; absent for an upgraded connection. */
  readonly body: IncomingMessage | undefined;
  /** Set when the upstream switched protocols (101): the raw upstream socket and its first bytes. */
  readonly upgraded: { readonly socket: Duplex; readonly head: Buffer } | undefined;
}

export type Call = (ex: Exchange) => Promise<UpstreamResponse>;

/** A named layer (Finagle's Stack.Module): its role names it when a stack is printed. */
export interface Layer {
  readonly role: string;
  make(next: Call): Call;
}

/** Composes layers once: the first layer is the outermost. */
export function compose(layers: readonly Layer[], terminal: Call): Call {
  let call = terminal;
  for (let i = layers.length - 1; i >= 0; i--) call = layers[i]!.make(call);
  return call;
}

export const enum BodyKind {
  None = 0,
  /** Fully read into `body` (small, replayable for retries). */
  Buffered = 1,
  /** Streams from `inbound`; replayable only until piping starts. */
  Stream = 2,
}

export class Exchange {
  /** Target sent upstream (origin-form), possibly rewritten by an identifier. */
  url: string;
  /** Outgoing raw header pairs, already edited by the server (hop-by-hop removed, l5d-* set). */
  headers: string[];
  bodyKind: BodyKind;
  body: Buffer | undefined = undefined;
  /** True once the inbound stream has started flowing upstream: no replay after that. */
  bodyConsumed = false;
  /** Logical name (Linkerd "service"), e.g. /svc/users. */
  dst: Path | undefined = undefined;
  /** Request dtab text (`l5d-ctx-dtab` ++ `l5d-dtab`), empty when none. */
  localDtab = '';
  /** Absolute deadline (ms since epoch) for the whole call, 0 = none. */
  deadline = 0;
  /** Attempts sent upstream (including retries and requeues). */
  attempts = 0;
  /** Bound id and residual of the client chosen for the current attempt. */
  clientId = '';
  residual = '';
  /** Set when the caller went away: layers stop retrying. */
  aborted = false;
  /** Aborts the attempt in flight (set by the forwarder, called when the caller goes away). */
  cancel: (() => void) | undefined = undefined;

  constructor(
    readonly inbound: IncomingMessage,
    readonly method: string,
    url: string,
    headers: string[],
    bodyKind: BodyKind,
    /** `Expect: 100-continue`: the server answers 100 only once the upstream does. */
    readonly expectContinue: boolean,
    /** Called when the upstream sent 100 Continue (server writes its own 100). */
    readonly onContinue: (() => void) | undefined,
    /** For `Connection: Upgrade` requests: the client socket and bytes read past the head. */
    readonly upgrade: { readonly socket: Duplex; readonly head: Buffer } | undefined,
  ) {
    this.url = url;
    this.headers = headers;
    this.bodyKind = bodyKind;
  }

  /** A retry may send this request again only if its body can be replayed. */
  get replayable(): boolean {
    return this.bodyKind !== BodyKind.Stream || !this.bodyConsumed;
  }

  setHeader(name: string, value: string): void {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i]!.toLowerCase() === name) {
        h[i + 1] = value;
        // Drop later duplicates so the header has exactly this value.
        for (let j = h.length - 2; j > i; j -= 2) if (h[j]!.toLowerCase() === name) h.splice(j, 2);
        return;
      }
    }
    h.push(name, value);
  }

  removeHeader(name: string): void {
    const h = this.headers;
    for (let j = h.length - 2; j >= 0; j -= 2) if (h[j]!.toLowerCase() === name) h.splice(j, 2);
  }
}

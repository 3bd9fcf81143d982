/**
 * Linkerd's h2 stream keys of a server or client config (protocol-h2.md) as the node:http2
 * SETTINGS they configure. Values were range-checked at validation (config/router-fields.ts).
 */
import type { H2Settings } from '../../protocol/h2/server.js';

type Obj = Readonly<Record<string, unknown>>;

/** The SETTINGS `cfg` configures; undefined when it configures none (node's defaults). */
export function h2Settings(cfg: Obj): H2Settings | undefined {
  const out: { -readonly [K in keyof H2Settings]: H2Settings[K] } = {};
  let any = false;
  const take = (key: string, setting: keyof H2Settings): void => {
    const v = cfg[key];
    if (typeof v === 'number') {
      out[setting] = v;
      any = true;
    }
  };
  take('headerTableBytes', 'headerTableSize');
  take('initialStreamWindowBytes', 'initialWindowSize');
  take('maxFrameBytes', 'maxFrameSize');
  // protocol-h2.md spells it `maxHeaderListByts`; the correct spelling wins when both are set.
  take('maxHeaderListByts', 'maxHeaderListSize');
  take('maxHeaderListBytes', 'maxHeaderListSize');
  return any ? out : undefined;
}

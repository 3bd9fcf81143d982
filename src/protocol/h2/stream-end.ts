/**
 * Tells a client stream whose readable side node:http2 ended because the peer reset it from one
 * that ended with END_STREAM. node:http2 ends both alike, and on RST_STREAM NO_ERROR its
 * `rstCode` says nothing either; but on a reset it closes the stream before it ends the readable
 * side, while END_STREAM ends the readable side of a stream still open (the close, if any, comes
 * after). So the stream's `closed` at the moment its end is first pushed tells them apart,
 * wherever the end is read later (a paused stream reads it only once resumed; node pushes the end
 * again when the stream closes, which is why only the first counts). RFC 9113 §8.1 allows
 * RST_STREAM NO_ERROR only after a complete response: before END_STREAM it cuts one.
 */
import type * as http2 from 'node:http2';

const ENDED_BY_RESET = Symbol('endedByReset');
const END_PUSHED = Symbol('endPushed');
type EndWatched = http2.ClientHttp2Stream & { [ENDED_BY_RESET]?: boolean; [END_PUSHED]?: boolean };

/** Starts watching how `stream`'s readable side ends (before any frame for it is read). */
export function watchEnd(stream: http2.ClientHttp2Stream): void {
  const push = stream.push;
  stream.push = function (this: EndWatched, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null && this[END_PUSHED] !== true) {
      this[END_PUSHED] = true;
      if (this.closed) this[ENDED_BY_RESET] = true;
    }
    return push.call(this, chunk, encoding);
  };
}

/** The stream's readable side ended because the peer reset it, not with END_STREAM (see above). */
export function endedByReset(stream: http2.ClientHttp2Stream): boolean {
  return (stream as EndWatched)[ENDED_BY_RESET] === true;
}

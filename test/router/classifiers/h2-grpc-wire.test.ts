/**
 * The gRPC classifiers against what @grpc/grpc-js actually puts on the wire: a real grpc-js
 * server on loopback, a raw node:http2 client, and the classifier fed the response headers,
 * the trailers and the way the stream ended. Checks the assumption the classifiers rest on: a
 * normal response carries grpc-status in trailers (undecided at the headers), an error sent
 * before any message is a trailers-only response (grpc-status in the headers, no trailers).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { createH2Classifier, type H2ResponseClassifier } from '../../../src/router/classifiers/h2.js';
import type { ResponseClass } from '../../../src/router/classifiers/classifier.js';

const raw = (b: Buffer): Buffer => b;
function method(path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: false, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}

// A service without a .proto: bytes in, bytes out. The request body names the gRPC code to fail with.
const service: grpc.ServiceDefinition = {
  Unary: method('/wire.Test/Unary', false),
  StreamThenFail: method('/wire.Test/StreamThenFail', true),
};

function codeOf(req: Buffer): number {
  return Number(req.toString('utf8'));
}

const handlers: grpc.UntypedServiceImplementation = {
  Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    const code = codeOf(call.request);
    if (code === 0) cb(null, Buffer.from('ok'));
    else cb({ code, details: `failed with ${code}` });
  },
  // One message, then the status: grpc-status must come in trailers after data.
  StreamThenFail: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
    const code = codeOf(call.request);
    call.write(Buffer.from('first'), () => {
      if (code === 0) call.end();
      else call.emit('error', { code, details: `failed with ${code}` });
    });
  },
};

let server: grpc.Server;
let session: http2.ClientHttp2Session;

before(async () => {
  server = new grpc.Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  session = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connect timed out')), 5000);
    session.once('connect', () => (clearTimeout(t), resolve()));
    session.once('error', (e) => (clearTimeout(t), reject(e)));
  });
});

after(async () => {
  await new Promise<void>((resolve) => session.close(() => resolve()));
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

interface Exchange {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  /** undefined when the stream ended without a trailers frame (trailers-only response). */
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  readonly dataBytes: number;
}

/** One gRPC call over the raw session: a length-prefixed message, then the whole response. */
function call(path: string, body: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const msg = Buffer.from(body, 'utf8');
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt8(0, 0);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`${path}: no response within 5s`));
    }, 5000);
    let headers: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let dataBytes = 0;
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => (dataBytes += d.length));
    req.on('error', (e) => (clearTimeout(timer), reject(e)));
    req.on('end', () => {
      clearTimeout(timer);
      if (headers === undefined) return reject(new Error(`${path}: ended without headers`));
      resolve({ status: Number(headers[':status']), headers, trailers, dataBytes });
    });
    req.end(frame);
  });
}

/** What an h2 router does with a classifier: headers first, the end only when undecided. */
function classify(c: H2ResponseClassifier, x: Exchange): { atHeaders: ResponseClass | undefined; final: ResponseClass } {
  const atHeaders = c.classifyHeaders('POST', x.status, x.headers);
  return { atHeaders, final: atHeaders ?? c.classifyEnd('POST', x.status, x.headers, x.trailers ?? {}) };
}

const dflt = createH2Classifier({ kind: 'io.l5d.h2.grpc.default' });
const userCodes = createH2Classifier({ kind: 'io.l5d.h2.grpc.retryableStatusCodes', retryableStatusCodes: [5], successStatusCodes: [0, 9] });

test('grpc-js OK: status in trailers after the message; undecided at the headers, success at the end', async () => {
  const x = await call('/wire.Test/Unary', '0');
  assert.equal(x.status, 200);
  assert.equal(x.headers['grpc-status'], undefined);
  assert.equal(x.trailers?.['grpc-status'], '0');
  assert.equal(x.dataBytes, 5 + 2);
  assert.deepEqual(classify(dflt, x), { atHeaders: undefined, final: 'success' });
  assert.deepEqual(classify(userCodes, x), { atHeaders: undefined, final: 'success' });
});

test('grpc-js error before any message: trailers-only, grpc-status in the headers', async () => {
  const expected: [number, ResponseClass, ResponseClass][] = [
    // code, default, retryableStatusCodes [5] with successStatusCodes [0, 9]
    [14, 'retryable-failure', 'failure'],
    [5, 'failure', 'retryable-failure'],
    [9, 'failure', 'success'],
    [13, 'failure', 'failure'],
  ];
  for (const [code, d, u] of expected) {
    const x = await call('/wire.Test/Unary', String(code));
    assert.equal(x.status, 200);
    assert.equal(x.headers['grpc-status'], String(code));
    assert.equal(x.headers['grpc-message'], `failed%20with%20${code}`);
    assert.equal(x.trailers, undefined, 'no trailers frame');
    assert.equal(x.dataBytes, 0);
    assert.deepEqual(classify(dflt, x), { atHeaders: d, final: d }, `default, code ${code}`);
    assert.deepEqual(classify(userCodes, x), { atHeaders: u, final: u }, `retryableStatusCodes, code ${code}`);
  }
});

test('grpc-js unknown method: trailers-only UNIMPLEMENTED (12)', async () => {
  const x = await call('/wire.Test/Missing', '0');
  assert.equal(x.status, 200);
  assert.equal(x.headers['grpc-status'], '12');
  assert.equal(x.trailers, undefined);
  assert.deepEqual(classify(dflt, x), { atHeaders: 'failure', final: 'failure' });
  const always = createH2Classifier({ kind: 'io.l5d.h2.grpc.alwaysRetryable' });
  assert.deepEqual(classify(always, x), { atHeaders: 'retryable-failure', final: 'retryable-failure' });
});

test('grpc-js error after a message: grpc-status in trailers, decided at the end', async () => {
  for (const [code, d] of [[14, 'retryable-failure'], [4, 'failure'], [0, 'success']] as const) {
    const x = await call('/wire.Test/StreamThenFail', String(code));
    assert.equal(x.status, 200);
    assert.equal(x.headers['grpc-status'], undefined);
    assert.equal(x.trailers?.['grpc-status'], String(code));
    assert.equal(x.dataBytes, 5 + 5);
    assert.deepEqual(classify(dflt, x), { atHeaders: undefined, final: d }, `code ${code}`);
  }
});

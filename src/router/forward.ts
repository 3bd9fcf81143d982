/**
 * The terminal of a client stack: send one attempt of an exchange to one endpoint over a
 * pooled keep-alive connection (Node's http Agent) and resolve with the response head; the
 * body keeps streaming with backpressure. Streaming request bodies start flowing only once
 * the connection is up, so a connection failure leaves the request replayable (requeue).
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { BodyKind, type Exchange, type UpstreamResponse } from './exchange.js';
import { RouterError } from './errors.js';

export interface ForwardTarget {
  readonly host: string;
  readonly port: number;
  readonly agent: http.Agent;
  /** Printed in error messages, e.g. `127.0.0.1:8080`. */
  readonly label: string;
}

export function forward(ex: Exchange, target: ForwardTarget, attemptTimeoutMs: number): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => {
    let connected = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const creq = http.request({
      host: target.host,
      port: target.port,
      method: ex.method,
      path: ex.url,
      headers: ex.headers,
      agent: ex.upgrade === undefined ? target.agent : false,
      setHost: false,
    });
    ex.attempts++;

    const fail = (err: RouterError): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      ex.cancel = undefined;
      reject(err);
    };
    const succeed = (r: UpstreamResponse): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(r);
    };

    ex.cancel = () => {
      creq.destroy();
      fail(new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'request cancelled by the caller', { interrupted: true }));
    };

    if (attemptTimeoutMs > 0) {
      timer = setTimeout(() => {
        creq.destroy();
        fail(
          new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${attemptTimeoutMs}ms request attempt timeout to ${target.label}`, {
            interrupted: true,
          }),
        );
      }, attemptTimeoutMs);
    }

    const sendBody = (): void => {
      switch (ex.bodyKind) {
        case BodyKind.None:
          creq.end();
          break;
        case BodyKind.Buffered:
          creq.end(ex.body);
          break;
        case BodyKind.Stream:
          ex.bodyConsumed = true;
          ex.inbound.pipe(creq);
          break;
      }
    };

    creq.on('socket', (s: Socket) => {
      if (s.connecting) {
        s.once('connect', () => {
          connected = true;
          if (!ex.expectContinue && ex.bodyKind === BodyKind.Stream) sendBody();
        });
      } else {
        connected = true;
        if (!ex.expectContinue && ex.bodyKind === BodyKind.Stream) sendBody();
      }
    });
    if (ex.expectContinue) {
      // The caller waits for our 100; we give it only once the upstream gave theirs.
      creq.flushHeaders();
      creq.once('continue', () => {
        ex.onContinue?.();
        sendBody();
      });
    } else if (ex.bodyKind !== BodyKind.Stream) {
      sendBody();
    }

    creq.on('response', (res) => {
      if (ex.expectContinue && !ex.bodyConsumed) {
        // Final answer without 100: the body was never sent, so the connection cannot be reused.
        res.once('end', () => creq.destroy());
      }
      succeed({ status: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: res, upgraded: undefined });
    });
    creq.on('upgrade', (res, socket, head) => {
      succeed({
        status: res.statusCode ?? 101,
        statusMessage: res.statusMessage ?? '',
        rawHeaders: res.rawHeaders,
        body: undefined,
        upgraded: { socket, head },
      });
    });
    creq.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      // Not connected: nothing reached the upstream. A reused keep-alive connection that the
      // upstream closed under us is the same case as long as no body bytes left.
      const safe = !connected || (creq.reusedSocket && ex.replayable);
      if (!connected) {
        fail(
          new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', `connection to ${target.label} failed: ${err.code ?? err.message}`, {
            retryable: true,
          }),
        );
      } else {
        fail(
          new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', `connection to ${target.label} closed before a response: ${err.code ?? err.message}`, {
            retryable: safe,
          }),
        );
      }
    });
  });
}

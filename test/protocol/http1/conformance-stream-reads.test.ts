/**
 * The conformance suite again with client sockets read by 'data' events (the path taken when
 * an accepted socket cannot be adopted into an `onread` socket; see adopt.ts).
 */
process.env['MESHWORK_HTTP1_STREAM_READS'] = '1';
await import('./conformance.test.js');

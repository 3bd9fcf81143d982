/**
 * The x-forwarded-client-cert value for certificates with special characters: RFC 2253 order
 * and escapes without double escaping, a multi-valued RDN, non-ASCII names as UTF-8 hex escapes
 * (a header-safe value), and SANs made header-safe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xfccValue } from '../../src/router/client-cert.js';

test('xfccValue: RFC 2253 subject (reversed, escaped once, + inside an RDN, UTF-8 as \\XX), URI and DNS names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xfcc-'));
  try {
    const r = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1',
      '-utf8', '-subj', '/C=US/O=Acme, Inc./CN=张三+OU=x', '-addext', 'subjectAltName=URI:spiffe://a/b,DNS:x.test',
    ], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const hash = createHash('sha256').update(der).digest('hex').toUpperCase();
    const v = xfccValue(der);
    assert.equal(v, `Hash=${hash};SAN=spiffe://a/b;DNS=x.test;Subject="OU=x+CN=\\E5\\BC\\A0\\E4\\B8\\89,O=Acme\\, Inc.,C=US"`);
    assert.match(v, /^[\x20-\x7e]+$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

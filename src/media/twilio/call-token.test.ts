import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { CallTokenError, issueCallToken, verifyCallToken } from './call-token.js';

const SECRET = 'a-test-secret-of-sufficient-length';
const CALL = 'CA0123456789abcdef0123456789abcdef';
const NOW = Date.UTC(2026, 0, 15, 9, 30);

test('a fresh token verifies for its call until it expires', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 60, now: NOW });
  assert.ok(token.length < 120, `compact: ${token.length} chars`);
  assert.match(token, /^[A-Za-z0-9_-]+\.[0-9a-z]+\.[A-Za-z0-9_-]{43}$/);
  assert.equal(verifyCallToken(SECRET, token, CALL, NOW), { ok: true });
  assert.equal(verifyCallToken(SECRET, token, CALL, NOW + 59_999), { ok: true });
  assert.equal(verifyCallToken(SECRET, token, CALL, NOW + 60_000), { ok: false, reason: 'expired' });
  assert.equal(verifyCallToken(SECRET, token, CALL, NOW + 3_600_000), { ok: false, reason: 'expired' });
  // Default clock: issued now, valid now.
  assert.equal(verifyCallToken(SECRET, issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 30 }), CALL), { ok: true });
  // Buffer secrets work the same as strings with the same bytes.
  assert.equal(verifyCallToken(Buffer.from(SECRET), token, CALL, NOW), { ok: true });
});

test('the signature is an HMAC-SHA256 over call and expiry (independent computation)', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  assert.is(Buffer.from(callPart, 'base64url').toString(), CALL);
  assert.is(parseInt(expiryPart, 36), NOW + 60_000);
  assert.is(macPart, createHmac('sha256', SECRET).update(`${callPart}.${expiryPart}`).digest('base64url'));
});

test('a token for another call is refused', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 60, now: NOW });
  assert.equal(verifyCallToken(SECRET, token, 'CA9999999999abcdef0123456789abcdef', NOW), { ok: false, reason: 'wrong-call' });
  assert.equal(verifyCallToken(SECRET, token, '', NOW), { ok: false, reason: 'wrong-call' });
});

test('tampering with any part, or another secret, breaks the signature', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  const otherCall = Buffer.from('CA9999999999abcdef0123456789abcdef').toString('base64url');
  const later = (NOW + 86_400_000).toString(36);
  const flipped = macPart.slice(0, 10) + (macPart[10] === 'A' ? 'B' : 'A') + macPart.slice(11);
  const bad = { ok: false, reason: 'bad-signature' };
  assert.equal(verifyCallToken(SECRET, `${otherCall}.${expiryPart}.${macPart}`, 'CA9999999999abcdef0123456789abcdef', NOW), bad);
  assert.equal(verifyCallToken(SECRET, `${callPart}.${later}.${macPart}`, CALL, NOW + 120_000), bad);
  assert.equal(verifyCallToken(SECRET, `${callPart}.${expiryPart}.${flipped}`, CALL, NOW), bad);
  assert.equal(verifyCallToken('another-secret-of-sufficient-len', token, CALL, NOW), bad);
  // A forged token claiming another call reads as a bad signature, not as 'wrong-call'.
  assert.equal(verifyCallToken(SECRET, `${otherCall}.${expiryPart}.${macPart}`, CALL, NOW), bad);
});

test('malformed tokens are reported as such', () => {
  const token = issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 60, now: NOW });
  const [callPart, expiryPart, macPart] = token.split('.');
  const malformed = { ok: false, reason: 'malformed' };
  for (const candidate of [
    '', 'abc', `${callPart}.${expiryPart}`, `${token}.x`, `${callPart}..${macPart}`, `.${expiryPart}.${macPart}`,
    `${callPart}.${expiryPart.toUpperCase()}.${macPart}`, `${callPart}.-1.${macPart}`, `${callPart}.${expiryPart}.${macPart.slice(0, 40)}`,
    `${callPart}.${expiryPart}.${macPart}AAAA`, `${callPart}+.${expiryPart}.${macPart}`, `${callPart}.${expiryPart}.${macPart.slice(0, 42)}=`,
    'x'.repeat(2000), 42, null, undefined, { token },
  ]) {
    assert.equal(verifyCallToken(SECRET, candidate, CALL, NOW), malformed, `candidate ${String(candidate).slice(0, 60)}`);
  }
});

test('weak secrets and bad arguments are typed errors', () => {
  const isCode = (code: string) => (e: unknown) => e instanceof CallTokenError && e.code === code;
  assert.throws(() => issueCallToken('short', { callSid: CALL, ttlSeconds: 60 }), isCode('weak-secret'));
  assert.throws(() => verifyCallToken('', 'a.b.c', CALL), isCode('weak-secret'));
  assert.throws(() => issueCallToken(SECRET, { callSid: '', ttlSeconds: 60 }), isCode('invalid-argument'));
  assert.throws(() => issueCallToken(SECRET, { callSid: CALL, ttlSeconds: 0 }), isCode('invalid-argument'));
  assert.throws(() => issueCallToken(SECRET, { callSid: CALL, ttlSeconds: Number.NaN }), isCode('invalid-argument'));
});

test.run();

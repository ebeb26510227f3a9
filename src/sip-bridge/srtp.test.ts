/**
 * SRTP against published vectors: RFC 3711 Appendix B.2 (AES-CM keystream) and B.3 (key derivation), and
 * libsrtp's srtp_driver reference packet (the same vectors other SRTP stacks test against).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aesCm, cryptoAttribute, deriveSessionKeys, parseCryptoAttribute, SrtpContext, SrtpError } from './srtp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');

test('RFC 3711 B.2: AES-CM keystream', () => {
  const keystream = aesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'), hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), Buffer.alloc(48));
  assert.is(keystream.toString('hex'), 'e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0');
});

test('RFC 3711 B.3: session keys from the master key and salt', () => {
  const keys = deriveSessionKeys(MASTER_KEY, MASTER_SALT);
  assert.is(keys.cipher.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
  assert.is(keys.salt.toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
  assert.is(keys.auth.toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
});

const RTP = hex('800f1234decafbad cafebabe abababab abababab abababab abababab');
const SRTP = hex('800f1234decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402 b78d6acc99ea179b8dbb');
const RTCP = hex('81c8000bcafebabe abababababababab abababababababab');
const SRTCP_INDEX_1 = hex('81c8000bcafebabe 7128035be487b9bd bef89041f977a5a8 80000001 993e08cd54d6c1230798');

test("libsrtp's reference packets: protect gives the ciphertext, unprotect the plaintext", () => {
  assert.equal(new SrtpContext(MASTER_KEY, MASTER_SALT).protect(RTP), SRTP);
  assert.equal(new SrtpContext(MASTER_KEY, MASTER_SALT).unprotect(SRTP), RTP);
  assert.equal(new SrtpContext(MASTER_KEY, MASTER_SALT).protectRtcp(RTCP, 1), SRTCP_INDEX_1);
  assert.equal(new SrtpContext(MASTER_KEY, MASTER_SALT).unprotectRtcp(SRTCP_INDEX_1), RTCP);
});

test('a tampered, truncated or replayed packet is refused', () => {
  const receiver = new SrtpContext(MASTER_KEY, MASTER_SALT);
  const tampered = Buffer.from(SRTP);
  tampered[20]! ^= 1;
  assert.throws(() => receiver.unprotect(tampered), (e: unknown) => e instanceof SrtpError && e.code === 'auth-failed');
  assert.throws(() => receiver.unprotect(SRTP.subarray(0, SRTP.length - 1)), (e: unknown) => e instanceof SrtpError);
  receiver.unprotect(SRTP);
  assert.throws(() => receiver.unprotect(SRTP), (e: unknown) => e instanceof SrtpError && e.code === 'replayed');
});

test('a stream across the 16-bit sequence wrap: the rollover counter follows on both sides, late packets still pass', () => {
  const sender = new SrtpContext(MASTER_KEY, MASTER_SALT);
  const receiver = new SrtpContext(MASTER_KEY, MASTER_SALT);
  const packet = (seq: number) => {
    const p = Buffer.from(RTP);
    p.writeUInt16BE(seq & 0xffff, 2);
    return p;
  };
  const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3];
  const protectedPackets = seqs.map((s) => sender.protect(packet(s)));
  // Deliver out of order around the wrap: 65535 arrives after 0 and 1.
  const order = [0, 1, 2, 3, 4, 6, 7, 5, 8, 9];
  for (const i of order) assert.equal(receiver.unprotect(protectedPackets[i]!), packet(seqs[i]!), `seq ${seqs[i]}`);
});

test('SDES a=crypto: parse and generate AES_CM_128_HMAC_SHA1_80 keys', () => {
  const generated = cryptoAttribute(1);
  const parsed = parseCryptoAttribute(generated.value)!;
  assert.equal(parsed.masterKey, generated.masterKey);
  assert.equal(parsed.masterSalt, generated.masterSalt);
  assert.is(parseCryptoAttribute('1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32')!.tag, 1);
  assert.is(parseCryptoAttribute('1 AES_256_CM_HMAC_SHA1_80 inline:AAAA'), null, 'other suites are not ours');
  assert.is(parseCryptoAttribute('1 AES_CM_128_HMAC_SHA1_80 inline:AAAA'), null, 'wrong key length');
});

test.run();

/**
 * SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 (RFC 3711), keyed by SDES (RFC 4568 `a=crypto`), on node:crypto
 * alone: AES-128 in counter mode for the payload, HMAC-SHA1 truncated to 80 bits for the tag, the key
 * derivation of §4.3 (key derivation rate 0), the rollover counter estimate of §3.3.1 and a 64-packet replay
 * window. Hand-written: the npm SRTP packages are WebRTC stacks much larger than these few functions.
 * Used by rtp-session.ts when the SDP negotiated RTP/SAVP (media.ts, SIP_SRTP); checked against RFC 3711's
 * vectors and libsrtp's reference packets.
 */
import { createCipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const TAG_BYTES = 10;
const LABEL = { rtpCipher: 0, rtpAuth: 1, rtpSalt: 2, rtcpCipher: 3, rtcpAuth: 4, rtcpSalt: 5 } as const;
const REPLAY_WINDOW = 64;

export class SrtpError extends Error {
  constructor(readonly code: 'too-short' | 'auth-failed' | 'replayed' | 'bad-key', message: string) {
    super(message);
    this.name = 'SrtpError';
  }
}

/** AES-128 counter mode from `iv` (the whole 128-bit counter block), `length` bytes of keystream XORed into `data`. */
export function aesCm(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** §4.3.1 with kdr 0: the session key for `label`, `length` bytes. */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, 14);
  iv[7]! ^= label;
  return aesCm(masterKey, iv, Buffer.alloc(length));
}

export interface SessionKeys { cipher: Buffer; auth: Buffer; salt: Buffer }

export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer, forRtcp = false): SessionKeys {
  if (masterKey.length !== 16 || masterSalt.length !== 14) throw new SrtpError('bad-key', 'AES_CM_128 needs a 16-byte key and a 14-byte salt');
  const l = forRtcp ? [LABEL.rtcpCipher, LABEL.rtcpAuth, LABEL.rtcpSalt] : [LABEL.rtpCipher, LABEL.rtpAuth, LABEL.rtpSalt];
  return { cipher: deriveKey(masterKey, masterSalt, l[0]!, 16), auth: deriveKey(masterKey, masterSalt, l[1]!, 20), salt: deriveKey(masterKey, masterSalt, l[2]!, 14) };
}

/** §4.1.1: IV = salt * 2^16 XOR SSRC * 2^64 XOR index * 2^16. */
function packetIv(salt: Buffer, ssrc: number, index: bigint): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0, 0, 14);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  for (let i = 0; i < 6; i++) iv[8 + i]! ^= Number((index >> BigInt(8 * (5 - i))) & 0xffn);
  return iv;
}

function tag(auth: Buffer, ...parts: Buffer[]): Buffer {
  const hmac = createHmac('sha1', auth);
  for (const part of parts) hmac.update(part);
  return hmac.digest().subarray(0, TAG_BYTES);
}

function rtpHeaderLength(packet: Buffer): number {
  if (packet.length < 12) throw new SrtpError('too-short', 'shorter than an RTP header');
  let length = 12 + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) length += 4 + packet.readUInt16BE(length + 2) * 4;
  if (length > packet.length) throw new SrtpError('too-short', 'RTP header longer than the packet');
  return length;
}

/** One direction of one SRTP stream (ours out, or the caller's in), with its own rollover counter and replay window. */
export class SrtpContext {
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private roc = 0;
  private highestSeq: number | null = null;
  /** Highest index accepted and a bit mask of the 64 below it (receive side). */
  private highestIndex = -1n;
  private window = 0n;
  private rtcpIndex = 0;
  private rtcpHighest = -1;

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.rtp = deriveSessionKeys(masterKey, masterSalt);
    this.rtcp = deriveSessionKeys(masterKey, masterSalt, true);
  }

  /** SRTP from an RTP packet (sender side: the sequence numbers it sends, rollovers counted). */
  protect(packet: Buffer): Buffer {
    const header = rtpHeaderLength(packet);
    const seq = packet.readUInt16BE(2);
    if (this.highestSeq !== null && seq < this.highestSeq && this.highestSeq - seq > 0x8000) this.roc = (this.roc + 1) >>> 0;
    if (this.highestSeq === null || ((seq - this.highestSeq) & 0xffff) < 0x8000) this.highestSeq = seq;
    const index = (BigInt(this.roc) << 16n) | BigInt(seq);
    const encrypted = aesCm(this.rtp.cipher, packetIv(this.rtp.salt, packet.readUInt32BE(8), index), packet.subarray(header));
    const out = Buffer.concat([packet.subarray(0, header), encrypted]);
    const roc = Buffer.alloc(4);
    roc.writeUInt32BE(this.roc);
    return Buffer.concat([out, tag(this.rtp.auth, out, roc)]);
  }

  /** RTP from an SRTP packet; throws SrtpError when it is forged, damaged or a replay. */
  unprotect(packet: Buffer): Buffer {
    if (packet.length < 12 + TAG_BYTES) throw new SrtpError('too-short', 'shorter than an SRTP packet');
    const body = packet.subarray(0, packet.length - TAG_BYTES);
    const header = rtpHeaderLength(body);
    const seq = body.readUInt16BE(2);
    const roc = this.estimateRoc(seq);
    const index = (BigInt(roc) << 16n) | BigInt(seq);
    this.checkReplay(index);
    const rocBytes = Buffer.alloc(4);
    rocBytes.writeUInt32BE(roc >>> 0);
    const expected = tag(this.rtp.auth, body, rocBytes);
    if (!timingSafeEqual(expected, packet.subarray(packet.length - TAG_BYTES))) throw new SrtpError('auth-failed', 'SRTP authentication tag does not match');
    this.accept(index, seq, roc);
    const plain = aesCm(this.rtp.cipher, packetIv(this.rtp.salt, body.readUInt32BE(8), index), body.subarray(header));
    return Buffer.concat([body.subarray(0, header), plain]);
  }

  /** SRTCP (§3.4): everything after the first 8 bytes encrypted, E flag and index appended, then the tag. */
  protectRtcp(packet: Buffer, index = this.rtcpIndex++): Buffer {
    if (packet.length < 8) throw new SrtpError('too-short', 'shorter than an RTCP header');
    const encrypted = aesCm(this.rtcp.cipher, packetIv(this.rtcp.salt, packet.readUInt32BE(4), BigInt(index)), packet.subarray(8));
    const eIndex = Buffer.alloc(4);
    eIndex.writeUInt32BE((0x80000000 | index) >>> 0);
    const out = Buffer.concat([packet.subarray(0, 8), encrypted, eIndex]);
    return Buffer.concat([out, tag(this.rtcp.auth, out)]);
  }

  unprotectRtcp(packet: Buffer): Buffer {
    if (packet.length < 8 + 4 + TAG_BYTES) throw new SrtpError('too-short', 'shorter than an SRTCP packet');
    const body = packet.subarray(0, packet.length - TAG_BYTES);
    if (!timingSafeEqual(tag(this.rtcp.auth, body), packet.subarray(packet.length - TAG_BYTES))) throw new SrtpError('auth-failed', 'SRTCP authentication tag does not match');
    const eIndex = body.readUInt32BE(body.length - 4);
    const index = eIndex & 0x7fffffff;
    if (index <= this.rtcpHighest - REPLAY_WINDOW) throw new SrtpError('replayed', 'SRTCP index too old');
    this.rtcpHighest = Math.max(this.rtcpHighest, index);
    const payload = body.subarray(8, body.length - 4);
    const plain = eIndex & 0x80000000 ? aesCm(this.rtcp.cipher, packetIv(this.rtcp.salt, body.readUInt32BE(4), BigInt(index)), payload) : payload;
    return Buffer.concat([body.subarray(0, 8), plain]);
  }

  /** §3.3.1: the rollover counter that puts `seq` closest to the highest sequence number seen. */
  private estimateRoc(seq: number): number {
    if (this.highestSeq === null) return this.roc;
    const s = this.highestSeq;
    if (s < 0x8000) return seq - s > 0x8000 ? (this.roc - 1) >>> 0 : this.roc;
    return s - 0x8000 > seq ? (this.roc + 1) >>> 0 : this.roc;
  }

  private checkReplay(index: bigint): void {
    if (this.highestIndex < 0n || index > this.highestIndex) return;
    const back = this.highestIndex - index;
    if (back >= BigInt(REPLAY_WINDOW) || (this.window >> back) & 1n) throw new SrtpError('replayed', 'SRTP packet replayed or too old');
  }

  private accept(index: bigint, seq: number, roc: number): void {
    if (index > this.highestIndex) {
      const shift = this.highestIndex < 0n ? 0n : index - this.highestIndex;
      this.window = shift >= BigInt(REPLAY_WINDOW) ? 1n : ((this.window << shift) | 1n) & ((1n << BigInt(REPLAY_WINDOW)) - 1n);
      this.highestIndex = index;
      this.highestSeq = seq;
      this.roc = roc;
    } else {
      this.window |= 1n << (this.highestIndex - index);
    }
  }
}

/** RFC 4568 `a=crypto` for AES_CM_128_HMAC_SHA1_80: `tag suite inline:base64(key||salt)[|lifetime][|MKI:len]`. */
export function parseCryptoAttribute(value: string): { tag: number; masterKey: Buffer; masterSalt: Buffer } | null {
  const match = /^(\d{1,9})\s+AES_CM_128_HMAC_SHA1_80\s+inline:([A-Za-z0-9+/=]+)(\|[^\s]*)?/.exec(value.trim());
  if (!match) return null;
  const material = Buffer.from(match[2]!, 'base64');
  if (material.length !== 30) return null;
  return { tag: Number(match[1]), masterKey: material.subarray(0, 16), masterSalt: material.subarray(16) };
}

export function cryptoAttribute(tagNumber: number, masterKey: Buffer<ArrayBufferLike> = randomBytes(16), masterSalt: Buffer<ArrayBufferLike> = randomBytes(14)): { value: string; masterKey: Buffer<ArrayBufferLike>; masterSalt: Buffer<ArrayBufferLike> } {
  return { value: `${tagNumber} AES_CM_128_HMAC_SHA1_80 inline:${Buffer.concat([masterKey, masterSalt]).toString('base64')}`, masterKey, masterSalt };
}

/**
 * Field encryption for data at rest: AES-256-GCM with a random 96-bit IV per value. Each ciphertext carries the
 * id of the key that sealed it, so keys can be rotated: new writes use the current key, old rows still open with
 * a retired key kept in the keyring.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

export class DecryptError extends Error {
  constructor(readonly keyId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DecryptError';
  }
}

export interface Sealed {
  keyId: string;
  /** base64(iv[12] | tag[16] | ciphertext) */
  data: string;
}

/** Parses a 32-byte key written as base64 or hex. */
export function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new KeyringError(`an AES-256 key must be 32 bytes (base64 or hex); got ${key.length}`);
  return key;
}

export class Keyring {
  private readonly keys = new Map<string, Buffer>();

  constructor(readonly currentKeyId: string, currentKey: Buffer, previous: Record<string, Buffer> = {}) {
    if (currentKey.length !== 32) throw new KeyringError('current key must be 32 bytes');
    for (const [id, key] of Object.entries(previous)) this.keys.set(id, key);
    this.keys.set(currentKeyId, currentKey);
  }

  /** `previousKeys` is `id:key,id:key` as in DATA_ENCRYPTION_PREVIOUS_KEYS. */
  static fromConfig(keyId: string, key: string, previousKeys?: string): Keyring {
    const previous: Record<string, Buffer> = {};
    for (const entry of (previousKeys ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
      const sep = entry.indexOf(':');
      if (sep <= 0) throw new KeyringError('DATA_ENCRYPTION_PREVIOUS_KEYS entries must be id:key');
      previous[entry.slice(0, sep)] = parseKey(entry.slice(sep + 1));
    }
    return new Keyring(keyId, parseKey(key), previous);
  }

  seal(plaintext: string): Sealed {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId: this.currentKeyId, data: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64') };
  }

  open(sealed: Sealed): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new DecryptError(sealed.keyId, `no key with id ${sealed.keyId} in the keyring`);
    const raw = Buffer.from(sealed.data, 'base64');
    if (raw.length < 28) throw new DecryptError(sealed.keyId, 'ciphertext too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new DecryptError(sealed.keyId, 'ciphertext failed authentication', { cause: err });
    }
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Every key id in the ring, the current one first. */
  keyIds(): string[] {
    return [this.currentKeyId, ...[...this.keys.keys()].filter((id) => id !== this.currentKeyId)];
  }

  /**
   * A keyed blind index of `value` for `purpose` under one of the ring's keys: HMAC-SHA256 with a key derived
   * (HKDF) from that data key, so equal values can be looked up without a plaintext column, and an index can
   * never be turned back into the value without the key.
   */
  blindIndex(purpose: string, value: string, keyId = this.currentKeyId): string {
    const key = this.keys.get(keyId);
    if (!key) throw new KeyringError(`no key with id ${keyId} in the keyring`);
    const indexKey = Buffer.from(hkdfSync('sha256', key, 'carevox-blind-index', purpose, 32));
    return createHmac('sha256', indexKey).update(value, 'utf8').digest('base64url');
  }

  /** The blind index of `value` under every key in the ring: a lookup finds rows written before a key rotation. */
  blindIndexes(purpose: string, value: string): string[] {
    return this.keyIds().map((id) => this.blindIndex(purpose, value, id));
  }
}

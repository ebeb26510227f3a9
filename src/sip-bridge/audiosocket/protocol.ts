/**
 * Asterisk AudioSocket wire format (res_audiosocket / chan_audiosocket): a TCP stream of frames, each
 * 1 byte kind, 2 bytes big-endian payload length, payload. Asterisk sends the call's UUID first, then audio
 * (8 kHz signed 16-bit little-endian PCM, 320 bytes per 20 ms), DTMF digits and a hangup; it accepts audio and
 * hangup from us. Hand-written: the format is five frame kinds and no npm package implements the server side.
 */

export const AUDIOSOCKET_KIND = {
  hangup: 0x00,
  uuid: 0x01,
  dtmf: 0x03,
  audio: 0x10,
  error: 0xff,
} as const;

/** A payload longer than this is not AudioSocket (Asterisk sends 320-byte audio frames). */
export const MAX_AUDIOSOCKET_PAYLOAD = 8192;
const HEADER_BYTES = 3;

export type AudioSocketFrame =
  | { kind: 'hangup' }
  | { kind: 'uuid'; uuid: string }
  | { kind: 'dtmf'; digit: string }
  /** 8 kHz PCM, native-endian copy of the little-endian payload. */
  | { kind: 'audio'; samples: Int16Array }
  /** Asterisk reports an error (payload: an error code byte, when present). */
  | { kind: 'error'; code: number | null };

export type AudioSocketProblemCode = 'unknown-kind' | 'bad-uuid' | 'bad-dtmf' | 'odd-audio-length' | 'too-large';

export class AudioSocketProtocolError extends Error {
  constructor(readonly code: AudioSocketProblemCode, message: string, readonly fatal: boolean) {
    super(message);
    this.name = 'AudioSocketProtocolError';
  }
}

/**
 * Splits a TCP byte stream into frames. `push` returns the frames completed by a chunk and the problems met
 * on the way: a malformed frame is skipped (its length is still known); a length over the limit means the
 * stream is not AudioSocket at all, and is fatal (the connection should be closed).
 */
export class AudioSocketReader {
  private pending: Buffer = Buffer.alloc(0);
  private broken = false;

  push(chunk: Buffer): { frames: AudioSocketFrame[]; problems: AudioSocketProtocolError[] } {
    const frames: AudioSocketFrame[] = [];
    const problems: AudioSocketProtocolError[] = [];
    if (this.broken) return { frames, problems };
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (this.pending.length - offset >= HEADER_BYTES) {
      const kind = this.pending[offset]!;
      const length = this.pending.readUInt16BE(offset + 1);
      if (length > MAX_AUDIOSOCKET_PAYLOAD) {
        this.broken = true;
        problems.push(new AudioSocketProtocolError('too-large', `frame of ${length} bytes exceeds ${MAX_AUDIOSOCKET_PAYLOAD}`, true));
        this.pending = Buffer.alloc(0);
        return { frames, problems };
      }
      if (this.pending.length - offset - HEADER_BYTES < length) break;
      const payload = this.pending.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + length);
      offset += HEADER_BYTES + length;
      try {
        frames.push(decodeFrame(kind, payload));
      } catch (err) {
        if (err instanceof AudioSocketProtocolError) problems.push(err);
        else throw err;
      }
    }
    this.pending = offset === this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(offset));
    return { frames, problems };
  }
}

function decodeFrame(kind: number, payload: Buffer): AudioSocketFrame {
  switch (kind) {
    case AUDIOSOCKET_KIND.hangup: return { kind: 'hangup' };
    case AUDIOSOCKET_KIND.uuid:
      if (payload.length !== 16) throw new AudioSocketProtocolError('bad-uuid', `UUID frame of ${payload.length} bytes (expected 16)`, false);
      return { kind: 'uuid', uuid: formatUuid(payload) };
    case AUDIOSOCKET_KIND.dtmf: {
      const digit = payload.length === 1 ? String.fromCharCode(payload[0]!) : '';
      if (!/^[0-9*#A-D]$/.test(digit)) throw new AudioSocketProtocolError('bad-dtmf', 'DTMF frame without one keypad digit', false);
      return { kind: 'dtmf', digit };
    }
    case AUDIOSOCKET_KIND.audio: {
      if (payload.length % 2 !== 0) throw new AudioSocketProtocolError('odd-audio-length', `audio frame of ${payload.length} bytes is not 16-bit PCM`, false);
      const samples = new Int16Array(payload.length / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = payload.readInt16LE(i * 2);
      return { kind: 'audio', samples };
    }
    case AUDIOSOCKET_KIND.error: return { kind: 'error', code: payload.length > 0 ? payload[0]! : null };
    default:
      throw new AudioSocketProtocolError('unknown-kind', `unknown frame kind 0x${kind.toString(16).padStart(2, '0')}`, false);
  }
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function frame(kind: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + payload.length);
  out[0] = kind;
  out.writeUInt16BE(payload.length, 1);
  payload.copy(out, HEADER_BYTES);
  return out;
}

/** Audio for Asterisk: 8 kHz PCM as little-endian 16-bit samples. */
export function audioFrame(samples: Int16Array): Buffer {
  const payload = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) payload.writeInt16LE(samples[i]!, i * 2);
  return frame(AUDIOSOCKET_KIND.audio, payload);
}

export function hangupFrame(): Buffer {
  return frame(AUDIOSOCKET_KIND.hangup, Buffer.alloc(0));
}

/** The frames a client (Asterisk, or a test playing it) sends. */
export function uuidFrame(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error('not a UUID');
  return frame(AUDIOSOCKET_KIND.uuid, Buffer.from(hex, 'hex'));
}

export function dtmfFrame(digit: string): Buffer {
  return frame(AUDIOSOCKET_KIND.dtmf, Buffer.from(digit, 'ascii'));
}

export function rawFrame(kind: number, payload: Buffer): Buffer {
  return frame(kind, payload);
}

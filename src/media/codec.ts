/**
 * G.711 mu-law and A-law (ITU-T G.711), the codecs of the telephone network: Twilio Media Streams carry
 * 8 kHz mu-law; A-law is here for E1/SIP trunks outside North America.
 *
 * Written by hand on purpose: the whole codec is two tiny bit-twiddling functions, and the npm packages
 * that offer it are unmaintained or pull in a full audio toolkit. The per-sample work is a table lookup in
 * both directions (a 64 KiB encode table per law, built once when this module loads; a 256-entry decode
 * table), because this runs on every 20 ms frame of every call.
 *
 * Encoders take 16-bit linear PCM; decoders return 16-bit linear PCM with the G.711 reconstruction levels
 * (mu-law spans ±32124, A-law ±32256). Every function accepts an optional `out` array of the same length so
 * a caller on the hot path can reuse one buffer instead of allocating per frame.
 */

/** A caller passed an `out` buffer that does not fit the input. */
export class CodecError extends Error {
  readonly code = 'length-mismatch' as const;
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

/** Segment (exponent) of a biased mu-law magnitude, i.e. the position of its highest set bit above bit 7. */
function muLawSegment(biased: number): number {
  let segment = 7;
  for (let mask = 0x4000; (biased & mask) === 0 && segment > 0; mask >>= 1) segment--;
  return segment;
}

/** The ITU-T G.711 mu-law compression of one sample (the classic Sun/CCITT reference algorithm). */
function muLawEncodeSample(sample: number): number {
  let sign = 0;
  let magnitude = sample;
  if (magnitude < 0) {
    sign = 0x80;
    magnitude = -magnitude;
  }
  if (magnitude > MULAW_CLIP) magnitude = MULAW_CLIP;
  magnitude += MULAW_BIAS;
  const segment = muLawSegment(magnitude);
  const mantissa = (magnitude >> (segment + 3)) & 0x0f;
  return ~(sign | (segment << 4) | mantissa) & 0xff;
}

function muLawDecodeSample(code: number): number {
  const inverted = ~code & 0xff;
  const segment = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << segment) - MULAW_BIAS;
  return (inverted & 0x80) !== 0 ? -magnitude : magnitude;
}

/** Upper bounds of the eight A-law segments, on the 13-bit magnitude. */
const ALAW_SEGMENT_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

/** The ITU-T G.711 A-law compression of one sample (Sun/CCITT reference algorithm, even bits inverted). */
function aLawEncodeSample(sample: number): number {
  let magnitude = sample >> 3; // A-law works on 13 bits
  let mask: number;
  if (magnitude >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    magnitude = -magnitude - 1;
  }
  let segment = 0;
  while (segment < 8 && magnitude > ALAW_SEGMENT_END[segment]) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (magnitude >> 1) & 0x0f : (magnitude >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

function aLawDecodeSample(code: number): number {
  const value = code ^ 0x55;
  const segment = (value & 0x70) >> 4;
  let magnitude = (value & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return (value & 0x80) !== 0 ? magnitude : -magnitude;
}

function buildEncodeTable(encodeSample: (sample: number) => number): Uint8Array {
  // Indexed by the sample's 16 bits read as unsigned (sample & 0xffff).
  const table = new Uint8Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = encodeSample(i >= 32768 ? i - 65536 : i);
  return table;
}

function buildDecodeTable(decodeSample: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) table[code] = decodeSample(code);
  return table;
}

// Pure, immutable lookup tables (not state): computing them once at load is what makes the codec a lookup.
const MULAW_ENCODE = buildEncodeTable(muLawEncodeSample);
const MULAW_DECODE = buildDecodeTable(muLawDecodeSample);
const ALAW_ENCODE = buildEncodeTable(aLawEncodeSample);
const ALAW_DECODE = buildDecodeTable(aLawDecodeSample);

function checkOut(kind: string, inputLength: number, out: { length: number }): void {
  if (out.length !== inputLength) {
    throw new CodecError(`${kind}: out has ${out.length} elements, input has ${inputLength}`);
  }
}

function encodeWith(table: Uint8Array, pcm: Int16Array, out: Uint8Array): Uint8Array {
  for (let i = 0; i < pcm.length; i++) out[i] = table[pcm[i] & 0xffff];
  return out;
}

function decodeWith(table: Int16Array, bytes: Uint8Array, out: Int16Array): Int16Array {
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]];
  return out;
}

/** 16-bit PCM -> mu-law bytes (one byte per sample). */
export function muLawEncode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  if (out) checkOut('muLawEncode', pcm.length, out);
  return encodeWith(MULAW_ENCODE, pcm, out ?? new Uint8Array(pcm.length));
}

/** mu-law bytes -> 16-bit PCM. */
export function muLawDecode(bytes: Uint8Array, out?: Int16Array): Int16Array {
  if (out) checkOut('muLawDecode', bytes.length, out);
  return decodeWith(MULAW_DECODE, bytes, out ?? new Int16Array(bytes.length));
}

/** 16-bit PCM -> A-law bytes (one byte per sample). */
export function aLawEncode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  if (out) checkOut('aLawEncode', pcm.length, out);
  return encodeWith(ALAW_ENCODE, pcm, out ?? new Uint8Array(pcm.length));
}

/** A-law bytes -> 16-bit PCM. */
export function aLawDecode(bytes: Uint8Array, out?: Int16Array): Int16Array {
  if (out) checkOut('aLawDecode', bytes.length, out);
  return decodeWith(ALAW_DECODE, bytes, out ?? new Int16Array(bytes.length));
}

/** The mu-law byte of digital silence (encode(0)); fill value for comfort silence on the wire. */
export const MULAW_SILENCE = 0xff;
/** The A-law byte of digital silence (encode(0)). */
export const ALAW_SILENCE = 0xd5;

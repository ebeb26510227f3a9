import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { aLawDecode, aLawEncode, CodecError, muLawDecode, muLawEncode, MULAW_SILENCE, ALAW_SILENCE } from './codec.js';

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

function decodeOne(decode: (b: Uint8Array) => Int16Array, code: number): number {
  return decode(Uint8Array.of(code))[0];
}
function encodeOne(encode: (p: Int16Array) => Uint8Array, sample: number): number {
  return encode(Int16Array.of(sample))[0];
}

test('mu-law decode matches the ITU-T G.711 reference levels', () => {
  assert.is(decodeOne(muLawDecode, 0xff), 0);
  assert.is(decodeOne(muLawDecode, 0x7f), 0);
  assert.is(decodeOne(muLawDecode, 0x00), -32124);
  assert.is(decodeOne(muLawDecode, 0x80), 32124);
  // First segment of the widely published mu-law expansion table (codes 0x00..0x0F) and the quietest one.
  const loudest = [-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
    -23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764];
  assert.equal(Array.from(muLawDecode(ALL_CODES.subarray(0x00, 0x10))), loudest);
  assert.is(decodeOne(muLawDecode, 0x10), -15996);
  const quietest = [-120, -112, -104, -96, -88, -80, -72, -64, -56, -48, -40, -32, -24, -16, -8, 0];
  assert.equal(Array.from(muLawDecode(ALL_CODES.subarray(0x70, 0x80))), quietest);
  // The positive half mirrors the negative half.
  const table = muLawDecode(ALL_CODES);
  for (let code = 0; code < 128; code++) assert.is(table[code + 128], -table[code]);
});

test('A-law decode matches the ITU-T G.711 reference levels', () => {
  assert.is(decodeOne(aLawDecode, 0xd5), 8);
  assert.is(decodeOne(aLawDecode, 0x55), -8);
  assert.is(decodeOne(aLawDecode, 0x2a), -32256);
  assert.is(decodeOne(aLawDecode, 0xaa), 32256);
  // Start of the widely published A-law expansion table (even bits inverted, so not monotonic in the code).
  const first = [-5504, -5248, -6016, -5760, -4480, -4224, -4992, -4736,
    -7552, -7296, -8064, -7808, -6528, -6272, -7040, -6784,
    -2752, -2624, -3008, -2880, -2240, -2112, -2496, -2368,
    -3776, -3648, -4032, -3904, -3264, -3136, -3520, -3392];
  assert.equal(Array.from(aLawDecode(ALL_CODES.subarray(0, 32))), first);
  const table = aLawDecode(ALL_CODES);
  for (let code = 0; code < 128; code++) assert.is(table[code + 128], -table[code]);
});

test('encoding silence and full scale gives the reference codes', () => {
  assert.is(encodeOne(muLawEncode, 0), 0xff);
  assert.is(MULAW_SILENCE, 0xff);
  assert.is(encodeOne(aLawEncode, 0), 0xd5);
  assert.is(ALAW_SILENCE, 0xd5);
  // Clipping: the extremes of int16 map to the loudest codes, no wrap-around.
  assert.is(encodeOne(muLawEncode, -32768), 0x00);
  assert.is(encodeOne(muLawEncode, 32767), 0x80);
  assert.is(encodeOne(aLawEncode, -32768), 0x2a);
  assert.is(encodeOne(aLawEncode, 32767), 0xaa);
  assert.is(encodeOne(muLawEncode, 32124), 0x80);
  assert.is(encodeOne(aLawEncode, 32256), 0xaa);
});

test('decode(encode(decode(code))) == decode(code) for all 256 codes', () => {
  for (const [encode, decode] of [[muLawEncode, muLawDecode], [aLawEncode, aLawDecode]] as const) {
    const levels = decode(ALL_CODES);
    assert.equal(Array.from(decode(encode(levels))), Array.from(levels));
  }
  // A-law has no negative zero, so every code is its own fixed point; mu-law has two zeros (0x7F and 0xFF).
  assert.equal(Array.from(aLawEncode(aLawDecode(ALL_CODES))), Array.from(ALL_CODES));
  const muCodes = muLawEncode(muLawDecode(ALL_CODES));
  for (let code = 0; code < 256; code++) if (code !== 0x7f) assert.is(muCodes[code], code);
  assert.is(muCodes[0x7f], 0xff);
});

test('quantisation is monotonic and within half a step over the whole int16 range', () => {
  for (const [law, encode, decode] of [['mu', muLawEncode, muLawDecode], ['A', aLawEncode, aLawDecode]] as const) {
    const reconstructed = decode(encode(ALL_SAMPLES));
    for (let i = 1; i < reconstructed.length; i++) {
      if (reconstructed[i] < reconstructed[i - 1]) assert.unreachable(`${law}-law not monotonic at ${ALL_SAMPLES[i]}`);
    }
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i];
      const error = Math.abs(reconstructed[i] - x);
      // Half a quantisation step is 1/32 of the segment base; mu-law saturates above its 32635 clip level.
      const bound = law === 'mu'
        ? (Math.abs(x) > 32635 ? Math.abs(x) - 32124 : (Math.abs(x) + 132) / 32)
        : Math.max(8, Math.abs(x) / 32 + 1);
      if (error > bound) assert.unreachable(`${law}-law error ${error} > ${bound} at ${x}`);
    }
  }
});

function sine(frequency: number, amplitude: number, sampleRate: number, count: number): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / sampleRate));
  return out;
}

function snrDb(reference: Int16Array, test: Int16Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    signal += reference[i] ** 2;
    noise += (reference[i] - test[i]) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

test('a 1 kHz sine survives the round trip with SNR > 30 dB at several levels', () => {
  for (const amplitude of [30000, 8000, 1000]) {
    const tone = sine(1000, amplitude, 8000, 8000);
    const mu = snrDb(tone, muLawDecode(muLawEncode(tone)));
    const a = snrDb(tone, aLawDecode(aLawEncode(tone)));
    assert.ok(mu > 30, `mu-law SNR ${mu.toFixed(1)} dB at amplitude ${amplitude}`);
    assert.ok(a > 30, `A-law SNR ${a.toFixed(1)} dB at amplitude ${amplitude}`);
  }
});

test('out buffers are filled in place and must fit', () => {
  const pcm = sine(440, 10000, 8000, 160);
  const bytes = new Uint8Array(160);
  assert.is(muLawEncode(pcm, bytes), bytes);
  assert.equal(Array.from(bytes), Array.from(muLawEncode(pcm)));
  const samples = new Int16Array(160);
  assert.is(aLawDecode(aLawEncode(pcm), samples), samples);
  assert.equal(Array.from(samples), Array.from(aLawDecode(aLawEncode(pcm))));
  assert.throws(() => muLawEncode(pcm, new Uint8Array(159)), (e: unknown) => e instanceof CodecError);
  assert.throws(() => aLawDecode(bytes, new Int16Array(10)), (e: unknown) => e instanceof CodecError);
  assert.is(muLawEncode(new Int16Array(0)).length, 0);
});

test.run();

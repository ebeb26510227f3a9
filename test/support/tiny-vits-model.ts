/**
 * Builds a tiny but valid sherpa-onnx VITS TTS model on disk, so the sherpa adapter is tested against the real
 * sherpa-onnx-node module without downloading a voice. The model uses sherpa's "characters" front end (no
 * espeak-ng data needed) and a graph whose output encodes its inputs, so a test can check every argument
 * that reaches the network:
 *
 *   y[1, 1, N*256] = tokenId(n) * sin(2π·k/32) * GAIN * (sid + 1) * length_scale      (n < N, k < 256)
 *
 * i.e. 256 samples per input character, amplitude proportional to the character's token id, the speaker id
 * and `length_scale` (= 1/speed in sherpa). The ONNX protobuf is written by hand: it is a dozen fields, and
 * no npm package here builds ONNX graphs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  concat, FLOAT, floatTensor, INT64, int64Tensor, intAttribute, intField, msg, node, strField, valueInfo,
} from './onnx-writer.js';

export const TINY_VITS_SAMPLES_PER_TOKEN = 256;
export const TINY_VITS_GAIN = 0.004;
export const TINY_VITS_SAMPLE_RATE = 16_000;
export const TINY_VITS_SPEAKERS = 4;
/** Token ids: ' ' = 1, a..z = 2..27, '.' = 28, ',' = 29, '?' = 30. */
export const TINY_VITS_ALPHABET = ' abcdefghijklmnopqrstuvwxyz.,?';

/** The samples (float, before sherpa's output) the tiny model produces for `text`. */
export function tinyVitsExpected(text: string, sid: number, speed: number): Float32Array {
  const ids = [...text.toLowerCase()].map((c) => TINY_VITS_ALPHABET.indexOf(c) + 1).filter((id) => id > 0);
  const out = new Float32Array(ids.length * TINY_VITS_SAMPLES_PER_TOKEN);
  const lengthScale = speed !== 1 && speed > 0 ? 1 / speed : 1;
  ids.forEach((id, n) => {
    for (let k = 0; k < TINY_VITS_SAMPLES_PER_TOKEN; k++) {
      out[n * TINY_VITS_SAMPLES_PER_TOKEN + k] = Math.fround(id * Math.fround(Math.sin((2 * Math.PI * k) / 32)) * TINY_VITS_GAIN * (sid + 1) * lengthScale);
    }
  });
  return out;
}

/**
 * Piper-style phoneme symbols: '_' pad, '^' bos, '$' eos, then the IPA espeak-ng emits for English.
 * Ids start at 1 so every token, pad included, gives audible output.
 */
export const TINY_PIPER_SYMBOLS = '_^$ ,.?!abdefhijklmnoprstuvwzæçðŋɐɑɔəɚɛɜɡɪɹɾʃʊʌʒʔθᵻˈˌː';

export interface TinyVitsOptions {
  /** 'characters': sherpa's character front end, no espeak-ng. 'piper': a Piper-style model that needs espeak-ng-data. */
  variant?: 'characters' | 'piper';
  /** Metadata keys to leave out (to provoke sherpa's "does not exist in the metadata"). */
  omitMetadata?: string[];
  /** File name of the model inside `dir`. */
  modelFile?: string;
}

/** Writes the model and `tokens.txt` into `dir`; returns their paths. */
export function writeTinyVitsModel(dir: string, options: TinyVitsOptions = {}): { model: string; tokens: string } {
  mkdirSync(dir, { recursive: true });
  const variant = options.variant ?? 'characters';
  const model = join(dir, options.modelFile ?? 'model.onnx');
  const tokens = join(dir, 'tokens.txt');
  writeFileSync(model, buildModel(variant, options.omitMetadata ?? []));
  const symbols = variant === 'piper' ? TINY_PIPER_SYMBOLS : TINY_VITS_ALPHABET;
  // sherpa's token files: "<symbol> <id>" per line; a line with only an id is the space character.
  writeFileSync(tokens, [...symbols].map((c, i) => (c === ' ' ? `${i + 1}` : `${c} ${i + 1}`)).join('\n') + '\n');
  return { model, tokens };
}

export const TINY_KOKORO_SAMPLE_RATE = 24_000;
export const TINY_KOKORO_SPEAKERS = 3;
const KOKORO_MAX_TOKENS = 64;
const KOKORO_STYLE_DIM = 8;

/**
 * A tiny Kokoro (v0.19-style, espeak-ng front end) model: `model.onnx`, `voices.bin`, `tokens.txt`.
 * Output: 256 samples per token, amplitude tokenId * (speaker + 1) / speed * GAIN, the speaker factor coming
 * from the style vector sherpa picks out of voices.bin, so the speaker id is checked end to end.
 */
export function writeTinyKokoroModel(dir: string): { model: string; voices: string; tokens: string } {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, 'model.onnx');
  const voices = join(dir, 'voices.bin');
  const tokens = join(dir, 'tokens.txt');
  writeFileSync(model, buildKokoroModel());
  // voices.bin: float32 [speakers, max tokens, style dim]; speaker s has style[0] = s + 1 in every row.
  const styles = new Float32Array(TINY_KOKORO_SPEAKERS * KOKORO_MAX_TOKENS * KOKORO_STYLE_DIM);
  for (let s = 0; s < TINY_KOKORO_SPEAKERS; s++) {
    for (let row = 0; row < KOKORO_MAX_TOKENS; row++) styles[(s * KOKORO_MAX_TOKENS + row) * KOKORO_STYLE_DIM] = s + 1;
  }
  writeFileSync(voices, new Uint8Array(styles.buffer));
  writeFileSync(tokens, [...TINY_PIPER_SYMBOLS].map((c, i) => (c === ' ' ? `${i + 1}` : `${c} ${i + 1}`)).join('\n') + '\n');
  return { model, voices, tokens };
}

function buildKokoroModel(): Uint8Array {
  const wave = Array.from({ length: TINY_VITS_SAMPLES_PER_TOKEN }, (_, k) => Math.sin((2 * Math.PI * k) / 32));
  const graph = msg(7,
    node('Cast', ['tokens'], ['x_float'], intAttribute('to', FLOAT)),
    node('Unsqueeze', ['x_float', 'axis_2'], ['x_col']),
    node('Mul', ['x_col', 'wave'], ['per_token']),
    node('ReduceSum', ['style', 'axis_1'], ['speaker_gain'], intAttribute('keepdims', 0)),
    node('Mul', ['per_token', 'speaker_gain'], ['with_speaker']),
    node('Div', ['with_speaker', 'speed'], ['with_speed']),
    node('Mul', ['with_speed', 'gain'], ['scaled']),
    node('Reshape', ['scaled', 'out_shape'], ['audio']),
    strField(2, 'tiny-kokoro'),
    floatTensor('wave', [TINY_VITS_SAMPLES_PER_TOKEN], wave),
    floatTensor('gain', [1], [TINY_VITS_GAIN]),
    int64Tensor('axis_1', [1], [1]),
    int64Tensor('axis_2', [1], [2]),
    int64Tensor('out_shape', [1], [-1]),
    // sherpa's Kokoro Run: tokens, style [1, dim], speed [1].
    valueInfo(11, 'tokens', INT64, [1, 'N']),
    valueInfo(11, 'style', FLOAT, [1, KOKORO_STYLE_DIM]),
    valueInfo(11, 'speed', FLOAT, [1]),
    valueInfo(12, 'audio', FLOAT, ['T']),
  );
  const metadata: Record<string, string> = {
    model_type: 'kokoro', sample_rate: String(TINY_KOKORO_SAMPLE_RATE), n_speakers: String(TINY_KOKORO_SPEAKERS),
    has_espeak: '1', voice: 'en-us', version: '1', style_dim: `${KOKORO_MAX_TOKENS},1,${KOKORO_STYLE_DIM}`,
  };
  return concat([
    intField(1, 8),
    strField(2, 'carevox-test'),
    graph,
    msg(8, strField(1, ''), intField(2, 13)),
    ...Object.entries(metadata).map(([k, v]) => msg(14, strField(1, k), strField(2, v))),
  ]);
}

function buildModel(variant: 'characters' | 'piper', omitMetadata: string[]): Uint8Array {
  const piper = variant === 'piper';
  const wave = Array.from({ length: TINY_VITS_SAMPLES_PER_TOKEN }, (_, k) => Math.sin((2 * Math.PI * k) / 32));
  const graph = msg(7,
    node('Cast', ['x'], ['x_float'], intAttribute('to', FLOAT)),
    node('Unsqueeze', ['x_float', 'axis_2'], ['x_col']),
    node('Mul', ['x_col', 'wave'], ['per_token']),
    node('Cast', ['sid'], ['sid_float'], intAttribute('to', FLOAT)),
    node('Add', ['sid_float', 'one'], ['speaker_gain']),
    node('Mul', ['per_token', 'speaker_gain'], ['with_speaker']),
    // Piper models take the three scales as one tensor [noise, length, noise_w]; others as three inputs.
    ...(piper ? [node('Gather', ['scales', 'index_1'], ['length_scale'], intAttribute('axis', 0))] : []),
    node('Mul', ['with_speaker', 'length_scale'], ['with_speed']),
    node('Mul', ['with_speed', 'gain'], ['scaled']),
    node('Reshape', ['scaled', 'out_shape'], ['y']),
    strField(2, 'tiny-vits'),
    floatTensor('wave', [TINY_VITS_SAMPLES_PER_TOKEN], wave),
    floatTensor('one', [1], [1]),
    floatTensor('gain', [1], [TINY_VITS_GAIN]),
    int64Tensor('axis_2', [1], [2]),
    int64Tensor('out_shape', [3], [1, 1, -1]),
    ...(piper ? [int64Tensor('index_1', [1], [1])] : []),
    // Input order is what sherpa relies on. RunVits: x, x_length, noise_scale, length_scale, noise_scale_w, sid.
    // RunVitsPiperOrCoqui: input, input_lengths, scales, sid.
    valueInfo(11, 'x', INT64, [1, 'N']),
    valueInfo(11, 'x_length', INT64, [1]),
    ...(piper
      ? [valueInfo(11, 'scales', FLOAT, [3])]
      : [valueInfo(11, 'noise_scale', FLOAT, [1]), valueInfo(11, 'length_scale', FLOAT, [1]), valueInfo(11, 'noise_scale_w', FLOAT, [1])]),
    valueInfo(11, 'sid', INT64, [1]),
    valueInfo(12, 'y', FLOAT, [1, 1, 'T']),
  );
  const metadata: Record<string, string> = piper
    ? {
      model_type: 'vits', comment: 'piper', language: 'English', voice: 'en-us',
      sample_rate: String(TINY_VITS_SAMPLE_RATE), n_speakers: String(TINY_VITS_SPEAKERS),
    }
    : {
      model_type: 'vits', comment: 'carevox-test', language: 'English', frontend: 'characters',
      sample_rate: String(TINY_VITS_SAMPLE_RATE), n_speakers: String(TINY_VITS_SPEAKERS),
      add_blank: '0', use_eos_bos: '0',
    };
  return concat([
    intField(1, 8), // ir_version 8 (onnxruntime >= 1.14)
    strField(2, 'carevox-test'),
    graph,
    msg(8, strField(1, ''), intField(2, 13)), // opset 13: Unsqueeze takes axes as an input
    ...Object.entries(metadata).filter(([k]) => !omitMetadata.includes(k)).map(([k, v]) => msg(14, strField(1, k), strField(2, v))),
  ]);
}

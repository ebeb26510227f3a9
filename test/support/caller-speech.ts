/**
 * Caller speech for whole-call tests and benchmarks: real speech synthesized by flite's `kal` voice (8 kHz, the
 * phone line's rate, and not the bot's voice), trimmed to the speech itself so that a pause a script puts between
 * two phrases is the true gap between words.
 *
 * Deterministic: the same text gives the same samples in any process (flite is deterministic, and the optional
 * line noise comes from a PRNG seeded by the phrase's key and text). The benchmark relies on that: its server
 * process synthesizes the same table for its transcript double (support/transcript-double.ts), which recognises
 * the caller's words by their exact samples.
 */
import { FliteTtsEngine } from '../../src/tts/flite.js';

export interface CallerSpeechOptions {
  /** Uniform line noise mixed into the speech, peak in linear PCM (0 or unset: none). The Twilio double's line
   *  noise between utterances is 700 (support/twilio-caller.ts): the same value keeps the line's character. */
  lineNoisePeak?: number;
}

/** Samples kept either side of the speech by `trimSilence` (10 ms at 8 kHz). */
export const SPEECH_MARGIN_SAMPLES = 80;
/** A sample louder than this is speech, for trimming (flite's silence is digital zero or near it). */
const LOUD = 500;

/** Synthesizes each phrase with flite `kal` at 8 kHz and trims it to its speech; keys are kept. */
export async function synthesizeCallerPhrases<K extends string>(
  phrases: Record<K, string>, options: CallerSpeechOptions = {},
): Promise<Record<K, Int16Array>> {
  const flite = await FliteTtsEngine.create({ voice: 'kal' });
  try {
    if (flite.output.format !== 'pcm16' || flite.output.sampleRate !== 8000) {
      throw new Error(`flite kal gave ${JSON.stringify(flite.output)}, expected pcm16 at 8000 Hz`);
    }
    const out = {} as Record<K, Int16Array>;
    for (const [key, text] of Object.entries(phrases) as [K, string][]) {
      const speech = trimSilence(await synthesize(flite, text));
      out[key] = options.lineNoisePeak ? withLineNoise(speech, options.lineNoisePeak, seedOf(`${key}\n${text}`)) : speech;
    }
    return out;
  } finally {
    await flite.close();
  }
}

async function synthesize(flite: FliteTtsEngine, text: string): Promise<Int16Array> {
  const chunks: Int16Array[] = [];
  for await (const chunk of flite.synthesize(text, new AbortController().signal)) {
    if (chunk.format === 'pcm16') chunks.push(chunk.samples);
  }
  const joined = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { joined.set(c, at); at += c.length; }
  return joined;
}

/** The speech inside synthesized audio, with 10 ms either side: flite leaves 100-350 ms of silence around it. */
export function trimSilence(samples: Int16Array): Int16Array {
  const loud = (v: number) => Math.abs(v) > LOUD;
  const first = samples.findIndex(loud);
  if (first < 0) return samples;
  let last = samples.length - 1;
  while (last > first && !loud(samples[last]!)) last--;
  return samples.slice(Math.max(0, first - SPEECH_MARGIN_SAMPLES), Math.min(samples.length, last + SPEECH_MARGIN_SAMPLES + 1));
}

/** Speech plus seeded uniform noise, clamped to 16 bits (a copy). */
function withLineNoise(speech: Int16Array, peak: number, seed: number): Int16Array {
  const random = seededRandom(seed);
  const out = new Int16Array(speech.length);
  for (let i = 0; i < speech.length; i++) {
    out[i] = Math.max(-32768, Math.min(32767, speech[i]! + Math.round((random() * 2 - 1) * peak)));
  }
  return out;
}

/** FNV-1a of the text: each phrase's noise depends on that phrase alone. */
function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1); the same sequence in every process. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Whole-file transcription with any AsrEngine: the audio is fed the way a call feeds it (8 kHz mono PCM in
 * 20 ms frames), then the turn is ended and the one final awaited. Used by `carevox transcribe` and
 * `carevox models verify`.
 */
import { readFile } from 'node:fs/promises';
import WaveFilePackage from 'wavefile';
import { createResampler } from '../media/resample.js';
import { AsrError, type AsrEngine, type AsrEvent } from './types.js';

const { WaveFile } = WaveFilePackage;
const TELEPHONE_RATE = 8000;
const FRAME = 160;

export class WavReadError extends Error {
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'WavReadError';
  }
}

/** Reads a WAV of any rate, channel count and sample format as 8 kHz mono 16-bit PCM. */
export async function readWavAsTelephonePcm(file: string): Promise<Int16Array> {
  let wav: InstanceType<typeof WaveFile>;
  try {
    wav = new WaveFile(await readFile(file));
  } catch (err) {
    throw new WavReadError(file, `not a readable WAV file (${(err as Error).message})`, { cause: err });
  }
  const fmt = { ...(wav.fmt as { audioFormat: number; sampleRate: number; numChannels: number }) };
  if (!fmt.sampleRate || !fmt.numChannels) throw new WavReadError(file, 'WAV header has no sample rate or channel count');
  try {
    if (fmt.audioFormat === 7) wav.fromMuLaw();
    else if (fmt.audioFormat === 6) wav.fromALaw();
    if (wav.bitDepth !== '16') wav.toBitDepth('16');
  } catch (err) {
    throw new WavReadError(file, `unsupported WAV sample format (${(err as Error).message})`, { cause: err });
  }
  const raw = wav.getSamples(false, Int16Array) as unknown as Int16Array | Int16Array[];
  const channels = fmt.numChannels > 1 ? (raw as Int16Array[]) : [raw as Int16Array];
  const mono = mixToMono(channels);
  if (fmt.sampleRate === TELEPHONE_RATE) return mono;
  const resampler = await createResampler(fmt.sampleRate, TELEPHONE_RATE);
  try {
    const body = resampler.process(mono);
    const tail = resampler.flush();
    const out = new Int16Array(body.length + tail.length);
    out.set(body);
    out.set(tail, body.length);
    return out;
  } finally {
    resampler.destroy();
  }
}

function mixToMono(channels: Int16Array[]): Int16Array {
  if (channels.length === 1) return Int16Array.from(channels[0]!);
  const length = channels[0]!.length;
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    let sum = 0;
    for (const channel of channels) sum += channel[i]!;
    out[i] = Math.round(sum / channels.length);
  }
  return out;
}

/** Feeds 8 kHz PCM through a fresh stream as one turn and resolves with the final text. */
export function transcribeSamples(engine: AsrEngine, samples: Int16Array, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const stream = engine.createStream((event: AsrEvent) => {
      if (settled || event.type === 'partial') return;
      settled = true;
      clearTimeout(timer);
      setImmediate(() => stream.close());
      if (event.type === 'final') resolve(event.text);
      else reject(event.error);
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      stream.close();
      reject(new AsrError(engine.name, `no transcript within ${timeoutMs} ms`));
    }, timeoutMs);
    for (let i = 0; i < samples.length; i += FRAME) stream.pushAudio(samples.subarray(i, i + FRAME));
    stream.endUtterance(samples);
  });
}

/**
 * Text-to-speech plugin interface. An engine synthesizes one sentence at a time and yields audio as soon as
 * each piece is ready, so playout can start before the sentence is complete. Cancellation is by AbortSignal:
 * after `signal` aborts, the iterator must stop within one chunk and release its resources.
 */
import type { TtsAudio } from '../pipeline/frames.js';

export type { TtsAudio };

export type TtsOutputFormat = { format: 'pcm16'; sampleRate: number } | { format: 'mulaw8k' };

export interface TtsEngine {
  readonly name: string;
  readonly voice: string;
  /** The format every chunk of this engine has, so playout knows whether to resample/encode. */
  readonly output: TtsOutputFormat;
  synthesize(text: string, signal: AbortSignal): AsyncIterable<TtsAudio>;
  close(): Promise<void>;
}

export class TtsError extends Error {
  constructor(readonly engine: string, message: string, options?: { cause?: unknown }) {
    super(`${engine}: ${message}`, options);
    this.name = 'TtsError';
  }
}

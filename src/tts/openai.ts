/**
 * OpenAI `/v1/audio/speech` (or any OpenAI-compatible server: Kokoro-FastAPI, speaches, vLLM...) through the
 * official `openai` client. With `response_format: "pcm"` the body is raw 24 kHz 16-bit little-endian mono
 * PCM, streamed; we turn each network chunk into samples as it arrives. Network chunks split samples at
 * arbitrary byte offsets, so a dangling odd byte is carried into the next chunk.
 */
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { Config } from '../config/index.js';
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';
import { TtsFaultError } from './errors.js';
import { StallWatchdog, describe, isNonAudioContentType, readBodyChunks } from './http-audio-stream.js';

/** The rate OpenAI documents for `pcm`; compatible servers may differ, hence the option. */
export const OPENAI_PCM_SAMPLE_RATE = 24_000;

export interface OpenAiTtsOptions {
  apiKey: string;
  /** e.g. `https://api.openai.com/v1` or a self-hosted `http://kokoro:8880/v1`. */
  baseURL?: string;
  /** e.g. `gpt-4o-mini-tts`, `tts-1`, or a compatible server's model name. */
  model: string;
  voice: string;
  /** 0.25-4.0. */
  speed?: number;
  /** Style instructions (gpt-4o-mini-tts only). Fixed per deployment, never patient data. */
  instructions?: string;
  /** Rate of the server's `pcm` output. */
  sampleRate?: number;
  /** Longest wait for response headers. */
  requestTimeoutMs?: number;
  /** Longest gap between audio bytes (from the response headers on) before the request is abandoned. */
  stallTimeoutMs?: number;
  /** Client retries on 408/409/429/5xx. Default 0: on a live call a fallback voice beats a slow retry. */
  maxRetries?: number;
}

export const OPENAI_TTS_DEFAULTS = { requestTimeoutMs: 5000, stallTimeoutMs: 3000, maxRetries: 0 } as const;

/** Stands in for the key when a self-hosted server needs none (the client insists on one). */
export const NO_API_KEY = 'no-key';

/** Engine options from the `tts` config section (TTS_OPENAI_* variables). */
export function openAiTtsOptionsFromConfig(tts: Config['tts']): OpenAiTtsOptions {
  return {
    // api.openai.com needs a key (the constructor says so when it is missing); a self-hosted server may not.
    apiKey: tts.openaiApiKey ?? (tts.openaiBaseUrl ? NO_API_KEY : ''),
    ...(tts.openaiBaseUrl ? { baseURL: tts.openaiBaseUrl } : {}),
    model: tts.openaiModel,
    voice: tts.openaiVoice,
    sampleRate: tts.openaiSampleRate,
    requestTimeoutMs: tts.requestTimeoutMs,
    stallTimeoutMs: tts.stallTimeoutMs,
  };
}

export class OpenAiTtsEngine implements TtsEngine {
  readonly name = 'openai';
  readonly voice: string;
  readonly output: TtsOutputFormat;
  private readonly client: OpenAI;
  private readonly requestTimeoutMs: number;
  private readonly stallTimeoutMs: number;

  constructor(private readonly options: OpenAiTtsOptions) {
    if (!options.apiKey) throw new TtsError('openai', 'no API key configured (TTS_OPENAI_API_KEY)');
    if (!options.model) throw new TtsError('openai', 'no model configured (TTS_OPENAI_MODEL)');
    if (!options.voice) throw new TtsError('openai', 'no voice configured (TTS_OPENAI_VOICE)');
    this.voice = options.voice;
    this.output = { format: 'pcm16', sampleRate: options.sampleRate ?? OPENAI_PCM_SAMPLE_RATE };
    this.requestTimeoutMs = options.requestTimeoutMs ?? OPENAI_TTS_DEFAULTS.requestTimeoutMs;
    this.stallTimeoutMs = options.stallTimeoutMs ?? OPENAI_TTS_DEFAULTS.stallTimeoutMs;
    this.client = new OpenAI({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      timeout: this.requestTimeoutMs,
      maxRetries: options.maxRetries ?? OPENAI_TTS_DEFAULTS.maxRetries,
    });
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<TtsAudio> {
    if (signal.aborted || text.trim() === '') return;
    const watchdog = new StallWatchdog(this.stallTimeoutMs);
    let body: ReadableStream<Uint8Array>;
    try {
      const response = await this.client.audio.speech.create({
        model: this.options.model,
        voice: this.options.voice,
        input: text,
        response_format: 'pcm',
        ...(this.options.speed !== undefined ? { speed: this.options.speed } : {}),
        ...(this.options.instructions ? { instructions: this.options.instructions } : {}),
      }, { signal: AbortSignal.any([signal, watchdog.signal]), timeout: this.requestTimeoutMs });
      const contentType = response.headers.get('content-type');
      if (isNonAudioContentType(contentType)) {
        await response.body?.cancel().catch(() => undefined);
        throw new TtsFaultError(this.name, 'bad-audio', `expected PCM audio, got ${contentType}`);
      }
      if (!response.body) throw new TtsFaultError(this.name, 'bad-audio', 'the server sent no body');
      body = response.body;
    } catch (err) {
      if (signal.aborted) return;
      throw this.translate(err);
    }

    const { sampleRate } = this.output as { sampleRate: number };
    let carry: number | undefined; // the first byte of a sample whose second byte is in the next chunk
    let samples = 0;
    for await (const chunk of readBodyChunks(this.name, body, signal, watchdog)) {
      const pcm = bytesToSamples(chunk, carry);
      carry = pcm.carry;
      if (pcm.samples.length === 0) continue;
      samples += pcm.samples.length;
      yield { format: 'pcm16', sampleRate, samples: pcm.samples };
      if (signal.aborted) return;
    }
    if (!signal.aborted && samples === 0) throw new TtsFaultError(this.name, 'bad-audio', 'the server sent no audio');
  }

  async close(): Promise<void> {
    // Nothing pooled beyond fetch's own keep-alive; each request's body is cancelled when its sentence ends.
  }

  private translate(err: unknown): TtsError {
    if (err instanceof TtsError) return err;
    if (err instanceof APIConnectionTimeoutError) {
      return new TtsFaultError(this.name, 'timeout', `no response within ${this.requestTimeoutMs} ms`, { cause: err });
    }
    if (err instanceof APIError && !(err instanceof APIUserAbortError) && err.status !== undefined) {
      const providerCode = err.code ?? undefined;
      return new TtsFaultError(this.name, 'http-status', `HTTP ${err.status}${providerCode ? ` (${providerCode})` : ''}`, {
        cause: err, status: err.status, providerCode,
      });
    }
    return new TtsFaultError(this.name, 'network', `request failed: ${describe(err)}`, { cause: err });
  }
}

/**
 * Little-endian 16-bit samples from a chunk, with `carry` (a byte left over from the previous chunk) in front.
 * Hand-written: it is a byte shuffle over one chunk, which no library makes simpler.
 */
export function bytesToSamples(chunk: Uint8Array, carry: number | undefined): { samples: Int16Array; carry: number | undefined } {
  const total = chunk.length + (carry === undefined ? 0 : 1);
  const samples = new Int16Array(total >> 1);
  let byteIndex = 0;
  let sampleIndex = 0;
  if (carry !== undefined && samples.length > 0) {
    samples[0] = ((chunk[0]! << 8) | carry) << 16 >> 16; // sign-extend
    byteIndex = 1;
    sampleIndex = 1;
  }
  for (; sampleIndex < samples.length; sampleIndex++, byteIndex += 2) {
    samples[sampleIndex] = ((chunk[byteIndex + 1]! << 8) | chunk[byteIndex]!) << 16 >> 16;
  }
  let nextCarry: number | undefined;
  if (total % 2 === 1) nextCarry = carry !== undefined && chunk.length === 0 ? carry : chunk[chunk.length - 1];
  return { samples, carry: nextCarry };
}

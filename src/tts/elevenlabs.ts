/**
 * ElevenLabs streaming TTS through the official SDK. We ask for `ulaw_8000`, which is exactly Twilio's wire
 * format, so chunks go to playout untouched (no decode, resample or re-encode) as soon as they arrive.
 */
import { ElevenLabsClient, ElevenLabsError, ElevenLabsTimeoutError } from '@elevenlabs/elevenlabs-js';
import elevenLabsCore from '@elevenlabs/elevenlabs-js/core/index.js';
import type { Config } from '../config/index.js';
import { TtsError, type TtsAudio, type TtsEngine, type TtsOutputFormat } from './types.js';
import { TtsFaultError } from './errors.js';
import { StallWatchdog, describe, isNonAudioContentType, readBodyChunks } from './http-audio-stream.js';

export interface ElevenLabsTtsOptions {
  apiKey: string;
  voiceId: string;
  /** e.g. `eleven_flash_v2_5` (lowest latency). */
  modelId: string;
  /** API origin; defaults to the SDK's production environment. Tests point it at a local double. */
  baseUrl?: string;
  /** Longest wait for response headers. */
  requestTimeoutMs?: number;
  /** Longest gap between audio bytes (from the response headers on) before the request is abandoned. */
  stallTimeoutMs?: number;
  /** SDK retries on 408/429/5xx. Default 0: on a live call a fallback voice beats a slow retry. */
  maxRetries?: number;
  /** 0-4, ElevenLabs' latency/quality trade-off. */
  optimizeStreamingLatency?: number;
}

export const ELEVENLABS_DEFAULTS = { requestTimeoutMs: 5000, stallTimeoutMs: 3000, maxRetries: 0 } as const;

/** Engine options from the `tts` config section (ELEVENLABS_* variables). */
export function elevenLabsOptionsFromConfig(tts: Config['tts']): ElevenLabsTtsOptions {
  return {
    apiKey: tts.elevenlabsApiKey ?? '',
    voiceId: tts.elevenlabsVoiceId ?? '',
    modelId: tts.elevenlabsModelId,
    ...(tts.elevenlabsBaseUrl ? { baseUrl: tts.elevenlabsBaseUrl } : {}),
    requestTimeoutMs: tts.requestTimeoutMs,
    stallTimeoutMs: tts.stallTimeoutMs,
  };
}

export class ElevenLabsTtsEngine implements TtsEngine {
  readonly name = 'elevenlabs';
  readonly voice: string;
  readonly output: TtsOutputFormat = { format: 'mulaw8k' };
  private readonly client: ElevenLabsClient;
  private readonly requestTimeoutMs: number;
  private readonly stallTimeoutMs: number;
  private readonly maxRetries: number;

  constructor(private readonly options: ElevenLabsTtsOptions) {
    if (!options.apiKey) throw new TtsError('elevenlabs', 'no API key configured (ELEVENLABS_API_KEY)');
    if (!options.voiceId) throw new TtsError('elevenlabs', 'no voice configured (ELEVENLABS_VOICE_ID)');
    this.voice = options.voiceId;
    this.requestTimeoutMs = options.requestTimeoutMs ?? ELEVENLABS_DEFAULTS.requestTimeoutMs;
    this.stallTimeoutMs = options.stallTimeoutMs ?? ELEVENLABS_DEFAULTS.stallTimeoutMs;
    this.maxRetries = options.maxRetries ?? ELEVENLABS_DEFAULTS.maxRetries;
    this.client = new ElevenLabsClient({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
      maxRetries: this.maxRetries,
      // The SDK's own request timer is only cleared when fetch resolves: every refused or aborted request
      // would leave a timer running for the whole timeout (240 s by default), keeping the process alive.
      // Our header timer and stall watchdog do the job instead, so the SDK's is switched off.
      fetcher: (args) => elevenLabsCore.fetcher({ ...args, timeoutMs: undefined }),
    });
  }

  async *synthesize(text: string, signal: AbortSignal): AsyncGenerator<TtsAudio> {
    if (signal.aborted || text.trim() === '') return;
    const watchdog = new StallWatchdog(this.stallTimeoutMs);
    // Our own header timer: the SDK's timeout aborts fetch with a bare string reason, which the SDK then
    // misreports as a generic error (a timeout would look like a refused connection), and it leaks (above).
    const headerTimer = new StallWatchdog(this.requestTimeoutMs);
    const requestSignal = AbortSignal.any([signal, watchdog.signal, headerTimer.signal]);
    let body: ReadableStream<Uint8Array>;
    headerTimer.arm();
    try {
      const { data, rawResponse } = await this.client.textToSpeech.stream(this.options.voiceId, {
        text,
        modelId: this.options.modelId,
        outputFormat: 'ulaw_8000',
        ...(this.options.optimizeStreamingLatency !== undefined ? { optimizeStreamingLatency: this.options.optimizeStreamingLatency } : {}),
      }, {
        abortSignal: requestSignal,
        maxRetries: this.maxRetries,
      }).withRawResponse();
      body = data;
      const contentType = rawResponse.headers.get('content-type');
      if (isNonAudioContentType(contentType)) {
        await body.cancel().catch(() => undefined);
        throw new TtsFaultError(this.name, 'bad-audio', `expected μ-law audio, got ${contentType}`);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (headerTimer.fired) {
        throw new TtsFaultError(this.name, 'timeout', `no response within ${this.requestTimeoutMs} ms`, { cause: err });
      }
      throw this.translate(err);
    } finally {
      headerTimer.disarm();
    }

    let bytes = 0;
    for await (const chunk of readBodyChunks(this.name, body, signal, watchdog)) {
      bytes += chunk.byteLength;
      yield { format: 'mulaw8k', bytes: chunk };
      if (signal.aborted) return;
    }
    if (!signal.aborted && bytes === 0) throw new TtsFaultError(this.name, 'bad-audio', 'the server sent no audio');
  }

  async close(): Promise<void> {
    // The SDK holds no connections of its own: each request's body is cancelled when its sentence ends.
  }

  private translate(err: unknown): TtsError {
    if (err instanceof TtsError) return err;
    if (err instanceof ElevenLabsTimeoutError) {
      return new TtsFaultError(this.name, 'timeout', `no response within ${this.requestTimeoutMs} ms`, { cause: err });
    }
    if (err instanceof ElevenLabsError && err.statusCode !== undefined) {
      const providerCode = elevenLabsErrorCode(err.body);
      return new TtsFaultError(this.name, 'http-status', `HTTP ${err.statusCode}${providerCode ? ` (${providerCode})` : ''}`, {
        cause: err, status: err.statusCode, providerCode,
      });
    }
    return new TtsFaultError(this.name, 'network', `request failed: ${describe(err)}`, { cause: err });
  }
}

/** ElevenLabs errors look like `{"detail":{"status":"invalid_api_key","message":"..."}}` (422: detail is a list). */
function elevenLabsErrorCode(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const detail = (body as { detail?: unknown }).detail;
  if (typeof detail === 'object' && detail !== null && !Array.isArray(detail)) {
    const status = (detail as { status?: unknown }).status;
    return typeof status === 'string' ? status : undefined;
  }
  if (Array.isArray(detail)) return 'validation_error';
  return undefined;
}

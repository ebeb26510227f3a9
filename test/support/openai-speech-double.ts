/**
 * A local stand-in for OpenAI's (or an OpenAI-compatible server's) `POST /v1/audio/speech`: Bearer auth, JSON
 * body `{model, input, voice, response_format}`, and with `response_format: "pcm"` raw 24 kHz 16-bit
 * little-endian mono PCM streamed in chunks. Errors use OpenAI's shape
 * `{"error":{"message","type","param","code"}}`. Chunks default to an odd size so 16-bit samples straddle
 * chunk boundaries, as they do on a real network.
 */
import type { IncomingMessage } from 'node:http';
import { AudioStreamDouble, durationForText, tone } from './audio-stream-double.js';

export type { SpeechBehaviour, RecordedSpeechRequest } from './audio-stream-double.js';

export const OPENAI_PCM_SAMPLE_RATE = 24_000;

export class OpenAiSpeechDouble extends AudioStreamDouble {
  constructor(readonly apiKey: string) {
    super({
      matches: (method, path) => method === 'POST' && path === '/v1/audio/speech',
      authError: (headers: IncomingMessage['headers']) => headers.authorization === `Bearer ${apiKey}` ? null : {
        error: {
          message: 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
          type: 'invalid_request_error', param: null, code: 'invalid_api_key',
        },
      },
      errorBody: (status, code, message) => ({
        error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code },
      }),
      audioFor: (request) => pcmBytes(tone(OPENAI_PCM_SAMPLE_RATE, durationForText(request.body.input))),
      audioContentType: 'audio/pcm',
      defaultChunkBytes: 4801, // ~100 ms, odd on purpose
    });
  }
}

/** Int16 samples as little-endian bytes, the way the API sends `pcm`. */
export function pcmBytes(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i]!, true);
  return bytes;
}

export async function startOpenAiSpeechDouble(apiKey = 'sk-test-speech'): Promise<OpenAiSpeechDouble> {
  return new OpenAiSpeechDouble(apiKey).start();
}

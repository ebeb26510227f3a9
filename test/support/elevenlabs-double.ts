/**
 * A local stand-in for ElevenLabs' streaming TTS endpoint, speaking its documented protocol:
 * `POST /v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000`, `xi-api-key` header, JSON body with
 * `text` and `model_id`, chunked audio bytes back, and errors as `{"detail":{"status","message"}}`.
 * The audio is a real 8 kHz μ-law tone whose length follows the text.
 */
import type { IncomingMessage } from 'node:http';
import { muLawEncode } from '../../src/media/codec.js';
import { AudioStreamDouble, durationForText, tone, type RecordedSpeechRequest } from './audio-stream-double.js';

export type { SpeechBehaviour, RecordedSpeechRequest } from './audio-stream-double.js';

const STREAM_PATH = /^\/v1\/text-to-speech\/([^/]+)\/stream$/;

export class ElevenLabsDouble extends AudioStreamDouble {
  constructor(readonly apiKey: string) {
    super({
      matches: (method, path) => method === 'POST' && STREAM_PATH.test(path),
      authError: (headers: IncomingMessage['headers']) => headers['xi-api-key'] === apiKey ? null : {
        detail: { status: 'invalid_api_key', message: 'Invalid API key' },
      },
      errorBody: (_status, code, message) => ({ detail: { status: code, message } }),
      audioFor: (request) => muLawEncode(tone(8000, durationForText(request.body.text))),
      audioContentType: 'audio/basic',
      defaultChunkBytes: 800, // 100 ms of 8 kHz μ-law
    });
  }

  /** The voice id a recorded request addressed. */
  static voiceIdOf(request: RecordedSpeechRequest): string | undefined {
    return STREAM_PATH.exec(request.path)?.[1];
  }
}

export async function startElevenLabsDouble(apiKey = 'test-xi-key'): Promise<ElevenLabsDouble> {
  return new ElevenLabsDouble(apiKey).start();
}

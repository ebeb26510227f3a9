/**
 * `openai`: OpenAI or an OpenAI-compatible server (speaches, faster-whisper servers, vLLM) via `baseUrl`.
 *
 * - per-utterance: on `endUtterance` the VAD-cut turn is wrapped as a WAV and sent to
 *   `audio.transcriptions.create` through the `openai` client, with a timeout and an AbortSignal (reset and
 *   close abort the request).
 * - realtime: the Realtime transcription WebSocket (`/v1/realtime?intent=transcription`). Audio is streamed
 *   as G.711 mu-law as it arrives (no resampling: telephone audio is what the API takes), server turn
 *   detection is off because our VAD owns turns, and `endUtterance` commits the buffer; the server answers
 *   `input_audio_buffer.committed`, then `...input_audio_transcription.delta` (partials) and `.completed`.
 *   We speak it with `ws` rather than the `openai` package's `OpenAIRealtimeWS` helper: that helper always
 *   rewrites the URL to `wss://` with `?model=`, which cannot reach a plain-http self-hosted server and does
 *   not open a transcription-intent session.
 *
 * Every failure (HTTP error, timeout, stall, garbage, dropped socket) becomes an `error` event on the stream;
 * nothing is thrown out of a stream method.
 */
import OpenAI, { toFile } from 'openai';
import WaveFilePackage from 'wavefile';
import WebSocket from 'ws';
import { muLawEncode } from '../media/codec.js';
import { AsrConfigError } from './errors.js';
import { AsrError, type AsrEngine, type AsrEvent, type AsrStream } from './types.js';

const { WaveFile } = WaveFilePackage;
const SAMPLE_RATE = 8000;

export interface OpenAiAsrOptions {
  apiKey: string;
  /** e.g. https://api.openai.com/v1 (default) or http://speaches.local:8000/v1 */
  baseUrl?: string;
  model: string;
  mode: 'per-utterance' | 'realtime';
  /** Realtime session message: GA `session.update` or the beta `transcription_session.update`. */
  realtimeProtocol?: 'ga' | 'beta';
  language?: string;
  /** Per request (per-utterance) or per commit -> completed wait (realtime). */
  timeoutMs: number;
  /** HTTP retries of the openai client (per-utterance). Default 0: a caller is waiting. */
  maxRetries?: number;
}

export function createOpenAiAsrEngine(options: OpenAiAsrOptions): AsrEngine {
  if (!options.apiKey) throw new AsrConfigError('openai', 'no API key configured (ASR_OPENAI_API_KEY)');
  if (options.mode === 'realtime') {
    const url = realtimeUrl(options.baseUrl ?? 'https://api.openai.com/v1');
    return {
      name: 'openai',
      available: true,
      createStream: (sink) => new RealtimeStream(url, options, sink),
      async close() {},
    };
  }
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseUrl,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries ?? 0,
  });
  return {
    name: 'openai',
    available: true,
    createStream: (sink) => new PerUtteranceStream(client, options, sink),
    async close() {},
  };
}

/** 16-bit mono WAV bytes of 8 kHz PCM. */
export function encodeWav(samples: Int16Array, sampleRate = SAMPLE_RATE): Uint8Array {
  const wav = new WaveFile();
  wav.fromScratch(1, sampleRate, '16', samples);
  return wav.toBuffer();
}

/** http(s)://host/v1 -> ws(s)://host/v1/realtime?intent=transcription */
export function realtimeUrl(baseUrl: string): URL {
  const url = new URL(baseUrl.replace(/\/+$/, '') + '/realtime');
  url.protocol = url.protocol === 'http:' ? 'ws:' : url.protocol === 'https:' ? 'wss:' : url.protocol;
  url.searchParams.set('intent', 'transcription');
  return url;
}

function describe(err: unknown): string {
  if (err instanceof OpenAI.APIError) return `HTTP ${err.status ?? 'error'}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

class PerUtteranceStream implements AsrStream {
  private closed = false;
  /** Requests in flight, oldest first; reset/close abort them all. */
  private readonly inFlight = new Set<AbortController>();

  constructor(
    private readonly client: OpenAI,
    private readonly options: OpenAiAsrOptions,
    private readonly sink: (event: AsrEvent) => void,
  ) {}

  pushAudio(): void {
    // Per-utterance transcription works on the VAD-cut turn handed to endUtterance.
  }

  endUtterance(utterance: Int16Array): void {
    if (this.closed) return;
    if (utterance.length === 0) {
      // Nothing to send: nothing was heard.
      setImmediate(() => { if (!this.closed) this.sink({ type: 'final', text: '', startMs: 0, endMs: 0 }); });
      return;
    }
    const abort = new AbortController();
    this.inFlight.add(abort);
    void this.transcribe(utterance, abort).then((event) => {
      const cancelled = abort.signal.aborted;
      this.inFlight.delete(abort);
      if (!cancelled && !this.closed) this.sink(event);
    });
  }

  private async transcribe(utterance: Int16Array, abort: AbortController): Promise<AsrEvent> {
    const durationMs = Math.round((utterance.length / SAMPLE_RATE) * 1000);
    try {
      const file = await toFile(encodeWav(utterance), 'utterance.wav', { type: 'audio/wav' });
      const result: unknown = await this.client.audio.transcriptions.create(
        { file, model: this.options.model, response_format: 'json', ...(this.options.language ? { language: this.options.language } : {}) },
        { signal: abort.signal, timeout: this.options.timeoutMs },
      );
      const text = (result as { text?: unknown } | null)?.text;
      if (typeof text !== 'string') return { type: 'error', error: new AsrError('openai', 'transcription response has no text') };
      return { type: 'final', text: text.trim(), startMs: 0, endMs: durationMs };
    } catch (err) {
      return { type: 'error', error: new AsrError('openai', `transcription failed: ${describe(err)}`, { cause: err }) };
    }
  }

  reset(): void {
    for (const abort of this.inFlight) abort.abort();
    this.inFlight.clear();
  }

  close(): void {
    this.closed = true;
    this.reset();
  }
}

/** A turn waiting for its transcript: the item id arrives with `input_audio_buffer.committed`. */
interface PendingTurn { itemId?: string; text: string; timer: NodeJS.Timeout; durationMs: number }

class RealtimeStream implements AsrStream {
  private socket: WebSocket | null = null;
  private open = false;
  private closed = false;
  /** Set once the connection failed; every later turn is answered with it. */
  private broken: AsrError | null = null;
  private readonly queued: string[] = [];
  private readonly pending: PendingTurn[] = [];
  /** Item ids of turns dropped by reset: their late transcripts are ignored. */
  private readonly dropped = new Set<string>();
  private droppedUncommitted = 0;
  private samplesSinceCommit = 0;

  constructor(private readonly url: URL, private readonly options: OpenAiAsrOptions, private readonly sink: (event: AsrEvent) => void) {
    this.connect();
  }

  private connect(): void {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.options.apiKey}` };
    if (this.options.realtimeProtocol === 'beta') headers['OpenAI-Beta'] = 'realtime=v1';
    const socket = new WebSocket(this.url, { headers, handshakeTimeout: this.options.timeoutMs });
    this.socket = socket;
    socket.on('open', () => {
      this.open = true;
      socket.send(JSON.stringify(this.sessionUpdate()));
      for (const message of this.queued.splice(0)) socket.send(message);
    });
    socket.on('message', (data) => this.onMessage(data.toString()));
    socket.on('unexpected-response', (_req, res) => {
      this.failConnection(new AsrError('openai', `realtime connection refused: HTTP ${res.statusCode ?? '?'}`));
      res.resume();
      socket.terminate();
    });
    socket.on('error', (err) => this.failConnection(new AsrError('openai', `realtime connection failed: ${err.message}`, { cause: err })));
    socket.on('close', (code) => {
      this.open = false;
      if (!this.closed) this.failConnection(new AsrError('openai', `realtime connection closed by the server (code ${code})`));
    });
  }

  private sessionUpdate(): Record<string, unknown> {
    const transcription = { model: this.options.model, ...(this.options.language ? { language: this.options.language } : {}) };
    if (this.options.realtimeProtocol === 'beta') {
      return {
        type: 'transcription_session.update',
        session: { input_audio_format: 'g711_ulaw', input_audio_transcription: transcription, turn_detection: null },
      };
    }
    return {
      type: 'session.update',
      session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' }, transcription, turn_detection: null } } },
    };
  }

  private send(event: Record<string, unknown>): void {
    const message = JSON.stringify(event);
    if (this.open && this.socket) {
      this.socket.send(message);
    } else if (!this.broken) {
      // Bounded: about 10 s of 20 ms frames while the socket opens.
      if (this.queued.length < 500) this.queued.push(message);
    }
  }

  pushAudio(samples: Int16Array): void {
    if (this.closed || this.broken || samples.length === 0) return;
    this.samplesSinceCommit += samples.length;
    this.send({ type: 'input_audio_buffer.append', audio: Buffer.from(muLawEncode(samples)).toString('base64') });
  }

  endUtterance(utterance: Int16Array): void {
    if (this.closed) return;
    if (this.broken) {
      const error = this.broken;
      setImmediate(() => { if (!this.closed) this.sink({ type: 'error', error }); });
      return;
    }
    // A caller of endUtterance alone (e.g. a file) still gets its audio sent.
    if (this.samplesSinceCommit === 0 && utterance.length > 0) this.pushAudio(utterance);
    const durationMs = Math.round((this.samplesSinceCommit / SAMPLE_RATE) * 1000);
    this.samplesSinceCommit = 0;
    const turn: PendingTurn = {
      text: '', durationMs,
      timer: setTimeout(() => this.finishTurn(turn, {
        type: 'error', error: new AsrError('openai', `no transcript within ${this.options.timeoutMs} ms`),
      }), this.options.timeoutMs),
    };
    this.pending.push(turn);
    this.send({ type: 'input_audio_buffer.commit' });
  }

  reset(): void {
    if (this.closed) return;
    for (const turn of this.pending.splice(0)) {
      clearTimeout(turn.timer);
      if (turn.itemId) this.dropped.add(turn.itemId);
      else this.droppedUncommitted++;
    }
    this.samplesSinceCommit = 0;
    if (!this.broken) this.send({ type: 'input_audio_buffer.clear' });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const turn of this.pending.splice(0)) clearTimeout(turn.timer);
    this.queued.length = 0;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.removeAllListeners('close');
      socket.on('error', () => {}); // a late error on a socket we are closing is not news
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000);
    }
  }

  private onMessage(raw: string): void {
    if (this.closed) return;
    let event: { type?: unknown; item_id?: unknown; delta?: unknown; transcript?: unknown; error?: { message?: unknown; code?: unknown } };
    try {
      event = JSON.parse(raw) as typeof event;
      if (typeof event !== 'object' || event === null || typeof event.type !== 'string') throw new Error('not an event object');
    } catch {
      return this.failConnection(new AsrError('openai', 'realtime server sent a message that is not a JSON event'));
    }
    const itemId = typeof event.item_id === 'string' ? event.item_id : undefined;
    switch (event.type) {
      case 'input_audio_buffer.committed': {
        if (!itemId || this.dropped.has(itemId) || this.pending.some((t) => t.itemId === itemId)) return;
        if (this.droppedUncommitted > 0) {
          this.droppedUncommitted--;
          this.dropped.add(itemId);
          return;
        }
        const turn = this.pending.find((t) => t.itemId === undefined);
        if (turn) turn.itemId = itemId;
        return;
      }
      case 'conversation.item.input_audio_transcription.delta': {
        const turn = this.pending.find((t) => t.itemId === itemId);
        if (!turn || typeof event.delta !== 'string') return;
        turn.text += event.delta;
        if (turn === this.pending[0]) this.sink({ type: 'partial', text: turn.text.trim(), startMs: 0, endMs: turn.durationMs });
        return;
      }
      case 'conversation.item.input_audio_transcription.completed': {
        if (itemId && this.dropped.delete(itemId)) return;
        const turn = this.pending.find((t) => t.itemId === itemId);
        if (!turn) return;
        if (typeof event.transcript !== 'string') {
          return this.finishTurn(turn, { type: 'error', error: new AsrError('openai', 'transcription event has no transcript') });
        }
        return this.finishTurn(turn, { type: 'final', text: event.transcript.trim(), startMs: 0, endMs: turn.durationMs });
      }
      case 'conversation.item.input_audio_transcription.failed': {
        if (itemId && this.dropped.delete(itemId)) return;
        const turn = this.pending.find((t) => t.itemId === itemId);
        if (turn) this.finishTurn(turn, { type: 'error', error: new AsrError('openai', 'the server could not transcribe the turn') });
        return;
      }
      case 'error': {
        const code = typeof event.error?.code === 'string' ? event.error.code : '';
        const message = typeof event.error?.message === 'string' ? event.error.message : 'unknown error';
        // Committing an empty buffer (the caller said nothing audible) is not a failure: nothing was heard.
        const turn = this.pending.find((t) => t.itemId === undefined);
        if (turn && code === 'input_audio_buffer_commit_empty') {
          return this.finishTurn(turn, { type: 'final', text: '', startMs: 0, endMs: turn.durationMs });
        }
        if (turn) return this.finishTurn(turn, { type: 'error', error: new AsrError('openai', `realtime server error ${code}: ${message}`) });
        return;
      }
      default:
        return; // session.created/updated, speech_started/stopped, ... carry nothing we need
    }
  }

  private finishTurn(turn: PendingTurn, event: AsrEvent): void {
    const index = this.pending.indexOf(turn);
    if (index < 0) return;
    clearTimeout(turn.timer);
    this.pending.splice(index, 1);
    // Once a turn timed out its item may still complete: ignore that late transcript.
    if (turn.itemId && event.type === 'error') this.dropped.add(turn.itemId);
    if (!this.closed) this.sink(event);
  }

  private failConnection(error: AsrError): void {
    if (this.closed || this.broken) return;
    this.broken = error;
    this.open = false;
    this.queued.length = 0;
    for (const turn of [...this.pending]) this.finishTurn(turn, { type: 'error', error });
    const socket = this.socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      socket.removeAllListeners('close');
      socket.on('error', () => {});
      socket.terminate();
    }
  }
}

/**
 * The part both speech-provider doubles share: a local HTTP server on 127.0.0.1:0 that answers one request
 * at a time with a scripted behaviour (stream audio in timed chunks, stall mid-stream, fail with a status,
 * send something that is not audio), and records what it saw, including whether the client hung up early.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the double does with the next request. Unscripted requests get `{ kind: 'audio' }`. */
export type SpeechBehaviour =
  /** Stream the audio in chunks of `chunkBytes`, `intervalMs` apart. */
  | { kind: 'audio'; chunkBytes?: number; intervalMs?: number }
  /** Send `chunksBeforeStall` chunks, then keep the connection open and silent until the client gives up. */
  | { kind: 'stall'; chunksBeforeStall: number; chunkBytes?: number }
  /** Accept the request but never send headers. */
  | { kind: 'no-headers' }
  /** Answer with an HTTP error status and the provider's JSON error body. */
  | { kind: 'status'; status: number; code?: string; message?: string }
  /** Answer 200 with a content type and body that are not audio (a proxy's HTML error page). */
  | { kind: 'garbage' }
  /** Answer 200 with an audio content type and an empty body. */
  | { kind: 'empty' }
  /** Provider-specific raw bytes (e.g. PCM with a dangling odd byte). */
  | { kind: 'raw'; bytes: Uint8Array; contentType: string; chunkBytes?: number };

export interface RecordedSpeechRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  /** Bytes of audio written before the response ended or the client left. */
  bytesSent: number;
  /** True when the client closed the connection before the response was complete. */
  clientClosedEarly: boolean;
  /** Resolves once the exchange is over (completed, or the client hung up). */
  finished: Promise<void>;
}

export interface AudioStreamDoubleHooks {
  /** Which requests this provider serves; others get 404. */
  matches(method: string, path: string): boolean;
  /** Provider-specific auth check; returns an error body to send with 401, or null when authorised. */
  authError(headers: IncomingMessage['headers']): Record<string, unknown> | null;
  /** The provider's JSON error shape. */
  errorBody(status: number, code: string, message: string): Record<string, unknown>;
  /** The audio to stream for a request (already in the provider's output encoding). */
  audioFor(request: RecordedSpeechRequest): Uint8Array;
  audioContentType: string;
  /** Chunk size when a behaviour does not set one. */
  defaultChunkBytes: number;
}

export class AudioStreamDouble {
  readonly requests: RecordedSpeechRequest[] = [];
  private readonly script: SpeechBehaviour[] = [];
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private port = 0;

  constructor(private readonly hooks: AudioStreamDoubleHooks) {
    this.server = createServer((req, res) => { void this.handle(req, res); });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get origin(): string { return `http://127.0.0.1:${this.port}`; }

  /** The audio the double streams for a request with this JSON body (what a test expects to receive). */
  expectedAudio(body: Record<string, unknown>): Uint8Array {
    return this.hooks.audioFor({ body } as RecordedSpeechRequest);
  }

  /** Queue behaviours for the next requests, in order. */
  enqueue(...behaviours: SpeechBehaviour[]): void { this.script.push(...behaviours); }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    try { body = raw.length ? JSON.parse(raw.toString('utf8')) as Record<string, unknown> : {}; } catch { body = {}; }
    let finish!: () => void;
    const record: RecordedSpeechRequest = {
      method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body,
      bytesSent: 0, clientClosedEarly: false, finished: new Promise<void>((resolve) => { finish = resolve; }),
    };
    this.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.clientClosedEarly = true;
      finish();
    });

    if (!this.hooks.matches(req.method ?? '', url.pathname)) {
      return sendJson(res, 404, this.hooks.errorBody(404, 'not_found', 'no such route'));
    }
    const authError = this.hooks.authError(req.headers);
    if (authError) return sendJson(res, 401, authError);

    const behaviour = this.script.shift() ?? { kind: 'audio' };
    switch (behaviour.kind) {
      case 'status':
        return sendJson(res, behaviour.status, this.hooks.errorBody(
          behaviour.status, behaviour.code ?? 'server_error', behaviour.message ?? 'scripted failure'));
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return;
      case 'empty':
        res.writeHead(200, { 'content-type': this.hooks.audioContentType });
        res.end();
        return;
      case 'no-headers':
        return; // hold the socket; close() or the client ends it
      case 'raw':
        return this.stream(res, record, behaviour.bytes, behaviour.contentType, behaviour.chunkBytes ?? this.hooks.defaultChunkBytes, 10, Infinity);
      case 'audio':
        return this.stream(res, record, this.hooks.audioFor(record), this.hooks.audioContentType,
          behaviour.chunkBytes ?? this.hooks.defaultChunkBytes, behaviour.intervalMs ?? 20, Infinity);
      case 'stall':
        return this.stream(res, record, this.hooks.audioFor(record), this.hooks.audioContentType,
          behaviour.chunkBytes ?? this.hooks.defaultChunkBytes, 10, behaviour.chunksBeforeStall);
    }
  }

  /** Writes `audio` in chunks; after `maxChunks` it stops writing but keeps the response open (a stall). */
  private stream(res: ServerResponse, record: RecordedSpeechRequest, audio: Uint8Array, contentType: string,
    chunkBytes: number, intervalMs: number, maxChunks: number): void {
    res.writeHead(200, { 'content-type': contentType, 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    let offset = 0;
    let sent = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (sent >= maxChunks) return; // stall: say nothing more
      if (offset >= audio.length) { res.end(); return; }
      const chunk = audio.subarray(offset, Math.min(offset + chunkBytes, audio.length));
      offset += chunk.length;
      sent++;
      record.bytesSent += chunk.length;
      res.write(chunk);
      const timer = setTimeout(() => { this.timers.delete(timer); next(); }, intervalMs);
      this.timers.add(timer);
    };
    next();
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A sine tone as 16-bit PCM: real, non-silent audio whose length tracks the text, like speech would. */
export function tone(sampleRate: number, durationMs: number, frequencyHz = 440, amplitude = 8000): Int16Array {
  const samples = new Int16Array(Math.round((sampleRate * durationMs) / 1000));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequencyHz * i) / sampleRate));
  return samples;
}

/** Speech-like duration for a text: ~60 ms per character, at least 300 ms. */
export function durationForText(text: unknown): number {
  return Math.max(300, (typeof text === 'string' ? text.length : 0) * 60);
}

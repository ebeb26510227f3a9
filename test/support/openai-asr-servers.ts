/**
 * Network-edge doubles of OpenAI's speech-to-text APIs on 127.0.0.1, for tests that drive the real `openai`
 * client and the real WebSocket code:
 * - `startTranscriptionServer`: POST /v1/audio/transcriptions (multipart form: file, model, ...), the
 *   documented JSON reply `{ "text": ... }`, or whatever misbehaviour a test asks for.
 * - `startRealtimeServer`: the Realtime transcription WebSocket (/v1/realtime?intent=transcription).
 * Both decode the audio they receive so a test can check what actually crossed the wire.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WaveFilePackage from 'wavefile';
import { WebSocketServer, type WebSocket } from 'ws';
import { muLawDecode } from '../../src/media/codec.js';

const { WaveFile } = WaveFilePackage;

export interface ReceivedTranscription {
  authorization: string | undefined;
  model: string;
  fields: Record<string, string>;
  fileName: string;
  /** The uploaded WAV's samples (first channel) and rate. */
  samples: Int16Array;
  sampleRate: number;
}

export type TranscriptionReply =
  | { text: string }
  | { status: number; body: string; contentType?: string }
  | { stall: true };

export interface TranscriptionServerDouble {
  baseUrl: string;
  requests: ReceivedTranscription[];
  close(): Promise<void>;
}

export async function startTranscriptionServer(
  reply: (request: ReceivedTranscription) => TranscriptionReply | Promise<TranscriptionReply>,
): Promise<TranscriptionServerDouble> {
  const requests: ReceivedTranscription[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: (err as Error).message } }));
    });
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || !req.url?.endsWith('/audio/transcriptions')) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // The standard Fetch Request parses multipart/form-data for us.
    const form = await new Request('http://double/', {
      method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: Buffer.concat(chunks),
    }).formData();
    const file = form.get('file');
    if (!(file instanceof File)) throw new Error('no file part');
    const wav = new WaveFile(new Uint8Array(await file.arrayBuffer()));
    // Copy the numbers: toBitDepth rebuilds the header objects.
    const fmt = { ...(wav.fmt as { sampleRate: number; numChannels: number }) };
    wav.toBitDepth('16');
    const raw = wav.getSamples(false, Int16Array) as unknown as Int16Array | Int16Array[];
    const samples = fmt.numChannels > 1 ? (raw as Int16Array[])[0]! : (raw as Int16Array);
    const fields: Record<string, string> = {};
    for (const [key, value] of form.entries()) if (typeof value === 'string') fields[key] = value;
    const received: ReceivedTranscription = {
      authorization: req.headers.authorization, model: fields.model ?? '', fields, fileName: file.name,
      samples: Int16Array.from(samples), sampleRate: fmt.sampleRate,
    };
    requests.push(received);
    const answer = await reply(received);
    if ('stall' in answer) return; // never answer; close() cuts the connection
    if ('status' in answer) {
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' }).end(answer.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: answer.text }));
  }
  const baseUrl = await listen(server);
  return {
    baseUrl: `${baseUrl}/v1`,
    requests,
    close: () => closeServer(server),
  };
}

// ---- Realtime ----

export interface RealtimeSessionDouble {
  socket: WebSocket;
  url: URL;
  authorization: string | undefined;
  betaHeader: string | undefined;
  /** Every client event received, in order. */
  events: Array<Record<string, unknown>>;
  /** Mu-law audio appended since the last commit/clear, decoded to PCM. */
  buffered(): Int16Array;
  send(event: Record<string, unknown>): void;
}

export interface RealtimeBehaviour {
  /** HTTP status to refuse the upgrade with (e.g. 401). */
  refuseWith?: number;
  /**
   * Called on every `input_audio_buffer.commit` with the audio committed. Default: answer committed, one
   * delta per word, then completed with `transcript(audio)`.
   */
  onCommit?(session: RealtimeSessionDouble, audio: Int16Array, itemId: string): void;
  transcript?(audio: Int16Array): string;
}

export interface RealtimeServerDouble {
  baseUrl: string;
  sessions: RealtimeSessionDouble[];
  close(): Promise<void>;
}

export async function startRealtimeServer(behaviour: RealtimeBehaviour = {}): Promise<RealtimeServerDouble> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const sessions: RealtimeSessionDouble[] = [];
  let nextItem = 1;
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://double');
    if (url.pathname !== '/v1/realtime') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    if (behaviour.refuseWith) {
      socket.end(`HTTP/1.1 ${behaviour.refuseWith} Refused\r\ncontent-type: application/json\r\n\r\n{"error":{"message":"refused"}}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let chunks: Int16Array[] = [];
      const session: RealtimeSessionDouble = {
        socket: ws, url, authorization: req.headers.authorization,
        betaHeader: req.headers['openai-beta'] as string | undefined,
        events: [],
        buffered() {
          const total = chunks.reduce((n, c) => n + c.length, 0);
          const out = new Int16Array(total);
          let offset = 0;
          for (const c of chunks) { out.set(c, offset); offset += c.length; }
          return out;
        },
        send(event) { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event)); },
      };
      sessions.push(session);
      session.send({ type: 'session.created', event_id: 'evt_0', session: { type: 'transcription' } });
      ws.on('message', (data) => {
        const event = JSON.parse(data.toString()) as Record<string, unknown>;
        session.events.push(event);
        switch (event.type) {
          case 'session.update':
          case 'transcription_session.update':
            session.send({ type: event.type === 'session.update' ? 'session.updated' : 'transcription_session.updated', session: event.session });
            break;
          case 'input_audio_buffer.append':
            chunks.push(muLawDecode(new Uint8Array(Buffer.from(String(event.audio), 'base64'))));
            break;
          case 'input_audio_buffer.clear':
            chunks = [];
            session.send({ type: 'input_audio_buffer.cleared' });
            break;
          case 'input_audio_buffer.commit': {
            const audio = session.buffered();
            chunks = [];
            const itemId = `item_${nextItem++}`;
            if (audio.length === 0) {
              session.send({ type: 'error', error: { type: 'invalid_request_error', code: 'input_audio_buffer_commit_empty', message: 'buffer too small' } });
              break;
            }
            if (behaviour.onCommit) behaviour.onCommit(session, audio, itemId);
            else answerCommit(session, itemId, (behaviour.transcript ?? (() => ''))(audio));
            break;
          }
        }
      });
    });
  });
  const baseUrl = await listen(server);
  return {
    baseUrl: `${baseUrl}/v1`,
    sessions,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

/** The documented success sequence for one committed turn. */
export function answerCommit(session: RealtimeSessionDouble, itemId: string, transcript: string): void {
  session.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null });
  answerTranscript(session, itemId, transcript);
}

/** Deltas (one per word) then completed, for an item already committed. */
export function answerTranscript(session: RealtimeSessionDouble, itemId: string, transcript: string): void {
  const words = transcript.split(' ').filter(Boolean);
  words.forEach((word, i) => session.send({
    type: 'conversation.item.input_audio_transcription.delta', item_id: itemId, content_index: 0, delta: (i ? ' ' : '') + word,
  }));
  session.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

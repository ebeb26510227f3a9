/**
 * Worker-thread host of the sherpa recognizer: decoding is synchronous CPU work inside the addon, so the
 * recognizer and every call's stream live here and the main thread (Twilio sockets, playout timers) never
 * waits on it. The worker runs the same stream code as the in-process engine (`createSherpaEngineFromRecognizer`);
 * messages carry audio in and events out, keyed by stream id.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { loadResamplerRuntime } from '../media/resample.js';
import { createSherpaEngineFromRecognizer, type SherpaOnlineRecognizer, type SherpaOnlineRecognizerConfig } from './sherpa.js';
import type { AsrEngine, AsrStream } from './types.js';

export type ToWorker =
  | { type: 'open'; id: number }
  | { type: 'audio'; id: number; samples: Int16Array }
  | { type: 'end'; id: number; samples: Int16Array }
  | { type: 'reset'; id: number }
  | { type: 'close'; id: number }
  | { type: 'shutdown' };

export type WireEvent =
  | { type: 'partial'; text: string; startMs?: number; endMs?: number; endpoint?: boolean }
  | { type: 'final'; text: string; startMs?: number; endMs?: number }
  | { type: 'error'; message: string };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'event'; id: number; event: WireEvent };

const port = parentPort;
if (port) void host(port, (workerData as { config: SherpaOnlineRecognizerConfig }).config);

async function host(channel: NonNullable<typeof parentPort>, config: SherpaOnlineRecognizerConfig): Promise<void> {
  const post = (message: FromWorker) => channel.postMessage(message);
  let engine: AsrEngine;
  try {
    const require = createRequire(import.meta.url);
    const sherpa = require('sherpa-onnx-node') as { OnlineRecognizer: new (c: SherpaOnlineRecognizerConfig) => SherpaOnlineRecognizer };
    engine = createSherpaEngineFromRecognizer(new sherpa.OnlineRecognizer(config), { resamplerRuntime: await loadResamplerRuntime() });
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message });
    channel.close();
    return;
  }
  const streams = new Map<number, AsrStream>();
  channel.on('message', (message: ToWorker) => {
    if (message.type === 'shutdown') {
      for (const stream of streams.values()) stream.close();
      streams.clear();
      // process.exit in a worker ends this thread only; the native recognizer is freed with it.
      void engine.close().then(() => process.exit(0));
      return;
    }
    if (message.type === 'open') {
      const id = message.id;
      streams.set(id, engine.createStream((event) => post({
        type: 'event', id,
        event: event.type === 'error' ? { type: 'error', message: event.error.message } : event,
      })));
      return;
    }
    const stream = streams.get(message.id);
    if (!stream) return;
    switch (message.type) {
      case 'audio': return stream.pushAudio(message.samples);
      case 'end': return stream.endUtterance(message.samples);
      case 'reset': return stream.reset();
      case 'close':
        stream.close();
        streams.delete(message.id);
        return;
    }
  });
  post({ type: 'ready' });
}

/**
 * Worker-thread host of the Silero session. Inference is synchronous CPU work inside onnxruntime, so it runs
 * here and the main thread (Twilio sockets, playout timers) never waits on it. Batches arrive one message each
 * and are answered in order; buffers are transferred both ways, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSileroSession, VadModelError, type SileroBatch, type SileroSession } from './silero-session.js';

export interface SileroWorkerData {
  modelPath: string;
  intraOpNumThreads: number;
}

export type ToSileroWorker =
  | { type: 'run'; id: number; batch: SileroBatch }
  | { type: 'shutdown' };

export type FromSileroWorker =
  | { type: 'ready' }
  | { type: 'failed'; reason: string }
  | { type: 'result'; id: number; probabilities: Float32Array; state: Float32Array }
  | { type: 'error'; id: number; message: string };

const port = parentPort;
if (port) void host(port, workerData as SileroWorkerData);

async function host(channel: NonNullable<typeof parentPort>, data: SileroWorkerData): Promise<void> {
  const post = (message: FromSileroWorker, transfer: ArrayBuffer[] = []) => channel.postMessage(message, transfer);
  let session: SileroSession;
  try {
    session = await openSileroSession(data.modelPath, data.intraOpNumThreads);
  } catch (err) {
    post({ type: 'failed', reason: err instanceof VadModelError ? err.reason : (err as Error).message });
    channel.close();
    return;
  }
  channel.on('message', (message: ToSileroWorker) => {
    if (message.type === 'shutdown') {
      // process.exit in a worker ends this thread only; the native session is freed with it.
      void session.release().finally(() => process.exit(0));
      return;
    }
    session.run(message.batch).then(
      ({ probabilities, state }) => post(
        { type: 'result', id: message.id, probabilities, state },
        [probabilities.buffer as ArrayBuffer, state.buffer as ArrayBuffer],
      ),
      (err: unknown) => post({ type: 'error', id: message.id, message: (err as Error).message }),
    );
  });
  post({ type: 'ready' });
}

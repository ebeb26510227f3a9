export type { VadModel, VadStream } from './types.js';
export {
  loadSileroVad, defaultSileroModelPath, SILERO_END_HANGOVER_MS, VadModelError, VadInputError, VadWorkerError, type SileroVadOptions,
} from './silero.js';
export {
  SpeechSegmenter, SegmenterOptionsError, type SegmenterOptions, type SegmentEvent, type SegmenterStep,
} from './segmenter.js';
export { VadStage, VadInferenceError, type VadStageOptions } from './stage.js';

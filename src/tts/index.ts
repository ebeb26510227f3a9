/**
 * Text-to-speech: engines, sentence splitting, the phrase cache and the pipeline stage.
 * `createTtsEngine` picks the engine named in the config; adding an engine is one `case` below.
 */
import type { Config } from '../config/index.js';
import { FliteTtsEngine } from './flite.js';
import { TtsError, type TtsEngine } from './types.js';

export * from './types.js';
export { FliteTtsEngine, normalizeForFlite, type FliteOptions } from './flite.js';
export { splitSentences, SentenceAccumulator, type SentenceOptions } from './sentences.js';
export {
  PhraseCache, CachingTtsEngine, synthesizeCached, DEFAULT_PHRASE_CACHE_BYTES,
  type PhraseCacheOptions, type PhraseCacheStats, type CachingTtsEngineOptions,
} from './phrase-cache.js';
export { TtsStage, type TtsStageOptions } from './stage.js';

export type TtsConfig = Config['tts'];
export type TtsEngineName = TtsConfig['engine'];

/** The configured engine is known but not built into this version. */
export class TtsEngineUnavailableError extends TtsError {
  constructor(readonly engineName: string) {
    super(engineName, `TTS engine "${engineName}" is not available yet; use TTS_ENGINE=flite`);
    this.name = 'TtsEngineUnavailableError';
  }
}

export async function createTtsEngine(config: TtsConfig): Promise<TtsEngine> {
  const engine: TtsEngineName = config.engine;
  switch (engine) {
    case 'flite':
      return FliteTtsEngine.create({ voice: config.voice });
    case 'sherpa':
    case 'elevenlabs':
    case 'openai':
      throw new TtsEngineUnavailableError(engine);
    default: {
      const unknown: never = engine;
      throw new TtsEngineUnavailableError(String(unknown));
    }
  }
}

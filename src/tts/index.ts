/**
 * Text-to-speech: engines, sentence splitting, the phrase cache and the pipeline stage.
 * `createTtsEngine` picks the engine named in the config; adding an engine is one `case` below.
 */
import type { Config } from '../config/index.js';
import { FliteTtsEngine } from './flite.js';
import { ElevenLabsTtsEngine, elevenLabsOptionsFromConfig } from './elevenlabs.js';
import { OpenAiTtsEngine, openAiTtsOptionsFromConfig } from './openai.js';
import { SherpaTtsEngine, sherpaTtsOptionsFromConfig } from './sherpa.js';
import { TtsError, type TtsEngine } from './types.js';

export * from './types.js';
export { FliteTtsEngine, normalizeForFlite, type FliteOptions } from './flite.js';
export { splitSentences, SentenceAccumulator, type SentenceOptions } from './sentences.js';
export {
  PhraseCache, CachingTtsEngine, synthesizeCached, DEFAULT_PHRASE_CACHE_BYTES,
  type PhraseCacheOptions, type PhraseCacheStats, type CachingTtsEngineOptions,
} from './phrase-cache.js';
export { TtsStage, type TtsStageOptions } from './stage.js';
export { TtsFaultError, TtsModelMissingError, TtsModelInvalidError, type TtsFaultKind } from './errors.js';
export { ElevenLabsTtsEngine, elevenLabsOptionsFromConfig, type ElevenLabsTtsOptions } from './elevenlabs.js';
export { OpenAiTtsEngine, openAiTtsOptionsFromConfig, type OpenAiTtsOptions } from './openai.js';
export {
  SherpaTtsEngine, sherpaTtsOptionsFromConfig, resolveSherpaTtsFiles, buildSherpaTtsConfig,
  type SherpaTtsOptions, type SherpaTtsKind,
} from './sherpa.js';
export { FallbackTtsEngine, logTtsFallback, type FallbackTtsOptions, type TtsFallbackReport } from './fallback.js';

export type TtsConfig = Config['tts'];
export type TtsEngineName = TtsConfig['engine'];

/** The configured engine is known but not built into this version. */
export class TtsEngineUnavailableError extends TtsError {
  constructor(readonly engineName: string) {
    super(engineName, `TTS engine "${engineName}" is not available yet; use TTS_ENGINE=flite`);
    this.name = 'TtsEngineUnavailableError';
  }
}

/** `deps.modelsDir`: where `carevox models pull` put the sherpa voices (config `models.dir`; default `models`). */
export async function createTtsEngine(config: TtsConfig, deps: { modelsDir?: string } = {}): Promise<TtsEngine> {
  const engine: TtsEngineName = config.engine;
  switch (engine) {
    case 'flite':
      return FliteTtsEngine.create({ voice: config.voice });
    case 'sherpa':
      return SherpaTtsEngine.create(sherpaTtsOptionsFromConfig(config, deps));
    case 'elevenlabs':
      return new ElevenLabsTtsEngine(elevenLabsOptionsFromConfig(config));
    case 'openai':
      return new OpenAiTtsEngine(openAiTtsOptionsFromConfig(config));
    default: {
      const unknown: never = engine;
      throw new TtsEngineUnavailableError(String(unknown));
    }
  }
}

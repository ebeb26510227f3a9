/**
 * Speech-to-text: the engine interface, the engines (`none`, `sherpa`, `openai`) and `createAsrEngine`,
 * which picks one from config. An engine that cannot start (model not installed, no API key) does not stop
 * the server: it becomes the `none` engine with `unavailableReason` saying why, the server runs with keypad
 * menus, and /health and the log carry the reason.
 */
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { loadManifest, type Manifest } from '../models/manifest.js';
import { AsrConfigError } from './errors.js';
import { createNoneAsrEngine } from './none.js';
import { createOpenAiAsrEngine } from './openai.js';
import { createSherpaAsrEngine, type TransducerFiles } from './sherpa.js';
import { AsrError, type AsrEngine } from './types.js';

export type { AsrEngine, AsrEvent, AsrStream } from './types.js';
export { AsrError } from './types.js';
export { AsrConfigError, ModelInvalidError, ModelMissingError } from './errors.js';
export { createNoneAsrEngine, NO_ENGINE_REASON } from './none.js';
export { createOpenAiAsrEngine, encodeWav, realtimeUrl, type OpenAiAsrOptions } from './openai.js';
export {
  createSherpaAsrEngine, createSherpaEngineFromRecognizer, locateTransducerFiles, probeRecognizerConfig,
  toSherpaRecognizerConfig, type SherpaAsrOptions, type SherpaOnlineRecognizer, type SherpaOnlineRecognizerConfig,
  type SherpaOnlineResult, type SherpaOnlineStream, type TransducerFiles,
} from './sherpa.js';
export { AsrStage, type AsrStageOptions } from './stage.js';
export { transcribeSamples, readWavAsTelephonePcm, WavReadError } from './transcribe.js';

export interface CreateAsrEngineDeps {
  /** The model manifest (default: models/manifest.json). */
  manifest?: Manifest;
}

/** Builds the configured engine; never throws for a missing/corrupt model or missing key (see above). */
export async function createAsrEngine(config: Pick<Config, 'asr' | 'models'>, deps: CreateAsrEngineDeps = {}): Promise<AsrEngine> {
  const asr = config.asr;
  try {
    switch (asr.engine) {
      case 'none':
        return createNoneAsrEngine();
      case 'openai':
        if (!asr.openaiApiKey) throw new AsrConfigError('openai', 'ASR_OPENAI_API_KEY (asr.openaiApiKey) is not set');
        return createOpenAiAsrEngine({
          apiKey: asr.openaiApiKey,
          ...(asr.openaiBaseUrl ? { baseUrl: asr.openaiBaseUrl } : {}),
          model: asr.openaiModel,
          mode: asr.openaiMode,
          realtimeProtocol: asr.openaiRealtimeProtocol,
          ...(asr.openaiLanguage ? { language: asr.openaiLanguage } : {}),
          timeoutMs: asr.openaiTimeoutMs,
        });
      case 'sherpa': {
        let files: Partial<TransducerFiles> | undefined;
        let modelName = asr.sherpaModel;
        try {
          const entry = (deps.manifest ?? loadManifest()).find(asr.sherpaModel);
          modelName = entry.name;
          files = entry.files as Partial<TransducerFiles>;
        } catch {
          // Not in the manifest (a custom model directory): find the files by their usual names.
        }
        return await createSherpaAsrEngine({
          modelDir: asr.sherpaModelDir ?? join(config.models.dir, modelName),
          modelName,
          ...(files ? { files } : {}),
          // An explicitly configured directory may hold a different export: look for its files by name too.
          searchWhenMissing: asr.sherpaModelDir !== undefined,
          numThreads: asr.sherpaNumThreads,
          decodingMethod: asr.sherpaDecodingMethod,
          enableEndpoint: asr.sherpaEnableEndpoint,
          rule1MinTrailingSilence: asr.sherpaRule1MinTrailingSilence,
          rule2MinTrailingSilence: asr.sherpaRule2MinTrailingSilence,
          rule3MinUtteranceLength: asr.sherpaRule3MinUtteranceLength,
        });
      }
    }
  } catch (err) {
    // ModelMissingError, ModelInvalidError, AsrConfigError: the reason is one line, fit for /health.
    if (err instanceof AsrError) return createNoneAsrEngine(err.message);
    throw err;
  }
}

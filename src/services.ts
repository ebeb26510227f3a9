/**
 * Builds the server-lifetime services from the config: the shared engines every call draws its streams from,
 * the dialog policy and its EMR, metrics. Missing models never stop the server: the engine that needs them is
 * replaced by its documented fallback (keypad menus for ASR, flite for TTS) and /health says so.
 */
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import type { CallEngines } from './media/call-session.js';
import { loadSileroVad } from './vad/index.js';
import { createAsrEngine } from './asr/index.js';
import { createTtsEngine, FliteTtsEngine, PhraseCache, splitSentences, type TtsEngine } from './tts/index.js';
import { createReceptionistPolicy, defaultClinicConfig, describeHours, fixedPrompts, loadClinicConfig } from './dialog/index.js';
import { createMemoryEmr, DEMO_PATIENTS } from './emr/memory.js';
import { describeError } from './media/call-session.js';

export interface Services {
  metrics: Metrics;
  engines: CallEngines;
  transferNumber?: string;
  healthDetails(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Replace engines (tests: the ASR transcript double; bench). */
  engines?: Partial<CallEngines>;
}

export async function createServices(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Services> {
  const metrics = createMetrics();
  const notes: string[] = [];

  const vad = overrides.engines?.vad ?? (await loadSileroVad());
  const asr = overrides.engines?.asr ?? (await createAsrEngine(config));
  if (!asr.available) {
    const note = `speech recognition unavailable (${asr.unavailableReason ?? asr.name}): callers are offered keypad menus`;
    notes.push(note);
    logger.warn(note);
  }

  let tts: TtsEngine;
  let fallbackTts: TtsEngine | undefined;
  if (overrides.engines?.tts) {
    tts = overrides.engines.tts;
  } else {
    const flite = await FliteTtsEngine.create({
      voice: config.tts.engine === 'flite' ? config.tts.voice : 'kal',
      processes: config.tts.fliteProcesses,
    });
    if (config.tts.engine === 'flite') {
      tts = flite;
    } else {
      try {
        tts = await createTtsEngine(config.tts);
        fallbackTts = flite;
      } catch (err) {
        const note = `TTS engine ${config.tts.engine} unavailable (${describeError(err).message}): speaking with flite`;
        notes.push(note);
        logger.warn(note);
        tts = flite;
      }
    }
  }

  const clinic = config.dialog.clinicFile ? loadClinicConfig(config.dialog.clinicFile) : defaultClinicConfig();
  // The embedded demo EMR (until OpenEMR is configured): seeded with demo patients so a demo call can get through.
  const emr = createMemoryEmr({ clinic, patients: DEMO_PATIENTS });
  const llm = config.llm.model
    ? { model: config.llm.model, baseURL: config.llm.baseUrl, apiKey: config.llm.apiKey, firstOutputTimeoutMs: config.llm.firstOutputTimeoutMs }
    : undefined;
  const dialog = overrides.engines?.dialog ?? createReceptionistPolicy({ clinic, emr, llm, logger: logger.child({ component: 'dialog' }) });
  const phraseCache = new PhraseCache();
  // Render the clinic's fixed prompts once, in the background, so greetings and menus start from memory.
  // Cacheable replies are cached per sentence (the TTS stage splits them), so warm sentence by sentence.
  const prompts = fixedPrompts(clinic.prompts, { clinic: clinic.name, hours: describeHours(clinic), address: clinic.address });
  const warming = phraseCache.warm(tts, prompts.flatMap((text) => splitSentences(text)))
    .catch((err: unknown) => logger.warn({ err: describeError(err) }, 'could not pre-render the fixed prompts'));

  const engines: CallEngines = { vad, asr, tts, fallbackTts, dialog, phraseCache };
  return {
    metrics,
    engines,
    transferNumber: config.twilio.transferNumber ?? clinic.frontDeskNumber,
    healthDetails: () => ({
      engines: {
        vad: vad.name,
        asr: { engine: asr.name, available: asr.available, reason: asr.unavailableReason },
        tts: { engine: tts.name, voice: tts.voice, fallback: fallbackTts?.name },
        dialog: dialog.name,
      },
      fallbacks: notes,
    }),
    close: async () => {
      await warming;
      await Promise.allSettled([vad.close(), asr.close(), tts.close(), fallbackTts?.close()]);
    },
  };
}

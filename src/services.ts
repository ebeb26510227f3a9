/**
 * Builds the server-lifetime services from the config: the shared engines every call draws its streams from,
 * the dialog policy and its EMR, metrics. Missing models never stop the server: the engine that needs them is
 * replaced by its documented fallback (keypad menus for ASR, flite for TTS) and /health says so.
 */
import type { Config } from './config/index.js';
import { describeError, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import type { CallEngines } from './media/call-session.js';
import { loadSileroVad } from './vad/index.js';
import { createAsrEngine } from './asr/index.js';
import {
  createTtsEngine, FallbackTtsEngine, FliteTtsEngine, logTtsFallback, PhraseCache, splitSentences, type TtsEngine,
} from './tts/index.js';
import {
  createReceptionistPolicy, defaultClinicConfig, describeHours, fixedPrompts, loadClinicConfig, type ClinicConfig, type ReceptionistOptions,
} from './dialog/index.js';
import {
  createOpenEmrService, DEMO_PATIENTS, EmbeddedEmr, MemorySharedState, RedisSharedState, redisTimeouts,
  type EmrGateway, type OpenEmrMapping, type OpenEmrService, type SharedState,
} from './emr/index.js';
import {
  CallRecorder, markInterruptedCalls, openStore, storeCallRecordWriter, storeOptionsFromConfig, type Store,
} from './store/index.js';

export interface Services {
  metrics: Metrics;
  /** Cross-node state: Redis when REDIS_URL is set, memory otherwise. */
  sharedState: SharedState;
  store: Store;
  /** Writes each call's record as it happens (row, turns encrypted, outcome); queues while the store fails. */
  recorder: CallRecorder;
  /** The EMR the dialog talks to (the embedded EMR in the store unless OpenEMR is configured). */
  emr: EmrGateway;
  engines: CallEngines;
  transferNumber?: string;
  healthDetails(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Replace engines (tests: the ASR transcript double; bench). */
  engines?: Partial<CallEngines>;
  /** An already open store (tests); otherwise the configured one is opened (and closed with the services). */
  store?: Store;
  /** The clinic and OpenEMR mapping already loaded and checked at start-up; otherwise loaded from the config. */
  clinic?: ClinicConfig;
  emrMapping?: OpenEmrMapping;
}

/**
 * When a step fails, what the steps before it started is closed again before the error is passed on: the VAD
 * worker thread and the flite processes would otherwise keep the process alive with nothing listening.
 */
export async function createServices(config: Config, logger: Logger, overrides: ServiceOverrides = {}): Promise<Services> {
  const started: Array<() => Promise<unknown>> = [];
  try {
    return await assembleServices(config, logger, overrides, (close) => started.push(close));
  } catch (err) {
    await Promise.allSettled(started.reverse().map((close) => close()));
    throw err;
  }
}

async function assembleServices(
  config: Config, logger: Logger, overrides: ServiceOverrides, onStarted: (close: () => Promise<unknown>) => void,
): Promise<Services> {
  const metrics = createMetrics();
  const notes: string[] = [];

  const vad = overrides.engines?.vad ?? (await loadSileroVad({ onBatch: (windows, ms) => metrics.vadBatch(windows, ms) }));
  onStarted(() => vad.close());
  const asr = overrides.engines?.asr ?? (await createAsrEngine(config));
  onStarted(() => asr.close());
  if (!asr.available) {
    const note = `speech recognition unavailable (${asr.unavailableReason ?? asr.name}): callers are offered keypad menus`;
    notes.push(note);
    logger.warn(note);
  }

  let tts: TtsEngine;
  let ttsHealth: Record<string, unknown>;
  if (overrides.engines?.tts) {
    tts = overrides.engines.tts;
    ttsHealth = { engine: tts.name, voice: tts.voice };
  } else {
    const flite = await FliteTtsEngine.create({
      voice: config.tts.engine === 'flite' ? config.tts.voice : 'kal',
      processes: config.tts.fliteProcesses,
    });
    tts = flite;
    onStarted(() => flite.close());
    ttsHealth = { engine: flite.name, voice: flite.voice };
    if (config.tts.engine !== 'flite') {
      try {
        const primary = await createTtsEngine(config.tts, { modelsDir: config.models.dir });
        // Any sentence the primary cannot speak (error, stall, garbage) is spoken by flite instead.
        onStarted(() => primary.close());
        tts = new FallbackTtsEngine(primary, flite, { onFallback: logTtsFallback(logger.child({ component: 'tts' })) });
        ttsHealth = { engine: primary.name, voice: primary.voice, fallback: flite.name };
      } catch (err) {
        const note = `TTS engine ${config.tts.engine} unavailable (${describeError(err).message}): speaking with flite`;
        notes.push(note);
        logger.warn(note);
      }
    }
  }

  const clinic = overrides.clinic ?? (config.dialog.clinicFile ? loadClinicConfig(config.dialog.clinicFile) : defaultClinicConfig());
  const store = overrides.store ?? (await openStore(storeOptionsFromConfig(config.store, logger.child({ component: 'store' }))));
  if (!overrides.store) onStarted(() => store.close());
  let emr: EmrGateway;
  let emrForCall: ReceptionistOptions['emr'];
  let openEmr: OpenEmrService | undefined;
  if (config.emr.engine === 'openemr') {
    openEmr = createOpenEmrService({ config, store, clinic, mapping: overrides.emrMapping, logger: logger.child({ component: 'emr' }) });
    const service = openEmr;
    onStarted(() => service.close());
    service.worker.start();
    emr = service.sharedGateway;
    // Each call gets its own gateway: its id on every audit entry, and the caller-ID prefetch at call start.
    emrForCall = (context) => {
      const gateway = service.forCall(context.callId, context.callerNumber);
      return { gateway, release: () => void gateway.close() };
    };
  } else {
    // The embedded EMR lives in the store, so bookings and messages survive restarts and every node on the same
    // database sees them; the demo patients are seeded once (a no-op when they exist).
    const embedded = new EmbeddedEmr({ store, clinic });
    await embedded.seedPatients(DEMO_PATIENTS);
    emr = embedded;
    // Each call gets its own view: its id on every audit entry and on what the caller leaves for staff.
    emrForCall = (context) => ({ gateway: embedded.forCall(context.callId) });
  }
  const llm = config.llm.model
    ? { model: config.llm.model, baseURL: config.llm.baseUrl, apiKey: config.llm.apiKey, firstOutputTimeoutMs: config.llm.firstOutputTimeoutMs }
    : undefined;
  const dialog = overrides.engines?.dialog ?? createReceptionistPolicy({ clinic, emr: emrForCall, llm, logger: logger.child({ component: 'dialog' }) });
  const phraseCache = new PhraseCache();
  // Render the clinic's fixed prompts once, in the background, so greetings and menus start from memory.
  // Cacheable replies are cached per sentence (the TTS stage splits them), so warm sentence by sentence.
  const prompts = fixedPrompts(clinic.prompts, { clinic: clinic.name, hours: describeHours(clinic), address: clinic.address });
  // Warming stops at the next sentence once the services close (a failed start-up need not wait for all of it).
  let closing = false;
  const untilClosing = function* (sentences: string[]) {
    for (const sentence of sentences) {
      if (closing) return;
      yield sentence;
    }
  };
  const warming = phraseCache.warm(tts, untilClosing(prompts.flatMap((text) => splitSentences(text))))
    .catch((err: unknown) => logger.warn({ error: describeError(err) }, 'could not pre-render the fixed prompts'));

  const engines: CallEngines = { vad, asr, tts, dialog, phraseCache };
  const sharedState: SharedState = config.redis.url
    ? new RedisSharedState(config.redis.url, { logger: logger.child({ component: 'redis' }), timeouts: redisTimeouts(config) })
    : new MemorySharedState();

  // Calls a previous process of this node left without an end died with it.
  const nodeId = config.server.nodeId;
  const interrupted = await markInterruptedCalls(store, nodeId);
  if (interrupted.length) logger.warn({ nodeId, calls: interrupted.length }, 'calls left unended by a previous process marked interrupted');
  // Each record is written as it happens, one statement at a time, yielding to the event loop between them
  // (PGlite runs each statement synchronously on this thread: a burst would hold up live calls' audio).
  const recorder = new CallRecorder({
    writer: storeCallRecordWriter(store), nodeId, maxQueued: config.store.recordQueueMax,
    logger: logger.child({ component: 'call-records' }),
  });

  return {
    metrics,
    sharedState,
    store,
    recorder,
    emr,
    engines,
    transferNumber: config.twilio.transferNumber ?? clinic.frontDeskNumber,
    healthDetails: () => ({
      engines: {
        vad: vad.name,
        asr: { engine: asr.name, available: asr.available, reason: asr.unavailableReason },
        tts: ttsHealth,
        dialog: dialog.name,
      },
      fallbacks: notes,
      store: { kind: store.kind, ...recorder.status() },
    }),
    close: async () => {
      closing = true;
      await warming;
      await recorder.close();
      await Promise.allSettled([vad.close(), asr.close(), tts.close(), openEmr?.close()]);
      await sharedState.close();
      if (!overrides.store) await store.close();
    },
  };
}

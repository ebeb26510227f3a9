/**
 * One call: owns its pipeline (VAD -> turn-taking -> ASR -> dialog -> TTS -> playout), its per-call engine
 * streams and its latency record. No transport owns it: Twilio's WebSocket, SIP/RTP and AudioSocket hand it
 * 8 kHz PCM and keypad digits and give it a `CallTransport` (8 kHz PCM out) to write to; each encodes for its
 * own wire. Teardown is idempotent and releases everything.
 */
import type { Config } from '../config/index.js';
import { describeError, type Logger } from '../log.js';
import { AsrStage } from '../asr/stage.js';
import type { AsrEngine } from '../asr/types.js';
import { DialogStage } from '../dialog/stage.js';
import type { DialogPolicy } from '../dialog/types.js';
import { CallLatencyLog, type Metrics } from '../metrics/index.js';
import type { Frame } from '../pipeline/frames.js';
import { Pipeline } from '../pipeline/pipeline.js';
import { EndpointingStage, vadSegmentSilenceMs } from '../pipeline/endpointing.js';
import { TurnTakingStage } from '../pipeline/turn-taking.js';
import type { PhraseCache } from '../tts/phrase-cache.js';
import { TtsStage } from '../tts/stage.js';
import type { TtsEngine } from '../tts/types.js';
import { VadStage } from '../vad/stage.js';
import type { VadModel } from '../vad/types.js';
import { InboundRateLimiter } from './inbound-limiter.js';
import { PlayoutStage, type RateConverter } from './playout.js';
import { createResampler, type Resampler } from './resample.js';

/**
 * What a call writes to its transport, and what the transport can do. Optional members are capabilities a
 * transport declares by having them.
 */
export interface CallTransport {
  /** One 20 ms frame of 8 kHz 16-bit PCM for the caller (playout paces them; the transport encodes). */
  sendAudio(samples: Int16Array): void;
  /** Drops audio sent but not yet played (barge-in): the far end's buffer, or the transport's own pacer. */
  clearAudio(): void;
  /**
   * Capability: call `CallSession.playbackReached(name)` once the caller has heard everything sent before this
   * marker. Without it playout's own clock decides what has been heard.
   */
  markPlayback?(name: string): void;
  /**
   * Capability: hand the caller to the front desk on this transport (SIP: REFER). Resolves true when the far end
   * accepted; false (or no such capability) means `endCall` alone must carry the outcome.
   */
  transfer?(): Promise<boolean>;
  /**
   * Ends the call on this wire (Twilio: closes the stream and the after-stream webhook continues for `outcome`;
   * SIP: BYE; AudioSocket: hangup). Called once, after the session has ended.
   */
  endCall(outcome: CallOutcome): void;
}

/** Shared, server-lifetime engines a call draws its streams from. */
export interface CallEngines {
  vad: VadModel;
  asr: AsrEngine;
  /** Cloud/neural engines come wrapped in FallbackTtsEngine, which speaks any failed sentence with flite. */
  tts: TtsEngine;
  dialog: DialogPolicy;
  /** Fixed prompts rendered once per server and served from memory. */
  phraseCache?: PhraseCache;
}

/** 'handed-over-on-shutdown': the node drained (SIGTERM) while the call was live and sent it to the front desk. */
export type CallOutcome = 'completed' | 'transfer' | 'caller-hung-up' | 'error' | 'handed-over-on-shutdown';

/**
 * Where a call's record goes as it happens (the store's CallRecorder): the start, each turn the moment it
 * is final, the end. Fire-and-forget: the call never waits on it. Defined here so the media core does not
 * depend on the store. `seq` numbers a call's turns from 0 in conversation order.
 */
export interface CallEventsSink {
  started(callId: string, details: { transport?: string }): void;
  turn(callId: string, seq: number, speaker: 'caller' | 'bot', text: string): void;
  ended(callId: string, outcome: CallOutcome): void;
}

/** What the bot said, as the caller heard it: an interrupted sentence keeps only the words heard. */
export interface BotSentenceRecord { turnId: number; text: string; heardText: string; truncated: boolean }

/** A finished call, for the registry and tests (the store gets it as it happens, through `recorder`). Holds patient-facing text: never log it. */
export interface CallRecord {
  callId: string;
  outcome: CallOutcome;
  /** The conversation in order: what the caller said (final transcripts) and what the bot said as heard. */
  turns: { speaker: 'caller' | 'bot'; text: string }[];
  botSentences: BotSentenceRecord[];
  bargeIns: number;
  dtmf: number;
  malformedFrames: number;
}

export interface CallSessionParams {
  callId: string;
  callerNumber?: string;
  transport: CallTransport;
  engines: CallEngines;
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Called once when the call ends, with how it ended and what was said. */
  onEnded?(record: CallRecord): void;
  /** Clock of the inbound rate cap, ms (tests); default performance.now. */
  inboundClock?: () => number;
  /** Receives the call's record as it happens (write-ahead: a crash loses at most the turn in flight). */
  recorder?: CallEventsSink;
  /** The front door the call came through, for the record (twilio, sip). */
  transportKind?: string;
}

export class CallSession {
  private pipeline!: Pipeline;
  private dialogStage!: DialogStage;
  private converters: Resampler[] = [];
  private ended = false;
  private readonly latency: CallLatencyLog;
  private readonly log: Logger;
  private readonly inbound: InboundRateLimiter;
  private readonly startedAt = performance.now();
  private counters = { framesIn: 0, framesOut: 0, dtmf: 0, bargeIns: 0, stageErrors: 0, malformedFrames: 0 };
  private readonly botSentences: BotSentenceRecord[] = [];
  private readonly turns: CallRecord['turns'] = [];

  private constructor(private readonly params: CallSessionParams) {
    this.latency = new CallLatencyLog(params.metrics);
    this.log = params.logger.child({ callId: params.callId });
    this.inbound = new InboundRateLimiter(params.config.limits, {
      onDrop: (kind) => params.metrics.inboundEventDropped(kind),
      // Once per kind per call: a flood would otherwise flood the log too. Never the digits (patient data).
      onFirstDrop: (kind) => this.log.warn({
        kind, perSecond: kind === 'dtmf' ? params.config.limits.dtmfPerSecond : params.config.limits.inboundEventsPerSecond,
      }, `inbound ${kind} events over the per-call rate cap: dropping the excess`),
    }, params.inboundClock);
  }

  /** Builds the call's pipeline (per-call engine streams, rate converters) and starts the dialog. */
  static async start(params: CallSessionParams): Promise<CallSession> {
    const session = new CallSession(params);
    await session.build();
    params.metrics.callStarted();
    params.recorder?.started(params.callId, { transport: params.transportKind });
    session.log.info({ asr: params.engines.asr.name, tts: params.engines.tts.name }, 'call started');
    session.dialogStage.start();
    return session;
  }

  private async build(): Promise<void> {
    const { config, engines, metrics } = this.params;
    // Every chunk has the engine's declared format (the fallback wrapper converts to it): one converter at most.
    const output = engines.tts.output;
    const convertersByRate = new Map<number, RateConverter>();
    if (output.format === 'pcm16' && output.sampleRate !== 8000) {
      const rate = output.sampleRate;
      const converter = await createResampler(rate, 8000);
      this.converters.push(converter);
      convertersByRate.set(rate, converter);
    }
    this.dialogStage = new DialogStage(engines.dialog.createSession({
      callId: this.params.callId, callerNumber: this.params.callerNumber, speechAvailable: engines.asr.available,
    }), {
      callerNumber: this.params.callerNumber,
      noInputMs: config.dialog.noInputSeconds * 1000,
      onReplyLatency: (ms) => this.latency.hop('dialog', ms),
      onCallerUtterance: (text) => this.addTurn('caller', text),
    });
    const stages = [
      new VadStage({ model: engines.vad, config: { ...config.vad, endSilenceMs: vadSegmentSilenceMs(config) }, onDecisionLatency: (ms) => this.latency.hop('vad', ms) }),
      new TurnTakingStage(config.bargeIn, config.vad.threshold),
      new AsrStage(engines.asr, { onFinalLatency: (ms) => this.latency.hop('asr', ms) }),
      new EndpointingStage({
        config: config.endpointing, defaultSilenceMs: config.vad.endSilenceMs,
        onTurnReleased: ({ verdict, prepared }) => metrics.turnReleased(verdict, prepared ?? false),
        onTurnWithdrawn: () => metrics.turnWithdrawn(),
      }),
      this.dialogStage,
      new TtsStage({
        engine: engines.tts, phraseCache: engines.phraseCache,
        onFirstAudio: (_turnId, ms) => this.latency.hop('tts', ms),
      }),
      new PlayoutStage({
        leadMs: config.playout.leadMs,
        convertersByRate,
        onFirstFrameLatency: (ms) => this.latency.hop('playout', ms),
        onBargeInLatency: (ms) => this.latency.bargeIn(ms),
        transportReportsPlayback: this.params.transport.markPlayback !== undefined,
      }),
    ];
    this.pipeline = new Pipeline(stages, {
      onDownstreamOut: (frame) => this.toWire(frame),
      onUpstreamOut: (frame) => this.fromPipeline(frame),
      onStageError: (stage, err) => {
        this.counters.stageErrors++;
        metrics.stageError(stage);
        this.log.warn({ stage, error: describeError(err) }, 'pipeline stage error (call continues)');
      },
    });
  }

  /** Inbound caller audio: 8 kHz 16-bit PCM, decoded by the transport. `mediaTimestampMs` is the transport's clock. */
  receiveAudio(samples: Int16Array, mediaTimestampMs: number): void {
    if (this.ended || !this.inbound.admit('media')) return;
    this.counters.framesIn++;
    this.pipeline.pushDown({ type: 'caller-audio', samples, mediaTimestampMs, at: performance.now() });
  }

  receiveDtmf(digit: string): void {
    if (this.ended || !this.inbound.admit('dtmf')) return;
    this.counters.dtmf++;
    this.pipeline.pushDown({ type: 'dtmf', digit, at: performance.now() });
  }

  /** The transport's report for a `markPlayback(name)`: the caller has heard everything sent before it. */
  playbackReached(name: string): void {
    if (this.ended || !this.inbound.admit('playback-report')) return;
    this.pipeline.pushUp({ type: 'playback-reached', name, at: performance.now() });
  }

  private toWire(frame: Frame): void {
    const { transport } = this.params;
    switch (frame.type) {
      case 'outbound-audio': this.counters.framesOut++; return transport.sendAudio(frame.samples);
      case 'playback-marker': return transport.markPlayback?.(frame.name);
      case 'outbound-clear': return transport.clearAudio();
      case 'interruption':
        if (frame.reason === 'barge-in') this.counters.bargeIns++;
        return;
      default: return; // other control frames end at the wire
    }
  }

  /** The transport rejected an inbound frame (counted per call for the summary). */
  noteMalformedFrame(): void {
    this.counters.malformedFrames++;
  }

  private fromPipeline(frame: Frame): void {
    if (frame.type === 'sentence-played') {
      this.botSentences.push({ turnId: frame.turnId, text: frame.text, heardText: frame.heardText, truncated: frame.truncated });
      if (frame.heardText) this.addTurn('bot', frame.heardText);
      return;
    }
    if (frame.type === 'end-call') {
      const outcome: CallOutcome = frame.reason === 'transfer' ? 'transfer' : frame.reason === 'error' ? 'error' : 'completed';
      void this.finish(outcome);
    }
  }

  /** Ends the session, then the call on the wire: a transfer the transport can carry out is tried first. */
  private async finish(outcome: CallOutcome): Promise<void> {
    if (this.ended) return;
    await this.end(outcome);
    const { transport } = this.params;
    if (transport.transfer && (outcome === 'transfer' || outcome === 'handed-over-on-shutdown')) {
      // The transport logs how the transfer went; a throw means it could not even try.
      await transport.transfer().catch((err: unknown) => {
        this.log.warn({ error: describeError(err) }, 'transfer failed: ending the call instead');
      });
    }
    transport.endCall(outcome);
  }

  /**
   * The node is shutting down: end the call as handed over and hand it on (Twilio: the stream closes and the
   * after-stream webhook dials the front desk for this outcome; SIP: REFER, or BYE for the dialplan to go on).
   */
  async handOver(): Promise<void> {
    await this.finish('handed-over-on-shutdown');
  }

  private addTurn(speaker: 'caller' | 'bot', text: string): void {
    this.params.recorder?.turn(this.params.callId, this.turns.length, speaker, text);
    this.turns.push({ speaker, text });
  }

  /** Ends the call (idempotent): tears the pipeline down and writes the per-call summary line. */
  async end(outcome: CallOutcome): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    // Recorded the moment the outcome is known, not after the teardown: a crash meanwhile must not lose it.
    // (A sentence the caller was hearing is still recorded as a turn while the pipeline closes.)
    this.params.recorder?.ended(this.params.callId, outcome);
    await this.pipeline.close();
    for (const converter of this.converters) converter.destroy();
    this.converters = [];
    this.params.metrics.callEnded();
    this.log.info({
      outcome,
      durationMs: Math.round(performance.now() - this.startedAt),
      ...this.counters,
      droppedInbound: this.inbound.droppedCounts,
      latency: this.latency.summary(),
    }, 'call summary');
    this.params.onEnded?.({
      callId: this.params.callId, outcome, turns: this.turns, botSentences: this.botSentences,
      bargeIns: this.counters.bargeIns, dtmf: this.counters.dtmf, malformedFrames: this.counters.malformedFrames,
    });
  }
}

/**
 * Latency and health metrics. One registry per server instance (no prom-client default registry), exposed
 * at GET /metrics. Hops are measured with a monotonic clock (performance.now()) by the stages themselves.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The hops of one caller turn, in pipeline order. */
export const HOPS = ['vad', 'asr', 'dialog', 'tts', 'playout'] as const;
export type Hop = (typeof HOPS)[number];

export const HOP_DESCRIPTIONS: Record<Hop, string> = {
  vad: 'frame in -> VAD decision',
  asr: 'end of speech -> ASR final',
  dialog: 'ASR final -> dialog reply',
  tts: 'reply (once earlier replies have played) -> first TTS audio',
  playout: 'first TTS audio -> first frame sent',
};

const VAD_RESERVOIR_SIZE = 512;
const LATENCY_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 400, 600, 1000, 2000, 5000];

export interface Metrics {
  readonly registry: Registry;
  observeHop(hop: Hop, ms: number): void;
  observeBargeIn(ms: number): void;
  callStarted(): void;
  callEnded(): void;
  malformedFrame(reason: string): void;
  stageError(stage: string): void;
  /** An inbound event over its call's rate cap, dropped (kind: media | playback-report | dtmf). */
  inboundEventDropped(kind: string): void;
  /** One VAD inference: windows scored together (one per call) and its duration. */
  vadBatch(windows: number, ms: number): void;
  /** A caller turn handed to the dialog: what its words amounted to, and whether its reply was prepared early. */
  turnReleased(verdict: string, prepared: boolean): void;
  /** A reply prepared for a tentative turn was dropped unheard: the caller went on. */
  turnWithdrawn(): void;
  /** A call offered by a phone system and not taken (source not allowed, auth failed, no common codec, full). */
  callRefused(transport: string, reason: string): void;
  /** A SIP message dropped or answered 400 (unparseable, malformed, no transaction). */
  sipMessageRejected(reason: string): void;
  /** Outbound RTP pacing of one finished call: interval jitter (|interval - 20 ms|) and packets lost inbound. */
  rtpCallStats(stats: { maxIntervalJitterMs: number; packetsLost: number }): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process CPU, memory, GC and event-loop delay (nodejs_eventloop_lag_*): every call's audio is paced on the
  // one event loop, so its delay is the first thing to look at when a hop's tail grows.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const hopLatency = new Histogram({
    name: 'carevox_hop_latency_ms',
    help: `Per-hop latency in ms (${HOPS.map((h) => `${h}: ${HOP_DESCRIPTIONS[h]}`).join('; ')})`,
    labelNames: ['hop'],
    buckets: LATENCY_BUCKETS_MS,
    registers: [registry],
  });
  const bargeIn = new Histogram({
    name: 'carevox_barge_in_latency_ms',
    help: 'Caller speech onset -> clear sent, in ms',
    buckets: LATENCY_BUCKETS_MS,
    registers: [registry],
  });
  const activeCalls = new Gauge({ name: 'carevox_active_calls', help: 'Calls in progress', registers: [registry] });
  const callsTotal = new Counter({ name: 'carevox_calls_total', help: 'Calls started', registers: [registry] });
  const turns = new Counter({
    name: 'carevox_turns_total', help: 'Caller turns handed to the dialog, by endpointing verdict and whether the reply was prepared early',
    labelNames: ['verdict', 'prepared'], registers: [registry],
  });
  const turnsWithdrawn = new Counter({
    name: 'carevox_turns_withdrawn_total', help: 'Replies prepared for a tentative turn and dropped unheard because the caller went on',
    registers: [registry],
  });
  const malformed = new Counter({
    name: 'carevox_malformed_frames_total', help: 'Inbound frames rejected as malformed or unexpected',
    labelNames: ['reason'], registers: [registry],
  });
  const stageErrors = new Counter({
    name: 'carevox_stage_errors_total', help: 'Errors inside pipeline stages (the call continued)',
    labelNames: ['stage'], registers: [registry],
  });
  const inboundDropped = new Counter({
    name: 'carevox_inbound_events_dropped_total', help: 'Inbound events over their call\'s per-second cap, dropped',
    labelNames: ['kind'], registers: [registry],
  });
  const callsRefused = new Counter({
    name: 'carevox_calls_refused_total', help: 'Calls offered by a phone system and refused, by transport and reason',
    labelNames: ['transport', 'reason'], registers: [registry],
  });
  const sipRejected = new Counter({
    name: 'carevox_sip_messages_rejected_total', help: 'SIP messages dropped or answered 400, by reason',
    labelNames: ['reason'], registers: [registry],
  });
  const rtpJitter = new Histogram({
    name: 'carevox_rtp_outbound_max_jitter_ms', help: 'Per SIP call: the largest deviation of an outbound RTP packet interval from 20 ms',
    buckets: [0.5, 1, 2, 5, 10, 20, 50], registers: [registry],
  });
  const rtpLost = new Counter({ name: 'carevox_rtp_inbound_lost_packets_total', help: 'Inbound RTP packets never received', registers: [registry] });
  const vadBatchWindows = new Histogram({
    name: 'carevox_vad_batch_windows', help: 'Windows (one per call) scored by one VAD inference',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry],
  });
  const vadBatchMs = new Histogram({
    name: 'carevox_vad_batch_ms', help: 'Duration of one batched VAD inference, submit to result, in ms',
    buckets: LATENCY_BUCKETS_MS, registers: [registry],
  });
  return {
    registry,
    observeHop: (hop, ms) => hopLatency.observe({ hop }, ms),
    observeBargeIn: (ms) => bargeIn.observe(ms),
    callStarted: () => { activeCalls.inc(); callsTotal.inc(); },
    callEnded: () => activeCalls.dec(),
    malformedFrame: (reason) => malformed.inc({ reason }),
    stageError: (stage) => stageErrors.inc({ stage }),
    inboundEventDropped: (kind) => inboundDropped.inc({ kind }),
    turnReleased: (verdict, prepared) => turns.inc({ verdict, prepared: String(prepared) }),
    turnWithdrawn: () => turnsWithdrawn.inc(),
    callRefused: (transport, reason) => callsRefused.inc({ transport, reason }),
    sipMessageRejected: (reason) => sipRejected.inc({ reason }),
    rtpCallStats: ({ maxIntervalJitterMs, packetsLost }) => { rtpJitter.observe(maxIntervalJitterMs); rtpLost.inc(packetsLost); },
    vadBatch: (windows, ms) => { vadBatchWindows.observe(windows); vadBatchMs.observe(ms); },
  };
}

/** Per-call record of hop samples, summarised in the call's closing log line. */
export class CallLatencyLog {
  readonly samples: Record<Hop, number[]> = { vad: [], asr: [], dialog: [], tts: [], playout: [] };
  readonly bargeIns: number[] = [];
  /** VAD runs every 32 ms: a fixed-size uniform reservoir keeps the per-call log line small for long calls. */
  private readonly vadReservoir: number[] = [];
  private vadCount = 0;
  private vadMax = 0;

  constructor(private readonly metrics: Metrics) {}

  hop(hop: Hop, ms: number): void {
    this.metrics.observeHop(hop, ms);
    if (hop === 'vad') {
      this.vadCount++;
      this.vadMax = Math.max(this.vadMax, ms);
      if (this.vadReservoir.length < VAD_RESERVOIR_SIZE) this.vadReservoir.push(round(ms));
      else {
        const slot = Math.floor(Math.random() * this.vadCount);
        if (slot < VAD_RESERVOIR_SIZE) this.vadReservoir[slot] = round(ms);
      }
      return;
    }
    this.samples[hop].push(round(ms));
  }

  bargeIn(ms: number): void {
    this.metrics.observeBargeIn(ms);
    this.bargeIns.push(round(ms));
  }

  summary(): Record<string, unknown> {
    return {
      vad: { windows: this.vadCount, maxMs: round(this.vadMax), sampleMs: this.vadReservoir },
      asrMs: this.samples.asr, dialogMs: this.samples.dialog, ttsMs: this.samples.tts, playoutMs: this.samples.playout,
      bargeInMs: this.bargeIns,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

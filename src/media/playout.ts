/**
 * Playout: turns the bot's audio into 20 ms frames of 8 kHz PCM for the transport, paced so that at most
 * `leadMs` of audio is ever queued at the far end (an interruption then only has that much to clear), with a
 * playback marker after each sentence. The transport reports a marker reached once the caller has heard what
 * came before it (Twilio: a mark echo; SIP and AudioSocket: their pacer sent it). A transport that cannot
 * report leaves it to our own pacing clock (`transportReportsPlayback: false`). Twilio also echoes marks it
 * cleared, so the report alone does not say whether audio played: we track that ourselves from the clock.
 *
 * `playout-pause` silences the caller's line at once (clear) but keeps the unplayed frames; `playout-resume`
 * sends them again from where the caller stopped hearing. `interruption` drops everything and reports the
 * sentence being heard as truncated at the words heard. `playout-hold` keeps a tentative turn's replies off
 * the line (rendered and queued, not sent) until `turn-confirmed`.
 */
import { muLawDecode } from './codec.js';
import type { Direction, Frame, TtsAudio } from '../pipeline/frames.js';
import { PIPELINE_SAMPLE_RATE } from '../pipeline/frames.js';
import { Stage } from '../pipeline/pipeline.js';

export const FRAME_MS = 20;
/** Unsent audio at which playout asks TTS to hold its next chunk, and the level at which it has room again. */
export const BACKLOG_FULL_MS = 1000;
export const BACKLOG_ROOM_MS = 500;
export const FRAME_SAMPLES = (PIPELINE_SAMPLE_RATE / 1000) * FRAME_MS; // 160 samples

/** Converts PCM at some rate to the 8 kHz telephone rate; stateful per call. */
export interface RateConverter {
  process(samples: Int16Array): Int16Array;
  /** The filter's tail, and a fresh stream after it (end of a sentence). */
  flush?(): Int16Array;
  /** Drops buffered audio (an interruption: nothing of it may leak into the next reply). */
  reset?(): void;
}

export interface PlayoutOptions {
  leadMs: number;
  /** A ready converter for each PCM rate the call's TTS engines produce (8 kHz needs none). */
  convertersByRate: ReadonlyMap<number, RateConverter>;
  /** "first TTS audio -> first frame sent" hop, per reply. */
  onFirstFrameLatency?(ms: number): void;
  /** Caller speech onset -> clear sent. */
  onBargeInLatency?(ms: number): void;
  /**
   * Whether the transport reports `playback-reached` for the markers it is sent (default true). When it does
   * not, a marker counts as reached when our pacing clock says its audio has played.
   */
  transportReportsPlayback?: boolean;
  now?: () => number;
}

interface SentenceState {
  id: string;
  text: string;
  turnId: number;
  lastInReply: boolean;
  /** Audio of this sentence sent and not taken back by a pause, in ms. */
  sentMs: number;
  /** Audio received so far, in ms (the sentence's length once complete). */
  knownMs: number;
  /** PCM rate of the sentence's audio when it needed converting (its converter is flushed at the end). */
  convertedRate: number | null;
  /** Name of the marker whose report means "played" (renamed when a pause makes us send it again). */
  markName: string | null;
  marksSent: number;
  state: 'queued' | 'sending' | 'marked' | 'done';
}

type QueueItem =
  | { kind: 'audio'; sentence: SentenceState; samples: Int16Array }
  | { kind: 'mark'; sentence: SentenceState };

/** An item on the wire whose caller-side play time has not passed yet. */
interface InFlight { item: QueueItem; playAt: number }

export class PlayoutStage extends Stage {
  readonly name = 'playout';
  private readonly queue: QueueItem[] = [];
  /** Audio items in `queue` (the backlog TTS is told about). */
  private queuedAudio = 0;
  private backlogFull = false;
  private inFlight: InFlight[] = [];
  private readonly sentences = new Map<string, SentenceState>();
  /** Estimated caller-side time at which everything sent so far will have played. */
  private playedUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private speaking = false;
  private paused = false;
  /** Replies from this turn id on wait for `turn-confirmed` (null: nothing held). */
  private holdFromTurnId: number | null = null;
  /** Partial frame carried to the next chunk of the same sentence. */
  private carry: { sentence: SentenceState; samples: Int16Array } | null = null;
  /** Timers standing in for the transport's playback reports when it has none. */
  private readonly playbackTimers = new Set<NodeJS.Timeout>();
  /** Arrival of each reply's first TTS audio, until its first frame goes out (then the turn is measured). */
  private readonly firstAudioAt = new Map<number, number>();
  private readonly measuredTurns = new Set<number>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: PlayoutOptions) {
    super();
    this.now = options.now ?? (() => performance.now());
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up') {
      if (frame.type === 'playback-reached') return this.onPlaybackReached(frame.name, frame.at);
      return this.pass(frame, direction);
    }
    switch (frame.type) {
      case 'bot-sentence-start':
        this.sentences.set(frame.sentenceId, {
          id: frame.sentenceId, text: frame.text, turnId: frame.turnId, lastInReply: false,
          sentMs: 0, knownMs: 0, convertedRate: null, markName: null, marksSent: 0, state: 'queued',
        });
        return;
      case 'bot-audio': {
        const sentence = this.sentences.get(frame.sentenceId);
        if (!sentence || sentence.state === 'done') return; // audio of a dropped sentence
        if (!this.measuredTurns.has(frame.turnId) && !this.firstAudioAt.has(frame.turnId)) {
          // Only a reply that finds the line free is timed: one queued behind audio still playing waits for
          // that audio to be heard, which is playback, not latency.
          if (this.queue.length === 0 && !this.paused && this.playedUntil <= this.now()) this.firstAudioAt.set(frame.turnId, frame.at);
          else this.measuredTurns.add(frame.turnId);
        }
        this.enqueueAudio(sentence, this.toPcm(frame.audio, sentence));
        return this.pump();
      }
      case 'bot-sentence-end': {
        const sentence = this.sentences.get(frame.sentenceId);
        if (!sentence || sentence.state === 'done') return;
        sentence.lastInReply = frame.lastInReply ?? false;
        const tail = sentence.convertedRate === null ? undefined : this.options.convertersByRate.get(sentence.convertedRate)?.flush?.();
        if (tail && tail.length > 0) this.enqueueAudio(sentence, tail);
        this.flushCarry(sentence);
        this.queue.push({ kind: 'mark', sentence });
        return this.pump();
      }
      case 'playout-pause':
        this.pause(frame.speechOnsetAt);
        return;
      case 'playout-resume':
        this.paused = false;
        this.pump();
        return;
      case 'playout-hold':
        this.holdFromTurnId = frame.fromTurnId;
        return;
      case 'turn-confirmed':
        this.releaseHold();
        return;
      case 'interruption':
        this.interrupt(frame.speechOnsetAt);
        return this.pass(frame, direction);
      default:
        return this.pass(frame, direction);
    }
  }

  private toPcm(audio: TtsAudio, sentence: SentenceState): Int16Array {
    if (audio.format === 'mulaw8k') return muLawDecode(audio.bytes);
    let pcm = audio.samples;
    if (audio.sampleRate !== PIPELINE_SAMPLE_RATE) {
      const converter = this.options.convertersByRate.get(audio.sampleRate);
      if (!converter) throw new Error(`playout: no rate converter for ${audio.sampleRate} Hz audio`);
      pcm = converter.process(pcm);
      sentence.convertedRate = audio.sampleRate;
    }
    return pcm;
  }

  /** Cuts audio into whole 20 ms frames; a remainder waits for the sentence's next chunk. */
  private enqueueAudio(sentence: SentenceState, samples: Int16Array): void {
    let data = samples;
    if (this.carry && this.carry.sentence === sentence) {
      const joined = new Int16Array(this.carry.samples.length + samples.length);
      joined.set(this.carry.samples);
      joined.set(samples, this.carry.samples.length);
      data = joined;
      this.carry = null;
    } else if (this.carry) {
      this.flushCarry(this.carry.sentence);
    }
    let offset = 0;
    for (; offset + FRAME_SAMPLES <= data.length; offset += FRAME_SAMPLES) {
      this.queue.push({ kind: 'audio', sentence, samples: data.subarray(offset, offset + FRAME_SAMPLES) });
      this.queuedAudio++;
      sentence.knownMs += FRAME_MS;
    }
    if (offset < data.length) this.carry = { sentence, samples: data.slice(offset) };
  }

  /** Pads a sentence's last partial frame with silence so every frame on the wire is 20 ms. */
  private flushCarry(sentence: SentenceState): void {
    if (!this.carry || this.carry.sentence !== sentence) return;
    const frame = new Int16Array(FRAME_SAMPLES);
    frame.set(this.carry.samples);
    this.queue.push({ kind: 'audio', sentence, samples: frame });
    this.queuedAudio++;
    sentence.knownMs += FRAME_MS;
    this.carry = null;
  }

  /** Sends as much as the lead allows, then sleeps until a frame's worth of room opens up. */
  private pump(): void {
    this.send();
    this.reportBacklog();
  }

  private send(): void {
    if (this.closed || this.paused) return;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const now = this.now();
    if (this.playedUntil < now) this.playedUntil = now; // underrun: the caller heard silence meanwhile
    this.forgetPlayed(now);
    // At least one frame may be ahead, or a lead under 20 ms (config allows 0) would never send anything.
    const leadMs = Math.max(this.options.leadMs, FRAME_MS);
    while (this.queue.length > 0 && !this.isHeld(this.queue[0]!) && this.playedUntil - now < leadMs) {
      const item = this.queue.shift()!;
      if (item.kind === 'audio') this.queuedAudio--;
      this.inFlight.push({ item, playAt: this.playedUntil });
      const { sentence } = item;
      if (item.kind === 'mark') {
        sentence.state = 'marked';
        sentence.markName = sentence.marksSent++ === 0 ? sentence.id : `${sentence.id}~${sentence.marksSent}`;
        this.links.down({ type: 'playback-marker', name: sentence.markName, at: now });
        if (this.options.transportReportsPlayback === false) this.reportPlaybackAt(sentence.markName, this.playedUntil);
        continue;
      }
      if (sentence.state === 'queued') {
        sentence.state = 'sending';
        this.measureFirstFrame(sentence.turnId, now);
      }
      if (!this.speaking) this.setSpeaking(true, now);
      this.links.down({ type: 'outbound-audio', samples: item.samples, at: now });
      sentence.sentMs += FRAME_MS;
      this.playedUntil += FRAME_MS;
    }
    if (this.queue.length > 0 && !this.isHeld(this.queue[0]!)) {
      const wait = Math.max(1, this.playedUntil - leadMs - now + 1);
      this.timer = setTimeout(() => this.pump(), wait);
    }
  }

  /** Our own clock's playback report, for a transport without one: the marker is reached when its audio has played. */
  private reportPlaybackAt(name: string, playAt: number): void {
    const timer = setTimeout(() => {
      this.playbackTimers.delete(timer);
      if (!this.closed) this.onPlaybackReached(name, this.now());
    }, Math.max(0, playAt - this.now()));
    this.playbackTimers.add(timer);
  }

  private isHeld(item: QueueItem): boolean {
    return this.holdFromTurnId !== null && item.sentence.turnId >= this.holdFromTurnId;
  }

  /** The tentative turn is confirmed: its reply goes out now. The wait was the caller's silence, not latency. */
  private releaseHold(): void {
    const from = this.holdFromTurnId;
    if (from === null) return;
    this.holdFromTurnId = null;
    const now = this.now();
    for (const [turnId, at] of this.firstAudioAt) if (turnId >= from && at < now) this.firstAudioAt.set(turnId, now);
    this.pump();
  }

  private measureFirstFrame(turnId: number, now: number): void {
    const firstAudio = this.firstAudioAt.get(turnId);
    if (firstAudio === undefined) return;
    this.options.onFirstFrameLatency?.(now - firstAudio);
    this.firstAudioAt.delete(turnId);
    this.measuredTurns.add(turnId);
  }

  /** Drops in-flight items the caller has already heard (a frame counts once it has started playing). */
  private forgetPlayed(now: number): void {
    let played = 0;
    while (played < this.inFlight.length && this.inFlight[played]!.playAt < now) played++;
    if (played > 0) this.inFlight = this.inFlight.slice(played);
  }

  /**
   * Empties the far end's buffer and takes back what the caller has not heard: those frames (and marks) go
   * back to the front of the queue, so a resume replays them and an interruption knows what was heard.
   */
  private silenceLine(now: number): boolean {
    this.forgetPlayed(now);
    const audible = this.speaking && (this.inFlight.length > 0 || this.playedUntil > now);
    const unplayed = this.inFlight;
    this.inFlight = [];
    for (const { item } of unplayed) {
      if (item.kind === 'audio') item.sentence.sentMs -= FRAME_MS;
      else if (item.sentence.state === 'marked') item.sentence.state = 'sending'; // its report will be stale
    }
    this.queue.unshift(...unplayed.map((f) => f.item));
    this.queuedAudio += unplayed.filter((f) => f.item.kind === 'audio').length;
    this.playedUntil = now;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (audible) this.links.down({ type: 'outbound-clear', at: now });
    return audible;
  }

  private pause(speechOnsetAt: number): void {
    if (this.paused || !this.speaking) return;
    const now = this.now();
    this.paused = true;
    if (this.silenceLine(now)) this.options.onBargeInLatency?.(now - speechOnsetAt);
    this.reportBacklog();
  }

  /** Tells TTS (up) when the unsent backlog crosses the full / room levels. */
  private reportBacklog(): void {
    const backlogMs = this.queuedAudio * FRAME_MS;
    const full = this.backlogFull ? backlogMs > BACKLOG_ROOM_MS : backlogMs >= BACKLOG_FULL_MS;
    if (full === this.backlogFull || this.closed) return;
    this.backlogFull = full;
    this.links.up({ type: 'playout-backlog', full, at: this.now() });
  }

  private interrupt(speechOnsetAt: number | undefined): void {
    const now = this.now();
    this.holdFromTurnId = null;
    const wasPaused = this.paused;
    this.paused = false;
    const cleared = wasPaused ? false : this.silenceLine(now);
    if (cleared && speechOnsetAt !== undefined) this.options.onBargeInLatency?.(now - speechOnsetAt);
    // The sentence being heard: the earliest one with audio the caller heard and no playback report yet.
    const started = [...this.sentences.values()].filter((s) => s.sentMs > 0);
    const heard = started.find((s) => s.state === 'sending') ?? started.find((s) => s.state === 'marked');
    for (const s of this.sentences.values()) s.state = 'done';
    this.sentences.clear();
    this.queue.length = 0;
    this.queuedAudio = 0;
    this.inFlight = [];
    this.carry = null;
    this.firstAudioAt.clear();
    for (const converter of this.options.convertersByRate.values()) converter.reset?.();
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (heard) {
      this.links.up({
        type: 'sentence-played', sentenceId: heard.id, text: heard.text,
        heardText: truncateText(heard.text, heard.sentMs / Math.max(heard.knownMs, FRAME_MS)),
        truncated: true, turnId: heard.turnId, lastInReply: heard.lastInReply, at: now,
      });
    }
    this.setSpeaking(false, now);
    this.reportBacklog();
  }

  private onPlaybackReached(name: string, at: number): void {
    const sentence = this.sentences.get(name.split('~')[0]!);
    // Unknown, dropped by an interruption, or a marker a pause took back (its report is not "played").
    if (!sentence || sentence.state !== 'marked' || sentence.markName !== name) return;
    sentence.state = 'done';
    this.sentences.delete(sentence.id);
    this.links.up({
      type: 'sentence-played', sentenceId: sentence.id, text: sentence.text, heardText: sentence.text,
      truncated: false, turnId: sentence.turnId, lastInReply: sentence.lastInReply, at,
    });
    const stillPlaying = this.queue.length > 0 || this.carry !== null
      || [...this.sentences.values()].some((s) => s.state === 'sending' || s.state === 'marked');
    if (!stillPlaying) this.setSpeaking(false, at);
  }

  private setSpeaking(speaking: boolean, at: number): void {
    if (this.speaking === speaking) return;
    this.speaking = speaking;
    // Turn-taking forgets a pause when the bot stops speaking and will never resume it: neither do we.
    if (!speaking) this.paused = false;
    this.links.up({ type: 'bot-speaking', speaking, at });
  }

  override async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const timer of this.playbackTimers) clearTimeout(timer);
    this.playbackTimers.clear();
  }
}

/** The words of `text` a caller heard after `fraction` of its audio (speech is roughly uniform in words). */
export function truncateText(text: string, fraction: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  const count = Math.round(words.length * Math.min(Math.max(fraction, 0), 1));
  return words.slice(0, count).join(' ');
}

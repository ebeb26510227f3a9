/**
 * The TTS stage: turns each `bot-reply` into sentence-bracketed audio frames, in order.
 *
 * Replies are spoken one after another; within a reply, the next sentence is synthesized while the current
 * one is being emitted (bounded look-ahead), but frames always leave in sentence order. An `interruption`
 * aborts every reply in flight or queued, so not one frame of them follows it downstream.
 *
 * Rendering follows playback: while playout reports a full backlog (`playout-backlog` up-frames) the next
 * chunk is held and no further sentence is started, so at most the backlog plus a sentence or two of a reply
 * is ever rendered ahead of what the caller hears, and a reply that is cut off cost little more than that.
 */
import type { BotReplyFrame, Direction, Frame, TtsAudio } from '../pipeline/frames.js';
import { Stage } from '../pipeline/pipeline.js';
import { synthesizeCached, type PhraseCache } from './phrase-cache.js';
import { splitSentences, type SentenceOptions } from './sentences.js';
import { TtsError, type TtsEngine } from './types.js';

export interface TtsStageOptions {
  engine: TtsEngine;
  /** Tried when the first sentence of a reply fails on `engine`, so the caller still hears something. */
  fallbackEngine?: TtsEngine;
  /** Serves replies marked `cacheable` (fixed prompts) from memory. */
  phraseCache?: PhraseCache;
  /** Reply -> first TTS audio latency of each turn, in ms (from the bot-reply frame's `at`). */
  onFirstAudio?(turnId: number, ms: number): void;
  sentences?: SentenceOptions;
  /** Sentences synthesized ahead of the one being emitted (default 1). */
  lookahead?: number;
  /** Monotonic clock, ms (default performance.now); frames' `at` and latencies use it. */
  now?: () => number;
}

/**
 * One sentence's synthesis, started early and buffered so the emitter can read it when its turn comes.
 * Reading yields chunks as they are produced, then rethrows the engine's failure, if any.
 */
class SentenceSynthesis {
  private readonly chunks: TtsAudio[] = [];
  private finished = false;
  private failure: unknown = undefined;
  private wake: (() => void) | undefined;

  constructor(readonly engineName: string, source: () => AsyncIterable<TtsAudio>) {
    void this.pump(source);
  }

  private async pump(source: () => AsyncIterable<TtsAudio>): Promise<void> {
    try {
      for await (const chunk of source()) {
        this.chunks.push(chunk);
        this.notify();
      }
    } catch (err) {
      this.failure = err ?? new Error('synthesis failed');
    } finally {
      this.finished = true;
      this.notify();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *read(): AsyncGenerator<TtsAudio> {
    let index = 0;
    for (;;) {
      if (index < this.chunks.length) {
        yield this.chunks[index++]!;
        continue;
      }
      if (this.finished) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }
}

interface Reply {
  frame: BotReplyFrame;
  controller: AbortController;
  firstAudioReported: boolean;
  /**
   * When this reply's turn to be spoken came: after the replies before it and with room in playout. The TTS
   * hop is measured from here (or from the reply, if later): waiting for earlier audio to play is playback.
   */
  turnAt: number;
}

export class TtsStage extends Stage {
  readonly name = 'tts';
  private readonly engine: TtsEngine;
  private readonly fallbackEngine: TtsEngine | undefined;
  private readonly phraseCache: PhraseCache | undefined;
  private readonly onFirstAudio: ((turnId: number, ms: number) => void) | undefined;
  private readonly sentenceOptions: SentenceOptions;
  private readonly lookahead: number;
  private readonly now: () => number;
  /** Replies not yet fully emitted, oldest first. */
  private readonly active = new Set<Reply>();
  /** The previous reply's completion: the next one starts speaking after it. */
  private tail: Promise<void> = Promise.resolve();
  private sentenceSeq = 0;
  private closed = false;
  /** Playout holds enough unsent audio: wait for room before emitting more. */
  private backlogFull = false;
  private readonly roomWaiters = new Set<() => void>();

  constructor(options: TtsStageOptions) {
    super();
    this.engine = options.engine;
    this.fallbackEngine = options.fallbackEngine;
    this.phraseCache = options.phraseCache;
    this.onFirstAudio = options.onFirstAudio;
    this.sentenceOptions = options.sentences ?? {};
    this.lookahead = Math.max(0, options.lookahead ?? 1);
    this.now = options.now ?? (() => performance.now());
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'up' && frame.type === 'playout-backlog') {
      this.backlogFull = frame.full;
      if (!frame.full) for (const wake of [...this.roomWaiters]) wake();
      return; // for this stage only
    }
    if (direction === 'down' && frame.type === 'bot-reply') {
      this.startReply(frame);
      return;
    }
    if (direction === 'down' && frame.type === 'interruption') {
      this.cancelAll();
    }
    this.pass(frame, direction);
  }

  /** Resolves when every reply accepted so far has been emitted or cancelled (tests, graceful hang-up). */
  idle(): Promise<void> {
    return this.tail;
  }

  override async close(): Promise<void> {
    this.closed = true;
    this.cancelAll();
  }

  private startReply(frame: BotReplyFrame): void {
    if (this.closed) return;
    const reply: Reply = { frame, controller: new AbortController(), firstAudioReported: false, turnAt: frame.at };
    this.active.add(reply);
    const previous = this.tail;
    this.tail = previous.then(() => this.speak(reply)).catch((err) => this.links.error(err))
      .finally(() => { this.active.delete(reply); });
  }

  /** Resolves when playout has room (undefined: it has room now), or when `signal` aborts. */
  private room(signal: AbortSignal): Promise<void> | undefined {
    if (!this.backlogFull || signal.aborted) return undefined;
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.roomWaiters.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.roomWaiters.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  private cancelAll(): void {
    for (const reply of this.active) reply.controller.abort(new Error('interrupted'));
    this.active.clear();
    // Cancelled replies emit nothing more, so the next reply need not wait for them to unwind.
    this.tail = Promise.resolve();
  }

  private async speak(reply: Reply): Promise<void> {
    const signal = reply.controller.signal;
    if (signal.aborted) return;
    const sentences = splitSentences(reply.frame.text, this.sentenceOptions);
    const syntheses: SentenceSynthesis[] = [];
    const startUpTo = (last: number) => {
      for (let i = syntheses.length; i <= Math.min(last, sentences.length - 1); i++) {
        syntheses.push(this.synthesis(reply, sentences[i]!, this.engine, signal));
      }
    };
    for (let index = 0; index < sentences.length; index++) {
      // A sentence (and the look-ahead behind it) is started only when playout has room for it.
      const wait = this.room(signal);
      if (wait) await wait;
      if (signal.aborted) return;
      if (index === 0) reply.turnAt = Math.max(reply.frame.at, this.now());
      startUpTo(index + this.lookahead);
      const sentenceId = `${reply.frame.turnId}.${this.sentenceSeq++}`;
      const last = index === sentences.length - 1;
      const emitted = await this.emitSentence(reply, sentenceId, sentences[index]!, syntheses[index]!, last);
      if (!emitted.ok && index === 0 && emitted.audioFrames === 0 && this.fallbackEngine && this.fallbackEngine !== this.engine) {
        const fallback = this.synthesis(reply, sentences[index]!, this.fallbackEngine, signal);
        // Nothing of this sentence went out, so the fallback's audio can carry the same id.
        await this.emitSentence(reply, sentenceId, sentences[index]!, fallback, last);
      }
    }
  }

  private synthesis(reply: Reply, text: string, engine: TtsEngine, signal: AbortSignal): SentenceSynthesis {
    const cache = reply.frame.cacheable ? this.phraseCache : undefined;
    return new SentenceSynthesis(engine.name, () => cache
      ? synthesizeCached(cache, engine, text, signal)
      : engine.synthesize(text, signal));
  }

  /**
   * Emits start, audio..., end for one sentence. The start goes out with the first audio, so a sentence
   * that fails before any audio leaves no trace downstream; one that fails midway is closed with its end.
   */
  private async emitSentence(
    reply: Reply, sentenceId: string, text: string, synthesis: SentenceSynthesis, lastInReply: boolean,
  ): Promise<{ ok: boolean; audioFrames: number }> {
    const signal = reply.controller.signal;
    const turnId = reply.frame.turnId;
    let audioFrames = 0;
    let ok = true;
    try {
      for await (const audio of synthesis.read()) {
        if (signal.aborted) break;
        const readyAt = this.now();
        const wait = this.room(signal);
        if (wait) {
          await wait;
          if (signal.aborted) break;
        }
        if (audioFrames === 0) {
          this.links.down({ type: 'bot-sentence-start', sentenceId, text, turnId, at: this.now() });
        }
        const at = this.now();
        this.links.down({ type: 'bot-audio', sentenceId, audio, turnId, at });
        audioFrames++;
        if (!reply.firstAudioReported) {
          reply.firstAudioReported = true;
          this.onFirstAudio?.(turnId, readyAt - reply.turnAt);
        }
      }
    } catch (err) {
      ok = false;
      if (!signal.aborted) {
        this.links.error(err instanceof TtsError ? err : new TtsError(synthesis.engineName, 'sentence synthesis failed', { cause: err }));
      }
    }
    if (audioFrames > 0 && !signal.aborted) {
      this.links.down({ type: 'bot-sentence-end', sentenceId, turnId, at: this.now(), lastInReply });
    }
    return { ok, audioFrames };
  }
}

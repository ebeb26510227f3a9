/**
 * ASR stage: streams all caller audio into the call's recognizer stream and turns its results into
 * transcript frames. When the VAD ends a turn the stream must produce one final; with no usable engine
 * the turn becomes `speech-unavailable` so the dialog can offer the keypad.
 */
import type { Direction, Frame } from '../pipeline/frames.js';
import { Stage } from '../pipeline/pipeline.js';
import type { AsrEngine, AsrEvent, AsrStream } from './types.js';

export interface AsrStageOptions {
  /** "end of speech -> ASR final" hop, in ms. */
  onFinalLatency?(ms: number): void;
  now?: () => number;
}

export class AsrStage extends Stage {
  readonly name = 'asr';
  private readonly stream: AsrStream | null;
  /** speech-end times of turns whose final has not arrived yet, oldest first. */
  private readonly awaitingFinal: number[] = [];
  private readonly now: () => number;

  constructor(private readonly engine: AsrEngine, private readonly options: AsrStageOptions = {}) {
    super();
    this.now = options.now ?? (() => performance.now());
    this.stream = engine.available ? engine.createStream((event) => this.onEngineEvent(event)) : null;
  }

  override process(frame: Frame, direction: Direction): void {
    if (direction === 'down') {
      if (frame.type === 'caller-audio') {
        this.stream?.pushAudio(frame.samples);
        return; // audio ends here: later stages work on text
      }
      if (frame.type === 'speech-end') {
        if (!this.stream) {
          this.pass(frame, direction);
          return this.pass({
            type: 'speech-unavailable', at: frame.at,
            reason: this.engine.unavailableReason ?? `${this.engine.name} cannot transcribe`,
          }, 'down');
        }
        this.awaitingFinal.push(frame.at);
        this.stream.endUtterance(frame.audio);
      }
      // A sound over the bot that turned out to be a backchannel ("mm-hmm") is not a turn: a streaming
      // recognizer must not prepend its words to the caller's next final. (Not while a final is pending.)
      if (frame.type === 'playout-resume' && this.awaitingFinal.length === 0) this.stream?.reset();
    }
    this.pass(frame, direction);
  }

  private onEngineEvent(event: AsrEvent): void {
    const at = this.now();
    switch (event.type) {
      case 'partial':
        return this.links.down({ type: 'transcript', text: event.text, isFinal: false, at });
      case 'final': {
        const endedAt = this.awaitingFinal.shift();
        // A streaming engine may endpoint on its own before the VAD does; then there is no VAD end to time.
        if (endedAt !== undefined) this.options.onFinalLatency?.(at - endedAt);
        return this.links.down({ type: 'transcript', text: event.text, isFinal: true, at, confidence: event.confidence });
      }
      case 'error':
        this.awaitingFinal.shift();
        this.links.error(event.error);
        return this.links.down({ type: 'speech-unavailable', at, reason: event.error.message });
    }
  }

  override async close(): Promise<void> {
    this.stream?.close();
  }
}

/**
 * A call's pipeline: an ordered list of stages. Each stage sees every frame; what it does not consume it
 * passes on (the default). Routing is synchronous so an interruption never queues behind slow work:
 * stages that do async work (inference, synthesis) start it and push results when ready.
 */
import type { Direction, Frame } from './frames.js';

export interface StageLinks {
  /** Send a frame towards the transport (caller -> bot direction). */
  down(frame: Frame): void;
  /** Send a frame back towards the caller side (e.g. bot-speaking). */
  up(frame: Frame): void;
  /** Report a failure inside the stage; the call continues. */
  error(err: unknown): void;
}

export abstract class Stage {
  abstract readonly name: string;
  protected links!: StageLinks;

  attach(links: StageLinks): void {
    this.links = links;
  }

  /** Handle a frame. The default passes it on in the direction it was travelling. */
  process(frame: Frame, direction: Direction): void {
    this.pass(frame, direction);
  }

  protected pass(frame: Frame, direction: Direction): void {
    if (direction === 'down') this.links.down(frame);
    else this.links.up(frame);
  }

  /** Release resources. Called once at teardown, in pipeline order. */
  async close(): Promise<void> {}
}

export interface PipelineEnds {
  /** Frames that leave the last stage going down (the transport writes them to the wire). */
  onDownstreamOut(frame: Frame): void;
  /** Frames that leave the first stage going up (the session handles them). */
  onUpstreamOut(frame: Frame): void;
  /** A stage failed; the pipeline keeps running. */
  onStageError(stage: string, err: unknown): void;
}

export class Pipeline {
  private closed = false;

  constructor(readonly stages: readonly Stage[], private readonly ends: PipelineEnds) {
    stages.forEach((stage, index) => {
      stage.attach({
        down: (frame) => this.deliver(index + 1, frame, 'down'),
        up: (frame) => this.deliver(index - 1, frame, 'up'),
        error: (err) => ends.onStageError(stage.name, err),
      });
    });
  }

  /** Inject a frame at the head (caller side), travelling down. */
  pushDown(frame: Frame): void {
    this.deliver(0, frame, 'down');
  }

  /** Inject a frame at the tail (transport side), travelling up. */
  pushUp(frame: Frame): void {
    this.deliver(this.stages.length - 1, frame, 'up');
  }

  private deliver(index: number, frame: Frame, direction: Direction): void {
    if (this.closed) return;
    if (index >= this.stages.length) return this.ends.onDownstreamOut(frame);
    if (index < 0) return this.ends.onUpstreamOut(frame);
    const stage = this.stages[index]!;
    try {
      stage.process(frame, direction);
    } catch (err) {
      // One bad frame must never take the call down: report and keep going.
      this.ends.onStageError(stage.name, err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stage of this.stages) {
      try {
        await stage.close();
      } catch (err) {
        this.ends.onStageError(stage.name, err);
      }
    }
  }
}

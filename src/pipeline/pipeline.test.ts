import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Direction, Frame } from './frames.js';
import { Pipeline, Stage } from './pipeline.js';

/** Records every frame it sees as "name:type:direction" into a shared log, then passes it on. */
class RecordingStage extends Stage {
  closes = 0;
  constructor(readonly name: string, private readonly log: string[], private readonly failOn?: (frame: Frame) => boolean) {
    super();
  }

  override process(frame: Frame, direction: Direction): void {
    this.log.push(`${this.name}:${frame.type}:${direction}`);
    if (this.failOn?.(frame)) throw new Error(`${this.name} rejects ${frame.type}`);
    this.pass(frame, direction);
  }

  override async close(): Promise<void> {
    this.closes++;
  }
}

class FailingCloseStage extends RecordingStage {
  override async close(): Promise<void> {
    await super.close();
    throw new Error('close failed');
  }
}

/** Answers every dtmf going down with a bot-speaking frame going up (a stage that turns frames around). */
class EchoUpStage extends Stage {
  readonly name = 'echo-up';
  override process(frame: Frame, direction: Direction): void {
    if (direction === 'down' && frame.type === 'dtmf') {
      this.links.up({ type: 'bot-speaking', speaking: true, at: frame.at });
      return;
    }
    this.pass(frame, direction);
  }
}

function ends() {
  const down: Frame[] = [];
  const up: Frame[] = [];
  const errors: Array<{ stage: string; message: string }> = [];
  return {
    down, up, errors,
    ends: {
      onDownstreamOut: (frame: Frame) => down.push(frame),
      onUpstreamOut: (frame: Frame) => up.push(frame),
      onStageError: (stage: string, err: unknown) => errors.push({ stage, message: (err as Error).message }),
    },
  };
}

const dtmf = (digit: string): Frame => ({ type: 'dtmf', digit, at: 1 });

test('frames pass through the stages in order, down and up', async () => {
  const log: string[] = [];
  const out = ends();
  const pipeline = new Pipeline([new RecordingStage('a', log), new RecordingStage('b', log), new RecordingStage('c', log)], out.ends);

  pipeline.pushDown(dtmf('1'));
  pipeline.pushUp({ type: 'playback-reached', name: 'm', at: 2 });

  assert.equal(log, [
    'a:dtmf:down', 'b:dtmf:down', 'c:dtmf:down',
    'c:playback-reached:up', 'b:playback-reached:up', 'a:playback-reached:up',
  ]);
  assert.equal(out.down.map((f) => f.type), ['dtmf']);
  assert.equal(out.up.map((f) => f.type), ['playback-reached']);
  assert.equal(out.errors, []);
  await pipeline.close();
});

test('a frame sent up from the middle reaches only the stages before it', async () => {
  const log: string[] = [];
  const out = ends();
  const pipeline = new Pipeline([new RecordingStage('a', log), new EchoUpStage(), new RecordingStage('c', log)], out.ends);

  pipeline.pushDown(dtmf('5'));

  assert.equal(log, ['a:dtmf:down', 'a:bot-speaking:up']);
  assert.equal(out.down, []);
  assert.equal(out.up.map((f) => f.type), ['bot-speaking']);
  await pipeline.close();
});

test('a stage that throws is reported and later frames still flow', async () => {
  const log: string[] = [];
  const out = ends();
  const pipeline = new Pipeline([
    new RecordingStage('a', log),
    new RecordingStage('b', log, (frame) => frame.type === 'dtmf' && frame.digit === '#'),
    new RecordingStage('c', log),
  ], out.ends);

  pipeline.pushDown(dtmf('#'));
  pipeline.pushDown(dtmf('2'));

  assert.equal(out.errors, [{ stage: 'b', message: 'b rejects dtmf' }]);
  // The failing frame stopped at b; the next one went all the way.
  assert.equal(log, ['a:dtmf:down', 'b:dtmf:down', 'a:dtmf:down', 'b:dtmf:down', 'c:dtmf:down']);
  assert.equal(out.down, [dtmf('2')]);
  await pipeline.close();
});

test('close() closes every stage once, even when one fails to close', async () => {
  const log: string[] = [];
  const out = ends();
  const stages = [new RecordingStage('a', log), new FailingCloseStage('b', log), new RecordingStage('c', log)];
  const pipeline = new Pipeline(stages, out.ends);

  await pipeline.close();
  await pipeline.close();

  assert.equal(stages.map((s) => s.closes), [1, 1, 1]);
  assert.equal(out.errors, [{ stage: 'b', message: 'close failed' }]);
});

test('frames after close are dropped', async () => {
  const log: string[] = [];
  const out = ends();
  const pipeline = new Pipeline([new RecordingStage('a', log), new RecordingStage('b', log)], out.ends);
  await pipeline.close();

  pipeline.pushDown(dtmf('1'));
  pipeline.pushUp({ type: 'playback-reached', name: 'm', at: 2 });

  assert.equal(log, []);
  assert.equal(out.down, []);
  assert.equal(out.up, []);
});

test('frames a stage emits after close (late async work) are dropped', async () => {
  const out = ends();
  const stage = new EchoUpStage();
  const pipeline = new Pipeline([stage], out.ends);
  await pipeline.close();

  // A stage whose async work finishes after teardown pushes through its links.
  (stage as unknown as { links: { down(f: Frame): void; up(f: Frame): void } }).links.down(dtmf('9'));
  (stage as unknown as { links: { down(f: Frame): void; up(f: Frame): void } }).links.up(dtmf('9'));

  assert.equal(out.down, []);
  assert.equal(out.up, []);
});

test.run();

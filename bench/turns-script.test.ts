/**
 * The turn-taking bench's scripts (bench/turns-script.ts): reproducible, pauses in range, no two booking calls of
 * a run asking for the same half-day. Run with the rest (`node scripts/test.mjs`) or alone:
 * `node scripts/test.mjs 'turns-script\.test\.ts$'`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PAUSE_MS, scriptFor, TURNS_PHRASES } from './turns-script.js';

const CALLERS = 20;
const ROUNDS = 2;
const all = (seed: number) => Array.from({ length: ROUNDS }, (_, round) => Array.from({ length: CALLERS }, (_, caller) => scriptFor(seed, caller, round, CALLERS))).flat();

test('the same seed gives the same calls; another seed other pauses', () => {
  assert.equal(all(1), all(1));
  const gaps = (seed: number) => all(seed).flatMap((s) => s.steps.flatMap((step) => step.gapsMs));
  assert.not.equal(gaps(1), gaps(2));
});

test('every pause is in range, one fewer than the pieces, and every call recites its date of birth with one', () => {
  for (const script of all(1)) {
    for (const step of script.steps) {
      assert.is(step.gapsMs.length, step.pieces.length - 1, step.node);
      for (const gap of step.gapsMs) assert.ok(gap >= PAUSE_MS.min && gap <= PAUSE_MS.max, `${gap} ms`);
    }
    const dob = script.steps.find((step) => step.node === 'id-dob');
    assert.ok(dob && dob.pieces.length >= 2, `${script.flow}: a paused date of birth`);
  }
});

test('all four flows occur, and each booking call of a run asks for its own day and time', () => {
  const scripts = all(1);
  assert.equal(new Set(scripts.map((s) => s.flow)).size, 4);
  const when = scripts.filter((s) => s.flow === 'booking').map((s) => TURNS_PHRASES[s.steps.find((step) => step.node === 'book-when')!.pieces[0]!]);
  assert.is(when.length, 10);
  assert.is(new Set(when).size, when.length, when.join(', '));
});

test.run();

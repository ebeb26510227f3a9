/** The benchmark callers' speech: synthesized caller turns on a simulated phone line (test/fixtures). */
import { loadFixture, type Fixture } from '../test/support/fixtures.js';

export interface Utterance { name: string; samples: Int16Array; transcript: string; speechStartMs: number; speechEndMs: number }

const TURNS = ['what-are-your-hours', 'can-you-repeat-that', 'book-appointment', 'yes-please', 'cancel-tuesday'];
export const INTERRUPTION = 'no-wait-stop';

function toUtterance(fixture: Fixture): Utterance {
  const segment = fixture.segments[0]!;
  return {
    name: fixture.name, samples: fixture.samples, transcript: fixture.transcript ?? '',
    speechStartMs: segment.startMs, speechEndMs: fixture.segments.at(-1)!.endMs,
  };
}

export function BENCH_UTTERANCES(): Utterance[] {
  return [...TURNS, INTERRUPTION].map((name) => toUtterance(loadFixture(name)));
}

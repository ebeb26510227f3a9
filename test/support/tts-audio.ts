/** Test helpers for TTS engines: drain a synthesis, or drain one that must fail and return its error. */
import * as assert from 'uvu/assert';
import type { TtsAudio } from '../../src/tts/types.js';

export async function collect(iterable: AsyncIterable<TtsAudio>): Promise<TtsAudio[]> {
  const out: TtsAudio[] = [];
  for await (const chunk of iterable) out.push(chunk);
  return out;
}

export async function failure(iterable: AsyncIterable<TtsAudio>): Promise<unknown> {
  try { await collect(iterable); } catch (err) { return err; }
  assert.unreachable('synthesis should have failed');
}

/**
 * Loads the committed caller-audio fixtures (test/fixtures/*.wav, made by test/fixtures/generate.sh) with the
 * ground truth from test/fixtures/manifest.json: speech segments, transcript, and non-speech events (a cough).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wavefile from 'wavefile';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface TimeSpan { startMs: number; endMs: number }

export interface Fixture {
  name: string;
  samples: Int16Array;
  sampleRate: 8000;
  /** The words spoken, when the file holds speech. */
  transcript?: string;
  /** Where speech is, exact from how the file was assembled (before line filtering and noise). */
  segments: TimeSpan[];
  /** Labelled non-speech sounds (e.g. `cough`). */
  events: (TimeSpan & { label: string })[];
  durationMs: number;
}

interface ManifestEntry {
  name: string;
  sampleRate: number;
  durationMs: number;
  transcript?: string;
  segments: TimeSpan[];
  events?: (TimeSpan & { label: string })[];
}

export class FixtureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FixtureError';
  }
}

let manifestCache: ManifestEntry[] | undefined;

function manifest(): ManifestEntry[] {
  manifestCache ??= (JSON.parse(readFileSync(`${FIXTURES_DIR}manifest.json`, 'utf8')) as { fixtures: ManifestEntry[] }).fixtures;
  return manifestCache;
}

/** Names of every fixture in the manifest (with `.wav`). */
export function fixtureNames(): string[] {
  return manifest().map((entry) => entry.name);
}

/** `name` with or without `.wav`, e.g. `loadFixture('yes-please')`. */
export function loadFixture(name: string): Fixture {
  const fileName = name.endsWith('.wav') ? name : `${name}.wav`;
  const entry = manifest().find((e) => e.name === fileName);
  if (!entry) throw new FixtureError(`no fixture ${fileName} in test/fixtures/manifest.json (have: ${fixtureNames().join(', ')})`);
  const wav = new wavefile.WaveFile(readFileSync(`${FIXTURES_DIR}${fileName}`));
  const fmt = wav.fmt as { sampleRate: number; numChannels: number };
  if (fmt.sampleRate !== 8000 || fmt.numChannels !== 1 || wav.bitDepth !== '16') {
    throw new FixtureError(`${fileName}: expected 8000 Hz mono 16-bit, got ${fmt.sampleRate} Hz, ${fmt.numChannels} ch, ${wav.bitDepth}-bit`);
  }
  const samples = wav.getSamples(false, Int16Array) as unknown as Int16Array;
  return {
    name: fileName,
    samples,
    sampleRate: 8000,
    ...(entry.transcript !== undefined ? { transcript: entry.transcript } : {}),
    segments: entry.segments,
    events: entry.events ?? [],
    durationMs: (samples.length * 1000) / 8000,
  };
}

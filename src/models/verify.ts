/**
 * `verify`: run an ASR engine over a model's own bundled test recordings and compare with their known
 * transcripts by word error rate. The recordings go through the same 8 kHz conversion as a phone call, so
 * this measures the model as the server will use it; a small WER is expected from the band limit, hence a
 * threshold rather than exact equality.
 */
import { join } from 'node:path';
import type { AsrEngine } from '../asr/types.js';
import { readWavAsTelephonePcm, transcribeSamples } from '../asr/transcribe.js';
import { missingModelFiles, type ModelEntry } from './manifest.js';

export interface VerifyCaseResult {
  wav: string;
  expected: string;
  heard: string | null;
  /** Word error rate against the expected transcript; 1 when the file could not be transcribed. */
  wer: number;
  passed: boolean;
  error?: string;
}

export interface VerifyReport {
  model: string;
  engine: string;
  cases: VerifyCaseResult[];
  passed: boolean;
  /** Set when there was nothing to run (model not installed, no recordings). */
  problem?: string;
}

export const DEFAULT_MAX_WER = 0.25;

/** Words for comparison: upper case, punctuation dropped, British/US spelling left alone. */
export function normalizeWords(text: string): string[] {
  return text.toUpperCase().replace(/[^A-Z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean);
}

/** Word-level Levenshtein distance over the reference length. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normalizeWords(reference);
  const hyp = normalizeWords(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : 1;
  let previous = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const current = [i];
    for (let j = 1; j <= hyp.length; j++) {
      const substitution = previous[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[hyp.length]! / ref.length;
}

export async function verifyModel(entry: ModelEntry, modelDir: string, engine: AsrEngine, maxWer = DEFAULT_MAX_WER): Promise<VerifyReport> {
  const base = { model: entry.name, engine: engine.name };
  const missing = missingModelFiles(entry, modelDir);
  if (missing.length) {
    return { ...base, cases: [], passed: false, problem: `not installed: missing ${missing.join(', ')} in ${modelDir}; run \`carevox models pull ${entry.name}\`` };
  }
  if (entry.tests.length === 0) return { ...base, cases: [], passed: true, problem: 'files present; the model bundles no test recordings to run' };
  if (!engine.available) return { ...base, cases: [], passed: false, problem: `speech recognition unavailable: ${engine.unavailableReason ?? engine.name}` };
  const cases: VerifyCaseResult[] = [];
  for (const test of entry.tests) {
    try {
      const samples = await readWavAsTelephonePcm(join(modelDir, test.wav));
      const heard = await transcribeSamples(engine, samples);
      const wer = wordErrorRate(test.text, heard);
      cases.push({ wav: test.wav, expected: test.text, heard, wer, passed: wer <= maxWer });
    } catch (err) {
      cases.push({ wav: test.wav, expected: test.text, heard: null, wer: 1, passed: false, error: (err as Error).message });
    }
  }
  return { ...base, cases, passed: cases.every((c) => c.passed) };
}

/** Human-readable report lines. (Bundled LibriSpeech recordings, not patient audio: printing is fine.) */
export function formatVerifyReport(report: VerifyReport): string[] {
  const lines = [`${report.model} (engine: ${report.engine})`];
  if (report.problem) lines.push(`  ${report.problem}`);
  for (const c of report.cases) {
    const verdict = c.passed ? 'ok  ' : 'FAIL';
    lines.push(`  ${verdict} ${c.wav}  WER ${(c.wer * 100).toFixed(1)}%${c.error ? `  error: ${c.error}` : ''}`);
    if (!c.passed && c.heard !== null) {
      lines.push(`       expected: ${c.expected}`);
      lines.push(`       heard:    ${c.heard}`);
    }
  }
  lines.push(report.passed ? 'verify: passed' : 'verify: FAILED');
  return lines;
}

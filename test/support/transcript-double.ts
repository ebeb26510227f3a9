/**
 * TRANSCRIPT DOUBLE at the ASR boundary — not speech recognition.
 *
 * No ASR that handles 8 kHz telephone speech runs on the development/CI machines (see
 * shared notes speech-models.md), so pipeline tests key transcripts on their own audio: each entry pairs the
 * audio a test plays as the caller with the transcript it stands for. The double recognises an utterance by
 * finding an exact run of its samples inside an entry's audio as the caller's phone line delivers it, i.e.
 * after the line's coding: the mu-law round trip (Twilio, SIP PCMU), the A-law round trip (SIP PCMA), or none
 * (Asterisk AudioSocket's linear PCM). Everything around it (audio, VAD, timing,
 * barge-in) stays real; only "which words were these samples" is looked up.
 *
 * Behaviour, timed like a streaming engine: while audio streams, a partial with the entry's words whose audio
 * has arrived (each word's end is placed in the entry's voiced span in proportion to its letters), sent
 * `partialDelayMs` after that audio came in; on endUtterance, the matched entry's transcript as the final
 * `finalDelayMs` later, or "" when the utterance matches no entry (e.g. noise). No partial follows a final.
 */
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../../src/media/codec.js';
import type { AsrEngine, AsrEvent, AsrStream } from '../../src/asr/types.js';

export interface TranscriptDoubleEntry { audio: Int16Array; transcript: string }

/** Samples compared for a match (20 ms at 8 kHz). */
const WINDOW = 160;
/** A window quieter than this (peak) is silence or line noise: it could match any entry (fixtures share their
 * seeded noise), so only windows with speech in them are compared. */
const MIN_PEAK = 2500;
/** How often partials are attempted while audio streams (samples: 40 ms), and how much recent audio is searched. */
const PARTIAL_EVERY = 320;
const PARTIAL_LOOKBACK = 1600;
/** Loudness (absolute sample) that counts as voiced when placing words in an entry. */
const VOICED = 500;

interface Reference {
  /** The entry this is a coding of. */
  entry: number;
  samples: Int16Array;
  /** Positions of every sample pair, so a window is looked up, not scanned for (the bench server runs this). */
  pairs: Map<number, number[]>;
  words: string[];
  /** Sample index at which each word's audio ends. */
  wordEnds: number[];
  transcript: string;
}

export interface TranscriptDouble extends AsrEngine {
  /** Which entry (index) an utterance matches, and where in it; null if none. For the double's own tests. */
  identify(utterance: Int16Array): { entry: number; offset: number; windowAt: number } | null;
}

export interface TranscriptDoubleOptions {
  /** The final comes this long after the end of an utterance, as a real engine's does (0: at once). */
  finalDelayMs?: number;
  /** A word appears in a partial this long after its audio arrived (the engine's lag; 0: at once). */
  partialDelayMs?: number;
}

export function createTranscriptDouble(entries: TranscriptDoubleEntry[], options: TranscriptDoubleOptions = {}): TranscriptDouble {
  const finalDelayMs = options.finalDelayMs ?? 0;
  const partialDelayMs = options.partialDelayMs ?? 0;
  const codings: Array<(audio: Int16Array) => Int16Array> = [
    (audio) => muLawDecode(muLawEncode(audio)),
    (audio) => aLawDecode(aLawEncode(audio)),
    (audio) => audio,
  ];
  const references: Reference[] = entries.flatMap((entry, index) => codings.map((code) => {
    const samples = code(entry.audio);
    const words = entry.transcript.split(/\s+/).filter(Boolean);
    return { entry: index, samples, pairs: indexPairs(samples), words, wordEnds: placeWords(samples, words), transcript: entry.transcript };
  }));

  /** The reference (entry as coded on some line) an utterance matches, and where in it. */
  function find(utterance: Int16Array) {
    for (const windowAt of candidateWindows(utterance)) {
      const window = utterance.subarray(windowAt, windowAt + WINDOW);
      for (let ref = 0; ref < references.length; ref++) {
        const offset = indexOfRun(references[ref]!, window);
        if (offset >= 0) return { ref, offset, windowAt };
      }
    }
    return null;
  }

  function identify(utterance: Int16Array) {
    const match = find(utterance);
    return match ? { entry: references[match.ref]!.entry, offset: match.offset, windowAt: match.windowAt } : null;
  }

  return {
    name: 'transcript-double',
    available: true,
    identify,
    createStream(sink: (event: AsrEvent) => void): AsrStream {
      let heard: Int16Array[] = [];
      let heardLength = 0;
      let sinceAttempt = 0;
      let lastPartial = '';
      let generation = 0;
      /** Bumped at each utterance end and reset: a delayed partial of an earlier utterance is dropped. */
      let partialsFor = 0;
      let closed = false;
      const joined = () => {
        const out = new Int16Array(heardLength);
        let at = 0;
        for (const chunk of heard) { out.set(chunk, at); at += chunk.length; }
        return out;
      };
      return {
        pushAudio(samples) {
          if (closed) return;
          heard.push(samples.slice());
          heardLength += samples.length;
          sinceAttempt += samples.length;
          if (sinceAttempt < PARTIAL_EVERY) return;
          sinceAttempt = 0;
          // Latest loud window of what was heard: how far into which entry the caller has got.
          const match = identifyLatest(lastSamples(heard, PARTIAL_LOOKBACK));
          if (!match) return;
          const ref = references[match.ref]!;
          const reached = match.offset + WINDOW;
          const spoken = ref.wordEnds.filter((end) => end <= reached + WINDOW).length;
          if (spoken === 0) return;
          const text = ref.words.slice(0, spoken).join(' ');
          if (text === lastPartial) return;
          lastPartial = text;
          const utteranceNo = partialsFor;
          const send = () => { if (!closed && utteranceNo === partialsFor) sink({ type: 'partial', text }); };
          if (partialDelayMs > 0) setTimeout(send, partialDelayMs);
          else send();
        },
        endUtterance(utterance) {
          if (closed) return;
          const audio = utterance.length > 0 ? utterance : joined();
          partialsFor++; // partials still on their way belong to this utterance: the final supersedes them
          const turn = generation;
          const match = find(audio);
          heard = []; heardLength = 0; sinceAttempt = 0; lastPartial = '';
          const answer = () => {
            if (closed || turn !== generation) return;
            sink({ type: 'final', text: match ? references[match.ref]!.transcript : '' });
          };
          if (finalDelayMs > 0) setTimeout(answer, finalDelayMs);
          else queueMicrotask(answer);
        },
        reset() {
          generation++;
          partialsFor++;
          heard = []; heardLength = 0; sinceAttempt = 0; lastPartial = '';
        },
        close() { closed = true; },
      };
    },
    async close() {},
  };

  function identifyLatest(audio: Int16Array) {
    const windows = candidateWindows(audio).sort((a, b) => b - a);
    for (const windowAt of windows) {
      const window = audio.subarray(windowAt, windowAt + WINDOW);
      for (let ref = 0; ref < references.length; ref++) {
        const offset = indexOfRun(references[ref]!, window);
        if (offset >= 0) return { ref, offset };
      }
    }
    return null;
  }
}

/** Where each word's audio ends: the voiced span shared out in proportion to the words' letters. */
function placeWords(samples: Int16Array, words: string[]): number[] {
  let first = samples.findIndex((v) => Math.abs(v) > VOICED);
  let last = samples.length - 1;
  while (last > 0 && Math.abs(samples[last]!) <= VOICED) last--;
  if (first < 0) { first = 0; last = samples.length - 1; }
  const letters = words.reduce((n, w) => n + w.length, 0) || 1;
  let sum = 0;
  return words.map((word) => {
    sum += word.length;
    return Math.round(first + ((last - first) * sum) / letters);
  });
}

/** Start positions of loud windows, middle of the utterance first, then outwards. */
function candidateWindows(audio: Int16Array): number[] {
  if (audio.length < WINDOW) return [];
  const starts: number[] = [];
  for (let at = 0; at + WINDOW <= audio.length; at += WINDOW / 2) {
    let peak = 0;
    for (let i = at; i < at + WINDOW; i++) peak = Math.max(peak, Math.abs(audio[i]!));
    if (peak >= MIN_PEAK) starts.push(at);
  }
  const middle = (audio.length - WINDOW) / 2;
  return starts.sort((a, b) => Math.abs(a - middle) - Math.abs(b - middle)).slice(0, 8);
}

const pairKey = (samples: Int16Array, i: number): number => ((samples[i]! & 0xffff) << 16) | (samples[i + 1]! & 0xffff);

function indexPairs(samples: Int16Array): Map<number, number[]> {
  const pairs = new Map<number, number[]>();
  for (let i = 0; i + 1 < samples.length; i++) {
    const key = pairKey(samples, i);
    const at = pairs.get(key);
    if (at) at.push(i);
    else pairs.set(key, [i]);
  }
  return pairs;
}

/** Index of an exact run of `needle` in the reference's samples, or -1. */
function indexOfRun(reference: Reference, needle: Int16Array): number {
  const haystack = reference.samples;
  outer: for (const i of reference.pairs.get(pairKey(needle, 0)) ?? []) {
    if (i + needle.length > haystack.length) continue;
    for (let j = 2; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The last `count` samples of a list of chunks (fewer if fewer were heard). */
function lastSamples(chunks: Int16Array[], count: number): Int16Array {
  const out = new Int16Array(Math.min(count, chunks.reduce((n, chunk) => n + chunk.length, 0)));
  let end = out.length;
  for (let c = chunks.length - 1; c >= 0 && end > 0; c--) {
    const chunk = chunks[c]!;
    const take = Math.min(chunk.length, end);
    out.set(chunk.subarray(chunk.length - take), end - take);
    end -= take;
  }
  return out;
}

/**
 * Sentence splitting for TTS: synthesis runs sentence by sentence, so the first sentence can play while the
 * rest is synthesized, and an LLM reply can be spoken before it has finished streaming.
 *
 * Written by hand because the npm splitters (sbd, sentence-splitter) work on whole texts only: here the same
 * rules must also decide boundaries incrementally on a growing buffer, never revising a sentence already
 * handed to synthesis, and must know the phone-domain cases ("Dr. Lee", "9 a.m. Tuesday", "3.30").
 */

export interface SentenceOptions {
  /** Pieces shorter than this ("Okay.", "1.") are merged into the following sentence. */
  minChars?: number;
  /** Longer run-ons are cut at a clause break (or a space) so time-to-first-audio stays bounded. */
  maxChars?: number;
}

const DEFAULTS: Required<SentenceOptions> = { minChars: 8, maxChars: 240 };

/** Followed by a name or number, never a sentence end: "Dr. Lee", "St. Mary's". */
const TITLES = new Set([
  'dr', 'mr', 'mrs', 'ms', 'mx', 'prof', 'st', 'sr', 'jr', 'rev', 'hon', 'gen', 'capt', 'lt', 'sgt', 'col', 'mt', 'ft',
]);
/** May end a sentence or not: they end one only when the next word is capitalised ("at 9 a.m. Then ..."). */
const ABBREVIATIONS = new Set([
  'a.m', 'p.m', 'am', 'pm', 'e.g', 'i.e', 'etc', 'vs', 'approx', 'appt', 'apt', 'dept', 'no', 'nos', 'tel', 'ext',
  'min', 'mins', 'hr', 'hrs', 'wk', 'wks', 'mo', 'mos', 'yr', 'yrs', 'inc', 'ltd', 'co', 'corp', 'ave', 'rd', 'blvd',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec',
  'mon', 'tue', 'tues', 'wed', 'thu', 'thur', 'thurs', 'fri', 'sat', 'sun', 'mg', 'ml', 'fig', 'est',
]);

const TERMINATORS = '.!?…';
const CLOSERS = '"\')]}’”»';
const OPENERS = '"\'([{‘“«';

/**
 * Ends (exclusive indices) of the sentences in `text` whose boundary is certain. With `final` false, a
 * boundary that depends on what comes next (a period at the very end, a period before a word that has not
 * arrived yet) is left undecided and scanning stops there.
 */
function findBoundaries(text: string, final: boolean): number[] {
  const ends: number[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n') {
      ends.push(i + 1);
      i++;
      continue;
    }
    if (!TERMINATORS.includes(ch)) {
      i++;
      continue;
    }
    let runEnd = i;
    while (runEnd < text.length && TERMINATORS.includes(text[runEnd]!)) runEnd++;
    let end = runEnd;
    while (end < text.length && CLOSERS.includes(text[end]!)) end++;
    if (end >= text.length) {
      if (final) ends.push(end);
      break; // either the end of the text, or undecided until more arrives
    }
    if (!/\s/.test(text[end]!)) {
      i = end; // "3.30", "e.g.,", "example.com": not a boundary
      continue;
    }
    let next = end;
    while (next < text.length && /[ \t\r\f\v]/.test(text[next]!)) next++;
    if (next >= text.length) {
      if (final) ends.push(end);
      break;
    }
    if (isSentenceEnd(text, i, runEnd, next)) ends.push(end);
    i = end;
  }
  return ends;
}

function isSentenceEnd(text: string, runStart: number, runEnd: number, next: number): boolean {
  const run = text.slice(runStart, runEnd);
  if (run.includes('?') || run.includes('!')) return true;
  if (text[next] === '\n') return true;
  // An ellipsis is a pause inside a sentence unless a new sentence visibly starts ("Let me see... Your visit").
  if (run.length > 1 || run === '…') return startsSentence(text, next, true);
  const word = wordBefore(text, runStart);
  if (word === '') return true;
  const bare = word.toLowerCase();
  if (TITLES.has(bare)) return false;
  if (/^[A-Z]$/.test(word)) return false; // an initial: "J. Smith"
  // "No. 5", "a.m. 10": a number after an abbreviation continues the sentence.
  if (ABBREVIATIONS.has(bare) || bare.includes('.')) return startsSentence(text, next, false);
  return true;
}

function startsSentence(text: string, index: number, digitStarts: boolean): boolean {
  let i = index;
  while (i < text.length && OPENERS.includes(text[i]!)) i++;
  const ch = text[i] ?? '';
  return /\p{Lu}/u.test(ch) || (digitStarts && /\d/.test(ch));
}

/** The token right before a period, without leading quotes/brackets: "a.m" for "(9 a.m.". */
function wordBefore(text: string, dotIndex: number): string {
  let start = dotIndex;
  while (start > 0 && !/\s/.test(text[start - 1]!)) start--;
  return text.slice(start, dotIndex).replace(/^[^\p{L}\p{N}]+/u, '');
}

/** Where to cut a run-on longer than maxChars: after the last clause break, else the last space. */
function cutPoint(text: string, maxChars: number): number {
  const window = text.slice(0, maxChars);
  const clause = Math.max(window.lastIndexOf(', '), window.lastIndexOf('; '), window.lastIndexOf(': '), window.lastIndexOf(' - '));
  if (clause > maxChars / 3) return clause + 1;
  const space = window.lastIndexOf(' ');
  return space > 0 ? space : maxChars;
}

function splitLong(sentence: string, maxChars: number): string[] {
  const pieces: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const cut = cutPoint(rest, maxChars);
    pieces.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) pieces.push(rest);
  return pieces;
}

function tidy(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Streaming splitter for LLM replies: push text deltas as they arrive, get back every sentence that is now
 * complete; `flush()` at the end of the reply returns the rest. Sentences come out in order and are final.
 */
export class SentenceAccumulator {
  private buffer = '';
  /** A tiny fragment waiting to be merged into the next sentence. */
  private pendingFragment = '';
  private readonly options: Required<SentenceOptions>;

  constructor(options: SentenceOptions = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  push(delta: string): string[] {
    this.buffer += delta;
    return this.drain(false);
  }

  flush(): string[] {
    return this.drain(true);
  }

  /** Drops everything buffered (e.g. the reply was interrupted). */
  reset(): void {
    this.buffer = '';
    this.pendingFragment = '';
  }

  private drain(final: boolean): string[] {
    const pieces: string[] = [];
    let consumed = 0;
    for (const end of findBoundaries(this.buffer, final)) {
      pieces.push(this.buffer.slice(consumed, end));
      consumed = end;
    }
    this.buffer = this.buffer.slice(consumed);
    if (final) {
      pieces.push(this.buffer);
      this.buffer = '';
    } else if (this.buffer.length > this.options.maxChars) {
      // A run-on with no end in sight: speak its first clause now rather than wait for the period.
      const cut = cutPoint(this.buffer, this.options.maxChars);
      pieces.push(this.buffer.slice(0, cut));
      this.buffer = this.buffer.slice(cut);
    }

    const sentences: string[] = [];
    for (const piece of pieces) {
      const text = tidy(this.pendingFragment ? `${this.pendingFragment} ${piece}` : piece);
      if (text === '') continue;
      if (text.length < this.options.minChars) {
        this.pendingFragment = text;
        continue;
      }
      this.pendingFragment = '';
      sentences.push(...splitLong(text, this.options.maxChars));
    }
    if (final && this.pendingFragment) {
      sentences.push(this.pendingFragment);
      this.pendingFragment = '';
    }
    return sentences;
  }
}

/** Splits a whole text into sentences for synthesis (same rules as the streaming accumulator). */
export function splitSentences(text: string, options: SentenceOptions = {}): string[] {
  const accumulator = new SentenceAccumulator(options);
  return [...accumulator.push(text), ...accumulator.flush()];
}

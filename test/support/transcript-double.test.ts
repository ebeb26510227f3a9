import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { aLawDecode, aLawEncode, muLawDecode, muLawEncode } from '../../src/media/codec.js';
import type { AsrEvent } from '../../src/asr/types.js';
import { loadFixture } from './fixtures.js';
import { createTranscriptDouble } from './transcript-double.js';

const test = suite('transcript double (keyed on the test\'s own audio; not speech recognition)');

const yes = loadFixture('yes-please');
const book = loadFixture('book-appointment');
const noise = loadFixture('silence-noise');
const phoneLine = (samples: Int16Array) => muLawDecode(muLawEncode(samples));
const flush = () => new Promise((resolve) => setTimeout(resolve, 5));

function makeDouble() {
  return createTranscriptDouble([
    { audio: yes.samples, transcript: yes.transcript! },
    { audio: book.samples, transcript: book.transcript! },
  ]);
}

test('identifies a VAD-cut piece of an entry after the mu-law trip, with pre-roll silence around it', async () => {
  const double = makeDouble();
  const piece = phoneLine(book.samples).subarray(4000, 20000);
  const utterance = new Int16Array(piece.length + 3200);
  utterance.set(piece, 1600);
  const match = double.identify(utterance);
  assert.ok(match);
  assert.is(match!.entry, 1);
  assert.is(match!.offset, 4000 + match!.windowAt - 1600);

  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  stream.endUtterance(utterance);
  await flush();
  assert.equal(events, [{ type: 'final', text: book.transcript! }]);
});

test('audio that is not in any entry (line noise, a different utterance) gives an empty final', async () => {
  const double = createTranscriptDouble([{ audio: yes.samples, transcript: yes.transcript! }]);
  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  stream.endUtterance(phoneLine(noise.samples));
  stream.endUtterance(phoneLine(book.samples));
  await flush();
  assert.equal(events, [{ type: 'final', text: '' }, { type: 'final', text: '' }]);
});

test('the same words arrive after an A-law line (SIP PCMA) or none (AudioSocket slin); silence never matches', () => {
  const double = makeDouble();
  assert.is(double.identify(aLawDecode(aLawEncode(book.samples)).subarray(4000, 20000))?.entry, 1, 'A-law');
  assert.is(double.identify(yes.samples.slice())?.entry, 0, 'linear PCM');
  assert.is(double.identify(new Int16Array(8000)), null, 'pure silence never matches');
});

test('partials grow while the caller speaks; final from pushed audio when endUtterance has none', async () => {
  const double = makeDouble();
  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  const line = phoneLine(book.samples);
  for (let i = 0; i < line.length; i += 160) stream.pushAudio(line.subarray(i, i + 160));
  const partials = events.filter((e) => e.type === 'partial').map((e) => (e.type === 'partial' ? e.text : ''));
  assert.ok(partials.length >= 2, `partials: ${JSON.stringify(partials)}`);
  for (const text of partials) assert.ok(book.transcript!.startsWith(text), text);
  assert.ok(partials[partials.length - 1]!.split(' ').length > partials[0]!.split(' ').length);
  stream.endUtterance(new Int16Array(0));
  await flush();
  assert.equal(events[events.length - 1], { type: 'final', text: book.transcript! });
});

test('partials are word-timed: a word appears once its audio has arrived, plus the engine delay', async () => {
  const double = createTranscriptDouble([{ audio: book.samples, transcript: book.transcript! }], { partialDelayMs: 60 });
  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  const line = phoneLine(book.samples);
  const voiced = [line.findIndex((v) => Math.abs(v) > 500), line.length - 1 - [...line].reverse().findIndex((v) => Math.abs(v) > 500)];
  const half = Math.round((voiced[0]! + voiced[1]!) / 2);
  for (let i = 0; i < half; i += 160) stream.pushAudio(line.subarray(i, Math.min(i + 160, half)));
  assert.equal(events, [], 'nothing before the engine delay');
  await new Promise((r) => setTimeout(r, 90));
  const words = book.transcript!.split(' ');
  const latest = events.filter((e) => e.type === 'partial').at(-1);
  assert.ok(latest && latest.type === 'partial');
  const count = latest.text.split(' ').length;
  assert.ok(count >= 1 && count < words.length, `half the audio gives part of the words: "${latest.text}"`);
  for (let i = half; i < line.length; i += 160) stream.pushAudio(line.subarray(i, i + 160));
  stream.endUtterance(new Int16Array(0));
  await new Promise((r) => setTimeout(r, 90));
  assert.equal(events.at(-1), { type: 'final', text: book.transcript! }, 'no partial arrives after the final');
});

test('reset drops a pending final; close silences the stream', async () => {
  const double = makeDouble();
  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  stream.endUtterance(phoneLine(yes.samples));
  stream.reset();
  await flush();
  assert.equal(events, []);
  stream.close();
  stream.endUtterance(phoneLine(yes.samples));
  await flush();
  assert.equal(events, []);
});

test('finalDelayMs holds the final back as a real engine would', async () => {
  const double = createTranscriptDouble([{ audio: yes.samples, transcript: yes.transcript! }], { finalDelayMs: 60 });
  const events: AsrEvent[] = [];
  const stream = double.createStream((e) => events.push(e));
  stream.endUtterance(phoneLine(yes.samples));
  await flush();
  assert.equal(events, [], 'not yet');
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(events, [{ type: 'final', text: yes.transcript! }]);
});

test.run();

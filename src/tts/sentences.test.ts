import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { splitSentences, SentenceAccumulator } from './sentences.js';

const split = suite('splitSentences');

const table: Array<[string, string[]]> = [
  ['', []],
  ['   \n  ', []],
  ['Hello there, how are you?', ['Hello there, how are you?']],
  ['Your visit is booked. Is there anything else?', ['Your visit is booked.', 'Is there anything else?']],
  ['That is great! See you soon.', ['That is great!', 'See you soon.']],
  ['Dr. Lee can see you on Tuesday. Does that work?', ['Dr. Lee can see you on Tuesday.', 'Does that work?']],
  ['Mrs. Gray and Mr. J. Smith are here today.', ['Mrs. Gray and Mr. J. Smith are here today.']],
  ['The slot is at 9 a.m. tomorrow morning. Shall I book it?', ['The slot is at 9 a.m. tomorrow morning.', 'Shall I book it?']],
  ['We open at 8 a.m. Please call back then.', ['We open at 8 a.m.', 'Please call back then.']],
  ['Come in at 3.30 on Friday. Thanks for calling.', ['Come in at 3.30 on Friday.', 'Thanks for calling.']],
  ['The fee is $12.50, e.g. for a short visit.', ['The fee is $12.50, e.g. for a short visit.']],
  ['Let me check... one moment please. Okay... Your appointment is confirmed.',
    ['Let me check... one moment please.', 'Okay... Your appointment is confirmed.']],
  ['Let me see… Tuesday works for us.', ['Let me see…', 'Tuesday works for us.']],
  ['Okay. Let me look that up for you.', ['Okay. Let me look that up for you.']],
  ['He said "Come back tomorrow." Then he left the clinic.', ['He said "Come back tomorrow."', 'Then he left the clinic.']],
  ['Really?! That is unexpected news.', ['Really?!', 'That is unexpected news.']],
  ['Yes! That is unexpected news.', ['Yes! That is unexpected news.']],
  ['Your options are:\n1. Monday morning\n2. Tuesday afternoon', ['Your options are:', '1. Monday morning', '2. Tuesday afternoon']],
  ['No trailing punctuation here', ['No trailing punctuation here']],
  ['Is it room No. 5 or room No. 6? Please check.', ['Is it room No. 5 or room No. 6?', 'Please check.']],
  ['Visit www.example.com for details. Goodbye for now.', ['Visit www.example.com for details.', 'Goodbye for now.']],
];

for (const [input, expected] of table) {
  split(`splits ${JSON.stringify(input)}`, () => {
    assert.equal(splitSentences(input), expected);
  });
}

split('cuts a long run-on at a clause break, each piece within maxChars', () => {
  const clause = 'and then we will need to check the insurance details with the front desk';
  const text = Array.from({ length: 8 }, () => clause).join(', ') + '.';
  const pieces = splitSentences(text, { maxChars: 120 });
  assert.ok(pieces.length >= 5, `got ${pieces.length} pieces`);
  for (const piece of pieces) assert.ok(piece.length <= 120, piece);
  assert.is(pieces.join(' ').replace(/\s+/g, ' '), text);
});

split('a single enormous word does not loop forever', () => {
  const pieces = splitSentences('x'.repeat(1000), { maxChars: 240 });
  assert.is(pieces.join(''), 'x'.repeat(1000));
  for (const piece of pieces) assert.ok(piece.length <= 240);
});

split.run();

const stream = suite('SentenceAccumulator');

stream('emits a sentence only once its boundary is certain', () => {
  const acc = new SentenceAccumulator();
  assert.equal(acc.push('Dr'), []);
  assert.equal(acc.push('. Lee is '), []);
  assert.equal(acc.push('available at 9 a.m.'), []);
  assert.equal(acc.push(' '), []); // next word unknown: "a.m." may or may not end the sentence
  assert.equal(acc.push('tomorrow. '), []);
  assert.equal(acc.push('Shall'), ['Dr. Lee is available at 9 a.m. tomorrow.']);
  assert.equal(acc.push(' I book it? Great'), ['Shall I book it?']);
  assert.equal(acc.flush(), ['Great']);
  assert.equal(acc.flush(), []);
});

stream('token-by-token streaming gives the same sentences as splitting the whole text', () => {
  const texts = table.map(([input]) => input).filter((t) => t.trim() !== '');
  for (const text of texts) {
    const acc = new SentenceAccumulator();
    const out: string[] = [];
    // LLM-like deltas: a few characters at a time
    for (let i = 0; i < text.length; i += 3) out.push(...acc.push(text.slice(i, i + 3)));
    out.push(...acc.flush());
    assert.equal(out, splitSentences(text), text);
  }
});

stream('a tiny fragment waits for the next sentence', () => {
  const acc = new SentenceAccumulator();
  assert.equal(acc.push('Sure. '), []);
  assert.equal(acc.push('I can help with that. '), []);
  assert.equal(acc.push('What'), ['Sure. I can help with that.']);
});

stream('a long run-on is released before its period arrives', () => {
  const acc = new SentenceAccumulator({ maxChars: 80 });
  const out: string[] = [];
  for (const word of 'we have openings on monday, tuesday and wednesday, and also on thursday afternoon if that suits you better'.split(' ')) {
    out.push(...acc.push(`${word} `));
  }
  assert.ok(out.length >= 1, 'something spoken before the end');
  assert.ok(out[0]!.length <= 80);
  assert.ok(out[0]!.endsWith(','), out[0]);
  acc.reset();
  assert.equal(acc.flush(), []);
});

stream.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assessByKind, endsMidPhrase, type AnswerState, type Expectation } from './expectations.js';

const CONTEXT = { today: '2026-11-23' };

type Row = [text: string, expected: AnswerState];

function check(expectation: Expectation, rows: readonly Row[]): void {
  const wrong = rows
    .map(([text, expected]) => ({ text, expected, actual: assessByKind(expectation, text, CONTEXT) }))
    .filter((row) => row.actual !== row.expected)
    .map((row) => `${JSON.stringify(row.text)}: expected ${row.expected}, got ${row.actual}`);
  assert.equal(wrong, [], `${expectation.kind}:\n${wrong.join('\n')}`);
}

test('endsMidPhrase: conjunctions, prepositions, determiners, fillers and a year just begun', () => {
  const unfinished = [
    'i wanted to ask about', 'my prescription ran out and', 'it s for my', 'the', 'um', 'i was calling uh',
    'tuesday at', 'some time in the', 'i want to', 'i m calling about', 'my name is', 'the number is',
    'january fifteenth nineteen', 'the third of march nineteen', 'march 3rd twenty', 'nineteen oh', 'five five double',
    "it's", 'yes but', 'no and', 'hold on', 'let me see', 'give me a second', 'i want', "i'd like", 'next',
  ];
  const finished = [
    'yes', 'no tuesday', 'yeah that s right', 'jane doe', 'metformin', 'please call me back', 'yes it is', 'yes i do',
    'i think so', 'can i come in', 'march nineteen', 'nineteen eighty five', 'january fifteenth', 'uh huh', 'mm hmm',
    'the second one', 'at two thirty', '',
  ];
  for (const text of unfinished) assert.ok(endsMidPhrase(text), `unfinished: ${text}`);
  for (const text of finished) assert.not.ok(endsMidPhrase(text), `finished: ${text}`);
});

test('every kind: empty text is not an answer; a filler or a request for time holds the turn', () => {
  const kinds: Expectation[] = [
    { kind: 'yes-no' }, { kind: 'menu-choice' }, { kind: 'date-of-birth' }, { kind: 'date-time' }, { kind: 'phone-number' },
    { kind: 'person-name' }, { kind: 'medication' }, { kind: 'free-text' }, { kind: 'digits', length: 4 },
  ];
  for (const expectation of kinds) {
    check(expectation, [
      ['', 'not-an-answer'], ['   ', 'not-an-answer'], ['...', 'not-an-answer'],
      ['um', 'incomplete'], ['uh', 'incomplete'], ['let me see', 'incomplete'], ['hold on', 'incomplete'],
      ['just a second', 'incomplete'], ["it's uh", 'incomplete'], ['um, uh, hmm', 'incomplete'], ['hang on let me think', 'incomplete'],
    ]);
  }
});

test('yes-no', () => {
  check({ kind: 'yes-no' }, [
    ['yes', 'complete'], ['yeah', 'complete'], ['no', 'complete'], ['no tuesday', 'complete'], ['yeah that s right', 'complete'],
    ["yeah that's right", 'complete'], ['um yes', 'complete'], ['uh huh', 'complete'], ['mm hmm', 'complete'], ['yes please', 'complete'],
    ['yes it is', 'complete'], ['no thank you', 'complete'], ['correct', 'complete'],
    ['yes but', 'incomplete'], ['no and', 'incomplete'], ['yes and also', 'complete'], ['no i', 'incomplete'], ['no the', 'incomplete'],
    ['yeah um', 'incomplete'], ["yes that's", 'incomplete'],
    ['maybe', 'not-an-answer'], ['i m not sure', 'not-an-answer'], ['what time is it', 'not-an-answer'], ['operator', 'not-an-answer'],
  ]);
});

test('menu-choice: words are for the node to read; only an unfinished phrase holds the turn', () => {
  check({ kind: 'menu-choice' }, [
    ['i want to', 'incomplete'], ["i'm calling about", 'incomplete'], ['i need to', 'incomplete'], ['can i', 'incomplete'],
    ['i was wondering if', 'incomplete'], ['i d like', 'incomplete'], ['i need a refill of my', 'incomplete'],
    ['book an appointment', 'not-an-answer'], ['refill', 'not-an-answer'], ['yes', 'not-an-answer'],
    ['i need to cancel my appointment', 'not-an-answer'], ['office hours', 'not-an-answer'],
  ]);
});

test('date-of-birth: complete only when the year cannot go on', () => {
  check({ kind: 'date-of-birth' }, [
    ['january fifteenth nineteen eighty five', 'complete'], ['march third nineteen eighty one', 'complete'],
    ['01 15 1985', 'complete'], ['01/15/1985', 'complete'], ['01151985', 'complete'], ['0 1 1 5 1 9 8 5', 'complete'],
    ['zero one one five one nine eight five', 'complete'], ['one fifteen eighty five', 'complete'], ['the third of march 1981', 'complete'],
    ['my date of birth is july fourth nineteen seventy six', 'complete'], ['uh its march uh third nineteen eighty one', 'complete'],
    ['january first nineteen oh five', 'complete'], ['eleven five two thousand and five', 'complete'], ['june tenth twenty ten', 'complete'],
    ['june tenth twenty nineteen', 'complete'], ['january fifteenth 1980', 'complete'], ['march third 81', 'complete'],
    // The caller has paused inside the date.
    ['january', 'incomplete'], ['january fifteenth', 'incomplete'], ['january fifteenth nineteen', 'incomplete'],
    ['the fifteenth of january', 'incomplete'], ['its january', 'incomplete'], ['my birthday is', 'incomplete'],
    ['january fifteenth nineteen eighty', 'incomplete'], ['twelve twenty five nineteen ninety', 'incomplete'],
    ['june tenth two thousand', 'incomplete'], ['june tenth two thousand and', 'incomplete'], ['june tenth twenty twenty', 'incomplete'],
    ['january fifteenth nineteen oh', 'incomplete'], ['january fifteenth one nine eight', 'incomplete'],
    ['oh one', 'incomplete'], ['0 1 1 5', 'incomplete'], ['one fifteen', 'incomplete'], ['0115198', 'incomplete'],
    ['oh one one five one nine', 'incomplete'], ['one fifteen nineteen', 'incomplete'], ['january fifteenth and', 'incomplete'],
    ['it was', 'incomplete'],
    // Something other than a date.
    ['i need to cancel my appointment', 'not-an-answer'], ['may i speak to the nurse', 'not-an-answer'],
    ["i don't know", 'not-an-answer'], ['operator', 'not-an-answer'], ['february thirtieth nineteen eighty five', 'not-an-answer'],
    ['1 2 3 4 5 6 7 8 9', 'not-an-answer'],
  ]);
});

test('date-time', () => {
  check({ kind: 'date-time' }, [
    ['tuesday', 'complete'], ['next tuesday morning', 'complete'], ['tomorrow afternoon', 'complete'], ['tuesday at ten', 'complete'],
    ['the fifth at ten thirty', 'complete'], ['first available', 'complete'], ['next week', 'complete'], ['after three', 'complete'],
    ['um how about friday', 'complete'], ['december third', 'complete'],
    ['tuesday at', 'incomplete'], ['next', 'incomplete'], ['on the', 'incomplete'], ['sometime in the', 'incomplete'],
    ['how about', 'incomplete'], ['tuesday or', 'incomplete'], ['in december', 'incomplete'], ['around', 'incomplete'],
    ['i don t know', 'not-an-answer'], ['do you have anything', 'not-an-answer'], ['with doctor patel', 'not-an-answer'],
  ]);
});

test('phone-number', () => {
  check({ kind: 'phone-number' }, [
    ['five five five one two three four five six seven', 'complete'], ['555 123 4567', 'complete'], ['(555) 123-4567', 'complete'],
    ['one five five five one two three four five six seven', 'complete'], ['my number is five five five one two three four five six seven', 'complete'],
    ['five five five one two three forty five sixty seven', 'complete'], ['two one two five five five double oh one two', 'complete'],
    ['five five five one two three four', 'incomplete'], ['five five five', 'incomplete'], ['five five five um', 'incomplete'],
    ['my number is', 'incomplete'], ['area code', 'incomplete'], ["it's", 'incomplete'], ['five five five one two three four five six', 'incomplete'],
    ['one five five five one two three four five six', 'incomplete'], ['five five five one two three four five double', 'incomplete'],
    ['five five five one two three four five twenty', 'incomplete'],
    ['five five five one two three four five six seven eight nine', 'not-an-answer'], ['five five five one two three four five six seven eight', 'not-an-answer'],
    ['i don t have a phone', 'not-an-answer'], ['operator', 'not-an-answer'],
  ]);
});

test('digits of a fixed length', () => {
  check({ kind: 'digits', length: 4 }, [
    ['one two three four', 'complete'], ['1234', 'complete'], ['twelve thirty four', 'complete'], ['my code is one two three four', 'complete'],
    ['one two', 'incomplete'], ['one two three', 'incomplete'], ['twelve', 'incomplete'], ['twelve thirty', 'incomplete'], ['the code is', 'incomplete'],
    ['one two three four five', 'not-an-answer'], ['i forgot it', 'not-an-answer'],
  ]);
  check({ kind: 'digits', length: 6 }, [['one two three four five six', 'complete'], ['one two three four five', 'incomplete']]);
});

test('person-name', () => {
  check({ kind: 'person-name' }, [
    ['jane doe', 'complete'], ['my name is jane doe', 'complete'], ["it's jane doe", 'complete'], ['this is john smith speaking', 'complete'],
    ['jane um doe', 'complete'], ['yes my name is mary ann jones', 'complete'], ['hi this is jose garcia', 'complete'],
    ['jane', 'incomplete'], ['my name is', 'incomplete'], ['my name is jane', 'incomplete'], ['this is', 'incomplete'], ['hi', 'incomplete'],
    ['j a n e', 'incomplete'], ['jane and', 'incomplete'], ["my name's", 'incomplete'],
    ["i don't know", 'not-an-answer'], ['i want to book an appointment', 'not-an-answer'], ['no', 'not-an-answer'],
    ['can you repeat that', 'not-an-answer'], ['one two three', 'not-an-answer'],
  ]);
});

test('medication', () => {
  check({ kind: 'medication' }, [
    ['metformin', 'complete'], ['my blood pressure pills', 'complete'], ['lisinopril ten milligrams', 'complete'],
    ['um my inhaler', 'complete'], ["it's for my cholesterol", 'complete'], ['i need a refill of my metformin', 'complete'],
    ['my', 'incomplete'], ['the', 'incomplete'], ["it's for my", 'incomplete'], ['i need a refill of', 'incomplete'],
    ['i need a refill', 'incomplete'], ['my prescription', 'incomplete'], ['the one for my', 'incomplete'],
    ["i don't know", 'not-an-answer'], ["i'm not sure", 'not-an-answer'], ["i can't remember the name", 'complete'],
  ]);
});

test('free-text: a message is complete at three words that do not stop mid-phrase', () => {
  check({ kind: 'free-text' }, [
    ['please call me back', 'complete'], ['my prescription ran out and i need more', 'complete'], ['i have a question', 'complete'],
    ['hi this is jane i wanted to ask about my test results', 'complete'], ['that s all i guess', 'complete'],
    ['i wanted to ask about', 'incomplete'], ['my prescription ran out and', 'incomplete'], ['hi this is jane i m calling about my', 'incomplete'],
    ['thank you', 'incomplete'], ['hello', 'incomplete'], ['i need a', 'incomplete'],
    ['it s about my uh', 'incomplete'], ['please call me back um', 'incomplete'], ['tell her i ll be late because', 'incomplete'],
  ]);
});

test('one second beside numbers is part of the answer, not a pause', () => {
  check({ kind: 'date-of-birth' }, [['one second nineteen eighty five', 'complete']]);
  check({ kind: 'phone-number' }, [['hold on one second five five five one two three four five six seven', 'complete']]);
});

test.run();

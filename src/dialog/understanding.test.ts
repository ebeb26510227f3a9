/**
 * How well the rule tables understand the phrasing fixture: accuracy per set and per category, printed with the
 * misses, and the floors the rules must keep. Emergencies are all-or-nothing: every emergency row must get
 * emergency guidance and no routine row may.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gradePhrasing, PHRASINGS, type GradedPhrasing, type Phrasing } from './phrasings.fixture.js';

type Outcome = GradedPhrasing;

const outcomes = PHRASINGS.map(gradePhrasing);
const percent = (part: number, whole: number) => (whole === 0 ? 100 : (100 * part) / whole);
const accuracy = (list: readonly Outcome[]) => percent(list.filter((o) => o.right).length, list.length);
const inSet = (set: Phrasing['set']) => outcomes.filter((o) => o.phrasing.set === set);

function printTable(): void {
  const categories = [...new Set(outcomes.map((o) => o.category))];
  const cell = (list: readonly Outcome[]) => (list.length ? `${list.filter((o) => o.right).length}/${list.length}` : '-').padStart(8);
  const lines = [`${'category'.padEnd(20)}${'develop'.padStart(8)}${'held-out'.padStart(9)}${'all'.padStart(8)}`];
  for (const category of categories) {
    const of = (list: readonly Outcome[]) => list.filter((o) => o.category === category);
    lines.push(`${category.padEnd(20)}${cell(of(inSet('develop')))} ${cell(of(inSet('held-out')))}${cell(of(outcomes))}`);
  }
  lines.push(`${'accuracy %'.padEnd(20)}${accuracy(inSet('develop')).toFixed(1).padStart(8)} ${accuracy(inSet('held-out')).toFixed(1).padStart(8)}${accuracy(outcomes).toFixed(1).padStart(8)}`);
  for (const set of ['develop', 'held-out'] as const) {
    const rows = inSet(set);
    const emergencies = rows.filter((o) => 'emergency' in o.phrasing.expected);
    const alarms = rows.filter((o) => !('emergency' in o.phrasing.expected) && o.readAsEmergency).length;
    lines.push(`emergencies (${set}): ${emergencies.filter((o) => o.readAsEmergency).length}/${emergencies.length} recognised, ${alarms} false alarms`);
  }
  for (const set of ['develop', 'held-out'] as const) {
    const misses = inSet(set).filter((o) => !o.right);
    lines.push(`misses (${set}): ${misses.length}`);
    for (const miss of misses) lines.push(`  [${miss.category} -> ${miss.got}] ${miss.phrasing.text}`);
  }
  console.log(lines.join('\n'));
}

printTable();

test('the develop phrasings are understood (>= 95 %)', () => {
  assert.ok(accuracy(inSet('develop')) >= 95, `develop accuracy ${accuracy(inSet('develop')).toFixed(1)} %`);
});

test('phrasings the rules were not written against are understood (held-out >= 90 %)', () => {
  assert.ok(accuracy(inSet('held-out')) >= 90, `held-out accuracy ${accuracy(inSet('held-out')).toFixed(1)} %`);
});

test('every emergency row gets emergency guidance', () => {
  const missed = outcomes.filter((o) => 'emergency' in o.phrasing.expected && !o.readAsEmergency).map((o) => o.phrasing.text);
  assert.equal(missed, []);
});

test('no routine row is taken for an emergency', () => {
  const alarmed = outcomes.filter((o) => !('emergency' in o.phrasing.expected) && o.readAsEmergency).map((o) => o.phrasing.text);
  assert.equal(alarmed, []);
});

test.run();

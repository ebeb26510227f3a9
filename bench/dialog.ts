/**
 * Understanding and dialog-hop benchmark: `npm run bench:dialog -- [--rounds 5] [--json FILE] [--verbose]`.
 *
 * (a) Intent accuracy on the phrasing fixture (src/dialog/phrasings.fixture.ts): each request phrasing is read
 * with readRequest, each yes/no row with parseYesNo, and compared with what it must be understood as; per set
 * (develop, held-out, all) and per category. An `ambiguous` expectation is right only when the reading is
 * ambiguous between exactly the expected intents (equal sets, order ignored): an extra candidate makes the
 * clarifying question worse, a missing one leaves the caller's meaning out.
 *
 * (b) The dialog hop, transcript -> first reply, through the public dialog API: for every request phrasing a
 * fresh receptionist session (a demo patient's number, so identification is by date of birth; in-memory EMR;
 * fixed clock) hears the greeting, then the phrasing; timed from respond() to its first `say` and to the end of
 * that turn's stream. A second pass asks the same from the "anything else?" question (after an hours answer).
 * Each pass runs once unrecorded (the first date parse compiles chrono's patterns), then `--rounds` times.
 *
 * Prints a table (misses and the slowest phrasings with --verbose) and writes JSON. Exits non-zero if a session
 * throws, fails a turn (the receptionist's own recovery: a 'dialog-error' transfer) or never ends a turn.
 */
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createReceptionistPolicy, defaultClinicConfig, renderPrompt, type DialogInput, type DialogPolicy, type DialogSession } from '../src/dialog/index.js';
import { gradePhrasing, PHRASINGS, type GradedPhrasing } from '../src/dialog/phrasings.fixture.js';
import { createMemoryEmr, DEMO_PATIENTS } from '../src/emr/index.js';
import { createLogger } from '../src/log.js';
import { summarize, type Summary } from './stats.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    json: { type: 'string', default: 'bench/out/dialog.json' },
    verbose: { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got "${args.rounds}"`);

/** Monday 23 November 2026, 9:00 in New York: every run sees the same calendar. */
const FIXED_NOW = new Date('2026-11-23T14:00:00Z');
/** A turn of the in-memory receptionist takes well under a millisecond; this only stops a hung one. */
const TURN_TIMEOUT_MS = 10_000;
const SETS = ['develop', 'held-out'] as const;

// ---- (a) accuracy ----------------------------------------------------------------------------------------------

interface Score { right: number; total: number; accuracy: number | null }

function score(rows: readonly GradedPhrasing[]): Score {
  const right = rows.filter((r) => r.right).length;
  return { right, total: rows.length, accuracy: rows.length ? Math.round((1000 * right) / rows.length) / 10 : null };
}

function scoreBySet(rows: readonly GradedPhrasing[]): Record<'develop' | 'held-out' | 'all', Score> {
  return {
    develop: score(rows.filter((r) => r.phrasing.set === 'develop')),
    'held-out': score(rows.filter((r) => r.phrasing.set === 'held-out')),
    all: score(rows),
  };
}

// ---- (b) dialog hop --------------------------------------------------------------------------------------------

class SessionFailure extends Error {}

interface TimedTurn { firstSayMs: number | null; endMs: number; said: string[] }

/** One turn, timed from respond() to its first `say` and to the end of its stream. Other action types are ignored. */
async function timeTurn(session: DialogSession, input: DialogInput, what: string, loggedErrors: readonly string[]): Promise<TimedTurn> {
  const controller = new AbortController();
  let hung = false;
  const timer = setTimeout(() => { hung = true; controller.abort(); }, TURN_TIMEOUT_MS);
  const said: string[] = [];
  let firstSayMs: number | null = null;
  const started = performance.now();
  try {
    for await (const action of session.respond(input, controller.signal)) {
      if (action.type === 'say') {
        firstSayMs ??= performance.now() - started;
        said.push(action.text);
      }
      if (action.type === 'transfer' && action.reason === 'dialog-error') throw new SessionFailure(`${what}: the turn failed (dialog-error transfer)`);
    }
  } catch (err) {
    if (err instanceof SessionFailure) throw err;
    throw new SessionFailure(`${what}: the session threw ${(err as Error).stack ?? String(err)}`);
  } finally {
    clearTimeout(timer);
  }
  const endMs = performance.now() - started;
  if (hung) throw new SessionFailure(`${what}: the turn did not end within ${TURN_TIMEOUT_MS} ms`);
  if (loggedErrors.length > 0) throw new SessionFailure(`${what}: the receptionist logged ${loggedErrors.join('; ')}`);
  return { firstSayMs, endMs, said };
}

type PassName = 'afterGreeting' | 'fromAnythingElse';
const PASS_DESCRIPTIONS: Record<PassName, { label: string; description: string }> = {
  afterGreeting: { label: 'after greeting', description: 'the request right after the greeting' },
  fromAnythingElse: { label: 'at anything-else', description: 'the request answering "anything else?" (after an hours answer)' },
};

interface PassSamples { firstSayMs: number[]; turnEndMs: number[]; turnsWithoutSay: number; perPhrasing: Map<string, number[]> }

function createBench() {
  const clinic = defaultClinicConfig();
  const now = () => FIXED_NOW;
  // The receptionist recovers from a failed turn itself (logging it, then transferring): count those as failures.
  const loggedErrors: string[] = [];
  const logger = createLogger('error', { write: (line: string) => { loggedErrors.push((JSON.parse(line) as { msg: string }).msg); } });
  const emr = createMemoryEmr({ clinic, patients: DEMO_PATIENTS, now });
  const policy: DialogPolicy = createReceptionistPolicy({ clinic, emr, now, logger });
  const callerNumber = DEMO_PATIENTS[0]!.phones[0]!;
  const anythingElse = renderPrompt('anythingElse', clinic.prompts, { clinic: clinic.name });
  let calls = 0;

  async function oneCall(pass: PassName, text: string): Promise<TimedTurn> {
    const session = policy.createSession({ callId: `bench-dialog-${++calls}`, callerNumber });
    try {
      await timeTurn(session, { type: 'call-start', callerNumber }, 'call start', loggedErrors);
      if (pass === 'fromAnythingElse') {
        const setup = await timeTurn(session, { type: 'utterance', text: 'what are your hours' }, 'hours question', loggedErrors);
        if (setup.said.at(-1) !== anythingElse) throw new SessionFailure('the hours answer did not end with the "anything else?" question');
      }
      return await timeTurn(session, { type: 'utterance', text }, `"${text}"`, loggedErrors);
    } finally {
      session.close();
    }
  }

  async function run(pass: PassName, texts: readonly string[], record: boolean, into: PassSamples): Promise<void> {
    for (const text of texts) {
      const turn = await oneCall(pass, text);
      if (!record) continue;
      into.turnEndMs.push(turn.endMs);
      if (turn.firstSayMs === null) { into.turnsWithoutSay++; continue; }
      into.firstSayMs.push(turn.firstSayMs);
      const samples = into.perPhrasing.get(text) ?? [];
      samples.push(turn.firstSayMs);
      into.perPhrasing.set(text, samples);
    }
  }
  return { run };
}

// ---- report ----------------------------------------------------------------------------------------------------

const fmtScore = (s: Score) => (s.total === 0 ? '-' : `${s.right}/${s.total} ${s.accuracy!.toFixed(1)}%`);
const fmtMs = (v: number | null) => (v === null ? '-' : v.toFixed(2));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const graded = PHRASINGS.map(gradePhrasing);
  const categories = [...new Set(graded.map((g) => g.category))].sort();
  const accuracy = {
    ambiguousRule: 'right when the reading is ambiguous between exactly the expected intents (equal sets)',
    sets: scoreBySet(graded),
    categories: Object.fromEntries(categories.map((c) => [c, scoreBySet(graded.filter((g) => g.category === c))])),
    // Emergencies are the misses that matter most: one missed is a caller not told to ring 911.
    emergenciesMissed: graded.filter((g) => 'emergency' in g.phrasing.expected && !g.readAsEmergency).map((g) => g.phrasing.text),
    routineTakenForEmergency: graded.filter((g) => !('emergency' in g.phrasing.expected) && g.readAsEmergency).map((g) => g.phrasing.text),
    misses: graded.filter((g) => !g.right).map((g) => ({ text: g.phrasing.text, set: g.phrasing.set, expected: g.expected, got: g.got })),
  };

  const requests = PHRASINGS.filter((p) => !('yesNo' in p.expected)).map((p) => p.text);
  const bench = createBench();
  const samples: Record<PassName, PassSamples> = {
    afterGreeting: { firstSayMs: [], turnEndMs: [], turnsWithoutSay: 0, perPhrasing: new Map() },
    fromAnythingElse: { firstSayMs: [], turnEndMs: [], turnsWithoutSay: 0, perPhrasing: new Map() },
  };
  const passes = Object.keys(samples) as PassName[];
  for (const pass of passes) await bench.run(pass, requests, false, samples[pass]);
  for (let round = 0; round < rounds; round++) {
    for (const pass of passes) await bench.run(pass, requests, true, samples[pass]);
  }
  const hop = Object.fromEntries(passes.map((pass) => {
    const s = samples[pass];
    const slowest = [...s.perPhrasing].map(([text, ms]) => ({ text, firstSayMs: summarize(ms) }))
      .sort((a, b) => b.firstSayMs.p50! - a.firstSayMs.p50!).slice(0, 5);
    return [pass, {
      description: PASS_DESCRIPTIONS[pass].description,
      firstSayMs: summarize(s.firstSayMs), turnEndMs: summarize(s.turnEndMs), turnsWithoutSay: s.turnsWithoutSay, slowest,
    }];
  })) as Record<PassName, { description: string; firstSayMs: Summary; turnEndMs: Summary; turnsWithoutSay: number; slowest: { text: string; firstSayMs: Summary }[] }>;

  const report = {
    rounds, clock: FIXED_NOW.toISOString(), machine: { cpus: cpus().length, node: process.version },
    fixture: { phrasings: PHRASINGS.length, requests: requests.length, bySet: Object.fromEntries(SETS.map((s) => [s, PHRASINGS.filter((p) => p.set === s).length])) },
    accuracy, hop,
  };

  const out: string[] = [];
  out.push(`Understanding: ${PHRASINGS.length} phrasings (${accuracy.ambiguousRule})`);
  out.push(table(['category', 'develop', 'held-out', 'all'], [
    ...categories.map((c) => [c, ...(['develop', 'held-out', 'all'] as const).map((s) => fmtScore(accuracy.categories[c]![s]))]),
    ['ALL', ...(['develop', 'held-out', 'all'] as const).map((s) => fmtScore(accuracy.sets[s]))],
  ]));
  out.push(`emergencies not read as emergencies: ${accuracy.emergenciesMissed.length}; routine rows read as emergencies: ${accuracy.routineTakenForEmergency.length}`);
  if (args.verbose && accuracy.misses.length > 0) {
    out.push('', `Misses (${accuracy.misses.length}):`);
    for (const m of accuracy.misses) out.push(`  [${m.set}] ${m.expected} -> ${m.got}: "${m.text}"`);
  }
  out.push('', `Dialog hop (ms): ${requests.length} request phrasings x ${rounds} rounds, fresh session each, in-memory EMR`);
  out.push(table(['pass', 'measure', 'n', 'p50', 'p95', 'p99', 'max'], passes.flatMap((pass) => [
    [PASS_DESCRIPTIONS[pass].label, 'to first say', ...summaryCells(hop[pass].firstSayMs)],
    ['', 'to end of turn', ...summaryCells(hop[pass].turnEndMs)],
  ])));
  for (const pass of passes) if (hop[pass].turnsWithoutSay > 0) out.push(`${PASS_DESCRIPTIONS[pass].label}: ${hop[pass].turnsWithoutSay} turns said nothing`);
  if (args.verbose) {
    for (const pass of passes) {
      out.push('', `Slowest to first say, ${PASS_DESCRIPTIONS[pass].label} (p50 / max ms):`);
      for (const s of hop[pass].slowest) out.push(`  ${fmtMs(s.firstSayMs.p50)} / ${fmtMs(s.firstSayMs.max)}  "${s.text}"`);
    }
  }
  console.log(out.join('\n'));

  mkdirSync(dirname(args.json!), { recursive: true });
  writeFileSync(args.json!, JSON.stringify(report, null, 2) + '\n');
  console.error(`bench:dialog: wrote ${args.json}`);
}

function summaryCells(s: Summary): string[] {
  return [String(s.n), fmtMs(s.p50), fmtMs(s.p95), fmtMs(s.p99), fmtMs(s.max)];
}

main().catch((err: unknown) => { console.error(`bench:dialog: ${(err as Error).stack ?? String(err)}`); process.exitCode = 1; });

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClinicConfigError, defaultClinicConfig, loadClinicConfig, parseClinicConfig } from './clinic.js';

const EXAMPLE = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../config/clinic.example.json');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ClinicConfigError);
    return (err as ClinicConfigError).problems;
  }
  assert.unreachable('expected a ClinicConfigError');
  return [];
}

test('the example file loads, with defaults filled in', () => {
  const clinic = loadClinicConfig(EXAMPLE);
  assert.is(clinic.name, 'Riverside Family Medicine');
  assert.is(clinic.timezone, 'America/Chicago');
  assert.is(clinic.frontDeskNumber, '+13125550100');
  assert.is(clinic.booking.slotStepMin, 20);
  assert.equal(clinic.providers[2]!.typeIds, ['sick', 'followup']);
  assert.is(clinic.prompts.greeting, 'Thanks for calling {clinic}. You are speaking with our automated assistant.');
});

test('the demo clinic is valid and needs no file', () => {
  const clinic = defaultClinicConfig();
  assert.is(clinic.name, 'Maple Street Family Clinic');
  assert.is(clinic.identification.maxAttempts, 3);
  assert.is(clinic.booking.minNoticeMin, 60);
});

test('errors name the offending key', () => {
  const base = structuredClone(defaultClinicConfig()) as Record<string, any>;
  const broken = {
    ...base,
    timezone: 'Mars/Olympus',
    frontDeskNumber: '555-0100',
    providers: [{ ...base.providers[0], typeIds: ['nope'], schedule: { mon: [{ start: '17:00', end: '09:00' }], funday: [] } }],
    appointmentTypes: [{ ...base.appointmentTypes[0], durationMin: 0 }],
    prompts: { greting: 'Hi' },
  };
  const problems = problemsOf(() => parseClinicConfig(broken, 'clinic.json'));
  const text = problems.join('\n');
  assert.match(text, 'timezone: expected an IANA time zone');
  assert.match(text, 'frontDeskNumber: expected an E.164 number');
  assert.match(text, 'providers.0.schedule.mon.0: start must be before end');
  assert.match(text, 'providers.0.schedule');
  assert.match(text, 'funday');
  assert.match(text, 'appointmentTypes.0.durationMin');
  assert.match(text, 'prompts.greting: unknown prompt key greting');
  const missing = problemsOf(() => parseClinicConfig({ name: 'X' }));
  assert.ok(missing.some((p) => p.startsWith('timezone:')));
  assert.ok(missing.some((p) => p.startsWith('staffRecipients:')));
});

test('cross references and file errors', () => {
  const base = structuredClone(defaultClinicConfig()) as Record<string, any>;
  const dup = problemsOf(() => parseClinicConfig({ ...base, providers: [base.providers[0], base.providers[0]] }));
  assert.ok(dup.includes('providers.1.id: duplicate id patel'));
  const dir = mkdtempSync(join(tmpdir(), 'clinic-'));
  try {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    const err = problemsOf(() => loadClinicConfig(bad));
    assert.match(err[0]!, 'not valid JSON');
    assert.match(problemsOf(() => loadClinicConfig(join(dir, 'missing.json')))[0]!, 'cannot read the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

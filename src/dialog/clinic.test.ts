import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClinicConfigError, defaultClinicConfig, loadClinicConfig, parseClinicConfig } from './clinic.js';
import { DEFAULT_PROMPTS, fixedPrompts, renderGreeting, renderPrompt } from './prompts.js';

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

const NOTICE = 'If this is a medical emergency, please hang up and dial 9 1 1.';

function greetingFor(prompts: Record<string, string>): string {
  const clinic = parseClinicConfig({ ...structuredClone(defaultClinicConfig()), prompts });
  return renderGreeting(clinic.prompts, { clinic: clinic.name });
}

test('the default greeting carries the emergency notice', () => {
  assert.is(greetingFor({}), `Thank you for calling Maple Street Family Clinic. ${NOTICE}`);
  assert.is(DEFAULT_PROMPTS.emergencyNotice, NOTICE);
});

test('the example clinic greeting is followed by its emergency notice, through renderPrompt and the TTS warm-up too', () => {
  const clinic = loadClinicConfig(EXAMPLE);
  const values = { clinic: clinic.name };
  const expected = 'Thanks for calling Riverside Family Medicine. You are speaking with our automated assistant. ' +
    'If you have a medical emergency, please hang up now and dial 9 1 1.';
  assert.is(renderGreeting(clinic.prompts, values), expected);
  assert.is(renderPrompt('greeting', clinic.prompts, values), expected, 'every caller of renderPrompt gets the notice');
  assert.ok(fixedPrompts(clinic.prompts, values).includes(expected), 'the cached greeting is the one with the notice');
});

test('a custom greeting without the notice gets the notice appended', () => {
  assert.is(greetingFor({ greeting: 'Hello from {clinic}!' }), `Hello from Maple Street Family Clinic! ${NOTICE}`);
  assert.is(greetingFor({ greeting: 'Hi, this is {clinic}' }), `Hi, this is Maple Street Family Clinic. ${NOTICE}`);
  // Mentioning emergencies without the number to dial is not the notice.
  assert.is(greetingFor({ greeting: 'Welcome. For emergencies, go to the nearest emergency room.' }),
    `Welcome. For emergencies, go to the nearest emergency room. ${NOTICE}`);
  // Digits that merely contain 9 1 1 (a phone number) are not the notice either.
  assert.is(greetingFor({ greeting: 'Call us at 555 9112.' }), `Call us at 555 9112. ${NOTICE}`);
});

test('a greeting that already tells callers to dial 911 is not given the notice twice', () => {
  for (const greeting of [
    'Thank you for calling {clinic}. In an emergency, hang up and dial 911.',
    'Thank you for calling {clinic}. For emergencies dial 9 1 1.',
    'Thank you for calling {clinic}. For emergencies dial 9-1-1.',
    'Thank you for calling {clinic}. For emergencies call nine one one.',
    `Thank you for calling {clinic}. ${NOTICE}`,
  ]) {
    assert.is(greetingFor({ greeting }), greeting.replace('{clinic}', 'Maple Street Family Clinic'), greeting);
  }
});

test('a clinic may reword the emergency notice but not blank it or drop 911', () => {
  assert.is(greetingFor({ emergencyNotice: 'Emergency? Hang up and call 911 now.' }),
    'Thank you for calling Maple Street Family Clinic. Emergency? Hang up and call 911 now.');
  for (const emergencyNotice of ['', '   ', 'If this is an emergency, please go to the nearest hospital.']) {
    const problems = problemsOf(() => parseClinicConfig({ ...structuredClone(defaultClinicConfig()), prompts: { emergencyNotice } }, 'clinic.json'));
    assert.is(problems.length, 1, JSON.stringify(emergencyNotice));
    assert.match(problems[0]!, /^prompts\.emergencyNotice: must tell callers to dial 9 1 1/);
    assert.match(problems[0]!, NOTICE, 'the message shows what to write');
  }
  const blank = problemsOf(() => parseClinicConfig({ ...structuredClone(defaultClinicConfig()), prompts: { goodbye: ' ' } }));
  assert.equal(blank, ['prompts.goodbye: must not be empty; remove the key to use the default']);
});

test.run();

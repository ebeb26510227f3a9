#!/usr/bin/env node
// Runs every uvu suite with tsx's loader and restates uvu's totals as the plain line `N passed, N failed` that CI
// reads. The unit suites (src/**/*.test.ts, test/support/*.test.ts, bench/*.test.ts) run in one process per folder;
// each whole-server file in test/ runs in a process
// of its own, a few at a time: those tests spend most of their time waiting on real-time audio playout, not on the
// CPU, so running them side by side keeps the suite well inside CI's budget. Each process's output is printed
// whole when it ends (never interleaved), with how long it took.
//   node scripts/test.mjs [FILE_REGEX]      CAREVOX_TEST_JOBS=N sets how many processes run at once (default 3)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// uvu's package exports do not include its CLI, so point at the file itself.
const uvuBin = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const pattern = process.argv[2] ?? '\\.test\\.ts$';
const concurrency = Math.max(1, Number(process.env.CAREVOX_TEST_JOBS) || 3);

const serverTests = readdirSync(`${root}/test`)
  .filter((name) => /\.test\.ts$/.test(name) && new RegExp(pattern).test(name))
  // Larger files hold more whole calls: start them first so the slowest do not run last, alone.
  .sort((a, b) => statSync(`${root}/test/${b}`).size - statSync(`${root}/test/${a}`).size);
const jobs = [
  { label: 'src', dir: 'src', pattern },
  // Tests of the test doubles and of the benches' own arithmetic: quick, one process each.
  { label: 'test/support', dir: 'test/support', pattern },
  { label: 'bench', dir: 'bench', pattern },
  ...serverTests.map((name) => ({ label: `test/${name}`, dir: 'test', pattern: `^${name.replace(/\./g, '\\.')}$` })),
];

let passed = 0;
let failed = 0;
let exitCode = 0;
const timings = [];
const started = performance.now();

await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
  for (let job = jobs.shift(); job; job = jobs.shift()) {
    const jobStarted = performance.now();
    const result = await runUvu(job);
    const seconds = (performance.now() - jobStarted) / 1000;
    process.stdout.write(`${result.out}\n[test] ${job.label}: ${seconds.toFixed(1)} s\n`);
    if (result.none) continue;
    timings.push({ label: job.label, seconds });
    passed += result.passed;
    failed += result.total - result.passed - result.skipped;
    if (result.code !== 0) exitCode = 1;
  }
}));

timings.sort((a, b) => b.seconds - a.seconds);
console.log(`[test] slowest: ${timings.slice(0, 5).map((t) => `${t.label} ${t.seconds.toFixed(0)} s`).join(', ')}; `
  + `whole run ${((performance.now() - started) / 1000).toFixed(0)} s with ${concurrency} at a time`);
if (failed > 0) exitCode = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);

function runUvu(job) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', uvuBin, job.dir, job.pattern, '--color', 'false'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let out = '';
    let lingerTimer = null;
    const collect = (chunk) => {
      out += chunk.toString();
      // uvu prints its totals last; a process still alive long after that holds a leaked handle.
      if (/Duration:/.test(out) && !lingerTimer) {
        lingerTimer = setTimeout(() => {
          out += `\n[test] ${job.label}: process did not exit 10 s after its summary (leaked handle); killing it\n`;
          child.kill('SIGKILL');
        }, 10_000);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('close', (code) => {
      if (lingerTimer) clearTimeout(lingerTimer);
      if (/No test files found|no matching/i.test(out) && !/Total:/.test(out)) return resolve({ out, none: true });
      const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
      const totals = { total: num('Total'), passed: num('Passed'), skipped: num('Skipped') };
      if (Number.isNaN(totals.total)) {
        // uvu crashed before printing totals: count the file as one failure.
        return resolve({ out, total: 1, passed: 0, skipped: 0, code: code || 1 });
      }
      resolve({ out, ...totals, skipped: totals.skipped || 0, code: code ?? 1 });
    });
  });
}

#!/usr/bin/env node
// Runs every uvu suite (src/**/*.test.ts, test/**/*.test.ts) in one Node process with tsx's loader,
// then restates uvu's own totals as the plain line `N passed, N failed` that CI reads.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// uvu's package exports do not include its CLI, so point at the file itself.
const uvuBin = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));
const pattern = process.argv[2] ?? '\\.test\\.ts$';
const dirs = ['src', 'test'];

let passed = 0;
let failed = 0;
let total = 0;
let exitCode = 0;

for (const dir of dirs) {
  const result = await runUvu(dir);
  if (result === null) continue;
  passed += result.passed;
  failed += result.total - result.passed - result.skipped;
  total += result.total;
  if (result.code !== 0) exitCode = 1;
}

if (failed > 0) exitCode = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode);

function runUvu(dir) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', uvuBin, dir, pattern, '--color', 'false'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let out = '';
    let lingerTimer = null;
    child.stdout.on('data', (chunk) => {
      const text = chunk.toString();
      out += text;
      process.stdout.write(text);
      // uvu prints its totals last; a process still alive long after that holds a leaked handle.
      if (/Duration:/.test(out) && !lingerTimer) {
        lingerTimer = setTimeout(() => {
          console.error(`[test] ${dir}: process did not exit 10 s after its summary (leaked handle); killing it`);
          child.kill('SIGKILL');
        }, 10_000);
      }
    });
    child.on('close', (code) => {
      if (lingerTimer) clearTimeout(lingerTimer);
      if (/No test files found|no matching/i.test(out) && !/Total:/.test(out)) return resolve(null);
      const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
      const totals = { total: num('Total'), passed: num('Passed'), skipped: num('Skipped') };
      if (Number.isNaN(totals.total)) {
        // uvu crashed before printing totals: count the whole directory as one failure.
        return resolve({ total: 1, passed: 0, skipped: 0, code: code || 1 });
      }
      resolve({ ...totals, skipped: totals.skipped || 0, code: code ?? 1 });
    });
  });
}

/**
 * Runs sipp (Debian's sip-tester) against a carevox SIP listener on loopback: a scenario file or one of sipp's
 * built-in scenarios, N calls at a time. sipp exits 0 when every call followed its scenario to the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SippRun { code: number | null; stdout: string; stderr: string; errors: string }

export interface SippOptions {
  port: number;
  /** A scenario file (test/fixtures/sipp/...) or a built-in scenario name (`uac`). */
  scenario: string;
  calls?: number;
  /** Calls in progress at once. */
  concurrent?: number;
  /** Calls started per second. */
  rate?: number;
  /** Pause of the built-in scenarios, ms. */
  durationMs?: number;
  extraArgs?: string[];
  timeoutSeconds?: number;
}

export function runSipp(options: SippOptions): Promise<SippRun> {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-sipp-'));
  const calls = options.calls ?? 1;
  const scenario = options.scenario.endsWith('.xml') ? ['-sf', options.scenario] : ['-sn', options.scenario];
  const args = [
    `127.0.0.1:${options.port}`, ...scenario, '-i', '127.0.0.1', '-p', '0', '-mi', '127.0.0.1',
    '-m', String(calls), '-l', String(options.concurrent ?? calls), '-r', String(options.rate ?? calls),
    '-d', String(options.durationMs ?? 1000), '-s', 'carevox',
    '-timeout', `${options.timeoutSeconds ?? 60}s`, '-timeout_error', '-recv_timeout', '40000',
    '-nostdin', '-bg', '-trace_err', '-error_file', join(dir, 'errors.log'),
    ...(options.extraArgs ?? []),
  ];
  // `-bg` would fork; run in the foreground instead and let sipp's own -timeout bound it.
  const foreground = args.filter((a) => a !== '-bg');
  return new Promise((resolve) => {
    const child = spawn('sipp', foreground, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => {
      let errors = '';
      for (const name of readdirSync(dir)) if (name.endsWith('.log')) errors += readFileSync(join(dir, name), 'utf8');
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout: stdout.slice(-4000), stderr: stderr.slice(-4000), errors: errors.slice(-4000) });
    });
  });
}

/**
 * `carevox transcribe FILE...`: prints `FILE<TAB>TEXT` per file using the configured ASR engine (env /
 * CAREVOX_CONFIG, as the server). WAVs of any rate and channel count are converted to 8 kHz mono first, so
 * the engine hears what it would hear on a call.
 */
import { loadConfig } from '../config/index.js';
import { createAsrEngine } from './index.js';
import { readWavAsTelephonePcm, transcribeSamples } from './transcribe.js';

export interface CliIo {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

const defaultIo: CliIo = {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export async function run(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const files = argv.filter((arg) => !arg.startsWith('--'));
  if (argv.includes('--help') || files.length === 0) {
    io.err('usage: carevox transcribe FILE.wav... (engine from ASR_ENGINE and the asr.* settings)');
    return files.length === 0 && !argv.includes('--help') ? 2 : 0;
  }
  const config = loadConfig(io.env);
  const engine = await createAsrEngine(config);
  if (!engine.available) {
    io.err(`carevox transcribe: speech recognition unavailable: ${engine.unavailableReason ?? engine.name}`);
    await engine.close();
    return 1;
  }
  let failures = 0;
  try {
    for (const file of files) {
      try {
        const samples = await readWavAsTelephonePcm(file);
        const text = await transcribeSamples(engine, samples);
        io.out(`${file}\t${text}`);
      } catch (err) {
        failures++;
        io.err(`${file}: ${(err as Error).message}`);
      }
    }
  } finally {
    await engine.close();
  }
  return failures ? 1 : 0;
}

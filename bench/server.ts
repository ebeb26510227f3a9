/**
 * The server process the benchmark starts: the real carevox server, configured from env like `npm start`.
 * With no ASR engine configured (no model on this machine), the ASR boundary is the transcript double keyed
 * on the benchmark's own caller audio, so the dialog gets real turns; everything else is the real pipeline.
 * Logs go to stdout as JSON; the benchmark reads the per-call summary lines from there.
 */
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { buildServer } from '../src/server.js';
import { createServices } from '../src/services.js';
import { BENCH_UTTERANCES } from './utterances.js';
import { createTranscriptDouble } from '../test/support/transcript-double.js';

const config = loadConfig();
const logger = createLogger(config.log.level);
const asr = config.asr.engine === 'none'
  ? createTranscriptDouble(BENCH_UTTERANCES().map((u) => ({ audio: u.samples, transcript: u.transcript })), {
    // A streaming engine's partials trail the audio by about as much as its finals trail the end of a segment.
    finalDelayMs: Number(process.env.BENCH_ASR_DELAY_MS ?? 0),
    partialDelayMs: Number(process.env.BENCH_ASR_DELAY_MS ?? 0),
  })
  : undefined;
const services = await createServices(config, logger, { engines: asr ? { asr } : {} });
const { app } = await buildServer({ config, logger, ...services });
await app.listen({ host: config.server.host, port: config.server.port });
logger.info({ port: config.server.port }, 'bench server ready');
const stop = async () => { await app.close(); await services.close(); process.exit(0); };
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());

/**
 * A real carevox server in a child process, for crash tests and bench/crash-records.ts: configured from the
 * environment like `npm start` (DATA_DIR, DATA_ENCRYPTION_KEY, NODE_ID...), with the ASR boundary the
 * transcript double keyed on the fixtures named in CHILD_TRANSCRIPTS (comma-separated). Logs JSON lines on
 * stdout, the last of start-up being `server child ready` with the port. Meant to be killed (SIGKILL).
 */
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log.js';
import { buildServer } from '../../src/server.js';
import { createServices } from '../../src/services.js';
import { loadFixture } from './fixtures.js';
import { createTranscriptDouble } from './transcript-double.js';

const config = loadConfig();
const logger = createLogger(config.log.level);
const fixtures = (process.env.CHILD_TRANSCRIPTS ?? 'what-are-your-hours').split(',').filter(Boolean).map((name) => loadFixture(name));
const asr = createTranscriptDouble(fixtures.map((f) => ({ audio: f.samples, transcript: f.transcript! })));
const services = await createServices(config, logger, { engines: { asr } });
const { app } = await buildServer({ config, logger, ...services });
await app.listen({ host: config.server.host, port: config.server.port });
const address = app.server.address();
// Written whatever LOG_LEVEL says: the parent waits for this line.
process.stdout.write(`${JSON.stringify({ msg: 'server child ready', port: typeof address === 'object' && address ? address.port : null })}\n`);

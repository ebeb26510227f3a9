/**
 * The server process the benchmark starts: the real carevox server, configured from env like `npm start`.
 * With no ASR engine configured (no model on this machine), the ASR boundary is the transcript double keyed
 * on the benchmark's own caller audio, so the dialog gets real turns; everything else is the real pipeline.
 * Logs go to stdout as JSON; the benchmark reads the per-call summary lines from there.
 *
 * BENCH_UTTERANCES picks the caller audio the double knows: `latency` (the default: bench/utterances.ts, for
 * bench/run.ts) or `turns` (bench/turns-script.ts, for bench/turns.ts). With `turns` the server also logs, per
 * call, each question the dialog asks (node and expectation kind) and the kind of each input it gets, never
 * words: the turn-taking bench reads from them which question an answer reached and in how many turns.
 */
import { loadConfig } from '../src/config/index.js';
import type { DialogPolicy } from '../src/dialog/index.js';
import { createLogger, type Logger } from '../src/log.js';
import { buildServer } from '../src/server.js';
import { createServices } from '../src/services.js';
import { startPhoneSystemBridges, type PhoneSystemBridges } from '../src/sip-bridge/index.js';
import { BENCH_UTTERANCES } from './utterances.js';
import { digestPhrases, synthesizeTurnsPhrases, TURNS_PHRASES, type PhraseKey } from './turns-script.js';
import { createTranscriptDouble, type TranscriptDoubleEntry } from '../test/support/transcript-double.js';

const config = loadConfig();
const logger = createLogger(config.log.level);
const utterances = process.env.BENCH_UTTERANCES ?? 'latency';
if (utterances !== 'latency' && utterances !== 'turns') throw new Error(`BENCH_UTTERANCES must be latency or turns, got "${utterances}"`);

/** What the transcript double knows: the caller audio of the chosen bench, with the words it stands for. */
async function doubleEntries(): Promise<TranscriptDoubleEntry[]> {
  if (utterances === 'latency') return BENCH_UTTERANCES().map((u) => ({ audio: u.samples, transcript: u.transcript }));
  const audio = await synthesizeTurnsPhrases();
  // The bench synthesized the same table in its own process: this lets it check both got the same samples.
  logger.info({ digest: digestPhrases(audio) }, 'bench utterances');
  return (Object.keys(TURNS_PHRASES) as PhraseKey[]).map((key) => ({ audio: audio[key], transcript: TURNS_PHRASES[key] }));
}

/** The dialog as it is, plus a log line per new question and per input (kinds only, no words). */
function withQuestionLog(policy: DialogPolicy, log: Logger): DialogPolicy {
  return {
    name: policy.name,
    createSession(context) {
      const session = policy.createSession(context);
      const callLog = log.child({ callId: context.callId });
      let logged: number | undefined;
      let inputs = 0;
      return {
        // Tentative turns pass through (and are logged as such): the bench measures the dialog as it runs.
        undoesTentativeTurns: session.undoesTentativeTurns,
        respond(input, signal, tentative) {
          const seq = ++inputs;
          const loggedBefore = logged;
          callLog.info({ input: input.type, seq, tentative: tentative !== undefined }, 'bench dialog input');
          // A withdrawn tentative turn never happened: the bench drops it and any question it asked. The session
          // puts its question back, so the same question (same number) asked for the merged turn is logged again.
          void tentative?.then((confirmed) => {
            if (confirmed) return;
            logged = loggedBefore;
            callLog.info({ input: input.type, seq }, 'bench dialog input withdrawn');
          });
          return session.respond(input, signal, tentative);
        },
        expectation: session.expectation && (() => {
          const expectation = session.expectation!();
          if (expectation && expectation.question !== logged) {
            logged = expectation.question;
            callLog.info({ node: expectation.node, kind: expectation.kind, question: expectation.question }, 'bench question');
          }
          return expectation;
        }),
        close: () => session.close(),
      };
    },
  };
}

const asr = config.asr.engine === 'none'
  ? createTranscriptDouble(await doubleEntries(), {
    // A streaming engine's partials trail the audio by about as much as its finals trail the end of a segment.
    finalDelayMs: Number(process.env.BENCH_ASR_DELAY_MS ?? 0),
    partialDelayMs: Number(process.env.BENCH_ASR_DELAY_MS ?? 0),
  })
  : undefined;
const services = await createServices(config, logger, { engines: asr ? { asr } : {} });
if (utterances === 'turns') services.engines.dialog = withQuestionLog(services.engines.dialog, logger);
let bridges: PhoneSystemBridges | null = null;
const server = await buildServer({ config, logger, ...services, healthDetails: () => ({ ...services.healthDetails(), ...bridges?.health() }) });
const { app } = server;
await app.listen({ host: config.server.host, port: config.server.port });
// SIP (and AudioSocket) as `npm start` has them, when the bench drives calls over SIP.
bridges = await startPhoneSystemBridges({
  config, logger, metrics: services.metrics, engines: services.engines, recorder: services.recorder,
  registry: server.registry, admission: server.admission,
});
logger.info({ port: config.server.port }, 'bench server ready');
const stop = async () => { await bridges?.close(); await app.close(); await services.close(); process.exit(0); };
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());

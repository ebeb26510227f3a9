/**
 * The receptionist policy: one engine session per call over the flows in ../flows/.
 */
import type { Logger } from '../../log.js';
import type { EmrGateway } from '../../emr/types.js';
import type { ClinicConfig } from '../clinic.js';
import { parseSpokenDate } from '../dates.js';
import { createLlmAssist, type LanguageModelAssist, type LlmOptions } from '../llm.js';
import type { DialogContext, DialogPolicy } from '../types.js';
import { ReceptionistSession } from './session.js';

export type { NodeId } from './node.js';

/** The EMR one call talks to, and how to release it when the call ends (per-call audit ids, prefetch). */
export interface CallEmr { gateway: EmrGateway; release?(): void }

export interface ReceptionistOptions {
  clinic: ClinicConfig;
  /** One gateway for every call, or a factory that gives each call its own. */
  emr: EmrGateway | ((context: DialogContext) => CallEmr);
  now?: () => Date;
  /** Say a filler when an EMR answer is not back within this many ms. */
  fillerAfterMs?: number;
  /** Give up on an EMR request after this many ms (honest message, then a fallback). */
  emrTimeoutMs?: number;
  /** Optional language model (OpenAI-compatible) for what the rules do not understand. */
  llm?: LlmOptions;
  /** A ready-made assist (tests, other model back ends); wins over `llm`. */
  assist?: LanguageModelAssist;
  logger?: Logger;
}

export function createReceptionistPolicy(options: ReceptionistOptions): DialogPolicy {
  // chrono compiles its patterns on first use (~200 ms): do it now, not on a caller's first turn.
  parseSpokenDate('tomorrow at ten thirty', { now: new Date(), timeZone: options.clinic.timezone });
  const assist = options.assist ?? (options.llm
    ? createLlmAssist({ ...options.llm, clinic: options.clinic, now: options.now, logger: options.logger })
    : undefined);
  return {
    name: assist ? 'receptionist-llm' : 'receptionist',
    createSession: (context) => {
      const callEmr = typeof options.emr === 'function' ? options.emr(context) : { gateway: options.emr };
      return new ReceptionistSession({
        clinic: options.clinic,
        emr: callEmr.gateway,
        releaseEmr: callEmr.release,
        now: options.now ?? (() => new Date()),
        fillerAfterMs: options.fillerAfterMs ?? 700,
        emrTimeoutMs: options.emrTimeoutMs ?? 8_000,
        assist,
        logger: options.logger,
      }, context);
    },
  };
}

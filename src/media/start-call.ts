/**
 * Starting a call, written once for every transport (Twilio Media Streams today; SIP/RTP, AudioSocket):
 * the session is built, registered on this node while it is live, and on its end its outcome goes to the
 * registry (and the shared state, for the after-stream webhook) before anyone else hears of it.
 * A transport only parses its wire, authenticates, and hands the session its `CallTransport`.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/index.js';
import { CallSession, type CallEngines, type CallEventsSink, type CallRecord, type CallSessionParams } from './call-session.js';
import type { CallRegistry } from './call-registry.js';

export interface CallFrontDesk {
  registry: CallRegistry;
  /** Called once per finished call, after the registry knows its outcome. */
  onCallEnded?(record: CallRecord): void;
}

/** Whether this node takes a new call now: not while it drains, nor at its call limit. */
export type CallAdmission = 'open' | 'draining' | 'full';

/** What every transport needs from the node to start its calls (one object, passed the same way to each). */
export interface CallServices extends CallFrontDesk {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  engines: CallEngines;
  recorder?: CallEventsSink;
  admission(): CallAdmission;
}

export async function startCall(params: Omit<CallSessionParams, 'onEnded'>, frontDesk: CallFrontDesk): Promise<CallSession> {
  const session = await CallSession.start({
    ...params,
    onEnded: (record) => {
      frontDesk.registry.ended(record);
      frontDesk.onCallEnded?.(record);
    },
  });
  frontDesk.registry.add(params.callId, session);
  return session;
}

/**
 * Starting a call, written once for every transport (Twilio Media Streams today; SIP/RTP and AudioSocket next):
 * the session is built, registered on this node while it is live, and on its end its outcome goes to the
 * registry (and the shared state, for the after-stream webhook) before anyone else hears of it.
 * A transport only parses its wire, authenticates, and hands the session its `CallTransport`.
 */
import { CallSession, type CallRecord, type CallSessionParams } from './call-session.js';
import type { CallRegistry } from './call-registry.js';

export interface CallFrontDesk {
  registry: CallRegistry;
  /** Called once per finished call, after the registry knows its outcome. */
  onCallEnded?(record: CallRecord): void;
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

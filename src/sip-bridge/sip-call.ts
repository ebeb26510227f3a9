/**
 * One SIP call we answered: its dialog's life (ringing, answered, confirmed by ACK, ended by either side),
 * its RTP media, and the CallSession it feeds. The user agent (sip-ua.ts) routes each request of the dialog
 * here and provides the signalling (`SipDialogSignalling`); this module decides what each one means for the
 * call. Everything the caller does arrives in the session the way Twilio's events do: audio as 8 kHz PCM,
 * keypad digits (RFC 4733 or INFO) through `receiveDtmf`.
 */
import { describeError, type Logger } from '../log.js';
import type { CallOutcome, CallSession, CallTransport } from '../media/call-session.js';
import { startCall, type CallServices } from '../media/start-call.js';
import { digitFromInfo } from './dtmf-info.js';
import { negotiateSessionTimer, type SessionTimerRequest } from './session-timer.js';
import type { CallMedia, MediaPlan } from './media.js';

/** How long we wait for the NOTIFY that says whether the transfer target answered. */
const TRANSFER_NOTIFY_WAIT_MS = 10_000;

export interface SipResponseSummary { status: number; reason: string }

/** The signalling a call needs from the user agent (transactions, dialog headers, retransmissions). */
export interface SipDialogSignalling {
  /** A response to the initial INVITE: 1xx, or the final one (a 2xx is retransmitted until its ACK). */
  respondToInvite(status: number, reason: string, options?: { sdp?: string; headers?: Record<string, string> }): void;
  /** A request inside the dialog (BYE, REFER); resolves with its final response (408 when none came). */
  request(method: string, options?: { headers?: Record<string, string>; body?: string; contentType?: string }): Promise<SipResponseSummary>;
  /** The dialog is over: the user agent forgets it (after lingering for retransmissions). */
  release(): void;
}

export interface InDialogRequest {
  method: string;
  contentType?: string;
  body: string;
  headers: { sessionTimer: SessionTimerRequest; event?: string; subscriptionState?: string };
}

export interface InDialogAnswer { status: number; reason: string; sdp?: string; headers?: Record<string, string> }

export interface SipCallOptions {
  callId: string;
  callerNumber?: string;
  sessionTimer: SessionTimerRequest;
  services: CallServices;
  media: CallMedia;
  signalling: SipDialogSignalling;
  logger: Logger;
  /** Where REFER sends a caller asking for a person (unset, or mode `bye`: hang up and let the PBX go on). */
  transferTarget?: string;
  answerDelayMs: number;
  sessionExpiresSeconds: number;
  /** This node's SIP URI, for Referred-By. */
  localUri: string;
}

type State = 'ringing' | 'answered' | 'confirmed' | 'ended';

export class SipCall {
  private state: State = 'ringing';
  private session: CallSession | null = null;
  private sessionTimer: NodeJS.Timeout | null = null;
  private answerTimer: NodeJS.Timeout | null = null;
  private pendingTransfer: { resolve(accepted: boolean): void } | null = null;
  private onHold = false;
  private readonly log: Logger;

  constructor(private readonly options: SipCallOptions) {
    this.log = options.logger;
  }

  get ended(): boolean { return this.state === 'ended'; }
  get callSession(): CallSession | null { return this.session; }

  /** Rings, then answers with the media plan; the session starts as the 200 goes out. */
  async answer(plan: MediaPlan): Promise<void> {
    const { signalling } = this.options;
    signalling.respondToInvite(180, 'Ringing');
    if (this.options.answerDelayMs > 0) {
      await new Promise<void>((resolve) => { this.answerTimer = setTimeout(resolve, this.options.answerDelayMs); });
      this.answerTimer = null;
    }
    if (this.state !== 'ringing') return; // cancelled while ringing
    try {
      this.session = await startCall({
        ...this.options.services,
        callId: this.options.callId,
        callerNumber: this.options.callerNumber,
        transportKind: 'sip',
        logger: this.log,
        transport: this.transport(),
      }, this.options.services);
    } catch (err) {
      this.log.error({ error: describeError(err) }, 'could not start the call pipeline');
      this.state = 'ended';
      signalling.respondToInvite(500, 'Server Internal Error');
      this.options.media.close();
      signalling.release();
      return;
    }
    if (this.state !== 'ringing') {
      // CANCEL won the race with the pipeline's start.
      await this.session.end('caller-hung-up');
      return;
    }
    const timer = negotiateSessionTimer(this.options.sessionTimer, this.options.sessionExpiresSeconds);
    this.state = 'answered';
    signalling.respondToInvite(200, 'OK', { sdp: plan.localSdp, headers: timer?.headers });
    if (timer) this.armSessionTimer(timer.intervalSeconds);
    this.options.media.start({
      onAudio: (samples, timestampMs) => this.session?.receiveAudio(samples, timestampMs),
      onDtmf: (digit) => this.session?.receiveDtmf(digit),
      onPlaybackReached: (name) => this.session?.playbackReached(name),
      onMediaTimeout: () => {
        this.log.warn('no RTP from the caller: hanging up');
        void this.hangUp('error');
      },
    });
  }

  /** The caller gave up before we answered (CANCEL): the INVITE ends 487. */
  cancel(): void {
    if (this.state !== 'ringing') return;
    this.state = 'ended';
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.options.signalling.respondToInvite(487, 'Request Terminated');
    this.options.media.close();
    this.options.signalling.release();
    this.log.info('call cancelled before it was answered');
  }

  /** The ACK for our 200 came; `answerSdp` when the INVITE had no offer (the answer rides on the ACK). */
  acknowledged(answerSdp: string | undefined): void {
    if (this.state !== 'answered') return;
    this.state = 'confirmed';
    if (answerSdp) {
      const problem = this.options.media.acceptAnswer(answerSdp);
      if (problem) {
        this.log.warn({ problem }, 'the SDP answer in the ACK is unusable: hanging up');
        void this.hangUp('error');
      }
    }
  }

  /** No ACK for our 200 after 64*T1: the caller never heard it (a wrong Contact or NAT). RFC 3261 13.3.1.4: BYE. */
  ackTimedOut(): void {
    if (this.state !== 'answered') return;
    this.log.warn('no ACK for the 200 OK: ending the call');
    void this.hangUp('error');
  }

  /** A request inside the dialog from the caller's side. */
  handleRequest(request: InDialogRequest): InDialogAnswer {
    switch (request.method) {
      case 'BYE':
        void this.remoteHangUp();
        return { status: 200, reason: 'OK' };
      case 'INVITE':
      case 'UPDATE':
        return this.renegotiate(request);
      case 'INFO': {
        const digit = digitFromInfo(request.contentType, request.body);
        if (digit) this.session?.receiveDtmf(digit);
        return { status: 200, reason: 'OK' };
      }
      case 'NOTIFY':
        if (request.headers.event?.toLowerCase().startsWith('refer')) this.transferProgress(request);
        return { status: 200, reason: 'OK' };
      case 'OPTIONS':
        return { status: 200, reason: 'OK' };
      default:
        return { status: 405, reason: 'Method Not Allowed' };
    }
  }

  /** Hold, resume, codec change or a session-timer refresh (re-INVITE or UPDATE). */
  private renegotiate(request: InDialogRequest): InDialogAnswer {
    if (this.state === 'ended') return { status: 481, reason: 'Call/Transaction Does Not Exist' };
    const timer = negotiateSessionTimer(request.headers.sessionTimer, this.options.sessionExpiresSeconds);
    if (timer) this.armSessionTimer(timer.intervalSeconds);
    const headers = timer?.headers;
    if (!request.body.trim()) {
      // A refresh without SDP (UPDATE), or a re-INVITE asking for our offer (the answer comes in its ACK).
      return { status: 200, reason: 'OK', sdp: request.method === 'INVITE' ? this.options.media.currentOffer() : undefined, headers };
    }
    const result = this.options.media.renegotiate(request.body);
    if ('problem' in result) {
      this.log.warn({ problem: result.problem }, 're-offer refused; the call goes on as it was');
      return { status: 488, reason: 'Not Acceptable Here', headers: { Warning: `304 carevox "${result.problem}"` } };
    }
    const onHold = result.direction === 'sendonly' || result.direction === 'inactive';
    if (onHold !== this.onHold) {
      this.onHold = onHold;
      this.log.info({ onHold }, onHold ? 'caller put the call on hold' : 'caller resumed the call');
    }
    return { status: 200, reason: 'OK', sdp: result.localSdp, headers };
  }

  private armSessionTimer(seconds: number): void {
    if (this.sessionTimer) clearTimeout(this.sessionTimer);
    // RFC 4028 10: without a refresh, BYE a little before the session expires (a third of it, at most 32 s).
    const marginMs = Math.min(32_000, (seconds * 1000) / 3);
    this.sessionTimer = setTimeout(() => {
      this.log.warn({ seconds }, 'session expired without a refresh: hanging up');
      void this.hangUp('error');
    }, seconds * 1000 - marginMs);
  }

  private transport(): CallTransport {
    const media = this.options.media;
    return {
      sendAudio: (samples) => media.sendAudio(samples),
      clearAudio: () => media.clear(),
      markPlayback: (name) => media.mark(name),
      ...(this.options.transferTarget ? { transfer: () => this.transfer(this.options.transferTarget!) } : {}),
      endCall: (outcome) => void this.hangUp(outcome),
    };
  }

  /**
   * REFER the caller to the front desk (RFC 3515). Accepted means the target answered (NOTIFY with a 2xx
   * sipfrag); refused, unsupported or no word within 10 s, and the call ends with BYE so the PBX's dialplan
   * goes on (3CX and others refuse REFER from a trunk, or want it authenticated).
   */
  private async transfer(target: string): Promise<boolean> {
    if (this.state === 'ended') return false;
    const response = await this.options.signalling.request('REFER', {
      headers: { 'Refer-To': `<${target}>`, 'Referred-By': `<${this.options.localUri}>` },
    });
    if (response.status < 200 || response.status >= 300) {
      this.log.warn({ status: response.status }, 'REFER refused: hanging up so the PBX can route the caller');
      return false;
    }
    const accepted = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.pendingTransfer = null; resolve(false); }, TRANSFER_NOTIFY_WAIT_MS);
      this.pendingTransfer = { resolve: (ok) => { clearTimeout(timer); this.pendingTransfer = null; resolve(ok); } };
    });
    this.log.info({ accepted }, 'transfer result');
    return accepted;
  }

  /** NOTIFY for our REFER: a sipfrag whose status line says how the transfer went (RFC 3515 2.4.5). */
  private transferProgress(request: InDialogRequest): void {
    const status = Number(/^SIP\/2\.0 (\d{3})/.exec(request.body.trim())?.[1] ?? 0);
    if (!this.pendingTransfer || status < 200) return;
    this.pendingTransfer.resolve(status < 300);
  }

  /** The caller hung up (BYE): end the session; nothing more to send. */
  private async remoteHangUp(): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.teardown();
    await this.session?.end('caller-hung-up');
    this.options.signalling.release();
  }

  /** We end the call: the session first (its outcome is recorded), then BYE. */
  async hangUp(outcome: CallOutcome): Promise<void> {
    if (this.state === 'ended') return;
    if (this.state === 'ringing') return this.cancel();
    this.state = 'ended';
    this.teardown();
    await this.session?.end(outcome);
    const response = await this.options.signalling.request('BYE');
    if (response.status >= 300) this.log.warn({ status: response.status }, 'BYE was not accepted');
    this.options.signalling.release();
  }

  private teardown(): void {
    if (this.sessionTimer) clearTimeout(this.sessionTimer);
    this.sessionTimer = null;
    this.pendingTransfer?.resolve(false);
    const stats = this.options.media.close();
    if (stats) {
      this.options.services.metrics.rtpCallStats(stats);
      this.log.info({ rtp: stats }, 'rtp summary');
    }
  }
}

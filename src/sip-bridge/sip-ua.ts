/**
 * The SIP user agent server that answers the clinic's PBX or trunk (RFC 3261), on SipTransportLayer.
 * It owns the transactions (retransmissions absorbed and answered again, non-2xx finals retransmitted until
 * ACK over UDP, our 2xx retransmitted until its ACK and a BYE when none comes, our own BYE/REFER retransmitted
 * until answered), decides who may call (SIP_ALLOW, or digest for trunks that authenticate), whether the node
 * takes the call (503 while draining or full, which also takes it out of a Kamailio dispatcher), and routes
 * each in-dialog request to its SipCall. Timers run on an injectable clock.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { CallServices } from '../media/start-call.js';
import type { SourceAllowList } from './allow-list.js';
import { callerNumberFrom } from './caller-id.js';
import type { DigestChallenger } from './digest.js';
import { CallMedia, type CallMediaOptions } from './media.js';
import { SipCall, type InDialogRequest, type SipDialogSignalling, type SipResponseSummary } from './sip-call.js';
import {
  buildRequest, buildResponse, header, headers, newBranch, newTag, parseCSeq, parseNameAddr, tagOf, topVia, uriHostPort,
  type SipMessage, type SipRequest, type SipResponse,
} from './sip-message.js';
import type { SipPeer, SipTransportLayer } from './sip-transport.js';
import type { SessionTimerRequest } from './session-timer.js';

export interface SipClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const realClock: SipClock = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

export const T1_MS = 500;
export const T2_MS = 4000;
const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY, REFER';
const SUPPORTED = 'timer, replaces';
/** Finished transactions linger this long to answer retransmissions (timer J / 64*T1). */
const LINGER_MS = 64 * T1_MS;

export interface SipUaOptions {
  services: CallServices;
  transport: () => SipTransportLayer;
  allowList: SourceAllowList;
  digest: DigestChallenger | null;
  media: Omit<CallMediaOptions, 'localAddress'>;
  /** Address for our Contact and SDP; default: the host the caller addressed (the Request-URI's). */
  publicAddress?: string;
  sipPort: number;
  transferTarget?: string;
  answerDelayMs: number;
  sessionExpiresSeconds: number;
  logger: Logger;
  clock?: SipClock;
}

interface ServerTransaction { lastResponse: SipResponse | null; peer: SipPeer; timers: unknown[]; call?: SipCall; request: SipRequest }

interface Dialog {
  call: SipCall;
  invite: SipRequest;
  peer: SipPeer;
  localTag: string;
  localCSeq: number;
  /** The INVITE's server transaction key, for CANCEL and the 2xx retransmissions. */
  inviteKey: string;
  ackWait: { timers: unknown[]; response: SipResponse } | null;
}

export class SipUserAgent {
  private readonly transactions = new Map<string, ServerTransaction>();
  private readonly dialogs = new Map<string, Dialog>();
  private readonly clients = new Map<string, (response: SipResponse) => void>();
  private readonly clock: SipClock;
  private readonly log: Logger;

  /** Every timer still pending, so closing the agent leaves none behind. */
  private readonly timers = new Set<unknown>();

  constructor(private options: SipUaOptions) {
    const clock = options.clock ?? realClock;
    this.clock = {
      setTimeout: (fn, ms) => {
        const handle: unknown = clock.setTimeout(() => { this.timers.delete(handle); fn(); }, ms);
        this.timers.add(handle);
        return handle;
      },
      clearTimeout: (handle) => { this.timers.delete(handle); clock.clearTimeout(handle); },
    };
    this.baseClock = clock;
    this.log = options.logger;
  }

  /** The clock the tracked one wraps (real timers, or a test's fake). */
  private readonly baseClock: SipClock;

  /** Stops every retransmission and linger timer (the transport is closing). */
  close(): void {
    for (const handle of this.timers) this.baseClock.clearTimeout(handle);
    this.timers.clear();
  }

  /** The port our Contact and Via name (known once the listener is bound). */
  setSipPort(port: number): void { this.options.sipPort = port; }

  get activeCalls(): number { return [...this.dialogs.values()].filter((d) => !d.call.ended).length; }
  calls(): SipCall[] { return [...this.dialogs.values()].map((d) => d.call).filter((c) => !c.ended); }

  received(message: SipMessage, peer: SipPeer): void {
    if (message.kind === 'response') {
      const branch = topVia(message)?.params.get('branch');
      if (branch) this.clients.get(`${branch}:${parseCSeq(message)?.method}`)?.(message);
      return;
    }
    const request = message;
    if (request.method === 'ACK') return this.ack(request);
    const key = transactionKey(request);
    const existing = this.transactions.get(key);
    if (existing) {
      // A retransmission: answer it again with what we last said (or say nothing yet, for a 100-less wait).
      if (existing.lastResponse) this.send(existing.lastResponse, existing.peer);
      return;
    }
    const tx: ServerTransaction = { lastResponse: null, peer, timers: [], request };
    this.transactions.set(key, tx);
    const maxForwards = header(request, 'max-forwards');
    if (maxForwards !== undefined && Number(maxForwards) <= 0 && request.method !== 'CANCEL') return this.respond(tx, 483, 'Too Many Hops');
    if (request.method === 'CANCEL') return this.cancel(request, tx);
    if (tagOf(header(request, 'to'))) return this.inDialog(request, tx);
    switch (request.method) {
      case 'INVITE': return void this.invite(request, tx);
      case 'OPTIONS': {
        // A node not taking calls says so to keep-alive probes, so a dispatcher stops sending it calls.
        const open = this.options.services.admission() === 'open';
        return this.respond(tx, open ? 200 : 503, open ? 'OK' : 'Service Unavailable', { headers: { Allow: ALLOW, Accept: 'application/sdp', Supported: SUPPORTED } });
      }
      case 'BYE':
      case 'INFO':
      case 'UPDATE':
      case 'NOTIFY':
      case 'REFER':
        return this.respond(tx, 481, 'Call/Transaction Does Not Exist');
      default:
        return this.respond(tx, 405, 'Method Not Allowed', { headers: { Allow: ALLOW } });
    }
  }

  private async invite(request: SipRequest, tx: ServerTransaction): Promise<void> {
    const { services } = this.options;
    this.respond(tx, 100, 'Trying');
    const refusal = this.authorize(request, tx.peer);
    if (refusal) {
      services.metrics.callRefused('sip', refusal.reason);
      if (refusal.reason !== 'auth-challenge') this.log.warn({ source: tx.peer.address, reason: refusal.reason }, 'SIP call refused');
      return this.respond(tx, refusal.status, refusal.text, { headers: refusal.headers, toTag: newTag() });
    }
    const admission = services.admission();
    if (admission !== 'open') {
      services.metrics.callRefused('sip', admission);
      return this.respond(tx, 503, 'Service Unavailable', { headers: { 'Retry-After': '5' }, toTag: newTag() });
    }
    const localAddress = this.localAddress(request);
    const media = await CallMedia.forInvite({ sdp: request.body.length ? request.body.toString('utf8') : undefined }, { ...this.options.media, localAddress })
      .catch((err: unknown) => ({ problem: 'no-port' as const, err }));
    if ('problem' in media) {
      services.metrics.callRefused('sip', media.problem);
      this.log.warn({ problem: media.problem }, 'SIP call refused: media');
      const [status, text] = media.problem === 'no-port' ? [503, 'Service Unavailable'] : [488, 'Not Acceptable Here'];
      return this.respond(tx, status, text, { toTag: newTag(), headers: { Warning: `304 carevox "${media.problem}"` } });
    }
    const callId = `sip-${randomUUID()}`;
    const dialog: Dialog = {
      invite: request, peer: tx.peer, localTag: newTag(), localCSeq: Math.floor(Math.random() * 10_000) + 1,
      inviteKey: transactionKey(request), ackWait: null, call: undefined as unknown as SipCall,
    };
    const sessionTimer: SessionTimerRequest = {
      sessionExpires: header(request, 'session-expires'), minSe: header(request, 'min-se'), supported: headers(request, 'supported'),
    };
    dialog.call = new SipCall({
      callId, callerNumber: callerNumberFrom({ pAssertedIdentity: headers(request, 'p-asserted-identity'), from: header(request, 'from') }),
      sessionTimer, services, media, signalling: this.signalling(dialog), transferTarget: this.options.transferTarget,
      answerDelayMs: this.options.answerDelayMs, sessionExpiresSeconds: this.options.sessionExpiresSeconds,
      localUri: `sip:carevox@${localAddress}:${this.options.sipPort}`,
      logger: services.logger.child({ transport: 'sip', callId }),
    });
    tx.call = dialog.call;
    this.dialogs.set(dialogKey(header(request, 'call-id')!, dialog.localTag), dialog);
    await dialog.call.answer(media.plan);
  }

  /** Allowed source, or a valid digest answer; otherwise the response that refuses (or challenges) it. */
  private authorize(request: SipRequest, peer: SipPeer): { status: number; text: string; reason: string; headers?: Record<string, string | string[]> } | null {
    if (this.options.allowList.allows(peer.address)) return null;
    const digest = this.options.digest;
    if (!digest) return { status: 403, text: 'Forbidden', reason: 'source-not-allowed' };
    const verdict = digest.verify(header(request, 'proxy-authorization') ?? header(request, 'authorization'), request.method);
    if (verdict.ok) return null;
    if (verdict.reason === 'missing' || verdict.reason === 'stale-nonce') {
      return { status: 407, text: 'Proxy Authentication Required', reason: 'auth-challenge', headers: { 'Proxy-Authenticate': digest.challenges(verdict.reason === 'stale-nonce') } };
    }
    return { status: 403, text: 'Forbidden', reason: `auth-${verdict.reason}` };
  }

  private cancel(request: SipRequest, tx: ServerTransaction): void {
    const invite = this.transactions.get(`${topVia(request)?.params.get('branch')}:INVITE`);
    if (!invite) return this.respond(tx, 481, 'Call/Transaction Does Not Exist');
    this.respond(tx, 200, 'OK');
    invite.call?.cancel(); // a no-op once answered: the 200 stands and the caller sends BYE
  }

  private ack(request: SipRequest): void {
    // The ACK of a 2xx is its own transaction (new branch), matched to the dialog; a non-2xx ACK ends its INVITE's.
    const dialog = this.dialogs.get(dialogKey(header(request, 'call-id') ?? '', tagOf(header(request, 'to')) ?? ''));
    if (dialog?.ackWait) {
      for (const t of dialog.ackWait.timers) this.clock.clearTimeout(t);
      dialog.ackWait = null;
      dialog.call.acknowledged(request.body.length ? request.body.toString('utf8') : undefined);
      return;
    }
    const tx = this.transactions.get(`${topVia(request)?.params.get('branch')}:INVITE`);
    if (tx) for (const t of tx.timers.splice(0)) this.clock.clearTimeout(t);
  }

  private inDialog(request: SipRequest, tx: ServerTransaction): void {
    const dialog = this.dialogs.get(dialogKey(header(request, 'call-id') ?? '', tagOf(header(request, 'to')) ?? ''));
    if (!dialog) return this.respond(tx, 481, 'Call/Transaction Does Not Exist');
    const input: InDialogRequest = {
      method: request.method, contentType: header(request, 'content-type'), body: request.body.toString('utf8'),
      headers: {
        sessionTimer: { sessionExpires: header(request, 'session-expires'), minSe: header(request, 'min-se'), supported: headers(request, 'supported') },
        event: header(request, 'event'), subscriptionState: header(request, 'subscription-state'),
      },
    };
    const answer = dialog.call.handleRequest(input);
    const contact: Record<string, string> = request.method === 'INVITE' || request.method === 'UPDATE' ? { Contact: this.contact(dialog) } : {};
    this.respond(tx, answer.status, answer.reason, { headers: { ...contact, ...answer.headers }, body: answer.sdp, toTag: dialog.localTag });
    if (request.method === 'INVITE' && answer.status === 200) this.retransmitUntilAck(dialog, tx.lastResponse!);
  }

  /** The call's signalling: responses to its INVITE and requests inside its dialog. */
  private signalling(dialog: Dialog): SipDialogSignalling {
    return {
      respondToInvite: (status, reason, options) => {
        const tx = this.transactions.get(dialog.inviteKey);
        if (!tx) return;
        const extra = status >= 200 && status < 300 ? { Contact: this.contact(dialog), Allow: ALLOW, Supported: SUPPORTED, ...options?.headers } : options?.headers;
        this.respond(tx, status, reason, { toTag: dialog.localTag, headers: extra, body: options?.sdp });
        if (status >= 200 && status < 300) this.retransmitUntilAck(dialog, tx.lastResponse!);
      },
      request: (method, options) => this.requestInDialog(dialog, method, options),
      release: () => {
        const key = dialogKey(header(dialog.invite, 'call-id')!, dialog.localTag);
        this.clock.setTimeout(() => this.dialogs.delete(key), LINGER_MS);
      },
    };
  }

  /** RFC 3261 13.3.1.4: our 2xx again at T1, 2T1 ... T2 until the ACK; after 64*T1 the call ends. */
  private retransmitUntilAck(dialog: Dialog, response: SipResponse): void {
    if (dialog.ackWait) for (const t of dialog.ackWait.timers) this.clock.clearTimeout(t);
    const wait: NonNullable<Dialog['ackWait']> = { timers: [], response };
    dialog.ackWait = wait;
    const reliable = dialog.peer.protocol !== 'udp';
    let interval = T1_MS;
    const again = () => {
      if (dialog.ackWait !== wait) return;
      this.send(response, dialog.peer);
      interval = Math.min(interval * 2, T2_MS);
      wait.timers.push(this.clock.setTimeout(again, interval));
    };
    if (!reliable) wait.timers.push(this.clock.setTimeout(again, interval));
    wait.timers.push(this.clock.setTimeout(() => {
      if (dialog.ackWait !== wait) return;
      for (const t of wait.timers) this.clock.clearTimeout(t);
      dialog.ackWait = null;
      dialog.call.ackTimedOut();
    }, 64 * T1_MS));
  }

  private requestInDialog(dialog: Dialog, method: string, options: { headers?: Record<string, string>; body?: string; contentType?: string } = {}): Promise<SipResponseSummary> {
    const invite = dialog.invite;
    const contact = parseNameAddr(headers(invite, 'contact')[0] ?? '')?.uri ?? parseNameAddr(header(invite, 'from')!)?.uri ?? invite.uri;
    // UAS route set: the INVITE's Record-Route in order (12.1.1); with none, back to where the INVITE came from.
    const routes = headers(invite, 'record-route');
    const branch = newBranch();
    const address = this.localAddress(invite);
    const proto = dialog.peer.protocol.toUpperCase();
    const request = buildRequest(method, contact, [
      ['via', `SIP/2.0/${proto} ${address}:${this.options.sipPort};branch=${branch};rport`],
      ['max-forwards', '70'],
      ['from', `${header(invite, 'to')!.replace(/;tag=[^;]*/, '')};tag=${dialog.localTag}`],
      ['to', header(invite, 'from')!],
      ['call-id', header(invite, 'call-id')!],
      ['cseq', `${++dialog.localCSeq} ${method}`],
      ...routes.map((r) => ['route', r] as [string, string]),
      ['contact', this.contact(dialog)],
      ['user-agent', 'carevox'],
      ...Object.entries(options.headers ?? {}).map(([k, v]) => [k, v] as [string, string]),
    ], options.body, options.contentType);
    const target = this.targetFor(routes[0], dialog.peer);
    return new Promise((resolve) => {
      const key = `${branch}:${method}`;
      const timers: unknown[] = [];
      const finish = (summary: SipResponseSummary) => {
        for (const t of timers) this.clock.clearTimeout(t);
        this.clients.delete(key);
        resolve(summary);
      };
      this.clients.set(key, (response) => {
        if (response.status >= 200) finish({ status: response.status, reason: response.reason });
        else for (const t of timers.splice(0, 1)) this.clock.clearTimeout(t); // a provisional stops retransmission (17.1.2.2)
      });
      let interval = T1_MS;
      const again = () => {
        this.send(request, target);
        interval = Math.min(interval * 2, T2_MS);
        if (target.protocol === 'udp') timers.unshift(this.clock.setTimeout(again, interval));
      };
      again();
      timers.push(this.clock.setTimeout(() => finish({ status: 408, reason: 'Request Timeout' }), 64 * T1_MS));
    });
  }

  /** Where an in-dialog request goes: the first Route when there is one, else the peer the INVITE came from. */
  private targetFor(route: string | undefined, peer: SipPeer): SipPeer {
    const uri = route ? parseNameAddr(route)?.uri : undefined;
    const hostPort = uri ? uriHostPort(uri) : null;
    if (!hostPort) return peer;
    const protocol = hostPort.transport === 'tcp' ? 'tcp' : hostPort.transport === 'tls' ? 'tls' : peer.protocol;
    return { protocol, address: hostPort.host, port: hostPort.port ?? (protocol === 'tls' ? 5061 : 5060) };
  }

  private respond(tx: ServerTransaction, status: number, reason: string, options: { headers?: Record<string, string | string[]>; body?: string; toTag?: string } = {}): void {
    const response = buildResponse(tx.request, status, reason, { toTag: status > 100 ? options.toTag : undefined, headers: options.headers, body: options.body });
    tx.lastResponse = response;
    this.send(response, tx.peer);
    if (status < 200) return;
    const key = transactionKey(tx.request);
    // A non-2xx final to an INVITE is retransmitted over UDP until its ACK (timer G), for at most 64*T1 (timer H).
    if (tx.request.method === 'INVITE' && status >= 300 && tx.peer.protocol === 'udp') {
      let interval = T1_MS;
      const again = () => {
        this.send(response, tx.peer);
        interval = Math.min(interval * 2, T2_MS);
        tx.timers.unshift(this.clock.setTimeout(again, interval));
      };
      tx.timers.push(this.clock.setTimeout(again, interval));
      tx.timers.push(this.clock.setTimeout(() => { for (const t of tx.timers.splice(0)) this.clock.clearTimeout(t); }, 64 * T1_MS));
    }
    this.clock.setTimeout(() => {
      for (const t of tx.timers) this.clock.clearTimeout(t);
      if (this.transactions.get(key) === tx) this.transactions.delete(key);
    }, LINGER_MS);
  }

  private send(message: SipMessage, peer: SipPeer): void {
    this.options.transport().send(message, peer);
  }

  private contact(dialog: Dialog): string {
    const transport = dialog.peer.protocol === 'udp' ? '' : `;transport=${dialog.peer.protocol}`;
    return `<sip:carevox@${this.localAddress(dialog.invite)}:${this.options.sipPort}${transport}>`;
  }

  /** The address peers reach us on: configured, or the host the caller addressed. */
  private localAddress(request: SipRequest): string {
    if (this.options.publicAddress) return this.options.publicAddress;
    const host = uriHostPort(request.uri)?.host;
    return host && /^[0-9.]+$|:/.test(host) ? host : '127.0.0.1';
  }
}

function transactionKey(request: SipRequest): string {
  const branch = topVia(request)?.params.get('branch') ?? `${header(request, 'call-id')}:${parseCSeq(request)?.seq}`;
  const method = request.method === 'ACK' ? 'INVITE' : request.method;
  return `${branch}:${method}`;
}

function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

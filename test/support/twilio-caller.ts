/**
 * A Twilio double: plays Twilio's side of a bidirectional Media Stream, as documented in
 * ../shared/notes/twilio-media-streams.md, against a real carevox server over a real WebSocket.
 *
 * - Dials by POSTing the voice webhook and following the TwiML's <Stream url> and <Parameter>s.
 * - Sends `connected`, `start`, then one 20 ms mu-law `media` frame every 20 ms, real-time paced, for the
 *   whole call (line noise between utterances, as a phone line does), with string-typed counters.
 * - Plays what the server sends in real time like Twilio's buffer: echoes each `mark` once the audio before
 *   it has played (at once if nothing is buffered), and on `clear` drops the buffer and echoes every pending mark.
 * Used by the integration tests and by bench/.
 */
import WebSocket from 'ws';
import { muLawEncode, muLawDecode } from '../../src/media/codec.js';
import {
  buildConnected, buildDtmf, buildMark, buildMedia, buildStart, buildStop,
} from '../../src/media/twilio/protocol.js';
import { computeTwilioSignature } from '../../src/media/twilio/signature.js';
import { until } from './until.js';

const FRAME_MS = 20;
const FRAME_SAMPLES = 160;

export interface DialOptions {
  /** http://127.0.0.1:PORT of the carevox server. */
  baseUrl: string;
  callSid?: string;
  from?: string;
  /** Signs the webhook like Twilio when the server has TWILIO_AUTH_TOKEN. */
  authToken?: string;
  /** Public host the server believes it is (for the signature URL); default the baseUrl's host. */
  publicHost?: string;
  /** Line-noise peak between utterances, linear PCM (0 = digital silence). The default, about -38 dBFS RMS,
   *  matches the noise mixed into the fixtures so the line does not change character when the caller speaks. */
  noiseLevel?: number;
  /** Override the `start` message's media format (protocol tests). */
  mediaFormat?: { encoding: string; sampleRate: number; channels: number };
  /** Replace the stream token (auth tests). */
  token?: string;
}

export interface ReceivedEvent { kind: 'media' | 'mark' | 'clear'; at: number; name?: string; bytes?: number }

type PlayItem = { kind: 'audio'; bytes: Uint8Array } | { kind: 'mark'; name: string };

let sidCounter = 0;
/** Twilio-shaped ids (prefix + 32 hex), unique within and across test processes. */
function uniqueSid(prefix: string): string {
  sidCounter++;
  return prefix + (process.pid.toString(16) + Date.now().toString(16) + sidCounter.toString(16).padStart(8, '0')).padStart(32, '0').slice(-32);
}

export class TwilioCaller {
  readonly callSid: string;
  readonly streamSid: string;
  /** Everything the server sent, in order, with arrival times (performance.now()). */
  readonly received: ReceivedEvent[] = [];
  /** Marks echoed back to the server, with whether their audio had played or was cleared. */
  readonly echoedMarks: { name: string; at: number; cleared: boolean }[] = [];
  /** Audio the caller heard (played before any clear), as PCM. */
  readonly heard: { at: number; samples: Int16Array }[] = [];
  closeCode: number | null = null;
  closeReason = '';

  private ws!: WebSocket;
  private seq = 1;
  private chunk = 1;
  private mediaTimestampMs = 0;
  private readonly sendQueue: Int16Array[] = [];
  private sendOffset = 0;
  private readonly playQueue: PlayItem[] = [];
  private ticker: NodeJS.Timeout | null = null;
  private tickStart = 0;
  private ticks = 0;
  private sendWaiters: { startsAfter: number; remaining: number; startedAt: number; resolve: () => void }[] = [];
  private closed = false;
  private readonly noiseLevel: number;

  private constructor(readonly options: DialOptions, readonly streamUrl: string, readonly parameters: Record<string, string>) {
    this.callSid = options.callSid ?? uniqueSid('CA');
    this.streamSid = uniqueSid('MZ');
    this.noiseLevel = options.noiseLevel ?? 700;
  }

  /** POSTs the voice webhook, then opens the stream the TwiML points at. */
  static async dial(options: DialOptions): Promise<TwilioCaller> {
    const callSid = options.callSid ?? uniqueSid('CA');
    const params = { CallSid: callSid, AccountSid: 'AC' + '0'.repeat(32), From: options.from ?? '+15551230000', To: '+15559870000', CallStatus: 'ringing', Direction: 'inbound' };
    const { twiml } = await postVoiceWebhook(options, params);
    const stream = parseStreamTwiml(twiml);
    const caller = new TwilioCaller({ ...options, callSid }, stream.url, stream.parameters);
    await caller.connect();
    return caller;
  }

  /**
   * Opens a stream for `callSid` with the given `<Parameter>`s, without dialling: what someone holding a
   * copy of a call's TwiML could send (replay and tampering tests).
   */
  static async openStream(options: DialOptions & { callSid: string; parameters: Record<string, string> }): Promise<TwilioCaller> {
    const caller = new TwilioCaller(options, 'wss://replayed/twilio/media', options.parameters);
    await caller.connect();
    return caller;
  }

  private async connect(): Promise<void> {
    // The TwiML says wss://PUBLIC_HOST/...; tests reach the same server over plain ws on loopback.
    const path = new URL(this.streamUrl).pathname;
    const wsUrl = this.options.baseUrl.replace(/^http/, 'ws') + path;
    this.ws = new WebSocket(wsUrl);
    this.ws.on('message', (data) => this.onServerMessage(data.toString()));
    this.ws.on('close', (code, reason) => { this.closeCode = code; this.closeReason = reason.toString(); this.stopTicker(); });
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.sendRaw(buildConnected());
    const parameters = { ...this.parameters };
    if (this.options.token !== undefined) parameters.token = this.options.token;
    this.sendRaw(buildStart({
      streamSid: this.streamSid, callSid: this.callSid, accountSid: 'AC' + '0'.repeat(32),
      customParameters: parameters, mediaFormat: this.options.mediaFormat, sequenceNumber: this.seq++,
    }));
    this.tickStart = performance.now();
    this.scheduleTick();
  }

  /**
   * Queues caller audio (8 kHz PCM); resolves once its last frame has been sent (real-time paced), with when
   * its first sample went out (`startedAt`, performance.now() ms; sample i was sent at startedAt + i/8).
   */
  say(samples: Int16Array): Promise<{ startedAt: number }> {
    const queuedBefore = this.sendQueue.reduce((n, s) => n + s.length, 0) - this.sendOffset;
    this.sendQueue.push(samples);
    return new Promise((resolve) => {
      const waiter = {
        startsAfter: queuedBefore, remaining: queuedBefore + samples.length, startedAt: Number.NaN,
        resolve: () => resolve({ startedAt: waiter.startedAt }),
      };
      this.sendWaiters.push(waiter);
    });
  }

  /** Waits `ms` of call time (line noise keeps flowing). */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  pressDigit(digit: string): void {
    this.sendRaw(buildDtmf({ streamSid: this.streamSid, sequenceNumber: this.seq++, digit }));
  }

  /** Sends a raw text or binary frame (malformed-input tests). */
  sendRaw(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Ends the call the way Twilio does when the caller hangs up. */
  async hangUp(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTicker();
    if (this.ws.readyState === WebSocket.OPEN) {
      this.sendRaw(buildStop({ streamSid: this.streamSid, sequenceNumber: this.seq++, accountSid: 'AC' + '0'.repeat(32), callSid: this.callSid }));
      this.ws.close(1000);
    }
    await this.waitClosed();
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket did not close')), timeoutMs);
      this.ws.once('close', () => { clearTimeout(timer); resolve(); });
    });
  }

  /** Resolves when `predicate` holds (checked on every server message and tick), or rejects after `timeoutMs`. */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    await until(what, predicate, timeoutMs);
  }

  /** Waits until nothing is left to play and no media came for `quietMs`: the bot finished what it was saying. */
  async waitForBotQuiet(quietMs = 400, timeoutMs = 60_000): Promise<void> {
    await this.waitFor('the bot to finish speaking', () => {
      const last = this.received.at(-1);
      return last !== undefined && this.bufferedMs === 0 && performance.now() - last.at > quietMs;
    }, timeoutMs);
  }

  /**
   * Keys in `digits` 120 ms apart, as a person does, then waits for the bot's answer to start. Like a caller who
   * knows the menus, the next key may cut that answer short (a key press always interrupts the bot).
   */
  async press(digits: string, timeoutMs = 30_000): Promise<void> {
    for (const digit of digits) {
      this.pressDigit(digit);
      await this.pause(120);
    }
    const from = this.received.length;
    await this.waitFor('the bot to answer', () => this.mediaCount(from) > 25, timeoutMs);
  }

  /** Media frames received since index `from` of `received`. */
  mediaCount(from = 0): number {
    let n = 0;
    for (let i = from; i < this.received.length; i++) if (this.received[i]!.kind === 'media') n++;
    return n;
  }

  /** Milliseconds of bot audio still buffered at "Twilio" (not yet played). */
  get bufferedMs(): number {
    let bytes = 0;
    for (const item of this.playQueue) if (item.kind === 'audio') bytes += item.bytes.length;
    return bytes / 8;
  }

  private onServerMessage(text: string): void {
    const at = performance.now();
    const message = JSON.parse(text) as { event: string; streamSid: string; media?: { payload: string }; mark?: { name: string } };
    if (message.streamSid !== this.streamSid) throw new Error(`server used streamSid ${message.streamSid}`);
    switch (message.event) {
      case 'media': {
        const bytes = new Uint8Array(Buffer.from(message.media!.payload, 'base64'));
        this.received.push({ kind: 'media', at, bytes: bytes.length });
        this.playQueue.push({ kind: 'audio', bytes });
        return;
      }
      case 'mark':
        this.received.push({ kind: 'mark', at, name: message.mark!.name });
        this.playQueue.push({ kind: 'mark', name: message.mark!.name });
        this.echoReadyMarks(false);
        return;
      case 'clear': {
        this.received.push({ kind: 'clear', at });
        const pending = this.playQueue.splice(0);
        for (const item of pending) if (item.kind === 'mark') this.echoMark(item.name, true);
        return;
      }
      default:
        throw new Error(`server sent unknown event ${message.event}`);
    }
  }

  private scheduleTick(): void {
    if (this.closed) return;
    this.ticks++;
    const due = this.tickStart + this.ticks * FRAME_MS;
    this.ticker = setTimeout(() => this.tick(), Math.max(0, due - performance.now()));
  }

  /** One 20 ms step: send a caller frame, play 20 ms of bot audio. */
  private tick(): void {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return;
    this.sendFrame(this.nextCallerFrame());
    this.playFrame();
    this.scheduleTick();
  }

  private nextCallerFrame(): Int16Array {
    const frame = new Int16Array(FRAME_SAMPLES);
    let filled = 0;
    while (filled < FRAME_SAMPLES && this.sendQueue.length > 0) {
      const current = this.sendQueue[0]!;
      const take = Math.min(FRAME_SAMPLES - filled, current.length - this.sendOffset);
      frame.set(current.subarray(this.sendOffset, this.sendOffset + take), filled);
      filled += take;
      this.sendOffset += take;
      if (this.sendOffset >= current.length) { this.sendQueue.shift(); this.sendOffset = 0; }
    }
    for (let i = filled; i < FRAME_SAMPLES; i++) frame[i] = Math.round((Math.random() * 2 - 1) * this.noiseLevel);
    const now = performance.now();
    for (const waiter of this.sendWaiters) {
      // The frame holding this utterance's first sample: sample 0 went out `startsAfter` samples into it.
      if (Number.isNaN(waiter.startedAt) && waiter.startsAfter < filled) waiter.startedAt = now + waiter.startsAfter / 8;
      waiter.startsAfter -= filled;
      waiter.remaining -= filled;
    }
    const done = this.sendWaiters.filter((w) => w.remaining <= 0);
    this.sendWaiters = this.sendWaiters.filter((w) => w.remaining > 0);
    for (const w of done) w.resolve();
    return frame;
  }

  private sendFrame(pcm: Int16Array): void {
    this.sendRaw(buildMedia({
      streamSid: this.streamSid, sequenceNumber: this.seq++, chunk: this.chunk++,
      timestampMs: this.mediaTimestampMs, payload: muLawEncode(pcm),
    }));
    this.mediaTimestampMs += FRAME_MS;
  }

  private playFrame(): void {
    let need = FRAME_SAMPLES;
    while (need > 0 && this.playQueue.length > 0) {
      const head = this.playQueue[0]!;
      if (head.kind === 'mark') break;
      const take = Math.min(need, head.bytes.length);
      this.heard.push({ at: performance.now(), samples: muLawDecode(head.bytes.subarray(0, take)) });
      need -= take;
      if (take === head.bytes.length) this.playQueue.shift();
      else head.bytes = head.bytes.subarray(take);
    }
    this.echoReadyMarks(false);
  }

  /** Echoes marks that reached the head of the play queue (all audio before them has played). */
  private echoReadyMarks(cleared: boolean): void {
    while (this.playQueue.length > 0 && this.playQueue[0]!.kind === 'mark') {
      const mark = this.playQueue.shift() as { kind: 'mark'; name: string };
      this.echoMark(mark.name, cleared);
    }
  }

  private echoMark(name: string, cleared: boolean): void {
    this.echoedMarks.push({ name, at: performance.now(), cleared });
    this.sendRaw(buildMark({ streamSid: this.streamSid, sequenceNumber: this.seq++, name }));
  }

  private stopTicker(): void {
    if (this.ticker) clearTimeout(this.ticker);
    this.ticker = null;
    this.closed = true;
    for (const w of this.sendWaiters.splice(0)) w.resolve();
  }
}

export async function postVoiceWebhook(options: DialOptions, params: Record<string, string>): Promise<{ status: number; twiml: string }> {
  const url = `${options.baseUrl}/twilio/voice`;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (options.authToken) {
    const host = options.publicHost ?? new URL(options.baseUrl).host;
    headers['x-twilio-signature'] = computeTwilioSignature(options.authToken, `https://${host}/twilio/voice`, params);
  }
  const response = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  const twiml = await response.text();
  if (response.status !== 200) throw new Error(`voice webhook answered ${response.status}: ${twiml}`);
  return { status: response.status, twiml };
}

/**
 * Twilio's request to the after-stream URL once the stream has ended: the TwiML it answers (anything but a 200
 * throws). Twilio waits 15 s at most for it, so a slower answer fails too.
 */
export async function postAfterStream(baseUrl: string, callSid: string): Promise<string> {
  const response = await fetch(`${baseUrl}/twilio/after-stream`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ CallSid: callSid, CallStatus: 'in-progress' }).toString(), signal: AbortSignal.timeout(15_000),
  });
  const twiml = await response.text();
  if (response.status !== 200) throw new Error(`after-stream answered ${response.status}: ${twiml}`);
  return twiml;
}

/** Extracts <Stream url> and its <Parameter>s from TwiML (the double reads what Twilio would). */
export function parseStreamTwiml(twiml: string): { url: string; parameters: Record<string, string> } {
  const url = /<Stream\b[^>]*\burl="([^"]+)"/.exec(twiml)?.[1];
  if (!url) throw new Error(`no <Stream url> in TwiML: ${twiml}`);
  const parameters: Record<string, string> = {};
  for (const m of twiml.matchAll(/<Parameter\b[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"/g)) {
    parameters[unescapeXml(m[1]!)] = unescapeXml(m[2]!);
  }
  return { url: unescapeXml(url), parameters };
}

function unescapeXml(text: string): string {
  return text.replace(/&(#(\d+)|amp|lt|gt|quot|apos);/g, (_m, entity: string, code?: string) => {
    if (code) return String.fromCharCode(Number(code));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[entity]!;
  });
}

/**
 * Plays Asterisk's side of an AudioSocket call over a real TCP connection: the UUID first, then a frame of
 * 8 kHz slin every 20 ms (silence between utterances, as a live channel does), DTMF frames and a hangup.
 * Records each audio frame carevox sends with its arrival time.
 */
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { AudioSocketReader, audioFrame, dtmfFrame, hangupFrame, uuidFrame } from '../../src/sip-bridge/audiosocket/protocol.js';
import { until } from './until.js';

const FRAME_SAMPLES = 160;

export interface ReceivedAudio { at: number; samples: Int16Array }

export class AudioSocketCaller {
  readonly received: ReceivedAudio[] = [];
  hungUpByServer = false;
  closed = false;
  private readonly reader = new AudioSocketReader();
  private speech: Int16Array[] = [];
  private timer: NodeJS.Timeout | null = null;
  private nextAt = performance.now();

  private constructor(private readonly socket: Socket, readonly uuid: string) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk).frames) {
        if (frame.kind === 'audio') this.received.push({ at: performance.now(), samples: frame.samples });
        if (frame.kind === 'hangup') this.hungUpByServer = true;
      }
    });
    socket.on('close', () => { this.closed = true; this.stopClock(); });
    socket.on('error', () => undefined);
  }

  static async dial(port: number, uuid = randomUUID()): Promise<AudioSocketCaller> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const caller = new AudioSocketCaller(socket, uuid);
    socket.write(uuidFrame(uuid));
    caller.tick();
    return caller;
  }

  /** Queues an utterance: sent in real time, 20 ms per frame, after what is already queued. */
  say(samples: Int16Array): void {
    for (let offset = 0; offset < samples.length; offset += FRAME_SAMPLES) {
      const frame = new Int16Array(FRAME_SAMPLES);
      frame.set(samples.subarray(offset, Math.min(offset + FRAME_SAMPLES, samples.length)));
      this.speech.push(frame);
    }
  }

  get speaking(): boolean { return this.speech.length > 0; }

  pressDigit(digit: string): void {
    this.socket.write(dtmfFrame(digit));
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  async hangUp(): Promise<void> {
    this.stopClock();
    if (!this.socket.destroyed) this.socket.end(hangupFrame());
    await this.waitFor('the connection to close', () => this.closed, 5000);
  }

  /** Frames received from `from` on that carry sound (not silence). */
  audibleFrames(from = 0): number {
    return this.received.slice(from).filter((f) => rms(f.samples) > 100).length;
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    await until(what, predicate, timeoutMs);
  }

  /** Waits until no audible frame has arrived for `quietMs`. */
  async waitForBotQuiet(quietMs = 400, timeoutMs = 60_000): Promise<void> {
    await this.waitFor('the bot to go quiet', () => {
      const audible = this.received.filter((f) => rms(f.samples) > 100);
      const last = audible[audible.length - 1];
      return last !== undefined && performance.now() - last.at > quietMs;
    }, timeoutMs);
  }

  /** One frame per 20 ms on a deadline clock, like a live Asterisk channel. */
  private tick(): void {
    if (this.socket.destroyed) return;
    this.socket.write(audioFrame(this.speech.shift() ?? new Int16Array(FRAME_SAMPLES)));
    this.nextAt += 20;
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.nextAt - performance.now()));
  }

  private stopClock(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

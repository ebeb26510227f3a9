/**
 * One turn's output: what the bot says and does in answer to one input, streamed as it is decided.
 */
import { ActionChannel } from '../channel.js';
import type { DialogAction } from '../types.js';
import type { Said } from './node.js';

const CONFIRMED = Promise.resolve(true);

export class Turn {
  /** A turn says at most one filler, however many slow requests it makes. */
  fillerSaid = false;

  /**
   * `confirmed`: resolves true once the caller's turn is theirs for good, false if they went on (a tentative
   * turn). Nothing irreversible (an EMR request) happens before it resolves.
   */
  constructor(
    readonly channel: ActionChannel, readonly signal: AbortSignal, private readonly onSay: (text: string) => void,
    readonly confirmed: Promise<boolean> = CONFIRMED,
  ) {}

  say(said: Said | string, cacheable = false): void {
    const action = typeof said === 'string' ? { text: said, cacheable } : said;
    if (!action.text) return;
    this.onSay(action.text);
    this.channel.push({ type: 'say', text: action.text, cacheable: action.cacheable });
  }

  act(action: DialogAction): void {
    this.channel.push(action);
  }
}

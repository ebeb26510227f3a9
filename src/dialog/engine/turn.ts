/**
 * One turn's output: what the bot says and does in answer to one input, streamed as it is decided.
 */
import { ActionChannel } from '../channel.js';
import type { DialogAction } from '../types.js';
import type { Said } from './node.js';

export class Turn {
  /** A turn says at most one filler, however many slow requests it makes. */
  fillerSaid = false;

  constructor(readonly channel: ActionChannel, readonly signal: AbortSignal, private readonly onSay: (text: string) => void) {}

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

/**
 * The dialog engine: one session per call. It takes each input in turn and routes it:
 *   1. emergency words, at any moment -> 911 / crisis guidance (flows/emergency);
 *   2. global commands (operator, repeat, help, go back, start over), by voice or key 0 * #;
 *   3. the current node's reader (speech or keys), whose answer goes to the node's one transition;
 *   4. the language model, where the node allows it;
 *   5. escalation: rephrase -> keypad menu -> a person, never a fourth time round.
 * The flows (../flows/) hold the questions; this file holds what is true of every question.
 *
 * Keypad map (every menu is also spoken): main menu 1 book, 2 my appointments, 3 reschedule, 4 cancel,
 * 5 refill, 6 message, 7 hours and location; in every menu 0 front desk, * go back, # repeat; yes/no questions
 * 1 yes, 2 no; entries end with # or when complete: date of birth MMDDYYYY (or MMDDYY), phone number (10
 * digits), a date MMDD; * inside an entry goes back; a # right after an entry completed by itself is swallowed.
 */
import type { Logger } from '../../log.js';
import type { EmrGateway, Patient } from '../../emr/types.js';
import { ActionChannel } from '../channel.js';
import type { ClinicConfig } from '../clinic.js';
import { zonedParts } from '../clock.js';
import { assessByKind, type AnswerState } from '../expectations.js';
import type { LanguageModelAssist } from '../llm.js';
import { detectEmergency, detectGlobalCommand, normalize, type GlobalCommand, type Intent } from '../nlu.js';
import { renderPrompt, type PromptKey } from '../prompts.js';
import type { AnswerExpectation, DialogAction, DialogContext, DialogInput, DialogSession } from '../types.js';
import { NODES, continueTask, emergencyGuidance, startIntent, withPatient } from '../flows/index.js';
import { askAssist, type AssistView } from './assist.js';
import { CallState } from './call-state.js';
import { timeBoxed, withFiller } from './emr-access.js';
import type { AnyNode, Dialog, EmrResult, NodeId, Said } from './node.js';
import { Turn } from './turn.js';

export interface SessionSettings {
  clinic: ClinicConfig;
  emr: EmrGateway;
  releaseEmr?: () => void;
  now: () => Date;
  fillerAfterMs: number;
  emrTimeoutMs: number;
  assist?: LanguageModelAssist;
  logger?: Logger;
}

/** Placeholders whose values come from the clinic config alone (the same on every call). */
const CONFIG_VALUES: ReadonlySet<string> = new Set(['clinic', 'types', 'providers', 'hours', 'address']);
const MAX_FAILURES = 3;
/** Longest utterance in a free-text node still read as a global command ("operator please"). */
const COMMAND_WORDS_IN_FREE_TEXT = 4;

/** Thrown inside a withdrawn tentative turn at the point it would have reached the EMR: the turn goes no further. */
class TurnWithdrawn extends Error {
  constructor() {
    super('the caller went on: this tentative turn was withdrawn');
    this.name = 'TurnWithdrawn';
  }
}

export class ReceptionistSession implements DialogSession, Dialog {
  readonly clinic: ClinicConfig;
  readonly emr: EmrGateway;
  readonly call: CallState;
  readonly log: Logger | undefined;
  readonly callId: string;
  private readonly assist: LanguageModelAssist | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private current: NodeId = 'main';
  private history: NodeId[] = [];
  private failures = 0;
  private lastPrompt: Said[] = [];
  /** Counts questions asked, so later stages can tell a new question from the same one published again. */
  private questionSeq = 0;
  private keypad = false;
  private speechUnavailable = false;
  /** Digits of the keypad entry being typed. */
  private digits = '';
  /** The last entry completed by itself (its length): a # pressed next is the caller's habit, not a command. */
  private autoCompleted = false;
  private turn!: Turn;

  /** Recent exchange for the language model (kept short; never logged). */
  private transcript: Array<{ role: 'caller' | 'assistant'; text: string }> = [];

  constructor(private readonly settings: SessionSettings, context: DialogContext) {
    this.clinic = settings.clinic;
    this.emr = settings.emr;
    this.assist = settings.assist;
    this.callId = context.callId;
    // Every dialog line says which call it is about, never what was said.
    this.log = settings.logger?.child({ callId: context.callId });
    this.call = new CallState(context.callerNumber);
    this.speechUnavailable = context.speechAvailable === false;
  }

  get node(): NodeId { return this.current; }

  /** The question on the table; input is only handled while the call has not ended (see `handle`). */
  private get currentNode(): AnyNode {
    return NODES[this.current as Exclude<NodeId, 'ended'>];
  }
  get keypadMode(): boolean { return this.keypad; }

  readonly undoesTentativeTurns = true;

  respond(input: DialogInput, signal: AbortSignal, tentative?: Promise<boolean>): AsyncIterable<DialogAction> {
    const channel = new ActionChannel();
    const turn = new Turn(channel, signal, (text) => this.remember('assistant', text), tentative);
    // Turns run one after another so a late EMR answer never races the next input (nor a withdrawn turn's undo).
    this.queue = this.queue.then(async () => {
      const undo = tentative ? this.checkpoint() : undefined;
      this.turn = turn;
      try {
        await this.handle(input);
      } catch (err) {
        // A withdrawn turn stops at its first EMR request; it is undone below, never recovered from.
        if (!(err instanceof TurnWithdrawn)) this.recover(err);
      } finally {
        channel.close();
      }
      if (undo && !(await tentative)) undo();
    });
    return channel.read(signal);
  }

  /** Everything one input may change, and how to put it back, once (a tentative turn the caller withdrew). */
  private checkpoint(): () => void {
    const saved = {
      current: this.current, history: [...this.history], failures: this.failures, lastPrompt: this.lastPrompt,
      questionSeq: this.questionSeq, keypad: this.keypad, speechUnavailable: this.speechUnavailable,
      digits: this.digits, autoCompleted: this.autoCompleted,
      transcript: this.transcript.map((entry) => ({ ...entry })),
    };
    const restoreCall = this.call.checkpoint();
    return () => {
      if (this.closed) return;
      Object.assign(this, saved);
      restoreCall();
    };
  }

  close(): void {
    this.closed = true;
    this.current = 'ended';
    this.transcript = [];
    this.settings.releaseEmr?.();
  }

  /** The question on the table and how to judge a partial answer to it (for turn-taking). */
  expectation(): AnswerExpectation | undefined {
    if (this.current === 'ended' || this.closed) return undefined;
    const node = NODES[this.current];
    const expects = node.expects(this);
    const keys = node.keys;
    return {
      ...expects,
      node: node.id,
      question: this.questionSeq,
      assess: (text) => this.assess(node, text),
      keypadEntry: keys?.kind === 'entry'
        ? { complete: (digits) => keys.complete(digits), opensOn: (digit) => keys.opensOn?.(digit) ?? /^\d$/.test(digit) }
        : undefined,
    };
  }

  private assess(node: AnyNode, raw: string): AnswerState {
    const text = normalize(raw);
    if (!text) return 'not-an-answer';
    // Emergencies and commands never wait for more words.
    if (detectEmergency(text) || this.globalCommandIn(text, node)) return 'complete';
    const byKind = assessByKind(node.expects(this), text, { today: this.today() });
    if (byKind === 'incomplete') return byKind;
    return node.hear(text, this) !== undefined ? 'complete' : byKind;
  }

  // ---- the Dialog interface used by flows ------------------------------------------------------------

  now(): Date { return this.settings.now(); }

  today(): string {
    return zonedParts(this.settings.now(), this.clinic.timezone).date;
  }

  p(key: PromptKey, values: Record<string, string> = {}): Said {
    const cacheable = Object.keys(values).every((name) => CONFIG_VALUES.has(name));
    return { text: renderPrompt(key, this.clinic.prompts, { clinic: this.clinic.name, ...values }), cacheable };
  }

  say(said: Said | string): void {
    this.turn.say(said);
  }

  goto(node: Exclude<NodeId, 'ended'>, instead?: Said[]): void {
    this.setNode(node);
    this.failures = 0;
    if (instead) this.ask(instead);
    else this.prompt(node);
  }

  ask(said: Said[]): void {
    this.lastPrompt = said;
    this.questionSeq++;
    for (const s of said) this.turn.say(s);
  }

  forgetHistory(): void {
    this.history = [];
  }

  noMatch(): void {
    this.escalate('notUnderstood');
  }

  transfer(reason: string, promptKey: 'transfer' | 'transferAfterTrouble' = 'transfer'): void {
    this.turn.say(this.p(promptKey));
    this.turn.act({ type: 'transfer', reason });
    this.end();
    this.log?.info({ reason }, 'dialog transfer');
  }

  hangup(): void {
    this.turn.say(this.p('goodbye'));
    this.turn.act({ type: 'hangup', reason: 'completed' });
    this.end();
  }

  end(): void {
    this.current = 'ended';
  }

  async emrCall<T>(request: () => Promise<T>, filler: PromptKey = 'filler'): Promise<EmrResult<T>> {
    // A tentative turn reaches the EMR only once it is the caller's for good; a withdrawn one stops here.
    if (!(await this.turn.confirmed)) throw new TurnWithdrawn();
    return this.awaitWithFiller(timeBoxed(request, this.settings.emrTimeoutMs, this.log), filler);
  }

  awaitWithFiller<T>(pending: Promise<T>, filler: PromptKey = 'filler'): Promise<T> {
    const turn = this.turn;
    return withFiller(pending, this.settings.fillerAfterMs, () => {
      if (turn.fillerSaid) return;
      turn.fillerSaid = true;
      turn.say(this.p(filler));
    });
  }

  emrFailed(): void {
    this.turn.say(this.p('emrDown'));
    // Where a message is all that is left (or already failed), a person is the only honest fallback.
    if (this.current === 'emr-fallback' || this.call.task === 'message' || this.call.task === 'refill') {
      return this.transfer('emr-unavailable');
    }
    this.history = [];
    this.goto('emr-fallback');
  }

  startIntent(intent: Intent, text: string, fromKeypad = false): Promise<void> {
    return startIntent(intent, text, this, fromKeypad);
  }

  continueTask(): Promise<void> {
    return continueTask(this);
  }

  withPatient(then: (patient: Patient) => Promise<void>): Promise<void> {
    return withPatient(this, then);
  }

  // ---- input dispatch ------------------------------------------------------------------------------------

  private async handle(input: DialogInput): Promise<void> {
    if (this.closed || this.current === 'ended') return;
    switch (input.type) {
      case 'call-start': return this.start(input.callerNumber);
      case 'speech-unavailable': return this.onSpeechUnavailable();
      // The caller cut in: wait for what they say rather than replaying the prompt.
      case 'interrupted': return;
      case 'no-input': return this.onSilence();
      case 'dtmf': return this.onDigit(input.digit);
      case 'utterance': return this.onUtterance(input.text);
    }
  }

  private recover(err: unknown): void {
    // The error's name only: a message could quote what the caller said.
    this.log?.error({ errorName: err instanceof Error ? err.name : typeof err, node: this.current }, 'dialog turn failed; transferring');
    if (this.current === 'ended') return;
    this.transfer('dialog-error');
  }

  private start(callerNumber: string | undefined): void {
    this.call.callerNumber = callerNumber ?? this.call.callerNumber;
    // Prefetch by caller ID in the background: the greeting never waits on the EMR.
    const number = this.call.callerNumber;
    if (number) this.call.callerLookup = timeBoxed(() => this.emr.findPatientsByPhone(number), this.settings.emrTimeoutMs, this.log);
    this.turn.say(this.p('greeting'));
    if (this.speechUnavailable) {
      // No recognizer on this line: say so once, up front, and go straight to the keypad menus.
      this.keypad = true;
      this.turn.say(this.p('keypadOnly'));
    }
    this.goto('main');
  }

  private onSpeechUnavailable(): void {
    const first = !this.speechUnavailable;
    this.speechUnavailable = true;
    this.keypad = true;
    this.turn.say(this.p(first ? 'keypadOnly' : 'keypadNudge'));
    this.prompt(this.current);
  }

  private async onUtterance(raw: string): Promise<void> {
    const text = normalize(raw);
    if (!this.speechUnavailable) this.keypad = false;
    this.autoCompleted = false;
    if (text) this.remember('caller', text);
    if (!text) return this.noMatch();
    const emergency = detectEmergency(text);
    if (emergency) return emergencyGuidance(emergency, this);
    const node = this.currentNode;
    const command = this.globalCommandIn(text, node);
    if (command) return this.command(command);
    const answer = node.hear(text, this);
    if (answer !== undefined) return node.next(answer, this);
    if (this.assist && node.assist) {
      const handled = await askAssist(this.assist, this.assistView(), text, this.turn);
      if (handled) return;
    }
    return this.noMatch();
  }

  private globalCommandIn(text: string, node: AnyNode): GlobalCommand | undefined {
    if (node.freeText && text.split(' ').length > COMMAND_WORDS_IN_FREE_TEXT) return undefined;
    return detectGlobalCommand(text);
  }

  private async onDigit(digit: string): Promise<void> {
    if (!/^[0-9*#]$/.test(digit)) return;
    this.keypad = true;
    const node = this.currentNode;
    const keys = node.keys;
    const swallowPound = this.autoCompleted && digit === '#' && this.digits === '';
    this.autoCompleted = false;
    if (swallowPound) return; // the pound the prompt asked for, after an entry that completed by itself
    if (keys?.kind === 'entry' && (this.digits !== '' || (keys.opensOn?.(digit) ?? true))) {
      if (digit === '*') return this.back();
      if (digit !== '#') this.digits += digit;
      if (digit !== '#' && !keys.complete(this.digits)) return;
      const entered = this.digits;
      this.digits = '';
      this.autoCompleted = digit !== '#';
      return this.submitEntry(node, entered);
    }
    if (digit === '0') return this.transfer('caller-asked');
    if (digit === '*') return this.back();
    if (digit === '#') return this.repeat();
    const answer = keys?.kind === 'key' ? keys.read(Number(digit), this) : undefined;
    if (answer === undefined) return this.noMatch();
    return node.next(answer, this);
  }

  private async submitEntry(node: AnyNode, entered: string): Promise<void> {
    const answer = node.keys?.kind === 'entry' ? node.keys.read(entered, this) : undefined;
    if (answer === undefined) return this.noMatch();
    return node.next(answer, this);
  }

  command(command: GlobalCommand): void {
    switch (command) {
      case 'operator': return this.transfer('caller-asked');
      case 'repeat': return this.repeat();
      case 'help': return this.help();
      case 'back': return this.back();
      case 'main-menu':
        this.call.resetTask();
        this.history = [];
        return this.goto('main');
    }
  }

  // ---- escalation, navigation ----------------------------------------------------------------------------

  private async onSilence(): Promise<void> {
    const node = this.currentNode;
    if (node.onSilence) return node.onSilence(this);
    if (this.digits !== '') {
      // The caller stopped typing without pound: take what they entered.
      const entered = this.digits;
      this.digits = '';
      return this.submitEntry(node, entered);
    }
    this.escalate('silence');
  }

  /** rephrase -> keypad menu -> transfer; never a fourth time round. */
  private escalate(opener: 'silence' | 'notUnderstood'): void {
    const node = this.currentNode;
    this.failures++;
    if (this.failures >= MAX_FAILURES) return this.transfer('no-match', 'transferAfterTrouble');
    if (this.failures === 1) {
      if (opener === 'notUnderstood' && node.notUnderstood) return this.ask([this.p(node.notUnderstood)]);
      this.turn.say(this.p(opener));
      this.ask(this.keypad ? node.keypadPrompt(this) : (node.reprompt ?? node.speechPrompt)(this));
      return;
    }
    this.turn.say(this.p(opener));
    this.ask([...node.keypadPrompt(this), this.p('keypadNavigation')]);
  }

  private repeat(): void {
    if (this.lastPrompt.length === 0) return this.prompt(this.current);
    for (const said of this.lastPrompt) this.turn.say(said);
  }

  private help(): void {
    const node = this.currentNode;
    this.ask([...node.keypadPrompt(this), this.p('keypadNavigation')]);
  }

  private back(): void {
    const previous = this.history.pop();
    this.digits = '';
    if (!previous || previous === 'main') {
      this.call.resetTask();
      this.history = [];
    }
    this.setNode(previous ?? 'main', false);
    this.prompt(this.current);
  }

  private setNode(node: NodeId, remember = true): void {
    const leaving = this.current;
    const revisitable = leaving !== 'ended' && !NODES[leaving].leftBehind?.(this);
    if (remember && revisitable && leaving !== node && !this.history.includes(node)) this.history.push(leaving);
    if (this.history.includes(node)) this.history = this.history.slice(0, this.history.indexOf(node));
    if (leaving !== node) this.failures = 0;
    this.current = node;
    this.digits = '';
  }

  private prompt(node: NodeId): void {
    if (node === 'ended') return;
    const spec = NODES[node];
    this.ask(this.keypad ? spec.keypadPrompt(this) : spec.speechPrompt(this));
  }

  // ---- language model ------------------------------------------------------------------------------------

  private remember(role: 'caller' | 'assistant', text: string): void {
    if (!this.assist) return;
    const last = this.transcript[this.transcript.length - 1];
    if (last && last.role === role) last.text = `${last.text} ${text}`;
    else this.transcript.push({ role, text });
    if (this.transcript.length > 12) this.transcript.splice(0, this.transcript.length - 12);
  }

  /** What the model sees of the call, and how its answer becomes the question on the table. */
  private assistView(): AssistView {
    return {
      dialog: this as Dialog,
      lastPrompt: this.lastPrompt.map((s) => s.text).join(' '),
      history: this.transcript.slice(0, -1),
      fillerAfterMs: this.settings.fillerAfterMs,
      /** The model asked or answered in its own words: that is the question now. */
      onModelSpoke: (sentences: string[]) => {
        this.failures = 0;
        this.lastPrompt = sentences.map((text) => ({ text, cacheable: false }));
      },
      onModelActed: () => { this.failures = 0; },
      repromptHere: () => this.prompt(this.current),
    };
  }
}

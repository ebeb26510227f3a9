/**
 * The rule-based clinic receptionist: a small state machine over "nodes" (one question each). Every node
 * has a spoken prompt, a keypad prompt and handlers for speech and digits; emergencies and the global
 * commands (repeat, help, go back, operator) are checked before any node sees the input.
 *
 * Keypad map (every menu is also spoken): main menu 1 book, 2 my appointments, 3 reschedule, 4 cancel,
 * 5 refill, 6 message, 7 hours and location; in every menu 0 front desk, * go back, # repeat; yes/no questions
 * 1 yes, 2 no; entries end with # or when complete: date of birth MMDDYYYY (or MMDDYY), phone number (10
 * digits), a date MMDD; * inside an entry goes back.
 */
import type { Logger } from '../log.js';
import { EmrError, type Appointment, type EmrGateway, type Patient, type Slot } from '../emr/types.js';
import { ActionChannel } from './channel.js';
import { describeHours, type ClinicConfig, type ProviderConfig } from './clinic.js';
import { addDays, speakDate, speakTime, weekdayOf, WEEKDAYS, WEEKDAY_NAMES, zonedParts } from './clock.js';
import { keypadDate, pickOffers, splitNameAndDob, timeWindow, withArticle } from './helpers.js';
import { parseDob, parseSpokenDate, type WhenPreference } from './dates.js';
import {
  afterYesNo, detectEmergency, detectGlobalCommand, detectIntent, isNoPreference, matchNamed, normalize, parseName,
  parseOrdinalPick, parseYesNo, wantsOtherTimes, type EmergencyKind, type GlobalCommand, type Intent, type Named,
} from './nlu.js';
import { spokenDigits } from './numbers.js';
import { renderPrompt, type PromptKey } from './prompts.js';
import { createLlmAssist, type AssistToolCall, type LanguageModelAssist, type LlmOptions } from './llm.js';
import type { DialogAction, DialogContext, DialogInput, DialogPolicy, DialogSession } from './types.js';

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

export type NodeId =
  | 'main' | 'anything-else' | 'emergency-offer' | 'emr-fallback' | 'offer-book'
  | 'id-dob' | 'id-name' | 'id-phone'
  | 'book-type' | 'book-provider' | 'book-when' | 'book-date' | 'book-offers' | 'book-confirm'
  | 'pick-appointment' | 'cancel-confirm'
  | 'refill-med' | 'refill-pharmacy' | 'refill-confirm'
  | 'message-body' | 'message-confirm'
  | 'ended';

type Task = 'book' | 'list' | 'reschedule' | 'cancel' | 'refill' | 'message';

interface Said { text: string; cacheable: boolean }

type EmrResult<T> = { ok: true; value: T } | { ok: false; code: EmrError['code'] };

/** Digit-entry nodes collect several keys before acting; every other node acts on one key. */
const DIGIT_ENTRY: Partial<Record<NodeId, { length: number }>> = {
  'id-dob': { length: 8 },
  'id-phone': { length: 10 },
  'book-date': { length: 4 },
};

/** Free-text nodes: only short utterances can be global commands ("operator"), so a message may say "someone". */
const FREE_TEXT: ReadonlySet<NodeId> = new Set(['message-body', 'refill-med', 'refill-pharmacy']);

/**
 * Where the language model may help. Never in confirmations, identification or the emergency offer: there only
 * the caller's explicit answer, read by the rules, moves the call on.
 */
const ASSIST_NODES: ReadonlySet<NodeId> = new Set(['main', 'anything-else', 'emr-fallback', 'book-type', 'book-provider', 'book-when', 'book-offers']);

/** Placeholders whose values come from the clinic config alone (the same on every call). */
const CONFIG_VALUES: ReadonlySet<string> = new Set(['clinic', 'types', 'providers', 'hours', 'address']);

const MAX_FAILURES = 3;
const OFFER_COUNT = 3;

export function createReceptionistPolicy(options: ReceptionistOptions): DialogPolicy {
  // chrono compiles its patterns on first use (~200 ms): do it now, not on a caller's first turn.
  parseSpokenDate('tomorrow at ten thirty', { now: new Date(), timeZone: options.clinic.timezone });
  const assist = options.assist ?? (options.llm
    ? createLlmAssist({ ...options.llm, clinic: options.clinic, now: options.now, logger: options.logger })
    : undefined);
  return {
    name: assist ? 'receptionist-llm' : 'receptionist',
    createSession: (context) => new ReceptionistSession(options, context, assist),
  };
}

class Turn {
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

interface BookingDraft {
  typeId?: string;
  /** undefined: not asked yet; null: no preference. */
  providerId?: string | null;
  when?: WhenPreference;
  offers: Slot[];
  chosen?: Slot;
  /** Only offer slots after this `date time` ("other times"). */
  after?: string;
  rescheduleOf?: Appointment;
}

class ReceptionistSession implements DialogSession {
  private readonly clinic: ClinicConfig;
  private readonly emr: EmrGateway;
  private readonly releaseEmr: (() => void) | undefined;
  private readonly now: () => Date;
  private readonly fillerAfterMs: number;
  private readonly emrTimeoutMs: number;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private node: NodeId = 'main';
  private history: NodeId[] = [];
  private failures = 0;
  private lastPrompt: Said[] = [];
  private keypadMode = false;
  private speechUnavailable = false;
  private digits = '';
  private autoCompleted = false;
  private requestSeq = 0;

  private callerNumber?: string;
  private callerLookup: Promise<EmrResult<Patient[]>> = Promise.resolve({ ok: true, value: [] });
  private task?: Task;
  private patient?: Patient;
  private idVia: 'caller' | 'phone' | 'name' = 'name';
  private idCandidates: Patient[] = [];
  private idName?: { first: string; last: string };
  private idAttempts = 0;
  private booking: BookingDraft = { offers: [] };
  private upcoming: Appointment[] = [];
  private selected?: Appointment;
  private refill: { medication?: string; pharmacy?: string } = {};
  private messageBody?: string;

  /** Recent exchange for the language model (kept short; never logged). */
  private transcript: Array<{ role: 'caller' | 'assistant'; text: string }> = [];

  constructor(
    private readonly options: ReceptionistOptions,
    private readonly context: DialogContext,
    private readonly assist?: LanguageModelAssist,
  ) {
    this.clinic = options.clinic;
    if (typeof options.emr === 'function') {
      const callEmr = options.emr(context);
      this.emr = callEmr.gateway;
      this.releaseEmr = callEmr.release;
    } else {
      this.emr = options.emr;
    }
    this.now = options.now ?? (() => new Date());
    this.fillerAfterMs = options.fillerAfterMs ?? 700;
    this.emrTimeoutMs = options.emrTimeoutMs ?? 8_000;
    this.callerNumber = context.callerNumber;
  }

  respond(input: DialogInput, signal: AbortSignal): AsyncIterable<DialogAction> {
    const channel = new ActionChannel();
    const turn = new Turn(channel, signal, (text) => this.remember('assistant', text));
    // Turns run one after another so a late EMR answer never races the next input.
    this.queue = this.queue
      .then(() => this.handle(input, turn))
      .catch((err: unknown) => this.recover(err, turn))
      .finally(() => channel.close());
    return channel.read(signal);
  }

  close(): void {
    this.closed = true;
    this.node = 'ended';
    this.transcript = [];
    this.releaseEmr?.();
  }

  private remember(role: 'caller' | 'assistant', text: string): void {
    if (!this.assist) return;
    const last = this.transcript[this.transcript.length - 1];
    if (last && last.role === role) last.text = `${last.text} ${text}`;
    else this.transcript.push({ role, text });
    if (this.transcript.length > 12) this.transcript.splice(0, this.transcript.length - 12);
  }

  // ---- input dispatch ------------------------------------------------------------------------------------

  private async handle(input: DialogInput, turn: Turn): Promise<void> {
    if (this.closed || this.node === 'ended') return;
    switch (input.type) {
      case 'call-start':
        return this.start(input.callerNumber, turn);
      case 'speech-unavailable':
        return this.onSpeechUnavailable(turn);
      case 'interrupted':
        // The caller cut in: wait for what they say rather than replaying the prompt.
        return;
      case 'no-input':
        return this.noInput(turn);
      case 'dtmf':
        return this.onDigit(input.digit, turn);
      case 'utterance':
        return this.onUtterance(input.text, turn);
    }
  }

  private recover(err: unknown, turn: Turn): void {
    // The error's name only: a message could quote what the caller said.
    this.options.logger?.error({ errorName: err instanceof Error ? err.name : typeof err, node: this.node },
      'dialog turn failed; transferring');
    if (this.node === 'ended') return;
    this.transfer(turn, 'dialog-error', 'transfer');
  }

  private async start(callerNumber: string | undefined, turn: Turn): Promise<void> {
    this.callerNumber = callerNumber ?? this.callerNumber;
    // Prefetch by caller ID in the background: the greeting never waits on the EMR.
    if (this.callerNumber) {
      const number = this.callerNumber;
      this.callerLookup = this.guard(() => this.emr.findPatientsByPhone(number));
    }
    turn.say(this.p('greeting'));
    if (this.context.speechAvailable === false) {
      // No recognizer on this line: say so once, up front, and go straight to the keypad menus.
      this.speechUnavailable = true;
      this.keypadMode = true;
      turn.say(this.p('keypadOnly'));
    }
    this.goto('main', turn);
  }

  private onSpeechUnavailable(turn: Turn): void {
    const first = !this.speechUnavailable;
    this.speechUnavailable = true;
    this.keypadMode = true;
    turn.say(this.p(first ? 'keypadOnly' : 'keypadNudge'));
    this.prompt(turn, this.node === 'id-name' ? 'id-phone' : this.node);
  }

  private async onUtterance(raw: string, turn: Turn): Promise<void> {
    const text = normalize(raw);
    if (!this.speechUnavailable) this.keypadMode = false;
    if (text) this.remember('caller', text);
    if (!text) return this.noMatch(turn);
    const emergency = detectEmergency(text);
    if (emergency) return this.emergency(emergency, turn);
    const command = !FREE_TEXT.has(this.node) || text.split(' ').length <= 4 ? detectGlobalCommand(text) : undefined;
    if (command) return this.globalCommand(command, turn);
    const handled = await this.nodeUtterance(text, turn);
    if (handled) return;
    if (this.assist && ASSIST_NODES.has(this.node)) {
      if (await this.askAssist(text, turn)) return;
    }
    return this.noMatch(turn);
  }

  private async onDigit(digit: string, turn: Turn): Promise<void> {
    if (!/^[0-9*#]$/.test(digit)) return;
    this.keypadMode = true;
    if (!DIGIT_ENTRY[this.node]) this.autoCompleted = false;
    const entry = DIGIT_ENTRY[this.node];
    if (entry) {
      if (digit === '*') {
        this.digits = '';
        return this.back(turn);
      }
      if (digit === '#' && this.digits === '' && this.autoCompleted) {
        // The caller pressed pound after an entry that was already complete: nothing to do.
        this.autoCompleted = false;
        return;
      }
      this.autoCompleted = false;
      if (digit !== '#') this.digits += digit;
      const complete = digit === '#' || this.digits.length >= entry.length &&
        !(this.node === 'id-phone' && this.digits.startsWith('1') && this.digits.length < 11);
      if (!complete) return;
      const entered = this.digits;
      this.digits = '';
      this.autoCompleted = digit !== '#';
      return this.nodeDigits(entered, turn);
    }
    if (digit === '0') return this.transfer(turn, 'caller-asked', 'transfer');
    if (digit === '*') return this.back(turn);
    if (digit === '#') return this.repeat(turn);
    if (this.node === 'id-name') {
      // Digits where we asked for a name: the caller is typing the phone number on file instead.
      this.digits = digit;
      this.setNode('id-phone');
      return;
    }
    const handled = await this.nodeDigit(Number(digit), turn);
    if (!handled) return this.noMatch(turn);
  }

  private async globalCommand(command: GlobalCommand, turn: Turn): Promise<void> {
    switch (command) {
      case 'operator': return this.transfer(turn, 'caller-asked', 'transfer');
      case 'repeat': return this.repeat(turn);
      case 'help': return this.help(turn);
      case 'back': return this.back(turn);
      case 'main-menu':
        this.resetTask();
        this.history = [];
        return this.goto('main', turn);
    }
  }

  // ---- escalation, navigation ----------------------------------------------------------------------------

  private async noInput(turn: Turn): Promise<void> {
    if (this.node === 'emergency-offer') return this.transfer(turn, 'emergency', 'transfer');
    if (DIGIT_ENTRY[this.node] && this.digits !== '') {
      // The caller stopped typing without pound: take what they entered.
      const entered = this.digits;
      this.digits = '';
      return this.nodeDigits(entered, turn);
    }
    this.escalate(turn, 'silence');
  }

  private noMatch(turn: Turn): void {
    this.escalate(turn, 'notUnderstood');
  }

  /** rephrase -> keypad menu -> transfer; never a fourth time round. */
  private escalate(turn: Turn, opener: 'silence' | 'notUnderstood'): void {
    this.failures++;
    if (this.failures >= MAX_FAILURES) return this.transfer(turn, 'no-match', 'transferAfterTrouble');
    if (this.failures === 1) {
      const specific = opener === 'notUnderstood' ? this.notUnderstoodFor(this.node) : undefined;
      if (specific) return this.sayPrompt(turn, [specific]);
      turn.say(this.p(opener));
      this.sayPrompt(turn, this.keypadMode ? this.keypadPrompt(this.node) : this.reprompt(this.node));
      return;
    }
    turn.say(this.p(opener));
    this.sayPrompt(turn, [...this.keypadPrompt(this.node), this.p('keypadNavigation')]);
  }

  private repeat(turn: Turn): void {
    if (this.lastPrompt.length === 0) return this.prompt(turn, this.node);
    for (const said of this.lastPrompt) turn.say(said);
  }

  private help(turn: Turn): void {
    this.sayPrompt(turn, [...this.keypadPrompt(this.node), this.p('keypadNavigation')]);
  }

  private back(turn: Turn): void {
    const previous = this.history.pop();
    this.digits = '';
    if (!previous || previous === 'main') {
      this.resetTask();
      this.history = [];
    }
    this.setNode(previous ?? 'main', false);
    this.prompt(turn, this.node);
  }

  /** Moves on to a node and asks its question; a fresh question starts the failure count again. */
  private goto(node: NodeId, turn: Turn): void {
    this.setNode(node);
    this.failures = 0;
    this.prompt(turn, node);
  }

  private setNode(node: NodeId, remember = true): void {
    // Identification and the emergency offer are never gone back to: they are done once they are passed.
    const revisitable = this.node !== 'ended' && this.node !== 'emergency-offer' && !(this.node.startsWith('id-') && this.patient);
    if (remember && revisitable && this.node !== node && !this.history.includes(node)) this.history.push(this.node);
    if (this.history.includes(node)) this.history = this.history.slice(0, this.history.indexOf(node));
    if (this.node !== node) this.failures = 0;
    this.node = node;
  }

  private transfer(turn: Turn, reason: string, promptKey: 'transfer' | 'transferAfterTrouble'): void {
    turn.say(this.p(promptKey));
    turn.act({ type: 'transfer', reason });
    this.node = 'ended';
    this.options.logger?.info({ reason }, 'dialog transfer');
  }

  private hangup(turn: Turn): void {
    turn.say(this.p('goodbye'));
    turn.act({ type: 'hangup', reason: 'completed' });
    this.node = 'ended';
  }

  private emergency(kind: EmergencyKind, turn: Turn): void {
    this.options.logger?.warn({ kind }, 'dialog emergency words');
    turn.say(this.p(kind === 'crisis' ? 'crisis' : 'emergency'));
    this.goto('emergency-offer', turn);
  }

  // ---- prompts -------------------------------------------------------------------------------------------

  private prompt(turn: Turn, node: NodeId): void {
    this.sayPrompt(turn, this.keypadMode ? this.keypadPrompt(node) : this.speechPrompt(node));
  }

  private sayPrompt(turn: Turn, said: Said[]): void {
    this.lastPrompt = said;
    for (const s of said) turn.say(s);
  }

  private speechPrompt(node: NodeId): Said[] {
    switch (node) {
      case 'main': return [this.p('mainMenu')];
      case 'anything-else': return [this.p('anythingElse')];
      case 'emergency-offer': return [this.p('emergencyOffer')];
      case 'emr-fallback': return [this.p('emrFallback')];
      case 'offer-book': return [this.p('offerBookInstead')];
      case 'id-dob': return [this.p(this.idVia === 'caller' ? 'askDobCaller' : 'askDob')];
      case 'id-name': return [this.p('askName')];
      case 'id-phone': return [this.p('askPhoneKeypad')];
      case 'book-type': return [this.p('askType', { types: this.listWords(this.clinic.appointmentTypes.map((t) => withArticle(t.name)), 'or') })];
      case 'book-provider': return [this.p('askProvider', { providers: this.eligibleProviders().map((p) => p.name).join(', ') })];
      case 'book-when': return [this.p('askWhen')];
      case 'book-date': return [this.p('askDateKeypad')];
      case 'book-offers': return [...this.offersSpeech(), this.p('offersSpeech')];
      case 'book-confirm': return [this.confirmBookingText()];
      case 'pick-appointment': return this.pickAppointmentSpeech();
      case 'cancel-confirm': return [this.cancelConfirmText()];
      case 'refill-med': return [this.p('askMedication')];
      case 'refill-pharmacy': return [this.p('askPharmacy')];
      case 'refill-confirm': return [this.refillConfirmText()];
      case 'message-body': return [this.p('askMessage')];
      case 'message-confirm': return [this.p('confirmMessage', { message: this.messageBody ?? '' })];
      case 'ended': return [];
    }
  }

  private reprompt(node: NodeId): Said[] {
    if (node === 'main') return [this.p('mainMenuShort')];
    return this.speechPrompt(node);
  }

  /** The explicit keypad version of every prompt. */
  private keypadPrompt(node: NodeId): Said[] {
    const yesNo = this.p('yesNoKeypad');
    switch (node) {
      case 'main': return [this.p('mainMenuKeypad')];
      case 'anything-else': return [this.p('anythingElse'), this.p('anythingElseKeypad')];
      case 'emergency-offer': return [this.p('emergencyOffer')];
      case 'emr-fallback': return [this.p('emrFallback')];
      case 'offer-book': return [this.p('offerBookInstead'), yesNo];
      case 'id-dob': return [this.p(this.idVia === 'caller' ? 'askDobCallerKeypad' : 'askDobKeypad')];
      case 'id-name': return [this.p('askNameKeypad')];
      case 'id-phone': return [this.p('askPhoneKeypad')];
      case 'book-type': return [this.menu(this.clinic.appointmentTypes.map((t) => withArticle(t.name)))];
      case 'book-provider': {
        const providers = this.eligibleProviders();
        return [this.menu([...providers.map((p) => `to see ${p.name}`), 'for whoever is available first'], true)];
      }
      case 'book-when': return [this.p('askWhenKeypad')];
      case 'book-date': return [this.p('askDateKeypad')];
      case 'book-offers': return [...this.offersKeypad(), this.p('offersKeypad')];
      case 'book-confirm': return [this.confirmBookingText(), yesNo];
      case 'pick-appointment': return this.pickAppointmentKeypad();
      case 'cancel-confirm': return [this.cancelConfirmText(), yesNo];
      case 'refill-med': return [this.p('askMedicationKeypad')];
      case 'refill-pharmacy': return [this.p('askPharmacyKeypad')];
      case 'refill-confirm': return [this.refillConfirmText(), yesNo];
      case 'message-body': return [this.p('askMessageKeypad')];
      case 'message-confirm': return [...this.speechPrompt('message-confirm'), yesNo];
      case 'ended': return [];
    }
  }

  private notUnderstoodFor(node: NodeId): Said | undefined {
    if (node === 'id-dob') return this.p('dobNotUnderstood');
    if (node === 'id-name') return this.p('nameNotUnderstood');
    if (node === 'id-phone') return this.p('phoneNotUnderstood');
    return undefined;
  }

  /** A prompt by key. Filled only from the clinic config, it is the same on every call: TTS may cache it. */
  private p(key: PromptKey, values: Record<string, string> = {}): Said {
    const cacheable = Object.keys(values).every((name) => CONFIG_VALUES.has(name));
    return { text: renderPrompt(key, this.clinic.prompts, { clinic: this.clinic.name, ...values }), cacheable };
  }

  /** "For a check-up, press 1. For a sick visit, press 2." (`lastIsNine`: the final option is always 9). */
  private menu(options: string[], lastIsNine = false): Said {
    const sentences = options.map((option, index) => {
      const key = lastIsNine && index === options.length - 1 ? 9 : index + 1;
      const lead = option.startsWith('to ') || option.startsWith('for ') ? option : `for ${option}`;
      return `${lead.charAt(0).toUpperCase()}${lead.slice(1)}, press ${key}.`;
    });
    return { text: sentences.join(' '), cacheable: true };
  }

  private listWords(words: string[], joiner: 'and' | 'or'): string {
    if (words.length <= 1) return words.join('');
    return `${words.slice(0, -1).join(', ')}, ${joiner} ${words[words.length - 1]}`;
  }

  // ---- node handlers: speech ------------------------------------------------------------------------------

  private async nodeUtterance(text: string, turn: Turn): Promise<boolean> {
    switch (this.node) {
      case 'main': {
        const intent = detectIntent(text);
        if (!intent) return false;
        await this.startIntent(intent, text, turn);
        return true;
      }
      case 'anything-else': {
        const intent = detectIntent(text);
        if (intent && intent !== 'goodbye') {
          await this.startIntent(intent, text, turn);
          return true;
        }
        const answer = parseYesNo(text);
        if (intent === 'goodbye' || answer === 'no') {
          this.hangup(turn);
          return true;
        }
        if (answer === 'yes') {
          this.resetTask();
          this.setNode('main');
          this.sayPrompt(turn, [this.p('mainMenuAgain')]);
          return true;
        }
        return false;
      }
      case 'emergency-offer': {
        const answer = parseYesNo(text);
        if (answer === 'yes' || /\b(connect|transfer)\b/.test(text)) {
          this.transfer(turn, 'emergency', 'transfer');
          return true;
        }
        if (answer === 'no') {
          turn.say(this.p('emergencyDeclined'));
          this.goto('anything-else', turn);
          return true;
        }
        const intent = detectIntent(text);
        if (intent && intent !== 'goodbye') {
          await this.startIntent(intent, text, turn);
          return true;
        }
        return false;
      }
      case 'emr-fallback': {
        const intent = detectIntent(text);
        if (intent === 'message' || /\bmessage\b/.test(text)) {
          this.task = 'message';
          this.goto('message-body', turn);
          return true;
        }
        return false;
      }
      case 'offer-book': {
        const answer = parseYesNo(text);
        if (answer === 'yes' || detectIntent(text) === 'book') {
          this.task = 'book';
          this.booking = { offers: [] };
          this.captureBookingSlots(text);
          await this.continueTask(turn);
          return true;
        }
        if (answer === 'no') {
          this.goto('anything-else', turn);
          return true;
        }
        return false;
      }
      case 'id-dob': {
        const dob = parseDob(text, this.today());
        if (!dob) {
          // A caller may say digits like a keypad entry or their phone number; a name means they are someone else.
          return false;
        }
        await this.verifyDob(dob, turn);
        return true;
      }
      case 'id-name': {
        // "jane doe born march third eighty one": both at once.
        const [namePart, dobPart] = splitNameAndDob(text);
        const name = parseName(namePart);
        const dob = dobPart ? parseDob(dobPart, this.today()) : undefined;
        if (name && dob) {
          this.idName = name;
          this.idVia = 'name';
          await this.verifyDob(dob, turn);
          return true;
        }
        if (!name) {
          const digits = spokenDigits(text);
          if (digits.length >= 10) {
            await this.lookupPhone(digits, turn);
            return true;
          }
          return false;
        }
        this.idName = name;
        this.idVia = 'name';
        this.goto('id-dob', turn);
        return true;
      }
      case 'id-phone': {
        const digits = spokenDigits(text);
        if (digits.length < 10) return false;
        await this.lookupPhone(digits, turn);
        return true;
      }
      case 'book-type': {
        const typeId = matchNamed(text, this.typeNames());
        if (!typeId) return false;
        this.captureBookingSlots(text);
        await this.continueTask(turn);
        return true;
      }
      case 'book-provider': {
        const providerId = matchNamed(text, this.providerNames(this.eligibleProviders()));
        if (providerId) this.booking.providerId = providerId;
        else if (isNoPreference(text)) this.booking.providerId = null;
        else return false;
        this.captureWhen(text);
        await this.continueTask(turn);
        return true;
      }
      case 'book-when': {
        const changed = this.captureBookingSlots(text);
        const when = this.captureWhen(text) ?? (isNoPreference(text) || parseYesNo(text) === 'yes' ? { asap: true } : undefined);
        if (!when && !changed) return false;
        if (when) this.booking.when = when;
        this.booking.after = undefined;
        await this.continueTask(turn);
        return true;
      }
      case 'book-date': {
        const when = this.captureWhen(text);
        if (!when) return false;
        this.booking.when = when;
        this.booking.after = undefined;
        await this.continueTask(turn);
        return true;
      }
      case 'book-offers': return this.offersUtterance(text, turn);
      case 'book-confirm': {
        const answer = parseYesNo(text);
        if (answer === 'yes') {
          await this.commitBooking(turn);
          return true;
        }
        // "no, tuesday" / "wednesday instead": a correction, searched straight away.
        const correction = answer === 'no' ? afterYesNo(text) : text;
        if (correction && (this.captureWhen(correction) || this.captureBookingSlots(correction))) {
          const when = this.captureWhen(correction);
          if (when) this.booking.when = when;
          this.booking.after = undefined;
          await this.searchOffers(turn);
          return true;
        }
        if (answer === 'no') {
          turn.say(this.p('bookDeclined'));
          this.booking.chosen = undefined;
          this.goto('book-when', turn);
          return true;
        }
        return false;
      }
      case 'pick-appointment': {
        const index = parseOrdinalPick(text, this.upcoming.length) ?? this.matchAppointment(text);
        if (index === undefined) return false;
        await this.appointmentPicked(index, turn);
        return true;
      }
      case 'cancel-confirm': {
        // Only an explicit answer: "yes", "cancel it"; "keep it" or "no" keeps it.
        const answer = parseYesNo(text) ?? (/^(please )?(go ahead and )?cancel (it|that)( please)?$/.test(text) ? 'yes' : /\bkeep\b/.test(text) ? 'no' : undefined);
        if (!answer) return false;
        await this.cancelAnswered(answer === 'yes', turn);
        return true;
      }
      case 'refill-med': {
        const medication = text.replace(/^(i need |i want |i d like |can i get |please )?(a )?(refill|re fill|renewal)?\s*(of|for|on)?\s*(my )?/, '').trim();
        if (!medication || medication.split(' ').length > 8) return false;
        this.refill.medication = medication;
        this.goto('refill-pharmacy', turn);
        return true;
      }
      case 'refill-pharmacy': {
        const onFile = /\b(on file|usual|same|regular|you have|normal|last time|same one)\b/.test(text);
        if (!onFile && text.split(' ').length > 12) return false;
        this.refill.pharmacy = onFile ? undefined : text;
        this.goto('refill-confirm', turn);
        return true;
      }
      case 'refill-confirm': {
        const answer = parseYesNo(text);
        if (answer === 'yes') {
          await this.sendRefill(turn);
          return true;
        }
        if (answer === 'no') {
          this.refill = {};
          this.goto('refill-med', turn);
          return true;
        }
        return false;
      }
      case 'message-body': {
        if (text.split(' ').length < 2) return false;
        this.messageBody = text;
        this.goto('message-confirm', turn);
        return true;
      }
      case 'message-confirm': {
        const answer = parseYesNo(text);
        if (answer === 'yes') {
          await this.sendMessage(turn, 'message');
          return true;
        }
        if (answer === 'no') {
          turn.say(this.p('messageDeclined'));
          this.messageBody = undefined;
          this.goto('message-body', turn);
          return true;
        }
        return false;
      }
      case 'ended': return true;
    }
  }

  // ---- node handlers: keypad -----------------------------------------------------------------------------

  private async nodeDigit(digit: number, turn: Turn): Promise<boolean> {
    const yes = digit === 1;
    const no = digit === 2;
    switch (this.node) {
      case 'main': {
        const intents: Record<number, Intent> = { 1: 'book', 2: 'list', 3: 'reschedule', 4: 'cancel', 5: 'refill', 6: 'message', 7: 'hours' };
        const intent = intents[digit];
        if (!intent) return false;
        await this.startIntent(intent, '', turn, true);
        return true;
      }
      case 'anything-else':
        if (yes) {
          this.resetTask();
          this.goto('main', turn);
        } else if (no) this.hangup(turn);
        return yes || no;
      case 'emergency-offer':
        if (yes) this.transfer(turn, 'emergency', 'transfer');
        else if (no) {
          turn.say(this.p('emergencyDeclined'));
          this.goto('anything-else', turn);
        }
        return yes || no;
      case 'emr-fallback':
        if (!yes) return false;
        this.task = 'message';
        this.goto('message-body', turn);
        return true;
      case 'offer-book':
        if (yes) {
          this.task = 'book';
          this.booking = { offers: [] };
          await this.continueTask(turn);
        } else if (no) this.goto('anything-else', turn);
        return yes || no;
      case 'book-type': {
        const type = this.clinic.appointmentTypes[digit - 1];
        if (!type) return false;
        this.booking.typeId = type.id;
        await this.continueTask(turn);
        return true;
      }
      case 'book-provider': {
        const providers = this.eligibleProviders();
        if (digit === 9) this.booking.providerId = null;
        else if (providers[digit - 1]) this.booking.providerId = providers[digit - 1]!.id;
        else return false;
        await this.continueTask(turn);
        return true;
      }
      case 'book-when': {
        const choices: Record<number, WhenPreference> = {
          1: { asap: true },
          2: { partOfDay: 'morning', earliestTime: '07:00', latestTime: '12:00' },
          3: { partOfDay: 'afternoon', earliestTime: '12:00', latestTime: '17:00' },
        };
        if (digit === 4) {
          this.goto('book-date', turn);
          return true;
        }
        const when = choices[digit];
        if (!when) return false;
        this.booking.when = when;
        this.booking.after = undefined;
        await this.continueTask(turn);
        return true;
      }
      case 'book-offers':
        if (digit === 4) {
          await this.otherTimes(turn);
          return true;
        }
        if (digit < 1 || digit > this.booking.offers.length) return false;
        this.chooseOffer(digit - 1, turn);
        return true;
      case 'book-confirm':
        if (yes) await this.commitBooking(turn);
        else if (no) {
          turn.say(this.p('bookDeclined'));
          this.booking.chosen = undefined;
          this.goto('book-when', turn);
        }
        return yes || no;
      case 'pick-appointment':
        if (digit < 1 || digit > this.upcoming.length) return false;
        await this.appointmentPicked(digit - 1, turn);
        return true;
      case 'cancel-confirm':
        if (yes || no) await this.cancelAnswered(yes, turn);
        return yes || no;
      case 'refill-med':
        if (!yes) return false;
        this.refill.medication = undefined;
        this.goto('refill-pharmacy', turn);
        return true;
      case 'refill-pharmacy':
        if (!yes) return false;
        this.refill.pharmacy = undefined;
        this.goto('refill-confirm', turn);
        return true;
      case 'refill-confirm':
        if (yes) await this.sendRefill(turn);
        else if (no) {
          this.refill = {};
          this.goto('refill-med', turn);
        }
        return yes || no;
      case 'message-body':
        if (!yes) return false;
        await this.sendMessage(turn, 'callback');
        return true;
      case 'message-confirm':
        if (yes) await this.sendMessage(turn, 'message');
        else if (no) {
          turn.say(this.p('messageDeclined'));
          this.messageBody = undefined;
          this.goto('message-body', turn);
        }
        return yes || no;
      default:
        return false;
    }
  }

  /** A completed digit entry (id-dob, id-phone). */
  private async nodeDigits(entered: string, turn: Turn): Promise<void> {
    if (this.node === 'id-dob') {
      const dob = entered.length === 8 || entered.length === 6 ? parseDob(entered, this.today()) : undefined;
      if (!dob) return this.noMatch(turn);
      return this.verifyDob(dob, turn);
    }
    if (this.node === 'id-phone') {
      if (entered.length < 10) return this.noMatch(turn);
      return this.lookupPhone(entered, turn);
    }
    if (this.node === 'book-date') {
      const date = keypadDate(entered, this.today());
      if (!date) return this.noMatch(turn);
      this.booking.when = { date };
      this.booking.after = undefined;
      return this.continueTask(turn);
    }
  }

  // ---- tasks ---------------------------------------------------------------------------------------------

  private async startIntent(intent: Intent, text: string, turn: Turn, fromKeypad = false): Promise<void> {
    switch (intent) {
      case 'hours':
      case 'address':
      case 'directions': {
        const parts: Said[] = [];
        if (intent === 'hours' || fromKeypad) parts.push(this.p('hoursIntro', { hours: describeHours(this.clinic) }));
        if (intent !== 'hours' || fromKeypad) parts.push(this.p('addressIntro', { address: this.clinic.address }));
        if ((intent === 'directions' || fromKeypad) && this.clinic.directions) parts.push({ text: this.clinic.directions, cacheable: true });
        for (const said of parts) turn.say(said);
        this.goto('anything-else', turn);
        return;
      }
      case 'operator': return this.transfer(turn, 'caller-asked', 'transfer');
      case 'goodbye': return this.hangup(turn);
      case 'repeat': return this.repeat(turn);
      case 'help': return this.help(turn);
      case 'back': return this.back(turn);
      case 'main-menu':
        this.resetTask();
        return this.goto('main', turn);
      default: {
        this.resetTask();
        this.task = intent;
        if (intent === 'book') this.captureBookingSlots(text);
        if (intent === 'book') this.captureWhen(text, true);
        if (!this.patient) return this.beginIdentify(turn);
        return this.continueTask(turn);
      }
    }
  }

  private resetTask(): void {
    this.task = undefined;
    this.booking = { offers: [] };
    this.selected = undefined;
    this.refill = {};
    this.messageBody = undefined;
  }

  private async continueTask(turn: Turn): Promise<void> {
    switch (this.task) {
      case 'book': return this.continueBooking(turn);
      case 'reschedule':
        if (this.booking.rescheduleOf) return this.continueBooking(turn);
        return this.loadAppointments(turn);
      case 'list':
      case 'cancel':
        return this.loadAppointments(turn);
      case 'refill':
        if (this.refill.medication && this.refill.pharmacy !== undefined) return this.goto('refill-confirm', turn);
        return this.goto(this.refill.medication ? 'refill-pharmacy' : 'refill-med', turn);
      case 'message': return this.goto(this.messageBody ? 'message-confirm' : 'message-body', turn);
      default: return this.goto('main', turn);
    }
  }

  /** Asks for whatever the booking still lacks, then searches. */
  private async continueBooking(turn: Turn): Promise<void> {
    const draft = this.booking;
    if (!draft.typeId) return this.goto('book-type', turn);
    if (draft.providerId === undefined) {
      const providers = this.eligibleProviders();
      if (providers.length === 1) draft.providerId = providers[0]!.id;
      else return this.goto('book-provider', turn);
    }
    if (!draft.when) return this.goto('book-when', turn);
    return this.searchOffers(turn);
  }

  // ---- identification ------------------------------------------------------------------------------------

  private async beginIdentify(turn: Turn): Promise<void> {
    const lookup = await this.awaitWithFiller(this.callerLookup, turn);
    const matches = lookup.ok ? lookup.value : [];
    if (matches.length > 0) {
      this.idVia = 'caller';
      this.idCandidates = matches;
      return this.goto('id-dob', turn);
    }
    this.askNameOrPhone(turn);
  }

  private askNameOrPhone(turn: Turn): void {
    this.idName = undefined;
    this.idCandidates = [];
    this.goto(this.keypadMode ? 'id-phone' : 'id-name', turn);
  }

  private async lookupPhone(digits: string, turn: Turn): Promise<void> {
    const result = await this.emrCall(turn, () => this.emr.findPatientsByPhone(digits));
    if (!result.ok) return this.emrFailed(turn);
    this.idVia = 'phone';
    // Ask for the date of birth either way: whether a number is on file is not told to an unverified caller.
    this.idCandidates = result.value;
    this.goto('id-dob', turn);
  }

  private async verifyDob(dob: string, turn: Turn): Promise<void> {
    let matches: Patient[];
    if (this.idVia === 'name' && this.idName) {
      const result = await this.emrCall(turn, () => this.emr.findPatientsByNameDob(this.idName!.first, this.idName!.last, dob));
      if (!result.ok) return this.emrFailed(turn);
      matches = result.value;
    } else {
      matches = this.idCandidates.filter((p) => p.dob === dob);
    }
    if (matches.length === 1) {
      this.patient = matches[0]!;
      this.idAttempts = 0;
      turn.say(this.p('identified', { name: this.patient.firstName }));
      return this.continueTask(turn);
    }
    this.idAttempts++;
    this.options.logger?.info({ attempt: this.idAttempts }, 'dialog identification did not match');
    if (this.idAttempts >= this.clinic.identification.maxAttempts) {
      turn.say(this.p('identifyFailed'));
      return this.transfer(turn, 'identification-failed', 'transfer');
    }
    turn.say(this.p('notMatched'));
    if (this.idVia === 'name') return this.goto('id-name', turn);
    this.askNameOrPhone(turn);
  }

  // ---- booking -------------------------------------------------------------------------------------------

  /** Appointment type and provider mentioned anywhere in the text; returns whether something changed. */
  private captureBookingSlots(text: string): boolean {
    let changed = false;
    const typeId = matchNamed(text, this.typeNames());
    if (typeId && typeId !== this.booking.typeId) {
      this.booking.typeId = typeId;
      changed = true;
      // A provider who does not see this type no longer applies.
      if (this.booking.providerId && !this.eligibleProviders().some((p) => p.id === this.booking.providerId)) this.booking.providerId = undefined;
    }
    const providerId = matchNamed(text, this.providerNames(this.eligibleProviders()));
    if (providerId && providerId !== this.booking.providerId) {
      this.booking.providerId = providerId;
      changed = true;
    }
    return changed;
  }

  private captureWhen(text: string, store = false): WhenPreference | undefined {
    const when = parseSpokenDate(text, { now: this.now(), timeZone: this.clinic.timezone });
    if (when && store) this.booking.when = when;
    return when;
  }

  private async searchOffers(turn: Turn): Promise<void> {
    const draft = this.booking;
    const when = draft.when ?? { asap: true };
    const today = this.today();
    const horizon = addDays(today, this.clinic.booking.searchDays);
    const providerId = draft.providerId ?? undefined;
    const base = { typeId: draft.typeId!, providerId, limit: 60 };
    const window = timeWindow(when);
    const attempts = [
      { fromDate: when.date ?? when.fromDate ?? today, toDate: when.date ?? when.toDate ?? horizon, ...window },
      // Nothing then: the same time of day on any day, then any time at all.
      { fromDate: when.date ?? when.fromDate ?? today, toDate: horizon, ...window },
      { fromDate: today, toDate: horizon },
    ];
    let slots: Slot[] = [];
    let attemptIndex = 0;
    for (; attemptIndex < attempts.length; attemptIndex++) {
      const query = { ...base, ...attempts[attemptIndex]! };
      if (query.toDate < query.fromDate) continue;
      const result = await this.emrCall(turn, () => this.emr.findAvailability(query));
      if (!result.ok) return this.emrFailed(turn);
      slots = result.value.filter((slot) => !draft.after || `${slot.date} ${slot.time}` > draft.after)
        .filter((slot) => !draft.rescheduleOf || slot.date !== draft.rescheduleOf.date || slot.time !== draft.rescheduleOf.time);
      if (slots.length > 0) break;
    }
    if (slots.length === 0) {
      turn.say(this.p('noOffers'));
      return this.goto('emr-fallback', turn);
    }
    draft.offers = pickOffers(slots, when, OFFER_COUNT);
    if (attemptIndex > 0) turn.say(this.p('noOffersThen'));
    this.goto('book-offers', turn);
  }

  private offersSpeech(): Said[] {
    const offers = this.booking.offers;
    const sameProvider = offers.every((o) => o.providerId === offers[0]!.providerId);
    const ordinals = ['first', 'second', 'third'];
    const items = offers.map((o, i) => `${offers.length > 1 ? `${ordinals[i]}, ` : ''}${this.slotText(o, !sameProvider)}`);
    const lead = offers.length === 1 ? 'I have one opening' : `I have ${offers.length} openings`;
    const withWhom = sameProvider ? ` with ${this.providerName(offers[0]!.providerId)}` : '';
    return [{ text: `${lead}${withWhom}: ${items.join('; ')}.`, cacheable: false }];
  }

  private offersKeypad(): Said[] {
    const offers = this.booking.offers;
    const text = offers.map((o, i) => `For ${this.slotText(o, true)}, press ${i + 1}.`).join(' ');
    return [{ text, cacheable: false }];
  }

  private slotText(slot: Slot, withProvider: boolean): string {
    const day = this.dayText(slot.date);
    return `${day} at ${speakTime(slot.time)}${withProvider ? ` with ${this.providerName(slot.providerId)}` : ''}`;
  }

  private dayText(date: string): string {
    const today = this.today();
    if (date === today) return 'today';
    if (date === addDays(today, 1)) return 'tomorrow';
    return speakDate(date, today);
  }

  private async offersUtterance(text: string, turn: Turn): Promise<boolean> {
    const offers = this.booking.offers;
    const pick = parseOrdinalPick(text, offers.length);
    if (pick !== undefined) {
      this.chooseOffer(pick, turn);
      return true;
    }
    // "the ten o'clock one", "the tuesday one": the trailing "one" is not a number.
    const when = this.captureWhen(text.replace(/\b(one|ones)$/, ''));
    if (when) {
      const matching = offers.filter((o) => (!when.date || o.date === when.date) && (!when.time || o.time === when.time) &&
        (when.date !== undefined || when.time !== undefined));
      if (matching.length === 1) {
        this.chooseOffer(offers.indexOf(matching[0]!), turn);
        return true;
      }
    }
    const weekdayIndex = this.matchOfferWeekday(text);
    if (weekdayIndex !== undefined && !when?.time) {
      this.chooseOffer(weekdayIndex, turn);
      return true;
    }
    const slotsChanged = this.captureBookingSlots(text);
    if (when || slotsChanged) {
      // A new preference ("no, tuesday", "with doctor nguyen"): search again.
      if (when) this.booking.when = when;
      this.booking.after = undefined;
      await this.searchOffers(turn);
      return true;
    }
    if (wantsOtherTimes(text) || parseYesNo(text) === 'no') {
      await this.otherTimes(turn);
      return true;
    }
    if (parseYesNo(text) === 'yes' && offers.length === 1) {
      this.chooseOffer(0, turn);
      return true;
    }
    return false;
  }

  /** "the tuesday one" picks the single offer on a Tuesday. */
  private matchOfferWeekday(text: string): number | undefined {
    const said = WEEKDAYS.filter((day) => new RegExp(`\\b${WEEKDAY_NAMES[day].toLowerCase()}\\b`).test(text));
    if (said.length !== 1) return undefined;
    const matches = this.booking.offers.map((o, i) => [o, i] as const).filter(([o]) => weekdayOf(o.date) === said[0]);
    return matches.length === 1 ? matches[0]![1] : undefined;
  }

  private async otherTimes(turn: Turn): Promise<void> {
    const last = this.booking.offers[this.booking.offers.length - 1];
    if (last) this.booking.after = `${last.date} ${last.time}`;
    await this.searchOffers(turn);
  }

  private chooseOffer(index: number, turn: Turn): void {
    this.booking.chosen = this.booking.offers[index];
    this.requestSeq++;
    this.goto('book-confirm', turn);
  }

  private confirmBookingText(): Said {
    const slot = this.booking.chosen;
    if (!slot) return { text: '', cacheable: false };
    const old = this.booking.rescheduleOf;
    const values = { type: this.typeName(slot.typeId), provider: this.providerName(slot.providerId), time: speakTime(slot.time) };
    return old
      ? this.p('confirmReschedule', { ...values, day: this.dayText(slot.date), oldDay: this.dayText(old.date), oldTime: speakTime(old.time) })
      : this.p('confirmBook', { ...values, aType: withArticle(values.type), day: this.dayPhrase(slot.date) });
  }

  private dayPhrase(date: string): string {
    const day = this.dayText(date);
    return day === 'today' || day === 'tomorrow' ? day : `on ${day}`;
  }

  /** Only after an explicit yes: book (or move) with a request id that makes a retry harmless. */
  private async commitBooking(turn: Turn): Promise<void> {
    const slot = this.booking.chosen;
    const patient = this.patient;
    if (!slot || !patient) return this.goto('book-when', turn);
    const old = this.booking.rescheduleOf;
    const requestId = `${this.context.callId}:${old ? 'reschedule' : 'book'}:${this.requestSeq}`;
    const result = await this.emrCall(turn, () => old
      ? this.emr.reschedule(patient.id, old.id, slot, requestId)
      : this.emr.book(patient.id, slot, requestId), 'fillerSave');
    if (!result.ok) {
      if (result.code === 'conflict') {
        turn.say(this.p('slotTaken'));
        this.booking.chosen = undefined;
        return this.searchOffers(turn);
      }
      if (result.code === 'queued') {
        const values = { aType: withArticle(this.typeName(slot.typeId)), provider: this.providerName(slot.providerId), day: this.dayPhrase(slot.date), time: speakTime(slot.time) };
        this.booking = { offers: [] };
        return this.requestQueued(turn, old ? 'reschedule' : 'book', this.p('bookingQueued', values));
      }
      return this.emrFailed(turn);
    }
    const booked = result.value;
    this.options.logger?.info({ kind: old ? 'reschedule' : 'book' }, 'dialog appointment saved');
    turn.say(this.p('booked', {
      type: this.typeName(booked.typeId), provider: this.providerName(booked.providerId), day: this.dayPhrase(booked.date), time: speakTime(booked.time),
    }));
    this.booking = { offers: [] };
    this.history = [];
    this.goto('anything-else', turn);
  }

  // ---- existing appointments -----------------------------------------------------------------------------

  private async loadAppointments(turn: Turn): Promise<void> {
    const patient = this.patient!;
    const result = await this.emrCall(turn, () => this.emr.listAppointments(patient.id));
    if (!result.ok && result.code !== 'not-found') return this.emrFailed(turn);
    const now = zonedParts(this.now(), this.clinic.timezone);
    this.upcoming = (result.ok ? result.value : [])
      .filter((a) => a.status === 'booked' && `${a.date} ${a.time}` >= `${now.date} ${now.time}`)
      .sort((a, b) => `${a.date} ${a.time}`.localeCompare(`${b.date} ${b.time}`));
    if (this.upcoming.length === 0) {
      turn.say(this.p('noUpcoming'));
      return this.goto('offer-book', turn);
    }
    if (this.task === 'list') {
      const count = this.upcoming.length === 1 ? 'one upcoming appointment' : `${this.upcoming.length} upcoming appointments`;
      turn.say(this.p('listAppointments', { count, appointments: this.upcoming.map((a) => this.appointmentText(a)).join('; ') }));
      this.history = [];
      return this.goto('anything-else', turn);
    }
    if (this.upcoming.length === 1) return this.appointmentPicked(0, turn);
    this.goto('pick-appointment', turn);
  }

  private appointmentText(a: Appointment): string {
    return `${withArticle(this.typeName(a.typeId))} with ${this.providerName(a.providerId)} ${this.dayPhrase(a.date)} at ${speakTime(a.time)}`;
  }

  private pickAppointmentSpeech(): Said[] {
    const ordinals = ['first', 'second', 'third', 'fourth', 'fifth'];
    const items = this.upcoming.slice(0, 5).map((a, i) => `${ordinals[i]}, ${this.appointmentText(a)}`);
    const verb = this.task === 'cancel' ? 'cancel' : 'change';
    return [this.p('pickAppointment', { count: String(this.upcoming.length), appointments: items.join('; '), action: verb })];
  }

  private pickAppointmentKeypad(): Said[] {
    const items = this.upcoming.slice(0, 8).map((a, i) => `For ${this.appointmentText(a)}, press ${i + 1}.`);
    return [{ text: items.join(' '), cacheable: false }];
  }

  private matchAppointment(text: string): number | undefined {
    const when = this.captureWhen(text);
    if (when?.date) {
      const hits = this.upcoming.filter((a) => a.date === when.date);
      if (hits.length === 1) return this.upcoming.indexOf(hits[0]!);
    }
    const typeId = matchNamed(text, this.typeNames());
    if (typeId) {
      const hits = this.upcoming.filter((a) => a.typeId === typeId);
      if (hits.length === 1) return this.upcoming.indexOf(hits[0]!);
    }
    return undefined;
  }

  private async appointmentPicked(index: number, turn: Turn): Promise<void> {
    const appointment = this.upcoming[index];
    if (!appointment) return this.noMatch(turn);
    this.selected = appointment;
    if (this.task === 'cancel') return this.goto('cancel-confirm', turn);
    this.booking = { offers: [], typeId: appointment.typeId, providerId: appointment.providerId, rescheduleOf: appointment };
    if (this.upcoming.length === 1) turn.say(this.p('oneAppointment', { appointment: this.appointmentText(appointment).replace(/^an? /, '') }));
    this.goto('book-when', turn);
  }

  private cancelConfirmText(): Said {
    const a = this.selected;
    if (!a) return { text: '', cacheable: false };
    return this.p('confirmCancel', { appointment: this.appointmentText(a).replace(/^an? /, '') });
  }

  private async cancelAnswered(confirmed: boolean, turn: Turn): Promise<void> {
    const a = this.selected;
    if (!confirmed || !a || !this.patient) {
      turn.say(this.p('cancelKept'));
      return this.goto('anything-else', turn);
    }
    const patientId = this.patient.id;
    const requestId = `${this.context.callId}:cancel:${a.id}`;
    const result = await this.emrCall(turn, () => this.emr.cancel(patientId, a.id, requestId), 'fillerSave');
    if (!result.ok && result.code === 'queued') {
      this.selected = undefined;
      return this.requestQueued(turn, 'cancel', this.p('cancelQueued'));
    }
    if (!result.ok) return this.emrFailed(turn);
    this.options.logger?.info({ kind: 'cancel' }, 'dialog appointment saved');
    turn.say(this.p('cancelled'));
    this.selected = undefined;
    this.history = [];
    this.goto('anything-else', turn);
  }

  // ---- refills and messages ------------------------------------------------------------------------------

  private refillConfirmText(): Said {
    const medication = this.refill.medication ?? 'your medication';
    const pharmacy = this.refill.pharmacy ? `the pharmacy you named, ${this.refill.pharmacy}` : 'your pharmacy on file';
    return this.p('confirmRefill', { medication, pharmacy });
  }

  private async sendRefill(turn: Turn): Promise<void> {
    const medication = this.refill.medication;
    const body = [
      `Refill request from the phone assistant.`,
      `Medication: ${medication ?? 'not given (keypad caller) - please call the patient'}.`,
      `Pharmacy: ${this.refill.pharmacy ?? 'pharmacy on file'}.`,
      this.callerNumber ? `Caller number: ${this.callerNumber}.` : '',
    ].filter(Boolean).join(' ');
    const sent = await this.deliverStaffMessage(turn, { kind: 'refill', subject: `Refill request${medication ? `: ${medication}` : ''}`, body });
    if (!sent) return;
    turn.say(this.p(sent === 'queued' ? 'messageQueued' : 'refillSent'));
    this.refill = {};
    this.history = [];
    this.goto('anything-else', turn);
  }

  private async sendMessage(turn: Turn, kind: 'message' | 'callback'): Promise<void> {
    const body = kind === 'callback'
      ? `The caller asked by keypad for a call back.${this.callerNumber ? ` Caller number: ${this.callerNumber}.` : ''}`
      : `${this.messageBody ?? ''}${this.callerNumber ? ` (Caller number: ${this.callerNumber}.)` : ''}`;
    const subject = kind === 'callback' ? 'Call-back request' : 'Message from the phone assistant';
    const sent = await this.deliverStaffMessage(turn, { kind, subject, body });
    if (!sent) return;
    turn.say(this.p(sent === 'queued' ? 'messageQueued' : 'messageSent'));
    this.messageBody = undefined;
    this.history = [];
    this.goto('anything-else', turn);
  }

  /** 'sent', or 'queued' (saved, to be delivered); undefined when it could not be saved (the caller is transferred). */
  private async deliverStaffMessage(turn: Turn, message: { kind: 'refill' | 'message' | 'callback'; subject: string; body: string }): Promise<'sent' | 'queued' | undefined> {
    const requestId = `${this.context.callId}:message:${++this.requestSeq}`;
    const unverified = this.patient ? '' : ' The caller was not identified.';
    const result = await this.emrCall(turn, () => this.emr.sendStaffMessage({
      patientId: this.patient?.id, kind: message.kind, subject: message.subject, body: `${message.body}${unverified}`,
    }, requestId), 'fillerSave');
    if (result.ok || result.code === 'queued') {
      const outcome = result.ok ? 'sent' : 'queued';
      this.options.logger?.info({ kind: message.kind, outcome }, 'dialog staff message saved');
      return outcome;
    }
    // The message could not be saved either: a person is the only honest fallback left.
    turn.say(this.p('messageFailed'));
    this.transfer(turn, 'emr-unavailable', 'transfer');
    return undefined;
  }

  /** A write the EMR has not confirmed yet but that is durably queued: say so (never "cannot reach"), carry on. */
  private requestQueued(turn: Turn, kind: 'book' | 'reschedule' | 'cancel', said: Said): void {
    this.options.logger?.info({ kind, outcome: 'queued' }, 'dialog appointment change queued');
    turn.say(said);
    this.history = [];
    this.goto('anything-else', turn);
  }

  // ---- EMR access ----------------------------------------------------------------------------------------

  private emrFailed(turn: Turn): void {
    turn.say(this.p('emrDown'));
    if (this.node === 'emr-fallback' || this.task === 'message' || this.task === 'refill') {
      return this.transfer(turn, 'emr-unavailable', 'transfer');
    }
    this.history = [];
    this.goto('emr-fallback', turn);
  }

  /** Runs an EMR request with the time box, mapping failures to a code (never throws). */
  private guard<T>(request: () => Promise<T>): Promise<EmrResult<T>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<EmrResult<T>>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, code: 'timeout' }), this.emrTimeoutMs);
    });
    const attempt = (async (): Promise<EmrResult<T>> => {
      try {
        return { ok: true, value: await request() };
      } catch (err) {
        const code = err instanceof EmrError ? err.code : 'unavailable';
        this.options.logger?.warn({ code, errorName: err instanceof Error ? err.name : 'unknown' }, 'dialog EMR request failed');
        return { ok: false, code };
      }
    })();
    return Promise.race([attempt, timeout]).finally(() => clearTimeout(timer));
  }

  private emrCall<T>(turn: Turn, request: () => Promise<T>, filler: PromptKey = 'filler'): Promise<EmrResult<T>> {
    return this.awaitWithFiller(this.guard(request), turn, filler);
  }

  /** Waits for a result; says a short filler once if it takes longer than `fillerAfterMs`. */
  private async awaitWithFiller<T>(pending: Promise<T>, turn: Turn, filler: PromptKey = 'filler'): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), this.fillerAfterMs);
    });
    try {
      const first = await Promise.race([pending, slow]);
      if (first !== 'slow') return first as T;
      if (!turn.fillerSaid) {
        turn.fillerSaid = true;
        turn.say(this.p(filler));
      }
      return await pending;
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- clinic helpers ------------------------------------------------------------------------------------

  private today(): string {
    return zonedParts(this.now(), this.clinic.timezone).date;
  }

  private eligibleProviders(): ProviderConfig[] {
    const typeId = this.booking.typeId;
    return this.clinic.providers.filter((p) => !typeId || !p.typeIds || p.typeIds.includes(typeId));
  }

  private providerNames(providers: ProviderConfig[]): Named[] {
    const titles = new Set(['doctor', 'dr', 'nurse', 'practitioner', 'np', 'pa', 'md']);
    return providers.map((p) => ({
      id: p.id,
      words: [...normalize(p.name).split(' ').filter((w) => !titles.has(w)), ...p.aliases],
    }));
  }

  private typeNames(): Named[] {
    return this.clinic.appointmentTypes.map((t) => ({ id: t.id, words: [t.name, ...t.synonyms] }));
  }

  private providerName(id: string): string {
    return this.clinic.providers.find((p) => p.id === id)?.name ?? 'one of our providers';
  }

  private typeName(id: string): string {
    return this.clinic.appointmentTypes.find((t) => t.id === id)?.name ?? 'visit';
  }

  /** The model's turn: its sentences are spoken as they stream in, then its tool calls drive the same transitions. */
  private async askAssist(text: string, turn: Turn): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined = setTimeout(() => {
      timer = undefined;
      if (!turn.fillerSaid) {
        turn.fillerSaid = true;
        turn.say(this.p('fillerThinking'));
      }
    }, this.fillerAfterMs);
    const spokenNow: string[] = [];
    const outcome = await this.assist!.interpret({
      text,
      lastPrompt: this.lastPrompt.map((s) => s.text).join(' '),
      history: this.transcript.slice(0, -1),
      offers: this.node === 'book-offers' ? this.booking.offers.map((o) => this.slotText(o, true)) : undefined,
      task: this.task,
    }, {
      sentence: (sentence) => {
        clearTimeout(timer);
        spokenNow.push(sentence);
        turn.say({ text: sentence, cacheable: false });
      },
    }, turn.signal).catch(() => undefined);
    clearTimeout(timer);
    if (turn.signal.aborted) return true;
    if (!outcome) return false;
    if (outcome.tools.length === 0) {
      if (!outcome.spoke) return false;
      // The model answered (or asked) in its own words: that is the question now on the table.
      this.failures = 0;
      this.lastPrompt = spokenNow.map((sentence) => ({ text: sentence, cacheable: false }));
      return true;
    }
    this.failures = 0;
    await this.applyTools(outcome.tools, turn);
    return true;
  }

  /**
   * Tool calls -> the rule machine's own transitions. Details are recorded first, then one step is taken;
   * whatever it leads to (identification, an offer's confirmation) is asked by the rules.
   */
  private async applyTools(tools: AssistToolCall[], turn: Turn): Promise<void> {
    const byName = <N extends AssistToolCall['name']>(name: N) => tools.find((t): t is Extract<AssistToolCall, { name: N }> => t.name === name);
    const transfer = byName('transfer_to_front_desk');
    if (transfer) return this.transfer(turn, 'caller-asked', 'transfer');
    if (byName('end_call')) return this.hangup(turn);
    const info = byName('clinic_info');
    if (info) return this.startIntent(info.topic, '', turn);
    const offer = byName('choose_offer');
    if (offer && this.node === 'book-offers' && offer.number <= this.booking.offers.length) return this.chooseOffer(offer.number - 1, turn);

    const start = byName('start_task');
    const details = byName('set_booking_details');
    const message = byName('leave_message');
    const refill = byName('request_refill');
    const task: Task | undefined = start?.task ?? (details ? 'book' : message ? 'message' : refill ? 'refill' : undefined);
    if (!task) return this.prompt(turn, this.node);
    const continuing = this.task === task || (task === 'book' && this.task === 'reschedule' && this.booking.rescheduleOf);
    if (!continuing) {
      this.resetTask();
      this.task = task;
    }
    if (details) {
      if (details.appointmentType) this.booking.typeId = details.appointmentType;
      if (details.provider) this.booking.providerId = details.provider === 'any' ? null : details.provider;
      if (details.when) {
        const when = this.captureWhen(details.when) ?? (isNoPreference(details.when) ? { asap: true } : undefined);
        if (when) {
          this.booking.when = when;
          this.booking.after = undefined;
        }
      }
    }
    if (message) this.messageBody = message.text;
    if (refill) this.refill = { medication: refill.medication, pharmacy: refill.pharmacy };
    if (!this.patient) return this.beginIdentify(turn);
    return this.continueTask(turn);
  }

}

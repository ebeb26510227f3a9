/**
 * Optional language-model help through the `openai` client (OpenAI or any OpenAI-compatible server). The model
 * takes what the rules did not understand: it may speak (streamed sentence by sentence to TTS) and call tools
 * that map onto the receptionist's own transitions. It has no tool that books, cancels or sends anything: those
 * stay behind the rule layer's explicit confirmation, as do emergencies and identification.
 */
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { SentenceAccumulator } from '../tts/index.js';
import { describeHours, type ClinicConfig } from './clinic.js';
import { speakDate, zonedParts } from './clock.js';

export interface LlmOptions {
  /** e.g. https://api.openai.com/v1 or http://10.0.0.5:8000/v1 (vLLM, llama.cpp, Ollama ...). */
  baseURL?: string;
  apiKey?: string;
  model: string;
  /** No text or tool call within this time: give up and let the rules answer. */
  firstOutputTimeoutMs?: number;
  /** Hard limit for one model reply. */
  totalTimeoutMs?: number;
  temperature?: number;
}

export type AssistTask = 'book' | 'list' | 'reschedule' | 'cancel' | 'refill' | 'message';

export type AssistToolCall =
  | { name: 'start_task'; task: AssistTask }
  | { name: 'set_booking_details'; appointmentType?: string; provider?: string; when?: string }
  | { name: 'choose_offer'; number: number }
  | { name: 'clinic_info'; topic: 'hours' | 'address' | 'directions' }
  | { name: 'leave_message'; text: string }
  | { name: 'request_refill'; medication?: string; pharmacy?: string }
  | { name: 'transfer_to_front_desk'; reason: string }
  | { name: 'end_call' };

export interface AssistRequest {
  /** The call this is for (log lines name it; it is not sent to the model). */
  callId?: string;
  /** What the caller just said. */
  text: string;
  /** The question the caller is answering (the bot's last prompt). */
  lastPrompt: string;
  /** Recent exchange, oldest first. */
  history: ReadonlyArray<{ role: 'caller' | 'assistant'; text: string }>;
  /** The offers on the table, as spoken, when the caller is choosing a time. */
  offers?: readonly string[];
  /** What the caller is doing ("book", ...), if anything. */
  task?: string;
}

export interface AssistSink {
  /** One complete sentence of the model's reply, to be spoken now. */
  sentence(text: string): void;
}

export interface AssistOutcome {
  spoke: boolean;
  tools: AssistToolCall[];
}

export interface LanguageModelAssist {
  /** Undefined when the model failed or timed out before saying or doing anything (the rules answer instead). */
  interpret(request: AssistRequest, sink: AssistSink, signal: AbortSignal): Promise<AssistOutcome | undefined>;
}

export interface LlmAssistOptions extends LlmOptions {
  clinic: ClinicConfig;
  now?: () => Date;
  logger?: Logger;
}

export function createLlmAssist(options: LlmAssistOptions): LanguageModelAssist {
  const client = new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey ?? 'not-needed',
    // The time box is ours: a retry would only make the caller wait longer.
    maxRetries: 0,
    timeout: options.totalTimeoutMs ?? 10_000,
  });
  const tools = toolDefinitions(options.clinic);
  const firstOutputTimeoutMs = options.firstOutputTimeoutMs ?? 2_500;
  const totalTimeoutMs = options.totalTimeoutMs ?? 10_000;
  const now = options.now ?? (() => new Date());

  return {
    async interpret(request, sink, signal) {
      const controller = new AbortController();
      const abort = () => controller.abort();
      signal.addEventListener('abort', abort, { once: true });
      let gotOutput = false;
      const firstOutputTimer = setTimeout(() => { if (!gotOutput) controller.abort(); }, firstOutputTimeoutMs);
      const totalTimer = setTimeout(abort, totalTimeoutMs);
      const sentences = new SentenceAccumulator();
      const partialTools = new Map<number, { name: string; args: string }>();
      let spoke = false;
      const speak = (texts: string[]) => {
        for (const text of texts) {
          spoke = true;
          sink.sentence(text);
        }
      };
      try {
        const stream = await client.chat.completions.create({
          model: options.model,
          messages: buildMessages(options.clinic, now(), request),
          tools,
          tool_choice: 'auto',
          stream: true,
          temperature: options.temperature ?? 0.2,
        }, { signal: controller.signal });
        for await (const chunk of stream) {
          const delta = chunk.choices[0]?.delta;
          if (!delta) continue;
          if (delta.content) {
            gotOutput = true;
            speak(sentences.push(delta.content));
          }
          for (const call of delta.tool_calls ?? []) {
            gotOutput = true;
            const entry = partialTools.get(call.index) ?? { name: '', args: '' };
            if (call.function?.name) entry.name += call.function.name;
            if (call.function?.arguments) entry.args += call.function.arguments;
            partialTools.set(call.index, entry);
          }
        }
        speak(sentences.flush());
      } catch (err) {
        if (signal.aborted) return { spoke, tools: [] };
        options.logger?.warn({ callId: request.callId, errorName: err instanceof Error ? err.name : 'unknown', gotOutput }, 'dialog LLM request failed');
        if (!gotOutput) return undefined;
        // Cut off mid-reply: keep what was said, drop tool calls that may be incomplete.
        speak(sentences.flush());
        return { spoke, tools: [] };
      } finally {
        clearTimeout(firstOutputTimer);
        clearTimeout(totalTimer);
        signal.removeEventListener('abort', abort);
      }
      if (!spoke && partialTools.size === 0) return undefined;
      const parsed = [...partialTools.entries()].sort(([a], [b]) => a - b)
        .map(([, call]) => parseToolCall(call.name, call.args, options.clinic))
        .filter((call): call is AssistToolCall => call !== undefined);
      return { spoke, tools: parsed };
    },
  };
}

function buildMessages(clinic: ClinicConfig, now: Date, request: AssistRequest): ChatCompletionMessageParam[] {
  const today = zonedParts(now, clinic.timezone);
  const facts = [
    `Clinic: ${clinic.name}. Today is ${speakDate(today.date)}, ${today.time} local time.`,
    `Hours: ${describeHours(clinic)}. Address: ${clinic.address}.${clinic.directions ? ` Directions: ${clinic.directions}` : ''}`,
    `Appointment types (id: name): ${clinic.appointmentTypes.map((t) => `${t.id}: ${t.name}`).join('; ')}.`,
    `Providers (id: name): ${clinic.providers.map((p) => `${p.id}: ${p.name}`).join('; ')}.`,
  ];
  const situation = [
    request.task ? `The caller is in the middle of: ${request.task}.` : 'The caller has not chosen a task yet.',
    `You last said: "${request.lastPrompt}"`,
    request.offers?.length ? `Openings offered, in order: ${request.offers.map((o, i) => `${i + 1}) ${o}`).join('; ')}.` : '',
  ].filter(Boolean);
  const system = [
    'You are the telephone receptionist of a medical clinic. The caller hears you through text-to-speech.',
    'Reply in one or two short, plain sentences: no lists, no markdown, no abbreviations. Never give medical advice.',
    'Use the tools to act. You cannot book, cancel or send anything yourself: after a tool call the system asks the',
    'caller to confirm, and it checks their identity. Never say an appointment is booked or cancelled.',
    'If the caller describes an emergency, tell them to hang up and call 911. If you cannot help, offer to take a',
    'message or transfer to the front desk. If you call a tool, do not also ask the next question: the system will.',
    ...facts,
    ...situation,
  ].join('\n');
  const history: ChatCompletionMessageParam[] = request.history.slice(-8).map((turn) =>
    turn.role === 'caller' ? { role: 'user', content: turn.text } : { role: 'assistant', content: turn.text });
  return [{ role: 'system', content: system }, ...history, { role: 'user', content: request.text }];
}

function toolDefinitions(clinic: ClinicConfig): ChatCompletionTool[] {
  const fn = (name: string, description: string, properties: Record<string, unknown>, required: string[] = []): ChatCompletionTool => ({
    type: 'function',
    function: { name, description, parameters: { type: 'object', properties, required, additionalProperties: false } },
  });
  return [
    fn('start_task', 'Start what the caller wants to do.', {
      task: { type: 'string', enum: ['book', 'list_appointments', 'reschedule', 'cancel', 'refill', 'message'] },
    }, ['task']),
    fn('set_booking_details', 'Record details for a new appointment the caller asked for.', {
      appointment_type: { type: 'string', enum: clinic.appointmentTypes.map((t) => t.id) },
      provider: { type: 'string', enum: [...clinic.providers.map((p) => p.id), 'any'] },
      when: { type: 'string', description: 'The caller\'s words for the day or time, e.g. "next tuesday morning".' },
    }),
    fn('choose_offer', 'The caller picked one of the openings offered (1-based).', { number: { type: 'integer', minimum: 1, maximum: 3 } }, ['number']),
    fn('clinic_info', 'Tell the caller the clinic hours, address or directions.', {
      topic: { type: 'string', enum: ['hours', 'address', 'directions'] },
    }, ['topic']),
    fn('leave_message', 'The caller wants to leave this message for the staff.', { text: { type: 'string' } }, ['text']),
    fn('request_refill', 'The caller wants a prescription refill.', {
      medication: { type: 'string' }, pharmacy: { type: 'string' },
    }),
    fn('transfer_to_front_desk', 'Connect the caller with a person.', { reason: { type: 'string' } }, ['reason']),
    fn('end_call', 'The caller is finished.', {}),
  ];
}

const TASKS: Record<string, AssistTask> = {
  book: 'book', list_appointments: 'list', reschedule: 'reschedule', cancel: 'cancel', refill: 'refill', message: 'message',
};

const optionalText = z.string().trim().min(1).max(300).optional();

/** Validates a streamed tool call; anything malformed or unknown is dropped, never acted on. */
function parseToolCall(name: string, rawArgs: string, clinic: ClinicConfig): AssistToolCall | undefined {
  let args: unknown;
  try {
    args = rawArgs.trim() === '' ? {} : JSON.parse(rawArgs);
  } catch {
    return undefined;
  }
  const typeIds = clinic.appointmentTypes.map((t) => t.id);
  const providerIds = [...clinic.providers.map((p) => p.id), 'any'];
  switch (name) {
    case 'start_task': {
      const parsed = z.object({ task: z.string() }).safeParse(args);
      const task = parsed.success ? TASKS[parsed.data.task] : undefined;
      return task ? { name, task } : undefined;
    }
    case 'set_booking_details': {
      const parsed = z.object({
        appointment_type: z.string().refine((v) => typeIds.includes(v)).optional(),
        provider: z.string().refine((v) => providerIds.includes(v)).optional(),
        when: optionalText,
      }).safeParse(args);
      if (!parsed.success) return undefined;
      return { name, appointmentType: parsed.data.appointment_type, provider: parsed.data.provider, when: parsed.data.when };
    }
    case 'choose_offer': {
      const parsed = z.object({ number: z.coerce.number().int().min(1).max(3) }).safeParse(args);
      return parsed.success ? { name, number: parsed.data.number } : undefined;
    }
    case 'clinic_info': {
      const parsed = z.object({ topic: z.enum(['hours', 'address', 'directions']) }).safeParse(args);
      return parsed.success ? { name, topic: parsed.data.topic } : undefined;
    }
    case 'leave_message': {
      const parsed = z.object({ text: z.string().trim().min(1).max(1000) }).safeParse(args);
      return parsed.success ? { name, text: parsed.data.text } : undefined;
    }
    case 'request_refill': {
      const parsed = z.object({ medication: optionalText, pharmacy: optionalText }).safeParse(args);
      return parsed.success ? { name, medication: parsed.data.medication, pharmacy: parsed.data.pharmacy } : undefined;
    }
    case 'transfer_to_front_desk': {
      const parsed = z.object({ reason: z.string().max(300).default('caller asked') }).safeParse(args);
      return parsed.success ? { name, reason: parsed.data.reason } : undefined;
    }
    case 'end_call':
      return { name };
    default:
      return undefined;
  }
}

/** Dialog: the clinic receptionist policy, its clinic configuration and the spoken-input parsers. */
export type { DialogAction, DialogContext, DialogInput, DialogPolicy, DialogSession } from './types.js';
export { createReceptionistPolicy } from './engine/index.js';
export type { ReceptionistOptions, NodeId, CallEmr } from './engine/index.js';
export { createLlmAssist } from './llm.js';
export type {
  LlmOptions, LlmAssistOptions, LanguageModelAssist, AssistRequest, AssistOutcome, AssistSink, AssistToolCall, AssistTask,
} from './llm.js';
export {
  ClinicConfigSchema, ClinicConfigError, defaultClinicConfig, loadClinicConfig, parseClinicConfig, describeHours,
} from './clinic.js';
export type { ClinicConfig, ClinicConfigInput, ProviderConfig, AppointmentTypeConfig, WeeklySchedule } from './clinic.js';
export { DEFAULT_PROMPTS, renderPrompt, fixedPrompts } from './prompts.js';
export type { PromptKey } from './prompts.js';
export { parseDob, parseSpokenDate, numeralize } from './dates.js';
export type { WhenPreference, PartOfDay, DateContext } from './dates.js';
export { parseSpokenNumber, spokenDigits, numberAtoms, tokenize } from './numbers.js';
export {
  parseYesNo, afterYesNo, parseName, detectIntent, detectEmergency, detectGlobalCommand, parseOrdinalPick, INTENT_RULES,
} from './nlu.js';
export type { Intent, EmergencyKind, GlobalCommand } from './nlu.js';
export { zonedParts, speakDate, speakTime, addDays, weekdayOf } from './clock.js';

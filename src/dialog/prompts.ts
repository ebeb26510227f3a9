/**
 * Every fixed sentence the receptionist says, by key. A clinic overrides any of them in its config
 * (`prompts`). Placeholders in braces: `{clinic}` everywhere; the others are filled where the prompt is used.
 */
export const DEFAULT_PROMPTS = {
  // The greeting is always followed by `emergencyNotice` (see renderGreeting): a clinic rewords either, but cannot
  // drop the notice by overriding the greeting.
  greeting: 'Thank you for calling {clinic}.',
  emergencyNotice: 'If this is a medical emergency, please hang up and dial 9 1 1.',
  mainMenu: 'How can I help you today? You can book, change, or cancel an appointment, request a prescription refill, leave a message, or ask about our hours and location.',
  mainMenuShort: 'What can I help you with? For example, say book an appointment, or say office hours.',
  mainMenuKeypad: 'To book an appointment, press 1. To hear your appointments, press 2. To reschedule, press 3. To cancel, press 4. For a prescription refill, press 5. To leave a message, press 6. For hours and location, press 7. To speak with someone, press 0.',
  keypadOnly: 'I am sorry, I cannot understand speech on this line right now. Please use your telephone keypad.',
  keypadNudge: 'Please use your telephone keypad.',
  notUnderstood: 'Sorry, I did not get that.',
  silence: 'Are you still there?',
  keypadNavigation: 'At any time, press star to go back, or 0 for the front desk.',
  anythingElse: 'Is there anything else I can help you with?',
  anythingElseKeypad: 'For the main menu, press 1. If you are all set, press 2.',
  goodbye: 'Thank you for calling {clinic}. Goodbye.',
  transfer: 'Let me connect you with our front desk. Please hold.',
  transferAfterTrouble: 'I am having trouble understanding. Let me connect you with our front desk. Please hold.',
  filler: 'One moment while I check.',
  fillerSave: 'One moment while I take care of that.',
  fillerThinking: 'One moment.',
  emergency: 'If this is a medical emergency, please hang up and call 9 1 1 right now.',
  crisis: 'If you are thinking about hurting yourself or are in crisis, please hang up and call or text 9 8 8, the Suicide and Crisis Lifeline. If you are in immediate danger, call 9 1 1.',
  emergencyOffer: 'Or stay on the line and I will connect you with our staff. Would you like me to connect you? Say yes or press 1.',
  emergencyDeclined: 'Okay. If anything changes, please call 9 1 1.',
  emrDown: 'I am sorry, I cannot reach our scheduling system right now.',
  emrFallback: 'I can take a message for our staff to call you back, or connect you with the front desk. Say message or press 1. Say front desk or press 0.',
  messageFailed: 'I am sorry, I could not save your message.',
  // The EMR has not confirmed yet, but the request is saved in the durable queue and will be carried out; if it
  // finally cannot be, the worker files a call-back request for staff.
  bookingQueued: 'Our scheduling system is slow to answer right now, but your request for {aType} with {provider} {day} at {time} is saved and will be completed. If it cannot be, our staff will call you to confirm.',
  cancelQueued: 'Our scheduling system is slow to answer right now, but your cancellation is saved and will be completed. If it cannot be, our staff will call you to confirm.',
  messageQueued: 'Our system is slow to answer right now, but your request is saved and will be passed on to our staff.',
  askDobCaller: 'To confirm it is you, please tell me your date of birth.',
  askDobCallerKeypad: 'To confirm it is you, please enter your date of birth as eight digits: two for the month, two for the day, and four for the year. Then press pound.',
  askName: 'So I can find your record, please say your first and last name.',
  askNameKeypad: 'So I can find your record, please enter the phone number we have on file for you, then press pound.',
  askPhoneKeypad: 'Please enter the phone number we have on file for you, then press pound.',
  askDob: 'Thank you. And what is your date of birth?',
  askDobKeypad: 'Please enter your date of birth as eight digits: two for the month, two for the day, and four for the year. Then press pound.',
  dobNotUnderstood: 'I did not catch that date. Please say it like March third, nineteen eighty one, or enter eight digits on your keypad, then press pound.',
  nameNotUnderstood: 'I did not catch your name. Please say your first and last name, or enter the phone number we have on file, then press pound.',
  phoneNotUnderstood: 'That did not look like a phone number. Please enter all ten digits, then press pound.',
  notMatched: 'I am sorry, I could not find a record that matches.',
  identifyFailed: 'I am sorry, I was not able to verify your identity.',
  askType: 'What kind of visit do you need: {types}?',
  askProvider: 'Would you like to see {providers}, or whoever is available first?',
  askWhen: 'What day and time would work best? For example, say tomorrow afternoon, or next Monday at 10.',
  askWhenKeypad: 'For the first available time, press 1. For a morning, press 2. For an afternoon, press 3. To choose a date, press 4.',
  askDateKeypad: 'Please enter the date as four digits: two for the month and two for the day. For example, for March fifth, press 0 3 0 5.',
  offersKeypad: 'To choose one, press its number. For other times, press 4.',
  offersSpeech: 'Which one would you like? You can also say other times.',
  noOffers: 'I am sorry, I could not find any openings in the next few weeks.',
  noOffersThen: 'I could not find an opening then. Here is what I have instead.',
  slotTaken: 'I am sorry, that time was just taken.',
  yesNoKeypad: 'Press 1 for yes, or 2 for no.',
  bookDeclined: 'No problem.',
  noUpcoming: 'You do not have any upcoming appointments.',
  offerBookInstead: 'Would you like to book one?',
  cancelKept: 'Okay, I have left your appointment as it is.',
  cancelled: 'Your appointment is cancelled.',
  askMedication: 'Which medication do you need refilled?',
  askMedicationKeypad: 'I will ask our nurse to call you about your refill. To continue, press 1.',
  askPharmacy: 'Which pharmacy should we send it to? You can say the pharmacy on file.',
  askPharmacyKeypad: 'To use the pharmacy we have on file, press 1.',
  refillSent: 'Your refill request is in. Our staff will review it within two business days.',
  askMessage: 'Please tell me your message for our staff.',
  askMessageKeypad: 'I will ask our staff to call you back. To confirm, press 1. To go back, press star.',
  messageSent: 'Your message has been sent. Our staff will get back to you.',
  messageDeclined: 'Okay, I did not send it.',
  mainMenuAgain: 'Sure. What can I help you with?',
  clarify: 'Do you want to {choices}?',
  identified: 'Thank you, {name}.',
  confirmBook: 'To confirm: {aType} with {provider} {day} at {time}. Shall I book it?',
  confirmReschedule: 'To confirm: move your {type} from {oldDay} at {oldTime} to {day} at {time} with {provider}. Shall I go ahead?',
  booked: 'You are all set. Your {type} with {provider} is {day} at {time}.',
  listAppointments: 'You have {count}: {appointments}.',
  pickAppointment: 'You have {count} upcoming appointments: {appointments}. Which one would you like to {action}?',
  oneAppointment: 'Your {appointment}.',
  confirmCancel: 'Cancel your {appointment}? Please say yes or no.',
  confirmRefill: 'I will send a refill request for {medication} to {pharmacy}. Shall I send it?',
  confirmMessage: 'I have your message as: {message}. Shall I send it?',
  hoursIntro: 'We are open {hours}.',
  addressIntro: 'We are at {address}.',
} as const;

export type PromptKey = keyof typeof DEFAULT_PROMPTS;

/**
 * The prompt text for a key: the clinic's override or the default, with `{name}` placeholders filled.
 * `greeting` always comes with the emergency notice (renderGreeting), whoever asks for it.
 */
export function renderPrompt(key: PromptKey, overrides: Readonly<Record<string, string>>, values: Readonly<Record<string, string>>): string {
  if (key === 'greeting') return renderGreeting(overrides, values);
  return fillTemplate(overrides[key] ?? DEFAULT_PROMPTS[key], values);
}

function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

// "911", "9 1 1", "9-1-1", "nine one one": how a notice may write the number to dial.
const DIAL_911 = /(^|[^0-9])9[\s.-]*1[\s.-]*1($|[^0-9])|\bnine[\s-]+one[\s-]+one\b/i;

/** True when the text tells the caller the emergency number (911 in any common spelling). */
export function mentions911(text: string): boolean {
  return DIAL_911.test(text);
}

/**
 * The greeting as callers hear it: the clinic's greeting, then the emergency notice, unless the greeting already
 * tells callers to dial 911 (a clinic that wrote its own notice into the greeting does not hear it twice).
 * The notice is not a clinic's to remove: parseClinicConfig refuses an `emergencyNotice` without 911.
 */
export function renderGreeting(overrides: Readonly<Record<string, string>>, values: Readonly<Record<string, string>>): string {
  const greeting = fillTemplate(overrides.greeting ?? DEFAULT_PROMPTS.greeting, values).trim();
  if (mentions911(greeting)) return greeting;
  let notice = fillTemplate(overrides.emergencyNotice ?? DEFAULT_PROMPTS.emergencyNotice, values).trim();
  // Defence in depth for a config that skipped validation: the caller still hears the number.
  if (!mentions911(notice)) notice = DEFAULT_PROMPTS.emergencyNotice;
  if (!greeting) return notice;
  return `${/[.!?]$/.test(greeting) ? greeting : `${greeting}.`} ${notice}`;
}

/**
 * Every prompt that is the same on every call of this clinic (filled only from the clinic's own config),
 * so TTS can render them once at start-up and serve them from memory.
 */
export function fixedPrompts(overrides: Readonly<Record<string, string>>, values: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(DEFAULT_PROMPTS) as PromptKey[]) {
    const text = renderPrompt(key, overrides, values);
    if (!/\{\w+\}/.test(text)) out.push(text);
  }
  return out;
}

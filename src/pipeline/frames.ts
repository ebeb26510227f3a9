/**
 * Frames: the typed units that flow through a call's pipeline.
 *
 * Direction "down" runs caller -> VAD -> turn-taking -> ASR -> dialog -> TTS -> playout -> transport.
 * Direction "up" carries what a later stage learned back to earlier ones (e.g. the bot started speaking).
 * An `interruption` is itself a frame: it flows down and every stage cancels its in-flight work on it.
 *
 * Audio inside the pipeline is 16-bit signed PCM, mono, 8000 Hz (the telephone rate) unless a frame says
 * otherwise. `at` is a monotonic time in milliseconds (performance.now()) used for per-hop latency.
 */

import type { AnswerExpectation } from '../dialog/types.js';

export const PIPELINE_SAMPLE_RATE = 8000;

/** Caller audio, decoded from the wire. `mediaTimestampMs` is the transport's own clock (Twilio's ms since start). */
export interface CallerAudioFrame { type: 'caller-audio'; samples: Int16Array; mediaTimestampMs: number; at: number }
export interface DtmfFrame { type: 'dtmf'; digit: string; at: number }

/** VAD: one analysis window's verdict (32 ms at 8 kHz). Turn-taking uses it to judge barge-in. */
export interface VadActivityFrame {
  type: 'vad-activity'; speech: boolean; probability: number; windowMs: number; at: number;
  /** RMS level of the window in dBFS. Silero's probability lags the end of a sound; the level does not. */
  levelDb: number;
}
/** VAD: the caller started speaking. `onsetAt` estimates the true onset (before the min-speech wait). */
export interface SpeechStartFrame { type: 'speech-start'; at: number; onsetAt: number }
/** VAD: the caller's turn ended after `endSilenceMs` of silence. `audio` is the utterance incl. pre-roll. */
export interface SpeechEndFrame { type: 'speech-end'; at: number; lastSpeechAt: number; audio: Int16Array; durationMs: number }

/**
 * ASR output. Partials may be revised; a final closes the caller's turn. Endpointing may hand the dialog a
 * `tentative` final: the answer is complete but the caller may still go on, so the reply is prepared and held
 * until `turn-confirmed` (or dropped, unheard, by an `interruption` with reason `turn-withdrawn`).
 */
export interface TranscriptFrame { type: 'transcript'; text: string; isFinal: boolean; at: number; confidence?: number; tentative?: boolean }
/** Endpointing: the tentative turn is the caller's whole turn after all; its prepared reply may play. */
export interface TurnConfirmedFrame { type: 'turn-confirmed'; at: number }
/**
 * Dialog -> playout: the replies from `fromTurnId` on answer a tentative turn; keep their audio off the line
 * until `turn-confirmed` (an `interruption` drops it). What is already playing is not held.
 */
export interface PlayoutHoldFrame { type: 'playout-hold'; fromTurnId: number; at: number }
/** ASR could not be used for this turn (no engine, engine failure): the dialog offers the keypad. */
export interface SpeechUnavailableFrame { type: 'speech-unavailable'; reason: string; at: number }

/** Barge-in: cancel everything the bot is preparing or saying. */
export interface InterruptionFrame {
  /** `turn-withdrawn`: the caller went on after a tentative turn; its prepared reply is dropped, unheard. */
  type: 'interruption'; at: number; reason: 'barge-in' | 'dtmf' | 'dialog' | 'turn-withdrawn';
  /** When the caller's interrupting speech began (barge-in latency is measured from here). */
  speechOnsetAt?: number;
}

/**
 * Tentative barge-in: the caller has spoken over the bot just long enough to matter. Playout silences the bot
 * at once (clear) but keeps what it has not played; `playout-resume` continues it if the sound proves to be a
 * backchannel ("hmm"), an `interruption` confirms it. Fast silence without cutting the bot off for noise.
 */
export interface PlayoutPauseFrame { type: 'playout-pause'; at: number; speechOnsetAt: number }
export interface PlayoutResumeFrame { type: 'playout-resume'; at: number }

/** Dialog -> TTS: something to say. `turnId` ties it to latency records; `cacheable` marks fixed prompts. */
export interface BotReplyFrame { type: 'bot-reply'; text: string; turnId: number; at: number; cacheable?: boolean }

/** TTS -> playout: one piece of audio for one sentence. */
export type TtsAudio =
  | { format: 'pcm16'; sampleRate: number; samples: Int16Array }
  | { format: 'mulaw8k'; bytes: Uint8Array };
export interface BotAudioFrame { type: 'bot-audio'; sentenceId: string; audio: TtsAudio; turnId: number; at: number }
/** TTS -> playout: sentence boundaries, so playout can put a playback marker after each sentence. */
export interface BotSentenceStartFrame { type: 'bot-sentence-start'; sentenceId: string; text: string; turnId: number; at: number }
export interface BotSentenceEndFrame {
  type: 'bot-sentence-end'; sentenceId: string; turnId: number; at: number;
  /** The last sentence of its bot-reply (the dialog waits for it before ending the call). */
  lastInReply?: boolean;
}

/**
 * Playout -> transport: what goes on the line, in no wire's format. Each transport encodes for its own wire
 * (Twilio: mu-law JSON and marks; SIP: RTP packets; AudioSocket: slin frames).
 */
/** One 20 ms frame of 8 kHz PCM for the caller. */
export interface OutboundAudioFrame { type: 'outbound-audio'; samples: Int16Array; at: number }
/** Report `playback-reached` with this name once the caller has heard everything sent before it. */
export interface PlaybackMarkerFrame { type: 'playback-marker'; name: string; at: number }
/** Drop what the far end (or the transport's own pacer) holds unplayed: barge-in. */
export interface OutboundClearFrame { type: 'outbound-clear'; at: number }
/** Transport -> playout (up): the caller has heard everything sent before the named marker. */
export interface PlaybackReachedFrame { type: 'playback-reached'; name: string; at: number }

/** Playout (up): what the caller is hearing. */
export interface BotSpeakingFrame { type: 'bot-speaking'; speaking: boolean; at: number }
/** Playout (up): a sentence finished playing or was cut off; `heardText` is what the caller heard. */
export interface SentencePlayedFrame {
  type: 'sentence-played'; sentenceId: string; text: string; heardText: string; truncated: boolean; turnId: number; at: number;
  lastInReply?: boolean;
}

/**
 * Playout (up, to TTS): it holds enough unsent audio (`full`) that TTS should hold its next chunk, or it has
 * room again. Rendering follows playback this way, so a reply that is cut off was barely rendered at all.
 */
export interface PlayoutBacklogFrame { type: 'playout-backlog'; full: boolean; at: number }

/**
 * Dialog (up): the question now on the table and what it waits for. Sent when a new question is asked;
 * turn-taking and ASR use it to judge a caller's turn against the answer expected (see dialog/expectations).
 */
export interface ExpectationFrame { type: 'expectation'; expectation: AnswerExpectation; at: number }

/** Dialog -> session: hang up, or hand the call to a person. */
export interface EndCallFrame { type: 'end-call'; reason: 'completed' | 'transfer' | 'error'; at: number }

export type Frame =
  | CallerAudioFrame | DtmfFrame | VadActivityFrame | SpeechStartFrame | SpeechEndFrame | TranscriptFrame | SpeechUnavailableFrame
  | TurnConfirmedFrame | PlayoutHoldFrame
  | InterruptionFrame | PlayoutPauseFrame | PlayoutResumeFrame | BotReplyFrame | BotAudioFrame | BotSentenceStartFrame | BotSentenceEndFrame
  | OutboundAudioFrame | PlaybackMarkerFrame | OutboundClearFrame | PlaybackReachedFrame | BotSpeakingFrame
  | SentencePlayedFrame | PlayoutBacklogFrame | ExpectationFrame | EndCallFrame;

export type FrameType = Frame['type'];
export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;
export type Direction = 'down' | 'up';

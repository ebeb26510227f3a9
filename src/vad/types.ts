/**
 * Voice activity detection plugin interface. A model is loaded once per server and shared; each call gets its
 * own stream holding that call's recurrent state. Windows are float PCM in [-1, 1] at the stream's rate.
 */

export interface VadStream {
  readonly sampleRate: number;
  /** Samples per window the model takes (Silero: 256 at 8 kHz, 512 at 16 kHz). */
  readonly windowSamples: number;
  /**
   * Speech probability of one window. Windows are scored in the order given; the next may be given before the
   * previous one's result (a call that fell behind hands over its whole backlog at once). The window is copied
   * before this returns, so the caller may reuse its buffer.
   */
  probability(window: Float32Array): Promise<number>;
  reset(): void;
}

export interface VadModel {
  readonly name: string;
  /**
   * How long the model keeps reporting speech after speech stops (its recurrent state decays over a few
   * windows); the segmenter reports the last speech this much earlier. Absent: 0.
   */
  readonly endHangoverMs?: number;
  createStream(sampleRate: 8000 | 16000): VadStream;
  close(): Promise<void>;
}

/**
 * The two deadlines of a streamed model call: the wait for the response to start, then the silence
 * allowed between its events. The SDKs' own timeouts stop at the response headers, so a stream that
 * goes quiet afterwards would hang without this.
 */
import type { Clock, TimerId } from "../kernel/mod.ts";

/** Which deadline passed: the response never started, or it went silent after starting. */
export type WatchdogPhase = "start" | "idle";

/** Options of {@linkcode IdleWatchdog}. */
export interface IdleWatchdogOptions {
  /** Times both deadlines. */
  clock: Clock;
  /** How long the response may take to send its first stream event. */
  startMs: number;
  /** How long the stream may stay silent once it has started. */
  idleMs: number;
  /** Called once, when a deadline passes. */
  onTimeout: (phase: WatchdogPhase) => void;
}

/**
 * Calls `onTimeout` when no activity arrives within `startMs`, or within `idleMs` of the last
 * activity after that. One timer at a time: activity only moves a timestamp, and a timer that
 * fires early re-arms itself for the rest, so a fast stream costs no timer per event.
 */
export class IdleWatchdog {
  #options: IdleWatchdogOptions;
  #phase: WatchdogPhase = "start";
  #last: number;
  #timer: TimerId | undefined;
  #fired: WatchdogPhase | undefined;

  constructor(options: IdleWatchdogOptions) {
    this.#options = options;
    this.#last = options.clock.now();
    this.#arm(options.startMs);
  }

  /** The deadline that passed, if one did. */
  get fired(): WatchdogPhase | undefined {
    return this.#fired;
  }

  /** Records stream activity; the first call ends the start phase. */
  activity(): void {
    if (this.#timer === undefined) return;
    this.#last = this.#options.clock.now();
    if (this.#phase === "start") {
      this.#phase = "idle";
      this.#options.clock.clearTimeout(this.#timer);
      this.#arm(this.#options.idleMs);
    }
  }

  /** Cancels the timer; idempotent. */
  stop(): void {
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.#options.clock.setTimeout(() => {
      const limit = this.#phase === "start" ? this.#options.startMs : this.#options.idleMs;
      const quiet = this.#options.clock.now() - this.#last;
      if (quiet < limit) return this.#arm(limit - quiet);
      this.#timer = undefined;
      this.#fired = this.#phase;
      this.#options.onTimeout(this.#phase);
    }, ms);
  }
}

/**
 * Cooldowns per `<provider>/<model>`: a model that just failed goes to the back of the chain for a
 * while, so the next turns go straight to a fallback instead of waiting on it again. Steps 30 s → 1 min → 5 min (cap);
 * billing and auth failures 10 min; a longer `retry-after` from the provider wins. A success clears.
 */
import type { Clock, FailureKind } from "../kernel/mod.ts";

/** Cooldown steps after consecutive failures, in ms. */
export const COOLDOWN_STEPS_MS: readonly number[] = [30_000, 60_000, 300_000];
/** Cooldown after `auth` or `billing`: a person has to act first. */
export const ACCOUNT_COOLDOWN_MS = 600_000;

/** Failures that say nothing about the model's health, so they start no cooldown. */
const NOT_HEALTH: ReadonlySet<FailureKind> = new Set([
  "bad_request",
  "aborted",
  "context_overflow",
]);

/** A model's cooldown as shown by `models.list`. */
export interface CooldownState {
  /** Epoch ms when the model is tried first again. */
  until: number;
  /** The failure that started it. */
  reason: FailureKind;
  /** Consecutive failures so far. */
  failures: number;
  /** How long this cooldown was set for. */
  ms: number;
  /** When the failure that set it was recorded. */
  at: number;
}

/** Cooldowns of every model ref, in memory (a restart forgets them, which only costs one retry). */
export class CooldownBook {
  #clock: Clock;
  #states = new Map<string, CooldownState>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Records a failure of `ref`; returns the cooldown it started (undefined for request-shaped failures). */
  fail(ref: string, kind: FailureKind, retryAfterMs?: number): CooldownState | undefined {
    if (NOT_HEALTH.has(kind)) return undefined;
    const failures = (this.#states.get(ref)?.failures ?? 0) + 1;
    const step = kind === "auth" || kind === "billing"
      ? ACCOUNT_COOLDOWN_MS
      : COOLDOWN_STEPS_MS[Math.min(failures, COOLDOWN_STEPS_MS.length) - 1];
    const ms = Math.max(step, retryAfterMs ?? 0);
    const at = this.#clock.now();
    const state = { until: at + ms, reason: kind, failures, ms, at };
    this.#states.set(ref, state);
    return state;
  }

  /**
   * Records a success of a call to `ref` that started at `startedAt`: its cooldown and failure
   * count are cleared, unless a failure was recorded after that call began (a slow success must
   * not cancel what a concurrent call just learned).
   */
  succeed(ref: string, startedAt = Infinity): void {
    const state = this.#states.get(ref);
    if (state && state.at <= startedAt) this.#states.delete(ref);
  }

  /** Every model with a cooldown still running. */
  activeRefs(): string[] {
    const now = this.#clock.now();
    return [...this.#states].filter(([, s]) => s.until > now).map(([ref]) => ref);
  }

  /** The cooldown of `ref` while it lasts. */
  active(ref: string): CooldownState | undefined {
    const state = this.#states.get(ref);
    return state && state.until > this.#clock.now() ? { ...state } : undefined;
  }
}

/** Failed-auth rate limiting per source with lockout. Bounded: stale entries are pruned. */
import type { Clock } from "../kernel/mod.ts";

interface Entry {
  failures: number[];
  lockedUntil: number;
}

/** Options of {@linkcode AuthLimiter}. */
export interface AuthLimiterOptions {
  clock: Clock;
  maxAttempts: number;
  windowMs: number;
  lockoutMs: number;
  /** Sources tracked at most; the oldest are forgotten first. @default 10_000 */
  maxSources?: number;
}

/** Counts failed attempts per source; too many within the window locks the source out. */
export class AuthLimiter {
  #entries = new Map<string, Entry>();
  constructor(readonly options: AuthLimiterOptions) {}

  /** Milliseconds left on a lockout for `source`, or 0. */
  lockedFor(source: string): number {
    const e = this.#entries.get(source);
    if (!e) return 0;
    return Math.max(0, e.lockedUntil - this.options.clock.now());
  }

  /** Records a failure; returns the lockout length in ms when this failure triggered one. */
  fail(source: string): number {
    const now = this.options.clock.now();
    const { windowMs, maxAttempts, lockoutMs, maxSources = 10_000 } = this.options;
    let e = this.#entries.get(source);
    if (!e) {
      if (this.#entries.size >= maxSources) this.#prune(now, maxSources);
      e = { failures: [], lockedUntil: 0 };
      this.#entries.set(source, e);
    }
    e.failures = e.failures.filter((t) => now - t < windowMs);
    e.failures.push(now);
    if (e.failures.length >= maxAttempts) {
      e.lockedUntil = now + lockoutMs;
      e.failures = [];
      return lockoutMs;
    }
    return 0;
  }

  /** Forgets a source's failures after a success. */
  succeed(source: string): void {
    const e = this.#entries.get(source);
    if (e && e.lockedUntil <= this.options.clock.now()) this.#entries.delete(source);
  }

  #prune(now: number, maxSources: number): void {
    for (const [k, e] of this.#entries) {
      if (e.lockedUntil <= now && e.failures.every((t) => now - t >= this.options.windowMs)) {
        this.#entries.delete(k);
      }
    }
    while (this.#entries.size >= maxSources) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}

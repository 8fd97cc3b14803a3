/**
 * The failover chain: one model call walks `[primary, ...fallbacks]` (or just the session's own
 * model, strictly) until a model answers. Models cooling down go last; failures that say the
 * request is wrong (bad_request) or that the user stopped (aborted) end the walk at once, and a
 * context overflow goes back to the caller to compact. Between passes over the chain it waits
 * (retry-after honoured up to a cap).
 */
import {
  type Clock,
  type FailureKind,
  GatehouseError,
  type ModelResolver,
  type Provider,
  ProviderError,
  Tally,
} from "../kernel/mod.ts";
import type { CooldownBook } from "./cooldown.ts";

/** The models one turn may use, in order. */
export interface ChainPlan {
  refs: string[];
  /** The session picked its model: no fallback. */
  strict: boolean;
}

/** A model to call. */
export interface ModelChoice {
  ref: string;
  provider: Provider;
  model: string;
}

/** A failed attempt and what happens next; the caller turns it into a `chat` status event. */
export interface FailoverStatus {
  /** 1-based count of calls made in this walk, the failed one included. */
  attempt: number;
  /** The model that failed. */
  model: string;
  reason: FailureKind;
  message: string;
  /** The model tried next; absent when the walk gives up. */
  next?: string;
  /** Wait before the next attempt, when another pass over the chain starts. */
  waitMs?: number;
  /** How long the failed model is now skipped. */
  cooldownMs?: number;
}

/** Options of {@linkcode Failover}. */
export interface FailoverOptions {
  models: ModelResolver;
  cooldowns: CooldownBook;
  clock: Clock;
  /** Passes over the chain before giving up. */
  rounds: number;
  /** Longest wait between passes. */
  maxWaitMs: number;
}

/** Failures a later pass cannot fix: a person has to change the key or the account first. */
const ACCOUNT: ReadonlySet<FailureKind> = new Set(["auth", "billing"]);
/** Failures that end the walk: retrying elsewhere would fail the same way or was not wanted. */
const FINAL: ReadonlySet<FailureKind> = new Set(["bad_request", "aborted", "context_overflow"]);
/** First wait between passes when the provider named none. */
const BASE_WAIT_MS = 1000;

/** Walks model chains; one instance per gateway, shared by every turn. */
export class Failover {
  #o: FailoverOptions;
  /**
   * Every model call by model and result: `ok`, the failure class (`rate_limit`, `timeout`, …),
   * or `internal` for an error that is not the provider's (`/metrics`).
   */
  readonly attempts = new Tally(["model", "result"] as const);

  constructor(options: FailoverOptions) {
    this.#o = options;
  }

  /** Takes new `[agent.failover]` settings for the walks that start from now on (config reload). */
  configure(settings: Pick<FailoverOptions, "rounds" | "maxWaitMs">): void {
    this.#o = { ...this.#o, ...settings };
  }

  /** The chain for a turn: the session's own model strictly, else the configured primary and fallbacks. */
  plan(
    sessionModel: string | undefined,
    primary: string | undefined,
    fallbacks: string[],
  ): ChainPlan {
    if (sessionModel) return { refs: [sessionModel], strict: true };
    if (!primary) return { refs: [], strict: false };
    return { refs: [...new Set([primary, ...fallbacks])], strict: false };
  }

  /**
   * Calls `attempt` on each model in turn until one returns. Throws the `ProviderError` of a
   * final failure (bad_request, aborted, context_overflow) as it is, and a `GatehouseError`
   * naming every attempt when the chain is exhausted.
   */
  async run<T>(
    plan: ChainPlan,
    attempt: (choice: ModelChoice) => Promise<T>,
    hooks: { signal: AbortSignal; onFailover?: (status: FailoverStatus) => void },
  ): Promise<{ value: T; ref: string }> {
    const o = this.#o; // one walk keeps the settings it started with
    const { cooldowns } = o;
    const unusable: string[] = [];
    const choices: ModelChoice[] = [];
    for (const ref of plan.refs) {
      const r = o.models.resolve(ref);
      if (r.ok) choices.push({ ref, provider: r.provider, model: r.model });
      else unusable.push(r.reason);
    }
    if (choices.length === 0) {
      throw new GatehouseError("NO_MODEL", unusable.join("; ") || "no model is configured");
    }

    const failures: { ref: string; error: ProviderError }[] = [];
    const benched = new Set<string>();
    let calls = 0;
    for (let round = 0; round < o.rounds; round++) {
      const order = this.#order(choices.filter((c) => !benched.has(c.ref)));
      let retryAfterMs = 0;
      for (let i = 0; i < order.length; i++) {
        const choice = order[i];
        hooks.signal.throwIfAborted();
        calls++;
        const startedAt = o.clock.now();
        try {
          const value = await attempt(choice);
          cooldowns.succeed(choice.ref, startedAt);
          this.attempts.add({ model: choice.ref, result: "ok" });
          return { value, ref: choice.ref };
        } catch (err) {
          this.attempts.add({ model: choice.ref, result: resultOf(err, hooks.signal) });
          if (!(err instanceof ProviderError) || hooks.signal.aborted) throw err;
          // A refused request after earlier failures: the error names them all.
          if (err.kind === "bad_request" && failures.length) {
            throw exhausted(plan, [...failures, { ref: choice.ref, error: err }]);
          }
          if (FINAL.has(err.kind)) throw err;
          failures.push({ ref: choice.ref, error: err });
          const cooldown = cooldowns.fail(choice.ref, err.kind, err.options.retryAfterMs);
          if (ACCOUNT.has(err.kind)) benched.add(choice.ref);
          retryAfterMs = Math.max(retryAfterMs, err.options.retryAfterMs ?? 0);
          const status: FailoverStatus = {
            attempt: calls,
            model: choice.ref,
            reason: err.kind,
            message: err.message,
            ...(cooldown ? { cooldownMs: cooldown.ms } : {}),
          };
          const nextInRound = order[i + 1];
          const again = round + 1 < o.rounds && choices.some((c) => !benched.has(c.ref));
          if (nextInRound) status.next = nextInRound.ref;
          else if (again) {
            status.next = this.#order(choices.filter((c) => !benched.has(c.ref)))[0].ref;
            status.waitMs = Math.min(
              o.maxWaitMs,
              Math.max(retryAfterMs, BASE_WAIT_MS * 2 ** round),
            );
          }
          hooks.onFailover?.(status);
          if (status.waitMs) await sleep(o.clock, status.waitMs, hooks.signal);
        }
      }
    }
    throw exhausted(plan, failures);
  }

  /** Ready models in chain order, then those cooling down, soonest ready first. */
  #order(choices: ModelChoice[]): ModelChoice[] {
    const ready: ModelChoice[] = [];
    const cooling: { choice: ModelChoice; until: number }[] = [];
    for (const choice of choices) {
      const cd = this.#o.cooldowns.active(choice.ref);
      if (cd) cooling.push({ choice, until: cd.until });
      else ready.push(choice);
    }
    cooling.sort((a, b) => a.until - b.until);
    return [...ready, ...cooling.map((c) => c.choice)];
  }
}

/** How a failed call counts in `attempts`. */
function resultOf(err: unknown, signal: AbortSignal): string {
  if (err instanceof ProviderError) return err.kind;
  return signal.aborted ? "aborted" : "internal";
}

/** The error of a chain where every attempt failed. */
function exhausted(plan: ChainPlan, failures: { ref: string; error: ProviderError }[]) {
  const last = failures[failures.length - 1].error;
  const tried = [...new Set(failures.map((f) => f.ref))];
  let message = tried.length === 1
    ? `model ${tried[0]} failed (${last.kind}): ${last.message}`
    : `every model failed: ${
      tried.map((ref) => `${ref} (${failures.findLast((f) => f.ref === ref)!.error.kind})`).join(
        ", ",
      )
    }; last error: ${last.message}`;
  if (plan.strict) {
    message += "; no fallback was tried because this session's model was picked explicitly " +
      '(send "/model default" to go back to the configured models)';
  }
  return new GatehouseError("PROVIDER_ERROR", message, {
    details: {
      kind: last.kind,
      status: last.options.status,
      strict: plan.strict,
      attempts: failures.map((f) => ({ model: f.ref, kind: f.error.kind })),
    },
    retryable: !ACCOUNT.has(last.kind),
    retryAfterMs: last.options.retryAfterMs,
  });
}

/** Waits `ms` on `clock`; rejects with the signal's reason when it aborts first. */
function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

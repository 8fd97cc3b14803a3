/** Turns: a driver over one WebSocket client, and closed-loop load over many sessions. */
import type { GatewayClient } from "../src/cli/client.ts";
import type { ChatStatus, ErrorShape } from "../src/kernel/mod.ts";

/** One finished turn as the client saw it. */
export interface TurnResult {
  /** The end state: `final`, `aborted` or `error`. */
  state: string;
  /** chat.send sent → final (or error/aborted) event received, in ms. */
  ms: number;
  /** The `<provider>/<model>` that answered, from the `final` event. */
  model?: string;
  /** The `status` events of the run (failovers, compaction), in order; absent when none came. */
  statuses?: ChatStatus[];
  /** Why the run ended without an answer (`error`/`aborted` events). */
  error?: ErrorShape;
}

/** What ended a run, kept until its waiter takes it. */
type RunEnd = Omit<TurnResult, "ms">;

/** `chat` states that end a run; `delta` and `status` arrive while it goes on. */
const END_STATES: ReadonlySet<unknown> = new Set(["final", "aborted", "error"]);

/**
 * Runs turns over one client with a single event listener (a listener per turn, as
 * `sendAndWait` adds, would cost the bench O(turns in flight) per event).
 */
export class TurnDriver {
  #client: GatewayClient;
  #waiting = new Map<string, (end: RunEnd) => void>();
  /** Ends that arrived before their chat.send answer (possible in principle). */
  #early = new Map<string, RunEnd>();
  /** Status events of runs not yet ended, by run id. */
  #statuses = new Map<string, ChatStatus[]>();
  #timeoutMs: number;

  constructor(client: GatewayClient, options: { timeoutMs?: number } = {}) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    client.onEvent((e) => {
      if (e.event !== "chat") return;
      const p = e.payload;
      if (p.state === "delta") return;
      const ids = Array.isArray(p.runIds) ? p.runIds as string[] : [String(p.runId)];
      if (!END_STATES.has(p.state)) {
        if (p.state !== "status") return;
        for (const id of ids) {
          const list = this.#statuses.get(id);
          if (list) list.push(p.status as ChatStatus);
          else this.#statuses.set(id, [p.status as ChatStatus]);
        }
        return;
      }
      for (const id of ids) {
        const statuses = this.#statuses.get(id);
        this.#statuses.delete(id);
        const end: RunEnd = {
          state: String(p.state),
          ...(typeof p.model === "string" ? { model: p.model } : {}),
          ...(statuses ? { statuses } : {}),
          ...(p.error ? { error: p.error as ErrorShape } : {}),
        };
        const resolve = this.#waiting.get(id);
        if (resolve) {
          this.#waiting.delete(id);
          resolve(end);
        } else this.#early.set(id, end);
      }
    });
  }

  /** Sends one message and resolves when its run ends; rejects on a refused send or a timeout. */
  async turn(sessionKey: string, message: string): Promise<TurnResult> {
    const t0 = performance.now();
    const ack = await this.#client.request<{ runId: string }>("chat.send", {
      sessionKey,
      message,
      idempotencyKey: crypto.randomUUID(),
    });
    const early = this.#early.get(ack.runId);
    if (early !== undefined) {
      this.#early.delete(ack.runId);
      return { ...early, ms: performance.now() - t0 };
    }
    const end = await new Promise<RunEnd>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(ack.runId);
        reject(new Error(`run ${ack.runId} did not end within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiting.set(ack.runId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    return { ...end, ms: performance.now() - t0 };
  }
}

/** The outcome of {@linkcode closedLoop}. */
export interface LoadResult {
  turns: number;
  errors: number;
  seconds: number;
  turnsPerSecond: number;
  /** Sorted latencies of the successful turns, ms. */
  latencies: number[];
  /** The first few error messages, for the report. */
  errorSamples: string[];
}

/**
 * Closed-loop load: each worker keeps exactly one message in flight, cycling through its own
 * sessions (so no session ever has two), until `turns` have been sent in all or `seconds` have
 * passed. Workers are spread over the drivers (one per client connection) round-robin.
 */
export async function closedLoop(
  drivers: TurnDriver[],
  workers: string[][],
  options: {
    turns: number;
    seconds: number;
    onTurn?: (done: number) => void | Promise<void>;
    /** Sees every turn that ended (whatever its state), before `onTurn`. */
    onResult?: (result: TurnResult, sessionKey: string) => void;
  },
): Promise<LoadResult> {
  let issued = 0;
  let done = 0;
  let errors = 0;
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + options.seconds * 1000;
  const worker = async (driver: TurnDriver, keys: string[]) => {
    for (let i = 0; issued < options.turns && performance.now() < deadline; i++) {
      const n = ++issued;
      try {
        const key = keys[i % keys.length];
        const r = await driver.turn(key, `bench message ${n}`);
        options.onResult?.(r, key);
        if (r.state === "final") latencies.push(r.ms);
        else {
          errors++;
          if (errorSamples.length < 5) {
            errorSamples.push(
              `run ended ${r.state}${r.error ? `: ${r.error.code} ${r.error.message}` : ""}`,
            );
          }
        }
      } catch (err) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((err as Error).message);
      }
      done++;
      await options.onTurn?.(done);
    }
  };
  await Promise.all(workers.map((keys, i) => worker(drivers[i % drivers.length], keys)));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    turns: done,
    errors,
    seconds,
    turnsPerSecond: (done - errors) / seconds,
    latencies,
    errorSamples,
  };
}

/** Deals `sessions` out to `count` workers: worker w gets sessions w, w+count, w+2·count, … */
export function deal(sessions: string[], count: number): string[][] {
  const out: string[][] = Array.from({ length: Math.min(count, sessions.length) }, () => []);
  sessions.forEach((key, i) => out[i % out.length].push(key));
  return out;
}

/** Session keys `agent:main:bench:direct:<prefix><n>` for n = 0 … count-1. */
export function sessionKeys(count: number, prefix = ""): string[] {
  return Array.from({ length: count }, (_, i) => `agent:main:bench:direct:${prefix}${i}`);
}

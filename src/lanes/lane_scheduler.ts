/**
 * The lane scheduler: one run at a time per session key, a global cap across keys, queue modes for
 * messages that arrive while a session is busy, and a watchdog that always frees a stuck lane.
 * Per-key promise chaining in the spirit of grammY runner's `sequentialize`, plus the modes.
 */
import {
  type Clock,
  GatehouseError,
  type Logger,
  type QueueMode,
  Tally,
  type TimerId,
} from "../kernel/mod.ts";
import { Semaphore } from "./semaphore.ts";

/** One queued unit of work. */
export interface LaneItem<T> {
  id: string;
  mode: QueueMode;
  payload: T;
}

/** What a run sees of its lane. */
export interface RunContext<T> {
  key: string;
  /** Aborted by `chat.abort`, by an `interrupt` message, by the watchdog, or at shutdown. */
  signal: AbortSignal;
  /**
   * Items steered into this run since the last call. The run calls it at each model/tool boundary
   * and must answer every item it takes; items it never takes run as the next turn instead.
   */
  takeSteered(): LaneItem<T>[];
  /** False once the watchdog gave up on the run and freed its lane: the run must write nothing more. */
  readonly current: boolean;
}

/** What {@linkcode LaneScheduler.submit} did with an item. */
export type SubmitOutcome = "started" | "queued" | "steered" | "interrupting";

/** Why an item left a queue without running. */
export type DropReason = "queue_full" | "aborted";

/** Options of {@linkcode LaneScheduler}. */
export interface LaneSchedulerOptions<T> {
  /** Runs one batch (one turn); must settle when `ctx.signal` aborts. */
  run(batch: LaneItem<T>[], ctx: RunContext<T>): Promise<void>;
  /** Told about every item that will never run. */
  onDrop(key: string, item: LaneItem<T>, reason: DropReason): void;
  /**
   * Told when the watchdog gave up on a run that ignored its abort: the run's items (its batch and
   * the steered items it took) will get no answer from the run itself.
   */
  onAbandon(key: string, items: LaneItem<T>[], reason: unknown): void;
  clock: Clock;
  logger: Logger;
  /** Runs at once across all keys. @default 8 */
  maxConcurrent?: number;
  /** A run older than this is aborted by the watchdog. @default 600_000 */
  timeoutMs?: number;
  /** After an abort, how long a run may take to settle before its lane is freed anyway. @default 5_000 */
  abortGraceMs?: number;
  /** Queued items per key; past it the oldest is dropped. @default 20 */
  queueCap?: number;
  /** Quiet window before `collect` items run together. @default 500 */
  debounceMs?: number;
}

interface Queued<T> extends LaneItem<T> {
  /** Submission order, so items put back into a queue keep their place. */
  seq: number;
}

interface ActiveRun<T> {
  controller: AbortController;
  batch: LaneItem<T>[];
  steered: Queued<T>[];
  /** Steered items the run took (they belong to it now). */
  taken: LaneItem<T>[];
  released: boolean;
  watchdog?: TimerId;
  grace?: TimerId;
}

interface Lane<T> {
  key: string;
  queue: Queued<T>[];
  active?: ActiveRun<T>;
  /** Waiting for the debounce window or for a global slot. */
  waiting?: "debounce" | "slot";
  debounce?: TimerId;
  /** Resolved when the running turn ends. */
  idleWaiters?: Array<() => void>;
}

/** Serialises runs per key. */
export class LaneScheduler<T> {
  /** Items that left a queue without running, by reason (`/metrics`). */
  readonly drops = new Tally<"reason">(["reason"]);
  #lanes = new Map<string, Lane<T>>();
  #slots: Semaphore;
  #opts: Required<LaneSchedulerOptions<T>>;
  #closed = false;
  #seq = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: LaneSchedulerOptions<T>) {
    this.#opts = {
      maxConcurrent: 8,
      timeoutMs: 600_000,
      abortGraceMs: 5_000,
      queueCap: 20,
      debounceMs: 500,
      ...options,
    };
    this.#slots = new Semaphore(this.#opts.maxConcurrent);
    for (const reason of ["queue_full", "aborted"]) this.drops.add({ reason }, 0);
  }

  /** Hands an item to its key's lane. */
  submit(key: string, submitted: LaneItem<T>): SubmitOutcome {
    const item: Queued<T> = { ...submitted, seq: ++this.#seq };
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { key, queue: [] };
      this.#lanes.set(key, lane);
    }
    const active = lane.active;
    if (!active && !lane.waiting && lane.queue.length === 0) {
      lane.queue.push(item);
      this.#acquire(lane);
      return lane.active ? "started" : "queued";
    }
    if (active && item.mode === "steer") {
      active.steered.push(item);
      return "steered";
    }
    lane.queue.push(item);
    while (lane.queue.length > this.#opts.queueCap) {
      this.#drop(key, strip(lane.queue.shift()!), "queue_full");
    }
    if (item.mode === "interrupt" && active) {
      active.controller.abort(new GatehouseError("ABORTED", "interrupted by a newer message"));
      return "interrupting";
    }
    if (lane.waiting === "debounce") this.#debounce(lane);
    return "queued";
  }

  /** Aborts the key's running turn; with `clearQueue`, its queued items are dropped too. */
  abort(key: string, reason: GatehouseError, options: { clearQueue?: boolean } = {}): {
    aborted: boolean;
    dropped: number;
  } {
    const lane = this.#lanes.get(key);
    if (!lane) return { aborted: false, dropped: 0 };
    const active = lane.active;
    const dropped = options.clearQueue
      ? [...lane.queue.splice(0), ...(active?.steered.splice(0) ?? [])]
      : [];
    for (const item of dropped) this.#drop(key, strip(item), "aborted");
    if (active && !active.controller.signal.aborted) active.controller.abort(reason);
    if (!active) this.#schedule(lane);
    return { aborted: !!active, dropped: dropped.length };
  }

  /** Whether the key has a run in progress. */
  isRunning(key: string): boolean {
    return !!this.#lanes.get(key)?.active;
  }

  /** Items waiting on the key's lane. */
  depth(key: string): number {
    return this.#lanes.get(key)?.queue.length ?? 0;
  }

  /** Counters for `status`. */
  stats(): { lanes: number; running: number; waitingForSlot: number; queued: number } {
    let queued = 0;
    for (const lane of this.#lanes.values()) queued += lane.queue.length;
    return {
      lanes: this.#lanes.size,
      running: this.#slots.active,
      waitingForSlot: this.#slots.waiting,
      queued,
    };
  }

  /** Per-key depths of busy lanes, deepest first. */
  lanes(limit = 20): { key: string; running: boolean; queued: number }[] {
    return [...this.#lanes.values()]
      .map((l) => ({ key: l.key, running: !!l.active, queued: l.queue.length }))
      .sort((a, b) => b.queued - a.queued)
      .slice(0, limit);
  }

  /** Starts nothing new from now on; queued items stay where they are (the ingress log replays them). */
  close(): void {
    this.#closed = true;
    for (const lane of this.#lanes.values()) {
      if (lane.debounce !== undefined) this.#opts.clock.clearTimeout(lane.debounce);
      if (lane.waiting === "debounce") lane.waiting = undefined;
    }
  }

  /** Aborts every running turn. */
  abortAll(reason: GatehouseError): number {
    let n = 0;
    for (const lane of this.#lanes.values()) {
      if (lane.active && !lane.active.controller.signal.aborted) {
        lane.active.controller.abort(reason);
        n++;
      }
    }
    return n;
  }

  /** Resolves when the key has no run in progress. */
  whenKeyIdle(key: string): Promise<void> {
    const lane = this.#lanes.get(key);
    if (!lane?.active) return Promise.resolve();
    return new Promise((resolve) => (lane.idleWaiters ??= []).push(resolve));
  }

  /** Resolves when no run is in progress. */
  whenIdle(): Promise<void> {
    if (this.#slots.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #drop(key: string, item: LaneItem<T>, reason: DropReason): void {
    this.drops.add({ reason });
    this.#opts.onDrop(key, item, reason);
  }

  #debounce(lane: Lane<T>): void {
    if (lane.debounce !== undefined) this.#opts.clock.clearTimeout(lane.debounce);
    lane.waiting = "debounce";
    lane.debounce = this.#opts.clock.setTimeout(() => {
      lane.debounce = undefined;
      lane.waiting = undefined;
      this.#acquire(lane);
    }, this.#opts.debounceMs);
  }

  /** Decides what the lane does next after a run or a change of its queue. */
  #schedule(lane: Lane<T>): void {
    if (lane.active || lane.waiting) return;
    if (lane.queue.length === 0) {
      this.#lanes.delete(lane.key);
      return;
    }
    if (this.#closed) return;
    if (lane.queue[0].mode === "collect" && this.#opts.debounceMs > 0) {
      this.#debounce(lane);
      return;
    }
    this.#acquire(lane);
  }

  #acquire(lane: Lane<T>): void {
    if (this.#closed) return;
    lane.waiting = "slot";
    this.#slots.acquire(() => this.#start(lane));
  }

  #start(lane: Lane<T>): void {
    lane.waiting = undefined;
    const batch = this.#closed ? [] : takeBatch(lane.queue);
    if (batch.length === 0) {
      this.#releaseSlot();
      this.#schedule(lane);
      return;
    }
    const active: ActiveRun<T> = {
      controller: new AbortController(),
      batch,
      steered: [],
      taken: [],
      released: false,
    };
    lane.active = active;
    const { clock, logger, timeoutMs, abortGraceMs } = this.#opts;
    active.watchdog = clock.setTimeout(() => {
      active.controller.abort(
        new GatehouseError(
          "TIMEOUT",
          `the turn ran longer than agent.timeout_seconds (${
            timeoutMs / 1000
          } s) and was stopped; ` +
            `raise agent.timeout_seconds if turns need longer`,
        ),
      );
    }, timeoutMs);
    active.controller.signal.addEventListener("abort", () => {
      active.grace = clock.setTimeout(() => {
        if (active.released) return;
        logger.error("run did not stop after abort; lane freed", {
          runId: batch[0].id,
          sessionKey: lane.key,
          graceMs: abortGraceMs,
        });
        this.#finish(lane, active);
        this.#opts.onAbandon(
          lane.key,
          [...active.batch, ...active.taken],
          active.controller.signal.reason,
        );
      }, abortGraceMs);
    }, { once: true });
    const ctx: RunContext<T> = {
      key: lane.key,
      signal: active.controller.signal,
      takeSteered: () => {
        const taken = active.steered.splice(0).map(strip);
        active.taken.push(...taken);
        return taken;
      },
      get current() {
        return !active.released;
      },
    };
    this.#opts.run(batch, ctx)
      .catch((err) =>
        logger.error("run failed", { runId: batch[0].id, sessionKey: lane.key, error: String(err) })
      )
      .finally(() => this.#finish(lane, active));
  }

  #finish(lane: Lane<T>, active: ActiveRun<T>): void {
    if (active.released) return;
    active.released = true;
    const { clock } = this.#opts;
    if (active.watchdog !== undefined) clock.clearTimeout(active.watchdog);
    if (active.grace !== undefined) clock.clearTimeout(active.grace);
    lane.active = undefined;
    for (const resolve of lane.idleWaiters?.splice(0) ?? []) resolve();
    // Steered items the run never took run as followups, in the order they were accepted.
    const leftover = active.steered.splice(0);
    if (leftover.length) {
      lane.queue.push(...leftover.map((i) => ({ ...i, mode: "followup" as const })));
      lane.queue.sort((a, b) => a.seq - b.seq);
    }
    this.#releaseSlot();
    this.#schedule(lane);
  }

  #releaseSlot(): void {
    this.#slots.release();
    if (this.#slots.active === 0) { for (const resolve of this.#idleWaiters.splice(0)) resolve(); }
  }
}

/** The item as submitted, without the scheduler's bookkeeping. */
function strip<T>({ seq: _seq, ...item }: Queued<T>): LaneItem<T> {
  return item;
}

/** The next batch: everything when an interrupt is queued, leading collect items together, else one. */
function takeBatch<T>(queue: Queued<T>[]): LaneItem<T>[] {
  if (queue.length === 0) return [];
  if (queue.some((i) => i.mode === "interrupt")) return queue.splice(0).map(strip);
  if (queue[0].mode !== "collect") return queue.splice(0, 1).map(strip);
  let n = 1;
  while (n < queue.length && queue[n].mode === "collect") n++;
  return queue.splice(0, n).map(strip);
}

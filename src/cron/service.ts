/**
 * The cron service: one timer for the earliest due job; a due job runs through `execute` (which
 * runs it as a turn on its session's lane) and its result goes through `deliver`. A job never
 * overlaps itself: a slot that comes while its previous run goes on is skipped, with a log line.
 * Slots missed while the gateway was down are skipped (`catch_up = "skip"`) or run once at start
 * (`"once"`). After `failure_limit` failures in a row a job is disabled and the owner is told.
 */
import type { Clock, Logger, TimerId } from "../kernel/mod.ts";
import type { CronJob, CronRun } from "./job.ts";
import { parseSchedule, type Schedule } from "./schedule.ts";
import type { CronStore } from "./store.ts";

/** Options of {@linkcode CronService}. */
export interface CronServiceOptions {
  store: CronStore;
  clock: Clock;
  logger: Logger;
  /** Runs a job's payload (as a turn); resolves with the text to deliver. */
  execute: (job: CronJob, runId: string) => Promise<{ text: string }>;
  /** Sends a run's result where the job says. */
  deliver: (job: CronJob, run: CronRun, text: string) => Promise<void>;
  /** Tells the owner something went wrong with a job (it was disabled). */
  notify: (text: string) => Promise<void>;
  failureLimit: number;
  catchUp: "skip" | "once";
}

/** A timer longer than this is split (timers overflow past ~24.8 days). */
const MAX_TIMER_MS = 3_600_000;

/** Schedules and runs jobs; one per gateway. */
export class CronService {
  #o: CronServiceOptions;
  #timer: TimerId | undefined;
  #running = new Map<string, Promise<void>>();
  /** The slot each running job runs for. */
  #slots = new Map<string, number>();
  #schedules = new Map<string, Schedule>();
  #stopped = false;

  constructor(options: CronServiceOptions) {
    this.#o = options;
  }

  /** Loads the jobs, deals with slots missed while down, and arms the timer. */
  async start(): Promise<void> {
    const now = this.#o.clock.now();
    for (const job of await this.#o.store.list()) {
      if (!job.enabled) continue;
      const schedule = this.#schedule(job);
      if (!schedule) continue;
      if (job.nextRunAt === undefined) {
        await this.#o.store.put({ ...job, nextRunAt: schedule.next(now) });
      } else if (job.nextRunAt < now) {
        const slot = job.nextRunAt;
        if (this.#o.catchUp === "once") {
          this.#o.logger.info("cron: running a slot missed while the gateway was down", {
            job: job.id,
            slot: new Date(slot).toISOString(),
          });
          this.#start(job, "catch_up", slot);
        } else {
          this.#o.logger.info("cron: skipped a slot missed while the gateway was down", {
            job: job.id,
            slot: new Date(slot).toISOString(),
          });
          await this.#o.store.put({ ...job, nextRunAt: schedule.next(now) });
        }
      }
    }
    this.#arm();
  }

  /**
   * Stops scheduling. Runs in progress end with their turns (which the chat service's shutdown
   * ends); `idle()` waits for them.
   */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
  }

  /** Every job, oldest first. */
  jobs(): Promise<CronJob[]> {
    return this.#o.store.list();
  }

  /** A job, if it exists. */
  job(id: string): Promise<CronJob | undefined> {
    return this.#o.store.get(id);
  }

  /** A job's runs, newest first. */
  runs(id: string, limit?: number): Promise<CronRun[]> {
    return this.#o.store.runs(id, limit);
  }

  /** Whether a job's run is in progress. */
  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  /** Adds a job (its first run computed now); throws ScheduleError for a bad schedule. */
  async add(job: Omit<CronJob, "nextRunAt" | "failures">): Promise<CronJob> {
    const schedule = parseSchedule(job.schedule, job.anchor);
    const full: CronJob = { ...job, failures: 0, nextRunAt: schedule.next(this.#o.clock.now()) };
    if (!(await this.#o.store.add(full))) throw new Error(`a job with id ${job.id} exists`);
    this.#schedules.set(job.id, schedule);
    this.#arm();
    return full;
  }

  /** Enables or disables a job; enabling computes its next run from now. */
  async setEnabled(id: string, enabled: boolean): Promise<CronJob | undefined> {
    const job = await this.#o.store.get(id);
    if (!job) return undefined;
    const schedule = this.#schedule(job);
    const next: CronJob = enabled
      ? { ...job, enabled, failures: 0, nextRunAt: schedule?.next(this.#o.clock.now()) }
      : { ...job, enabled };
    delete next.disabledReason;
    await this.#o.store.put(next);
    this.#arm();
    return next;
  }

  /** Removes a job and its history. */
  async remove(id: string): Promise<boolean> {
    this.#schedules.delete(id);
    const existed = await this.#o.store.remove(id);
    this.#arm();
    return existed;
  }

  /** Runs a job now, outside its schedule; false when it is already running. */
  async runNow(id: string): Promise<"started" | "running" | "unknown"> {
    const job = await this.#o.store.get(id);
    if (!job) return "unknown";
    if (this.#running.has(id)) return "running";
    this.#start(job, "manual", this.#o.clock.now());
    return "started";
  }

  /** Waits for a job's run in progress, if any (tests, shutdown). */
  async idle(id?: string): Promise<void> {
    await Promise.allSettled(id ? [this.#running.get(id)] : [...this.#running.values()]);
  }

  #schedule(job: CronJob): Schedule | undefined {
    const known = this.#schedules.get(job.id);
    if (known) return known;
    try {
      const schedule = parseSchedule(job.schedule, job.anchor);
      this.#schedules.set(job.id, schedule);
      return schedule;
    } catch (err) {
      this.#o.logger.error("cron: a stored job has a schedule that cannot be used; it is skipped", {
        job: job.id,
        error: (err as Error).message,
      });
      return undefined;
    }
  }

  /** One timer, for the earliest due job. */
  #arm(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#o.store.list().then((jobs) => {
      if (this.#stopped) return;
      const due = jobs
        .filter((j) => j.enabled && j.nextRunAt !== undefined && !this.#running.has(j.id))
        .map((j) => j.nextRunAt!);
      if (due.length === 0) return;
      const wait = Math.min(Math.max(0, Math.min(...due) - this.#o.clock.now()), MAX_TIMER_MS);
      if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
      this.#timer = this.#o.clock.setTimeout(() => this.#tick(), wait);
    });
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    const now = this.#o.clock.now();
    for (const job of await this.#o.store.list()) {
      if (!job.enabled || job.nextRunAt === undefined || job.nextRunAt > now) continue;
      if (this.#running.has(job.id)) {
        if (this.#slots.get(job.id) === job.nextRunAt) continue; // the run in progress is for it
        // Never overlap: this slot is skipped; the next is computed when the run ends.
        this.#o.logger.warn("cron: a slot came while the job's previous run goes on; skipped", {
          job: job.id,
        });
        continue;
      }
      this.#start(job, "schedule", job.nextRunAt);
    }
    this.#arm();
  }

  #start(job: CronJob, trigger: CronRun["trigger"], slot: number): void {
    const done = this.#run(job, trigger, slot).finally(() => {
      this.#running.delete(job.id);
      this.#slots.delete(job.id);
      this.#arm();
    });
    this.#running.set(job.id, done);
    this.#slots.set(job.id, slot);
  }

  async #run(job: CronJob, trigger: CronRun["trigger"], slot: number): Promise<void> {
    const { clock, logger, store } = this.#o;
    const runId = crypto.randomUUID();
    const startedAt = clock.now();
    const log = logger.with({ job: job.id, runId });
    log.info("cron: job started", { trigger });
    let outcome: CronRun["outcome"] = "ok";
    let error: string | undefined;
    let text = "";
    try {
      text = (await this.#o.execute(job, runId)).text;
    } catch (err) {
      outcome = "error";
      error = err instanceof Error ? err.message : String(err);
    }
    const run: CronRun = {
      runId,
      jobId: job.id,
      scheduledFor: slot,
      startedAt,
      durationMs: clock.now() - startedAt,
      outcome,
      ...(error ? { error } : {}),
      trigger,
    };
    if (outcome === "ok") {
      try {
        await this.#o.deliver(job, run, text);
      } catch (err) {
        run.outcome = "error";
        run.error = `delivery failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    await store.addRun(run);
    if (run.outcome === "ok") log.info("cron: job finished", { ms: run.durationMs });
    else log.warn("cron: job failed", { error: run.error });
    await this.#after(job.id, run);
  }

  /** The job's state after a run: next slot, failures, deletion of a finished `at` job. */
  async #after(id: string, run: CronRun): Promise<void> {
    const { store, clock } = this.#o;
    const job = await store.get(id);
    if (!job) return; // removed while it ran
    const schedule = this.#schedule(job);
    const failures = run.outcome === "ok" ? 0 : job.failures + 1;
    const next = schedule?.next(Math.max(clock.now(), run.scheduledFor));
    // A done `at` job is deleted, unless kept, or seeded by the config (which would add it again).
    if (
      job.schedule.kind === "at" && run.outcome === "ok" && !job.keep && job.origin !== "config"
    ) {
      this.#schedules.delete(id);
      await store.remove(id, { keepRuns: true }); // `cron runs ID` still shows how it went
      return;
    }
    const updated: CronJob = { ...job, failures, nextRunAt: next };
    if (next === undefined && job.schedule.kind === "at") updated.enabled = false;
    if (failures >= this.#o.failureLimit && job.enabled) {
      updated.enabled = false;
      updated.disabledReason = `${failures} failed runs in a row (cron.failure_limit); last: ` +
        (run.error ?? "unknown error");
      this.#o.logger.error("cron: job disabled after repeated failures", {
        job: id,
        failures,
        error: run.error,
      });
      await this.#o.notify(
        `⚠️ Scheduled job ${job.name ?? job.id} was disabled after ${failures} failed runs in a ` +
          `row. Last error: ${run.error}. Fix it, then: gatehouse cron enable ${job.id}`,
      ).catch(() => {});
    }
    await store.put(updated);
  }
}

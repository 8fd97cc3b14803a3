/**
 * Jobs and their run history in Deno KV: `["cron", "job", id]` per job, `["cron", "run", jobId,
 * startedAt, runId]` per run (the newest `retain` per job are kept, none past 30 days).
 */
import type { CronJob, CronRun } from "./job.ts";

const JOBS: Deno.KvKey = ["cron", "job"];
const RUN_TTL_MS = 30 * 86_400_000;
const jobKey = (id: string): Deno.KvKey => [...JOBS, id];
const runsPrefix = (jobId: string): Deno.KvKey => ["cron", "run", jobId];
const runKey = (run: CronRun): Deno.KvKey => [...runsPrefix(run.jobId), run.startedAt, run.runId];

/** The cron service's durable state. */
export class CronStore {
  #kv: Deno.Kv;
  #retain: number;

  constructor(kv: Deno.Kv, options: { retainRuns: number }) {
    this.#kv = kv;
    this.#retain = options.retainRuns;
  }

  async list(): Promise<CronJob[]> {
    const out: CronJob[] = [];
    for await (const row of this.#kv.list<CronJob>({ prefix: JOBS })) out.push(row.value);
    return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<CronJob | undefined> {
    return (await this.#kv.get<CronJob>(jobKey(id))).value ?? undefined;
  }

  async put(job: CronJob): Promise<void> {
    await this.#kv.set(jobKey(job.id), job);
  }

  /** Adds a job unless one with its id exists; true when added. */
  async add(job: CronJob): Promise<boolean> {
    const r = await this.#kv.atomic().check({ key: jobKey(job.id), versionstamp: null })
      .set(jobKey(job.id), job).commit();
    return r.ok;
  }

  /**
   * Removes a job, and its history unless `keepRuns` (a finished `at` job keeps its run, which
   * then expires with age); true when it existed.
   */
  async remove(id: string, options: { keepRuns?: boolean } = {}): Promise<boolean> {
    const existed = (await this.#kv.get(jobKey(id))).value !== null;
    await this.#kv.delete(jobKey(id));
    if (!options.keepRuns) {
      for await (const row of this.#kv.list({ prefix: runsPrefix(id) })) {
        await this.#kv.delete(row.key);
      }
    }
    return existed;
  }

  /** Records a run and drops the oldest past the retention (runs also expire after 30 days). */
  async addRun(run: CronRun): Promise<void> {
    await this.#kv.set(runKey(run), run, { expireIn: RUN_TTL_MS });
    const keys: Deno.KvKey[] = [];
    for await (const row of this.#kv.list({ prefix: runsPrefix(run.jobId) }, { reverse: true })) {
      keys.push(row.key);
    }
    for (const key of keys.slice(this.#retain)) await this.#kv.delete(key);
  }

  /** A job's runs, newest first. */
  async runs(jobId: string, limit = 50): Promise<CronRun[]> {
    const out: CronRun[] = [];
    const it = this.#kv.list<CronRun>({ prefix: runsPrefix(jobId) }, { reverse: true, limit });
    for await (const row of it) out.push(row.value);
    return out;
  }
}

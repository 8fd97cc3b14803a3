/**
 * `cron.*` over the protocol: list jobs and their runs (read), add, enable or disable, remove and
 * run one now (admin: a job runs turns with tools, unattended). `cron.add` takes the same fields
 * as a `[[cron.jobs]]` entry.
 */
import { z } from "zod";
import { cronJobConfig } from "../config/cron_schema.ts";
import type { CronJob, CronService } from "../cron/mod.ts";
import { jobFromConfig } from "../cron/seed.ts";
import { describeSchedule, ScheduleError } from "../cron/schedule.ts";
import { type Clock, GatehouseError } from "../kernel/mod.ts";
import type { MethodSpec } from "./methods.ts";

const id = z.object({ id: z.string().min(1).max(64) });

/** A job as clients see it. */
export function jobView(job: CronJob, running: boolean) {
  return {
    ...job,
    describe: describeSchedule(job.schedule),
    nextRunAt: job.nextRunAt ?? null,
    running,
  };
}

/** The cron methods; all answer UNAVAILABLE when `[cron] enabled = false`. */
export function cronMethods(cron: CronService | undefined, clock: Clock): Map<string, MethodSpec> {
  const need = (): CronService => {
    if (!cron) {
      throw new GatehouseError(
        "UNAVAILABLE",
        "scheduled jobs are off: set [cron] enabled = true in the config and restart",
      );
    }
    return cron;
  };
  const found = async (jobId: string): Promise<CronJob> => {
    const job = await need().job(jobId);
    if (!job) {
      throw new GatehouseError(
        "NOT_FOUND",
        `no job ${JSON.stringify(jobId)}: cron.list shows the jobs`,
      );
    }
    return job;
  };
  const spec = <S extends z.ZodType>(
    scope: MethodSpec["scope"],
    params: S,
    handle: (p: z.output<S>) => unknown,
  ): MethodSpec => ({ scope, params, handle: handle as MethodSpec["handle"] });

  return new Map<string, MethodSpec>([
    [
      "cron.list",
      spec("operator.read", z.object({}).optional(), async () => {
        const c = need();
        return { jobs: (await c.jobs()).map((j) => jobView(j, c.isRunning(j.id))) };
      }),
    ],
    [
      "cron.runs",
      spec(
        "operator.read",
        id.extend({ limit: z.number().int().min(1).max(1000).optional() }),
        // A finished one-off job is gone but its runs are kept a while: no NOT_FOUND here.
        async (p) => ({ runs: await need().runs(p.id, p.limit ?? 50) }),
      ),
    ],
    [
      "cron.add",
      spec("operator.admin", cronJobConfig, async (p) => {
        const c = need();
        if (await c.job(p.id)) {
          throw new GatehouseError(
            "INVALID_REQUEST",
            `a job ${JSON.stringify(p.id)} exists: remove it first, or pick another id`,
          );
        }
        try {
          const job = await c.add({ ...jobFromConfig(p, clock.now()), origin: "operator" });
          return { job: jobView(job, false) };
        } catch (err) {
          if (err instanceof ScheduleError) {
            throw new GatehouseError("INVALID_REQUEST", err.message);
          }
          throw err;
        }
      }),
    ],
    [
      "cron.update",
      spec("operator.admin", id.extend({ enabled: z.boolean() }), async (p) => {
        await found(p.id);
        const job = (await need().setEnabled(p.id, p.enabled))!;
        return { job: jobView(job, need().isRunning(p.id)) };
      }),
    ],
    [
      "cron.remove",
      spec("operator.admin", id, async (p) => {
        await found(p.id);
        await need().remove(p.id);
        return { removed: p.id };
      }),
    ],
    [
      "cron.run",
      spec("operator.admin", id, async (p) => {
        await found(p.id);
        const status = await need().runNow(p.id);
        return { status };
      }),
    ],
  ]);
}

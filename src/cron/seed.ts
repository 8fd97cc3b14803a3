/**
 * `[[cron.jobs]]` from the config, seeded into the cron store at start: a new id is added, a
 * changed one updated (its next run kept when the schedule did not change), and a config job no
 * longer in the config removed. Jobs added over the protocol or by the model are left alone.
 */
import type { CronJobConfig } from "../config/cron_schema.ts";
import type { CronJob } from "./job.ts";
import type { ScheduleSpec } from "./schedule.ts";
import type { CronStore } from "./store.ts";

/** A config entry as a job (without the service's bookkeeping). */
export function jobFromConfig(
  c: CronJobConfig,
  now: number,
): Omit<CronJob, "nextRunAt" | "failures"> {
  const schedule: ScheduleSpec = c.at !== undefined
    ? { kind: "at", at: c.at }
    : c.every !== undefined
    ? { kind: "every", every: c.every }
    : { kind: "cron", cron: c.cron!, ...(c.tz ? { tz: c.tz } : {}) };
  return {
    id: c.id,
    ...(c.name ? { name: c.name } : {}),
    schedule,
    payload: c.message !== undefined
      ? {
        kind: "agent_turn",
        message: c.message,
        ...(c.model ? { model: c.model } : {}),
        ...(c.tools ? { tools: c.tools } : {}),
      }
      : { kind: "system_event", text: c.event!, wake: c.wake },
    target: c.target,
    delivery: c.announce
      ? {
        kind: "announce",
        channel: c.announce.channel,
        to: c.announce.to,
        ...(c.announce.thread_id ? { threadId: c.announce.thread_id } : {}),
      }
      : c.webhook
      ? { kind: "webhook", url: c.webhook }
      : { kind: "none" },
    enabled: c.enabled,
    keep: c.keep,
    origin: "config",
    createdAt: now,
    anchor: now,
  };
}

/** Brings the store in line with the config's jobs; returns what changed, for the log. */
export async function seedJobs(
  store: CronStore,
  configured: CronJobConfig[],
  now: number,
): Promise<{ added: string[]; updated: string[]; removed: string[] }> {
  const out = { added: [] as string[], updated: [] as string[], removed: [] as string[] };
  const existing = new Map((await store.list()).map((j) => [j.id, j]));
  for (const c of configured) {
    const fresh = jobFromConfig(c, now);
    const old = existing.get(c.id);
    if (!old) {
      await store.add({ ...fresh, failures: 0 });
      out.added.push(c.id);
      continue;
    }
    if (old.origin !== "config") continue; // an id taken by a job added at run time: kept
    const sameSchedule = JSON.stringify(old.schedule) === JSON.stringify(fresh.schedule);
    const merged: CronJob = {
      ...fresh,
      createdAt: old.createdAt,
      anchor: sameSchedule ? old.anchor : now,
      failures: old.failures,
      ...(sameSchedule && old.nextRunAt !== undefined ? { nextRunAt: old.nextRunAt } : {}),
      ...(old.disabledReason && !old.enabled
        ? { enabled: false, disabledReason: old.disabledReason }
        : {}),
    };
    if (JSON.stringify(merged) !== JSON.stringify(old)) {
      await store.put(merged);
      out.updated.push(c.id);
    }
  }
  const ids = new Set(configured.map((c) => c.id));
  for (const job of existing.values()) {
    if (job.origin === "config" && !ids.has(job.id)) {
      await store.remove(job.id);
      out.removed.push(job.id);
    }
  }
  return out;
}

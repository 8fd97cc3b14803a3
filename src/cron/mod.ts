/**
 * @module
 * Scheduled jobs: the cron service with its store, seeded from `[[cron.jobs]]`, running jobs as
 * turns through the chat service and announcing results through the outbox.
 */
import type { CronConfig } from "../config/cron_schema.ts";
import type { Clock, Logger, Replies, SessionStore } from "../kernel/mod.ts";
import { type CronChat, deliverJob, executeJob } from "./runner.ts";
import type { WebhookDeliveryDeps } from "./webhook.ts";
import { seedJobs } from "./seed.ts";
import { CronService } from "./service.ts";
import { CronStore } from "./store.ts";

export { CronService } from "./service.ts";
export { CronStore } from "./store.ts";
export type { CronJob, CronRun } from "./job.ts";

/** What the cron service needs from the composition root. */
export interface CronDeps {
  config: CronConfig;
  kv: Deno.Kv;
  clock: Clock;
  logger: Logger;
  chat: CronChat;
  store: SessionStore;
  listen: (fn: (event: string, payload: unknown) => void) => () => void;
  replies: Replies;
  /** Where `webhook` deliveries may go (web_fetch's SSRF policy). */
  webhook?: WebhookDeliveryDeps;
  /** The Telegram owner's chat, told when a job is disabled. */
  owner: () => Promise<string | undefined>;
}

/** Builds the service and seeds the config's jobs; undefined when `[cron] enabled = false`. */
export async function openCron(deps: CronDeps): Promise<CronService | undefined> {
  if (!deps.config.enabled) return undefined;
  const logger = deps.logger.with({ part: "cron" });
  const store = new CronStore(deps.kv, { retainRuns: deps.config.retain_runs });
  const seeded = await seedJobs(store, deps.config.jobs, deps.clock.now());
  if (seeded.added.length + seeded.updated.length + seeded.removed.length) {
    logger.info("cron: jobs from the config", seeded);
  }
  const runner = {
    chat: deps.chat,
    store: deps.store,
    listen: deps.listen,
    replies: deps.replies,
    timeoutMs: deps.config.run_timeout_seconds * 1000,
    ...(deps.webhook ? { webhook: deps.webhook } : {}),
  };
  return new CronService({
    store,
    clock: deps.clock,
    logger,
    failureLimit: deps.config.failure_limit,
    catchUp: deps.config.catch_up,
    execute: (job, runId) => executeJob(runner, job, runId),
    deliver: (job, run, text) => deliverJob(runner, job, run, text),
    notify: async (text) => {
      const owner = await deps.owner();
      if (!owner) return logger.warn(text);
      await deps.replies.send({ channel: "telegram", to: owner }, text, {
        id: `cron-notice:${crypto.randomUUID()}`,
      });
    },
  });
}

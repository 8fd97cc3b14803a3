/** `[cron]` and `[[cron.jobs]]`: scheduled jobs, as the config seeds them into the cron service. */
import { z } from "zod";

const jobId = z.string().regex(/^[a-z0-9_-]{1,64}$/, "job ids are 1-64 of a-z 0-9 _ -");

/** One `[[cron.jobs]]` entry: exactly one of at / every / cron, and one of message / event. */
export const cronJobConfig = z.object({
  id: jobId,
  name: z.string().min(1).max(200).optional(),
  /** Once: an ISO time (2026-12-24T18:00:00+01:00) or a delay from the first start (20m). */
  at: z.string().min(1).optional(),
  /** Repeatedly, every this long (30s, 15m, 1h, 1d). */
  every: z.string().min(1).optional(),
  /** A cron pattern of 5 or 6 fields. */
  cron: z.string().min(1).optional(),
  /** The IANA time zone of `cron` (default: the host's). */
  tz: z.string().min(1).optional(),
  /** A message run as a turn (agent_turn). */
  message: z.string().min(1).optional(),
  /** With `message`: the model for its turns, used strictly ("<provider>/<model>"). */
  model: z.string().regex(/^[a-z0-9_-]+\/\S+$/, 'must be "<provider>/<model>"').optional(),
  /** With `message`: the only tools its turns may use (within the tools policy). */
  tools: z.array(z.string().regex(/^[a-z_]+$/)).optional(),
  /** A text added to the session as a scheduled event (system_event); `wake` also runs a turn. */
  event: z.string().min(1).optional(),
  wake: z.boolean().default(false),
  /** `main`, `isolated` (a fresh `cron:<id>` session each run) or `session:<key>`. */
  target: z.string().regex(
    /^(main|isolated|session:\S+)$/,
    'use "main", "isolated" or "session:<key>"',
  )
    .default("main"),
  /** Send the final text to a chat: { channel = "telegram", to = "<chat id>" }. */
  announce: z.object({
    channel: z.string().min(1),
    to: z.string().min(1),
    thread_id: z.string().min(1).optional(),
  }).optional(),
  /** POST the run's result as JSON to this http(s) URL (through web_fetch's SSRF guard). */
  webhook: z.string().url().regex(/^https?:\/\//i, "use an http(s) URL").optional(),
  enabled: z.boolean().default(true),
  /** An `at` job stays (disabled) after it ran instead of being deleted. */
  keep: z.boolean().default(false),
}).superRefine((job, ctx) => {
  const when = [job.at, job.every, job.cron].filter((v) => v !== undefined).length;
  if (when !== 1) {
    ctx.addIssue({
      code: "custom",
      message: "give exactly one of at, every or cron",
      path: ["cron"],
    });
  }
  if ((job.message === undefined) === (job.event === undefined)) {
    ctx.addIssue({
      code: "custom",
      message: "give exactly one of message (a turn) or event (a scheduled event)",
      path: ["message"],
    });
  }
  if (job.announce !== undefined && job.webhook !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: "give at most one of announce or webhook",
      path: ["webhook"],
    });
  }
  if ((job.model !== undefined || job.tools !== undefined) && job.message === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "model and tools apply to message jobs",
      path: ["model"],
    });
  }
  if (job.tz !== undefined && job.cron === undefined) {
    ctx.addIssue({ code: "custom", message: "tz applies to cron schedules only", path: ["tz"] });
  }
});

/** `[cron]`. */
export const cronConfig = z.object({
  /** Run scheduled jobs. */
  enabled: z.boolean().default(true),
  /** Failed runs in a row after which a job is disabled (and the owner told). */
  failure_limit: z.number().int().min(1).max(100).default(3),
  /** A slot missed while the gateway was down: "skip" it, or run it "once" at start-up. */
  catch_up: z.enum(["skip", "once"]).default("skip"),
  /** Runs kept in each job's history. */
  retain_runs: z.number().int().min(1).max(10_000).default(50),
  /** Longest a run may take (its turn is stopped after that). */
  run_timeout_seconds: z.number().int().min(10).max(86_400).default(600),
  jobs: z.array(cronJobConfig).default([]).refine(
    (jobs) => new Set(jobs.map((j) => j.id)).size === jobs.length,
    "job ids must be unique",
  ),
});

/** A `[[cron.jobs]]` entry after defaults. */
export type CronJobConfig = z.infer<typeof cronJobConfig>;
/** `[cron]` after defaults. */
export type CronConfig = z.infer<typeof cronConfig>;

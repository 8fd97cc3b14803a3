/** A scheduled job and one run of it, as the cron service stores them. */
import type { ScheduleSpec } from "./schedule.ts";

/** What a run does. */
export type CronPayload =
  /** Text added to the target session; with `wake`, it also runs a turn there. */
  | { kind: "system_event"; text: string; wake?: boolean }
  /** A message run as a turn in the target session. */
  | { kind: "agent_turn"; message: string; model?: string; tools?: string[] };

/** Where a run's result goes. */
export type CronDelivery =
  | { kind: "none" }
  /** The final text to a chat on a channel (the owner's Telegram chat, say). */
  | { kind: "announce"; channel: string; to: string; threadId?: string }
  /** A POST of the result, through the same SSRF guard as web_fetch. */
  | { kind: "webhook"; url: string };

/** A job. */
export interface CronJob {
  id: string;
  name?: string;
  schedule: ScheduleSpec;
  payload: CronPayload;
  /** `main`, `isolated` (a fresh `cron:<jobId>` session per run) or `session:<key>`. */
  target: string;
  delivery: CronDelivery;
  enabled: boolean;
  /** An `at` job stays (disabled) after its run instead of being deleted. */
  keep?: boolean;
  /** Where it came from: the config (seeded), an operator, or the model's cron tool. */
  origin: "config" | "operator" | "tool";
  createdAt: number;
  /** What relative `at` and `every` count from (when the job was added). */
  anchor: number;
  /** The next run, epoch ms; undefined when none is due (an `at` job that ran). */
  nextRunAt?: number;
  /** Failed runs in a row; at `cron.failure_limit` the job is disabled. */
  failures: number;
  /** Why the job was disabled by the service, if it was. */
  disabledReason?: string;
}

/** One run of a job. */
export interface CronRun {
  runId: string;
  jobId: string;
  /** The slot the run was for (epoch ms). */
  scheduledFor: number;
  startedAt: number;
  durationMs: number;
  outcome: "ok" | "error";
  error?: string;
  /** Why it ran: its schedule, a catch-up after downtime, or `cron.run` by hand. */
  trigger: "schedule" | "catch_up" | "manual";
}

/**
 * `cron`: lets the model set, list and cancel reminders and scheduled tasks for its own
 * conversation ("remind me in 10 minutes to call Ana"). A job it adds runs in this session and,
 * when the conversation came from a chat, is announced back to that chat. It can see and cancel
 * only this session's jobs. Owner-only by default (the policy), like `message`.
 */
import { z } from "zod";
import type { Clock, Tool } from "../../kernel/mod.ts";
import type { CronJob } from "../../cron/job.ts";
import { describeSchedule, type ScheduleSpec } from "../../cron/schedule.ts";

const params = z.object({
  action: z.enum(["add", "list", "remove"]).describe(
    "add a job, list this conversation's, or remove one",
  ),
  text: z.string().min(1).max(2_000).optional().describe(
    "add: the reminder to send (kind reminder) or the task to do (kind task)",
  ),
  kind: z.enum(["reminder", "task"]).optional().describe(
    "reminder (default): send the text when due; task: run the text as a request to you when due",
  ),
  in: z.string().optional().describe('add: once, after a delay like "10m", "2h", "1d"'),
  at: z.string().optional().describe(
    "add: once, at an ISO time with offset, e.g. 2026-12-24T18:00:00+01:00",
  ),
  every: z.string().optional().describe('add: repeatedly, e.g. "1h", "1d"'),
  cron: z.string().optional().describe('add: a cron pattern, e.g. "0 8 * * 1-5"'),
  tz: z.string().optional().describe("add with cron: an IANA time zone, e.g. Europe/Berlin"),
  id: z.string().optional().describe("remove: the job id, as add or list gave it"),
}).strict();

/** What the tool schedules through (the cron service, bound late by the composition root). */
export interface CronToolDeps {
  service: () => {
    add(job: Omit<CronJob, "nextRunAt" | "failures">): Promise<CronJob>;
    jobs(): Promise<CronJob[]>;
    remove(id: string): Promise<boolean>;
  } | undefined;
  clock: Clock;
}

/** Creates the tool. */
export function cronTool(deps: CronToolDeps): Tool<typeof params> {
  return {
    name: "cron",
    description:
      "Schedules reminders and recurring tasks for this conversation, lists them, or cancels one. " +
      "Give exactly one of in, at, every or cron when adding. Due reminders are sent to this chat.",
    params,
    group: "session",
    async run(args, ctx) {
      const service = deps.service();
      if (!service) {
        throw new Error("scheduled jobs are off on this gateway ([cron] enabled = false)");
      }
      const target = `session:${ctx.sessionKey}`;
      const mine = async () => (await service.jobs()).filter((j) => j.target === target);
      if (args.action === "list") {
        const jobs = await mine();
        if (jobs.length === 0) return "no scheduled jobs in this conversation";
        return jobs.map((j) =>
          `${j.id}: ${describeSchedule(j.schedule)}, ${
            j.payload.kind === "agent_turn"
              ? `task "${j.payload.message}"`
              : `reminder "${j.payload.text}"`
          }, next ${j.nextRunAt ? new Date(j.nextRunAt).toISOString() : "none"}${
            j.enabled ? "" : " (disabled)"
          }`
        ).join("\n");
      }
      if (args.action === "remove") {
        if (!args.id) throw new Error("remove needs the id of the job (list shows them)");
        if (!(await mine()).some((j) => j.id === args.id)) {
          throw new Error(`no job ${args.id} in this conversation (list shows its jobs)`);
        }
        await service.remove(args.id);
        return `removed ${args.id}`;
      }
      if (!args.text) throw new Error("add needs text: what to remind of, or the task");
      const when =
        ([["in", args.in], ["at", args.at], ["every", args.every], ["cron", args.cron]] as const)
          .filter(([, v]) => v !== undefined);
      if (when.length !== 1) throw new Error("add needs exactly one of in, at, every or cron");
      const [kind, value] = when[0];
      const schedule: ScheduleSpec = kind === "in" || kind === "at"
        ? { kind: "at", at: value! }
        : kind === "every"
        ? { kind: "every", every: value! }
        : { kind: "cron", cron: value!, ...(args.tz ? { tz: args.tz } : {}) };
      const now = deps.clock.now();
      const job = await service.add({
        id: `r-${crypto.randomUUID().slice(0, 8)}`,
        schedule,
        payload: args.kind === "task"
          ? { kind: "agent_turn", message: args.text }
          : { kind: "system_event", text: `⏰ Reminder: ${args.text}`, wake: false },
        target,
        delivery: ctx.reply
          ? {
            kind: "announce",
            channel: ctx.reply.channel,
            to: ctx.reply.to,
            ...(ctx.reply.threadId ? { threadId: ctx.reply.threadId } : {}),
          }
          : { kind: "none" },
        enabled: true,
        origin: "tool",
        createdAt: now,
        anchor: now,
      });
      const next = job.nextRunAt ? new Date(job.nextRunAt).toISOString() : "none";
      return `scheduled ${job.id} (${describeSchedule(job.schedule)}); next run ${next}` +
        (ctx.reply
          ? `; it will be sent to this ${ctx.reply.channel} chat`
          : "; it shows in this conversation");
    },
  };
}

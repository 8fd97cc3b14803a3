/** `gatehouse cron`: list scheduled jobs and their runs; add, remove, run, enable or disable one. */
import { type Command, parse, UsageError } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

interface JobView {
  id: string;
  name?: string;
  describe: string;
  enabled: boolean;
  running: boolean;
  nextRunAt: number | null;
  target: string;
  disabledReason?: string;
}

interface RunView {
  runId: string;
  startedAt: number;
  durationMs: number;
  outcome: string;
  error?: string;
  trigger: string;
}

const when = (
  ms: number | null,
) => (ms === null ? "-" : new Date(ms).toISOString().slice(0, 19) + "Z");

export const cron: Command = {
  name: "cron",
  summary: "scheduled jobs: list, add, rm, run, runs, enable, disable",
  usage: `gatehouse cron [list] [--json]
gatehouse cron add ID (--cron "0 8 * * *" [--tz ZONE] | --every 1h | --at 20m|ISO)
                   (--message TEXT | --event TEXT [--wake]) [--target main|isolated|session:KEY]
                   [--announce CHANNEL:TO | --webhook URL] [--name NAME]
                   [--model PROVIDER/MODEL] [--tools time_now,web_fetch]
gatehouse cron rm|run|enable|disable ID
gatehouse cron runs ID [--json]

Jobs run as turns in their session (through its lane, never overlapping themselves); --announce
sends the final text to a chat (e.g. telegram:123456789); --webhook POSTs the run's result as
JSON to an http(s) URL (public addresses only, unless tools.web_fetch.private_hosts lists it).
Jobs from [[cron.jobs]] in the config are seeded at every start. Adding and changing jobs needs
operator.admin.
${TARGET_USAGE}`,
  async run(args, env) {
    const { values, positionals } = parse(args, {
      ...TARGET_OPTIONS,
      json: { type: "boolean" },
      cron: { type: "string" },
      tz: { type: "string" },
      every: { type: "string" },
      at: { type: "string" },
      message: { type: "string" },
      event: { type: "string" },
      wake: { type: "boolean" },
      target: { type: "string" },
      announce: { type: "string" },
      webhook: { type: "string" },
      name: { type: "string" },
      model: { type: "string" },
      tools: { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const [action = "list", id, ...rest] = positionals;
    if (rest.length) throw new UsageError(`unexpected ${rest.join(" ")}`);
    const actions = ["list", "add", "rm", "run", "runs", "enable", "disable"];
    if (!actions.includes(action)) {
      throw new UsageError(`unknown action ${JSON.stringify(action)}: use ${actions.join(", ")}`);
    }
    if (action !== "list" && !id) throw new UsageError(`${action} needs a job ID`);
    const params = action === "add" ? addParams(id!, values) : undefined;
    const client = await connectTarget(values as TargetFlags, env);
    try {
      switch (action) {
        case "list": {
          const r = await client.request<{ jobs: JobView[] }>("cron.list", {});
          if (values.json) return printJson(r);
          const rows = [["ID", "SCHEDULE", "NEXT RUN", "TARGET", "STATE"]];
          for (const j of r.jobs) {
            const state = j.running
              ? "running"
              : j.enabled
              ? "enabled"
              : `disabled${j.disabledReason ? `: ${j.disabledReason}` : ""}`;
            rows.push([j.id, j.describe, when(j.nextRunAt), j.target, state]);
          }
          console.log(rows.length > 1 ? alignedTable(rows) : "no scheduled jobs");
          return 0;
        }
        case "runs": {
          const r = await client.request<{ runs: RunView[] }>("cron.runs", { id });
          if (values.json) return printJson(r);
          const rows = [["STARTED", "TOOK", "TRIGGER", "OUTCOME", "RUN"]];
          for (const run of r.runs) {
            rows.push([
              when(run.startedAt),
              `${(run.durationMs / 1000).toFixed(1)}s`,
              run.trigger,
              run.outcome === "ok" ? "ok" : `error: ${run.error ?? "?"}`,
              run.runId,
            ]);
          }
          console.log(rows.length > 1 ? alignedTable(rows) : `job ${id} has not run yet`);
          return 0;
        }
        case "add": {
          const r = await client.request<{ job: JobView }>("cron.add", params);
          console.log(`added ${r.job.id}: ${r.job.describe}; next run ${when(r.job.nextRunAt)}`);
          return 0;
        }
        case "rm":
          await client.request("cron.remove", { id });
          console.log(`removed ${id}`);
          return 0;
        case "run": {
          const r = await client.request<{ status: string }>("cron.run", { id });
          console.log(r.status === "running" ? `${id} is running already` : `started ${id}`);
          return 0;
        }
        default: {
          const enabled = action === "enable";
          await client.request("cron.update", { id, enabled });
          console.log(`${enabled ? "enabled" : "disabled"} ${id}`);
          return 0;
        }
      }
    } finally {
      await client.close();
    }
  },
};

function printJson(value: unknown): number {
  console.log(JSON.stringify(value, null, 2));
  return 0;
}

/** `cron add` flags as `cron.add` params (the `[[cron.jobs]]` fields). */
function addParams(id: string, v: Record<string, unknown>): Record<string, unknown> {
  const p: Record<string, unknown> = { id };
  for (
    const key of ["cron", "tz", "every", "at", "message", "event", "target", "name", "webhook"]
  ) {
    if (v[key] !== undefined) p[key] = v[key];
  }
  if (v.wake) p.wake = true;
  if (typeof v.tools === "string") {
    p.tools = v.tools.split(",").map((t) => t.trim()).filter(Boolean);
  }
  if (typeof v.announce === "string") {
    const at = v.announce.indexOf(":");
    if (at <= 0 || at === v.announce.length - 1) {
      throw new UsageError('--announce takes CHANNEL:TO, e.g. "telegram:123456789"');
    }
    p.announce = { channel: v.announce.slice(0, at), to: v.announce.slice(at + 1) };
  }
  return p;
}

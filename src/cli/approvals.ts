/** `gatehouse approvals`: list the tool calls waiting for an operator, allow or deny one. */
import type { ApprovalRequest } from "../kernel/mod.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

/** One line for a pending call: what runs, where, for which session, and until when. */
export function approvalLine(a: ApprovalRequest, now = Date.now()): string {
  const left = Math.max(0, Math.round((a.expiresAt - now) / 1000));
  return `${a.tool}: ${a.summary}  [session ${a.sessionKey}; ${left}s left; id ${a.id}]`;
}

export const approvals: Command = {
  name: "approvals",
  summary: "list pending tool approvals, allow or deny one",
  usage: `gatehouse approvals [list] [--json]
gatehouse approvals allow ID [--always]
gatehouse approvals deny ID

A tool call in "ask" mode (exec by default) waits until an operator answers or
tools.approval_timeout_seconds pass (then it is denied). --always also remembers this exact call
(program, arguments and folder) so it runs without asking next time.
${TARGET_USAGE}`,
  async run(args, env) {
    const { values, positionals } = parse(args, {
      ...TARGET_OPTIONS,
      always: { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const [action = "list", id, ...rest] = positionals;
    if (rest.length) throw new UsageError(`unexpected ${rest.join(" ")}`);
    if (!["list", "allow", "deny"].includes(action)) {
      throw new UsageError(
        `unknown action ${JSON.stringify(action)}: use list, allow ID or deny ID`,
      );
    }
    if (action !== "list" && !id) {
      throw new UsageError(`${action} needs the approval id (see: gatehouse approvals)`);
    }
    const client = await connectTarget(values as TargetFlags, env);
    try {
      if (action === "list") {
        const r = await client.request<{ approvals: ApprovalRequest[] }>("exec.approval.list", {});
        if (values.json) console.log(JSON.stringify(r, null, 2));
        else if (r.approvals.length === 0) console.log("no tool calls are waiting for approval");
        else {
          const rows = [["ID", "TOOL", "CALL", "SESSION"]];
          for (const a of r.approvals) rows.push([a.id, a.tool, a.summary, a.sessionKey]);
          console.log(alignedTable(rows));
        }
        return 0;
      }
      const decision = action === "deny" ? "deny" : values.always ? "allow-always" : "allow-once";
      await client.request("exec.approval.resolve", { id, decision });
      console.log(`${decision}: ${id}`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

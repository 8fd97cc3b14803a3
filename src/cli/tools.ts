/** `gatehouse tools`: which tools a session may use, in which mode, and why. */
import { MAIN_SESSION_KEY, sessionKeyProblem } from "../kernel/mod.ts";
import type { ToolDecision } from "../tools/policy.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

/** Renders decisions as a table: tool, mode (or off), and the rule that decided last. */
export function toolTable(tools: ToolDecision[]): string {
  const rows = [["TOOL", "GROUP", "MODE", "WHY"]];
  for (const t of tools) {
    rows.push([t.name, t.group, t.enabled ? t.mode : "off", t.why.join("; ")]);
  }
  return alignedTable(rows);
}

export const tools: Command = {
  name: "tools",
  summary: "show which tools a session may use, and why",
  usage: `gatehouse tools [--session KEY] [--channel NAME [--sender ID]] [--json]

Each tool with its mode (allow: runs; ask: waits for an approval; off) and the rules that
decided it: the profile, tools.allow / tools.deny / tools.modes, the overrides, and the runtime
(a tool whose Deno permissions were not granted is off).

The origin is what a turn would have: the channel and peer the session key names, else the
sender of the message: you (channel ws), or --channel/--sender.

  --session KEY    session to ask about (default: ${MAIN_SESSION_KEY})
  --channel NAME   ask as a message from this channel would be treated
  --sender ID      ... and this sender on it
  --json           print the raw tools.effective payload
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, {
      ...TARGET_OPTIONS,
      session: { type: "string" },
      channel: { type: "string" },
      sender: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const sessionKey = (values.session as string | undefined) ?? MAIN_SESSION_KEY;
    const problem = sessionKeyProblem(sessionKey);
    if (problem) throw new UsageError(problem);
    if (values.sender && !values.channel) throw new UsageError("--sender needs --channel");
    const client = await connectTarget(values as TargetFlags, env);
    try {
      const r = await client.request<{ tools: ToolDecision[] }>("tools.effective", {
        sessionKey,
        ...(values.channel ? { channel: values.channel } : {}),
        ...(values.sender ? { sender: values.sender } : {}),
      });
      console.log(values.json ? JSON.stringify(r, null, 2) : toolTable(r.tools));
      return 0;
    } finally {
      await client.close();
    }
  },
};

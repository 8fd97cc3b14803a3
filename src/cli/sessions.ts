/** `gatehouse sessions`: list sessions. */
import { type Command, parse } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

interface SessionRow {
  key: string;
  label: string | null;
  model: string | null;
  updatedAt: number;
  inputTokens: number;
  outputTokens: number;
  running: boolean;
  queued: number;
}

/** Renders sessions as an aligned table. */
export function sessionTable(sessions: SessionRow[]): string {
  if (sessions.length === 0) return "no sessions yet";
  const rows = [["KEY", "LABEL", "MODEL", "UPDATED", "TOKENS IN/OUT", "STATE"]];
  for (const s of sessions) {
    rows.push([
      s.key,
      s.label ?? "-",
      s.model ?? "(default)",
      new Date(s.updatedAt).toISOString().replace("T", " ").slice(0, 19),
      `${s.inputTokens}/${s.outputTokens}`,
      s.running ? `running${s.queued ? ` +${s.queued}` : ""}` : "idle",
    ]);
  }
  return alignedTable(rows);
}

export const sessions: Command = {
  name: "sessions",
  summary: "list sessions",
  usage: `gatehouse sessions [--json]

  --json   print the raw sessions.list payload
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, { ...TARGET_OPTIONS, json: { type: "boolean" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const client = await connectTarget(values as TargetFlags, env);
    try {
      const r = await client.request<{ sessions: SessionRow[] }>("sessions.list", {});
      console.log(values.json ? JSON.stringify(r, null, 2) : sessionTable(r.sessions));
      return 0;
    } finally {
      await client.close();
    }
  },
};

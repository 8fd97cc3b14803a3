/** `gatehouse models`: the configured models, whether each can be used, and any cooldown. */
import type { ModelView } from "../providers/catalog.ts";
import { type Command, parse } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

/** Renders models as an aligned table. */
export function modelTable(models: ModelView[]): string {
  if (models.length === 0) {
    return 'no models configured: add [providers.<id>] and agent.model = "<id>/<model>" to the config';
  }
  const rows = [["MODEL", "ROLE", "STATE"]];
  for (const m of models) {
    const state = !m.available
      ? `unavailable: ${m.reason}`
      : m.cooldown
      ? `cooling down ${
        Math.ceil(m.cooldown.remainingMs / 1000)
      }s (${m.cooldown.reason}, ${m.cooldown.failures} in a row)`
      : "ready";
    rows.push([m.ref, m.role, state]);
  }
  return alignedTable(rows);
}

export const models: Command = {
  name: "models",
  summary: "list the configured models and their cooldowns",
  usage: `gatehouse models [--json]

The primary model, its fallbacks in order, and any other model a session picked, each with its
state: ready, cooling down after a failure (tried only after the ready models until then), or
unavailable (and why).

  --json   print the raw models.list payload
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, { ...TARGET_OPTIONS, json: { type: "boolean" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const client = await connectTarget(values as TargetFlags, env);
    try {
      const r = await client.request<{ models: ModelView[] }>("models.list", {});
      console.log(values.json ? JSON.stringify(r, null, 2) : modelTable(r.models));
      return 0;
    } finally {
      await client.close();
    }
  },
};

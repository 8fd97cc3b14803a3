/** `gatehouse status`: what the running gateway says about itself. */
import { type Command, parse } from "./command.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

export const status: Command = {
  name: "status",
  summary: "show the running gateway's status",
  usage: `gatehouse status [--json]

  --json   print the raw status payload
${TARGET_USAGE}`,
  async run(args, env) {
    const { values } = parse(args, { ...TARGET_OPTIONS, json: { type: "boolean" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const client = await connectTarget(values as TargetFlags, env);
    try {
      // deno-lint-ignore no-explicit-any
      const s = await client.request<any>("status", {});
      if (values.json) {
        console.log(JSON.stringify(s, null, 2));
        return 0;
      }
      const lines = [
        `gateway   ${s.version}, up ${Math.round(s.uptimeMs / 1000)} s, ${
          s.ready ? "ready" : "not ready"
        }, pid ${s.pid}`,
        `memory    ${(s.memory.rssBytes / 1048576).toFixed(1)} MiB RSS`,
        `clients   ${s.connections} connected`,
        `model     ${s.model ?? "none configured (set agent.model)"}${
          s.fallbacks?.length ? `, then ${s.fallbacks.join(", ")}` : ""
        }`,
        `tools     ${s.tools?.length ? s.tools.join(", ") : "none"}`,
        `usage     ${s.usage.inputTokens} tokens in, ${s.usage.outputTokens} out, over ${s.usage.sessions} sessions`,
        `lanes     ${s.lanes.running} running, ${s.lanes.queued} queued, ${s.lanes.waitingForSlot} waiting for a slot`,
        `config    ${s.config.found ? s.config.path : "embedded defaults (no config file)"}${
          s.config.restartNeeded?.length
            ? `; restart needed for ${s.config.restartNeeded.join(", ")}`
            : ""
        }`,
        `store     ${s.store}`,
      ];
      for (const p of s.providers) {
        lines.push(
          `provider  ${p.id} (${p.kind}) ${p.enabled ? "enabled" : `disabled: ${p.reason}`}`,
        );
      }
      console.log(lines.join("\n"));
      return 0;
    } finally {
      await client.close();
    }
  },
};

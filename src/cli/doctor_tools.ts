/**
 * `gatehouse doctor`'s tool table: one row per built-in tool with its mode for the operator, or
 * why it is off (the policy, a grant this process lacks, a workspace or program that cannot be
 * used), and the permissions it runs with. It decides as the gateway's start-up does, from the
 * same policy, needs and preconditions.
 */
import type { EnvReader, LoadedConfig } from "../config/mod.ts";
import { missingNeeds, type Need, reachableTools, toFlags, toolNeeds } from "../permissions/mod.ts";
import { BUILTIN_TOOLS } from "../tools/catalog.ts";
import { ToolPolicy } from "../tools/policy.ts";
import { checkPreconditions } from "../tools/preconditions.ts";

/** One row of the doctor's output. */
export interface ToolCheck {
  level: "ok" | "warn";
  what: string;
  detail: string;
}

/** The flags that grant `needs`, without the two every run gets. */
function flagsOf(needs: Need[]): string {
  return toFlags(needs).filter((f) => f !== "--no-prompt" && f !== "--unstable-kv").join(" ");
}

/** A row per built-in tool, as the gateway started with this process's permissions would see it. */
export function toolChecks(loaded: LoadedConfig, env: EnvReader): ToolCheck[] {
  const { config } = loaded;
  const cfg = config.tools;
  const reachable = reachableTools(loaded);
  const needs: Need[] = toolNeeds(loaded, env("PATH")).map((n) => ({
    kind: n.kind,
    value: n.value,
    for: `tool:${n.tool}`,
  }));
  const missing = missingNeeds(needs);
  const ownNeeds = (tool: string) => needs.filter((n) => n.for === `tool:${tool}`);
  const ownMissing = (tool: string) => missing.filter((n) => n.for === `tool:${tool}`);

  // What the gateway would switch off whatever the policy says, and why.
  const off = new Map<string, string>();
  if (cfg.exec.programs.length === 0) off.set("exec", "tools.exec.programs lists no programs");
  if (!config.channels.telegram.enabled) off.set("message", "no channel is configured to send to");
  for (const { name } of BUILTIN_TOOLS) {
    const lacking = ownMissing(name);
    if (reachable.has(name) && lacking.length && !off.has(name)) {
      off.set(
        name,
        `${flagsOf(lacking)} not granted; the gateway runs it only with the flags ` +
          "`gatehouse permissions` prints",
      );
    }
  }
  const pre = checkPreconditions({
    workspacePath: loaded.workspacePath,
    exec: cfg.exec,
    pathEnv: env("PATH"),
    wanted: (name) => reachable.has(name) && !off.has(name),
  });
  for (const [name, reason] of pre.off) off.set(name, reason.replace(`${name} is off: `, ""));

  const policy = new ToolPolicy(cfg, [...BUILTIN_TOOLS], off);
  const rows: ToolCheck[] = [];
  for (const { name } of BUILTIN_TOOLS) {
    const what = `tool ${name}`;
    const own = ownNeeds(name);
    const runsWith = own.length ? `runs with ${flagsOf(own)}` : "needs no permission";
    const d = policy.decide(name, { channel: "ws" })!;
    const reason = off.get(name);
    if (reason !== undefined) {
      // A tool the config asks for that cannot work deserves a warning; one it leaves off does not.
      const wanted = reachable.has(name);
      rows.push({ level: wanted ? "warn" : "ok", what, detail: `off: ${reason}` });
    } else if (!reachable.has(name)) {
      rows.push({ level: "ok", what, detail: `off: ${d.reason}` });
    } else if (d.enabled) {
      rows.push({ level: "ok", what, detail: `${d.mode}; ${runsWith}` });
    } else {
      rows.push({
        level: "ok",
        what,
        detail: `off for the operator (${d.reason}), on for some tools.overrides; ${runsWith}`,
      });
    }
    if (name !== "exec") continue;
    for (const p of pre.problems) {
      rows.push({ level: "warn", what, detail: `${p.name} is left out: ${p.reason}` });
    }
  }
  return rows;
}

/**
 * Builds the tool set a gateway offers from its config: the built-ins, the workspace they are
 * confined to, the policy, the approval broker and the runner that gates every call.
 */
import type { LoadedConfig } from "../config/mod.ts";
import type { Clock, EventSink, Logger, SessionStore, Tool } from "../kernel/mod.ts";
import { reachableTools } from "../permissions/tool_needs.ts";
import { ApprovalBroker } from "./approvals.ts";
import { BUILTIN_TOOLS } from "./catalog.ts";
import { sessionStatusTool } from "./builtin/session_status.ts";
import { timeNowTool } from "./builtin/time_now.ts";
import { cronTool, type CronToolDeps } from "./builtin/cron.ts";
import { messageTool, type MessageToolDeps } from "./builtin/message.ts";
import { type Origin, ToolPolicy } from "./policy.ts";
import { checkPreconditions, type Preconditions } from "./preconditions.ts";
import { ToolRegistry } from "./registry.ts";
import { ToolRunner } from "./runner.ts";

/** What building the tools needs from the composition root. */
export interface ToolSetupDeps {
  loaded: LoadedConfig;
  kv: Deno.Kv;
  store: SessionStore;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  /** Reads the env values exec passes on (`tools.exec.env`). */
  env: (name: string) => string | undefined;
  /** Tools the runtime disabled (needs not granted), with the reason. */
  disabled: Map<string, string>;
  /** What the message tool sends through. */
  messaging: MessageToolDeps;
  /** What the cron tool schedules through; absent when `[cron] enabled = false`. */
  scheduling?: CronToolDeps;
  /** Whether an origin is a channel's owner (owner-only tools). */
  isOwner: (origin: Origin) => boolean;
}

/** The built tools. */
export interface ToolSetup {
  runner: ToolRunner;
  approvals: ApprovalBroker;
  /**
   * Built-in tools on for `origin`, by the policy and the runtime. @default the operator over
   * the WebSocket (`{channel: "ws"}`), as the main session's turns from a client have it
   */
  enabled(origin?: Origin): string[];
  /**
   * Tools no conversation can use, with the reason: not granted, unable to work (no workspace, no
   * program, no channel), or left out by the policy for every origin. The gateway revokes `run`
   * when `exec` is here.
   */
  disabled: ReadonlyMap<string, string>;
  /** Builds the tools now (the gateway calls it right after it is ready). */
  warm(): Promise<void>;
  /**
   * Swaps in the policy of a reloaded config. The tools themselves stay as they were built at
   * start: a tool that was not set up then, or that the start-up config left out and whose Deno
   * permissions (`missing`: tool → why) this process lacks, stays off. Returns the restart notes:
   * tools the new config turns on that only a restart can turn on (`tools.exec (permissions)`).
   */
  reconfigure(next: LoadedConfig, missing: ReadonlyMap<string, string>): string[];
}

/**
 * Sets up the tools for a config. The policy, the approval broker, the workspace and exec's
 * allowlist exist at once (a few system calls), so a tool that cannot work is off before the
 * gateway serves; the tools themselves (their modules) are built on first use or by `warm()`.
 */
export function setupTools(deps: ToolSetupDeps): ToolSetup {
  const { loaded, clock, logger } = deps;
  const cfg = loaded.config.tools;
  // What the policy treats as off whatever the config says: the runtime's refusals and the
  // tools that cannot work.
  const off = new Map(deps.disabled);
  if (cfg.exec.programs.length === 0) {
    off.set("exec", "exec is off: tools.exec.programs lists no programs");
  }
  if (deps.messaging.adapters.size === 0) {
    off.set("message", "message is off: no channel is configured to send to");
  }
  if (!deps.scheduling) off.set("cron", "cron is off: [cron] enabled = false");
  const reachable = reachableTools(loaded);
  const pre = checkPreconditions({
    workspacePath: loaded.workspacePath,
    exec: cfg.exec,
    pathEnv: deps.env("PATH"),
    wanted: (name) => reachable.has(name) && !off.has(name),
  });
  for (const p of pre.problems) {
    logger.warn(`tools.exec.programs: ${p.name} is left out: ${p.reason}`);
  }
  for (const [name, reason] of pre.off) {
    logger.warn(reason);
    off.set(name, reason);
  }
  const disabled = new Map(off);
  for (const { name } of BUILTIN_TOOLS) {
    if (!reachable.has(name) && !disabled.has(name)) {
      disabled.set(name, `${name} is off for every conversation by the tools policy`);
    }
  }
  let policy = new ToolPolicy(cfg, [...BUILTIN_TOOLS], off, deps.isOwner);
  const approvals = new ApprovalBroker({
    kv: deps.kv,
    clock,
    events: deps.events,
    logger,
    timeoutMs: cfg.approval_timeout_seconds * 1000,
  });
  let built: Promise<ToolRegistry> | undefined;
  const registry = () => built ??= buildRegistry(deps, off, pre);
  const runner = new ToolRunner({
    registry,
    policy,
    approvals,
    approvalTimeoutSeconds: cfg.approval_timeout_seconds,
  });
  return {
    runner,
    approvals,
    disabled,
    enabled: (origin = { channel: "ws" }) =>
      policy.all(origin).filter((d) => d.enabled).map((d) => d.name),
    warm: async () => {
      await registry();
    },
    reconfigure(next, missing) {
      const nextReachable = reachableTools(next);
      const usable = builtTools(off, pre);
      const offNow = new Map(off);
      const notes: string[] = [];
      for (const { name } of BUILTIN_TOOLS) {
        if (off.has(name)) continue;
        let reason: string | undefined;
        let note: string | undefined;
        if (!usable.has(name)) {
          reason = `${name} is off until the gateway restarts: it was not set up at start`;
          note = `tools.${name}`;
        } else if (!reachable.has(name) && missing.has(name)) {
          // Its grants were never asked for; a tool the start-up config used keeps what it has.
          reason = missing.get(name)!;
          note = `tools.${name} (permissions)`;
        }
        if (reason === undefined) continue;
        offNow.set(name, reason);
        if (nextReachable.has(name)) notes.push(note!);
      }
      policy = new ToolPolicy(next.config.tools, [...BUILTIN_TOOLS], offNow, deps.isOwner);
      runner.setPolicy(policy);
      return notes;
    },
  };
}

/** The tools `buildRegistry` builds and leaves on: what a reloaded policy can switch on. */
function builtTools(off: ReadonlyMap<string, string>, pre: Preconditions): Set<string> {
  const out = new Set(["time_now", "session_status"]);
  if (pre.workspace) { for (const name of ["read", "write", "edit", "list"]) out.add(name); }
  if (pre.workspace && pre.programs.size > 0) out.add("exec");
  out.add("web_fetch");
  out.add("message");
  out.add("cron");
  for (const name of off.keys()) out.delete(name);
  return out;
}

/** Builds the tools that are not off. */
async function buildRegistry(
  deps: ToolSetupDeps,
  off: ReadonlyMap<string, string>,
  pre: Preconditions,
): Promise<ToolRegistry> {
  const { loaded, clock } = deps;
  const cfg = loaded.config.tools;
  const tools: Tool[] = [timeNowTool(clock), sessionStatusTool({ store: deps.store, clock })];
  const on = (name: string) => !off.has(name);
  const { workspace } = pre;
  if (workspace && ["read", "write", "edit", "list"].some(on)) {
    const { fsTools } = await import("./fs/mod.ts");
    tools.push(...fsTools({ workspace, maxFileBytes: cfg.max_file_bytes }));
  }
  if (workspace && on("exec") && pre.programs.size > 0) {
    const { execTool } = await import("./exec/mod.ts");
    const env: Record<string, string> = {};
    for (const name of cfg.exec.env) {
      const value = deps.env(name);
      if (value !== undefined) env[name] = value;
    }
    tools.push(execTool({
      workspace,
      programs: pre.programs,
      env,
      shell: cfg.exec.shell,
      timeoutMs: cfg.exec.timeout_seconds * 1000,
      maxOutputChars: cfg.exec.max_output_chars,
    }));
  }
  if (on("web_fetch")) {
    const { webFetchTool } = await import("./web/fetch.ts");
    tools.push(webFetchTool({
      policy: { hosts: cfg.web_fetch.hosts, privateHosts: cfg.web_fetch.private_hosts },
      maxBytes: cfg.web_fetch.max_bytes,
      maxChars: cfg.web_fetch.max_chars,
      timeoutMs: cfg.web_fetch.timeout_seconds * 1000,
      maxRedirects: cfg.web_fetch.max_redirects,
    }));
  }
  if (on("message")) tools.push(messageTool(deps.messaging));
  if (on("cron") && deps.scheduling) tools.push(cronTool(deps.scheduling));
  return new ToolRegistry(tools);
}

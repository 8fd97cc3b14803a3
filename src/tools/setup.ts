/**
 * Builds the tool set a gateway offers from its config: the built-ins, the workspace they are
 * confined to, the policy, the approval broker and the runner that gates every call.
 */
import type { LoadedConfig } from "../config/mod.ts";
import type { Clock, EventSink, Logger, SessionStore, Tool } from "../kernel/mod.ts";
import { ApprovalBroker } from "./approvals.ts";
import { BUILTIN_TOOLS } from "./catalog.ts";
import { sessionStatusTool } from "./builtin/session_status.ts";
import { timeNowTool } from "./builtin/time_now.ts";
import { messageTool, type MessageToolDeps } from "./builtin/message.ts";
import { type Origin, ToolPolicy } from "./policy.ts";
import { ToolRegistry } from "./registry.ts";
import { ToolRunner } from "./runner.ts";
import { Workspace } from "./workspace.ts";

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
  /** Whether an origin is a channel's owner (owner-only tools). */
  isOwner: (origin: Origin) => boolean;
}

/** The built tools. */
export interface ToolSetup {
  runner: ToolRunner;
  approvals: ApprovalBroker;
  /** Built-in tools that are on for some conversation (not disabled by runtime or config). */
  enabled(): string[];
  /** Tools that are off, with the reason (runtime or config). */
  disabled: ReadonlyMap<string, string>;
  /** Builds the tools now (the gateway calls it right after it is ready); logs what it leaves out. */
  warm(): Promise<void>;
}

/**
 * Sets up the tools for a config. The policy and the approval broker exist at once; the tools
 * themselves (their modules, the workspace, the exec allowlist) are built on first use or by
 * `warm()`, so they cost the gateway's start-up nothing.
 */
export function setupTools(deps: ToolSetupDeps): ToolSetup {
  const { loaded, clock, logger } = deps;
  const cfg = loaded.config.tools;
  const disabled = new Map(deps.disabled);
  if (cfg.exec.programs.length === 0) {
    disabled.set("exec", "exec is off: tools.exec.programs lists no programs");
  }
  if (deps.messaging.adapters.size === 0) {
    disabled.set("message", "message is off: no channel is configured to send to");
  }
  const policy = new ToolPolicy(cfg, [...BUILTIN_TOOLS], disabled, deps.isOwner);
  const approvals = new ApprovalBroker({
    kv: deps.kv,
    clock,
    events: deps.events,
    logger,
    timeoutMs: cfg.approval_timeout_seconds * 1000,
  });
  let built: Promise<ToolRegistry> | undefined;
  const registry = () => built ??= buildRegistry(deps, disabled);
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
    enabled: () => BUILTIN_TOOLS.map((t) => t.name).filter((n) => !disabled.has(n)),
    warm: async () => {
      await registry();
    },
  };
}

/** Builds the tools that are not disabled; a tool that cannot be built is disabled with why. */
async function buildRegistry(
  deps: ToolSetupDeps,
  disabled: Map<string, string>,
): Promise<ToolRegistry> {
  const { loaded, clock, logger } = deps;
  const cfg = loaded.config.tools;
  const tools: Tool[] = [timeNowTool(clock), sessionStatusTool({ store: deps.store, clock })];
  const on = (name: string) => !disabled.has(name);

  let workspace: Workspace | undefined;
  if (["read", "write", "edit", "list", "exec"].some(on)) {
    try {
      workspace = await Workspace.open(loaded.workspacePath);
    } catch (err) {
      const reason = `the workspace ${loaded.workspacePath} cannot be opened: ${
        (err as Error).message
      }`;
      logger.warn(`file tools and exec are disabled: ${reason}`);
      for (const n of ["read", "write", "edit", "list", "exec"]) disabled.set(n, reason);
    }
  }
  if (workspace) {
    const { fsTools } = await import("./fs/mod.ts");
    tools.push(...fsTools({ workspace, maxFileBytes: cfg.max_file_bytes }));
  }
  if (workspace && on("exec")) {
    const { execTool, resolvePrograms } = await import("./exec/mod.ts");
    const env: Record<string, string> = {};
    for (const name of cfg.exec.env) {
      const value = deps.env(name);
      if (value !== undefined) env[name] = value;
    }
    const { programs, problems } = await resolvePrograms(cfg.exec.programs, {
      pathEnv: env.PATH ?? "",
      shell: cfg.exec.shell,
    });
    for (const p of problems) {
      logger.warn(`tools.exec.programs: ${p.name} is left out: ${p.reason}`);
    }
    tools.push(execTool({
      workspace,
      programs,
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
  return new ToolRegistry(tools);
}

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
import { execTool, resolvePrograms } from "./exec/mod.ts";
import { fsTools } from "./fs/mod.ts";
import { ToolPolicy } from "./policy.ts";
import { ToolRegistry } from "./registry.ts";
import { ToolRunner } from "./runner.ts";
import { webFetchTool } from "./web/fetch.ts";
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
}

/** The built tools. */
export interface ToolSetup {
  runner: ToolRunner;
  approvals: ApprovalBroker;
  /** Names of the registered tools, in order. */
  names: string[];
  /** Tools that are off, with the reason (runtime or config). */
  disabled: ReadonlyMap<string, string>;
}

/** Builds the tools for a config. */
export async function setupTools(deps: ToolSetupDeps): Promise<ToolSetup> {
  const { loaded, clock, logger } = deps;
  const cfg = loaded.config.tools;
  const disabled = new Map(deps.disabled);
  const tools: Tool[] = [timeNowTool(clock), sessionStatusTool({ store: deps.store, clock })];

  const needsWorkspace = ["read", "write", "edit", "list", "exec"].some((n) => !disabled.has(n));
  const workspace = needsWorkspace ? await Workspace.open(loaded.workspacePath) : undefined;
  if (workspace) tools.push(...fsTools({ workspace, maxFileBytes: cfg.max_file_bytes }));

  const env: Record<string, string> = {};
  for (const name of cfg.exec.env) {
    const value = deps.env(name);
    if (value !== undefined) env[name] = value;
  }
  if (cfg.exec.programs.length === 0) {
    disabled.set("exec", "exec is off: tools.exec.programs lists no programs");
  } else if (workspace && !disabled.has("exec")) {
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

  tools.push(webFetchTool({
    policy: { hosts: cfg.web_fetch.hosts, privateHosts: cfg.web_fetch.private_hosts },
    maxBytes: cfg.web_fetch.max_bytes,
    maxChars: cfg.web_fetch.max_chars,
    timeoutMs: cfg.web_fetch.timeout_seconds * 1000,
    maxRedirects: cfg.web_fetch.max_redirects,
  }));

  const registry = new ToolRegistry(tools);
  // The policy knows every built-in, so `tools.effective` also says why one was not built.
  for (const { name } of BUILTIN_TOOLS) {
    if (!registry.get(name) && !disabled.has(name)) disabled.set(name, `${name} is not available`);
  }
  const policy = new ToolPolicy(cfg, [...BUILTIN_TOOLS], disabled);
  const approvals = new ApprovalBroker({
    kv: deps.kv,
    clock,
    events: deps.events,
    logger,
    timeoutMs: cfg.approval_timeout_seconds * 1000,
  });
  const runner = new ToolRunner({
    registry,
    policy,
    approvals,
    approvalTimeoutSeconds: cfg.approval_timeout_seconds,
  });
  return { runner, approvals, names: registry.names(), disabled };
}

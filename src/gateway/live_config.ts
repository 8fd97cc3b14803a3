/**
 * The parts of a running gateway a config reload applies live: the providers and models, the
 * agent's settings, the tool policy and Telegram's access lists. Everything else (bind, port,
 * auth, store, lanes, log, the tools' own settings, the rest of Telegram) waits for a restart,
 * and so does anything that needs a Deno permission this process was not started with: the
 * runtime's grants cannot grow while it runs. (Cron jobs join this list when cron exists.)
 */
import type { ChatService } from "../agent/chat_service.ts";
import type { TurnSettings } from "../agent/turn.ts";
import { TELEGRAM_LIVE_KEYS } from "../channels/telegram/live_keys.ts";
import type { TelegramChannel } from "../channels/telegram/mod.ts";
import type { LoadedConfig } from "../config/mod.ts";
import { gatewayNeeds, missingNeeds, needFlag } from "../permissions/mod.ts";
import type { ModelCatalog } from "../providers/catalog.ts";
import type { Failover } from "../providers/failover.ts";
import type { ProviderRegistry } from "../providers/registry.ts";
import type { ToolSetup } from "../tools/setup.ts";
import type { LivePart } from "./reload.ts";

/** The agent settings a turn follows, from a config. */
export function turnSettings(loaded: LoadedConfig): TurnSettings {
  const agent = loaded.config.agent;
  return {
    model: agent.model,
    fallbacks: agent.fallbacks,
    systemPrompt: agent.system_prompt,
    contextTokens: agent.context_tokens,
    maxOutputTokens: agent.max_output_tokens,
    thinkingTokens: agent.thinking_tokens,
    maxToolIterations: agent.max_tool_iterations,
    configPath: loaded.path,
  };
}

/** The running parts a reload reconfigures. */
export interface LiveDeps {
  registry: ProviderRegistry;
  /** Providers that are off (id → why); the model resolver reads it on every resolve. */
  disabledProviders: Map<string, string>;
  catalog: ModelCatalog;
  failover: Failover;
  chat: ChatService;
  tools: ToolSetup;
  telegram?: TelegramChannel;
  /** The gateway's PATH (exec's programs are looked up there). */
  pathEnv?: string;
}

/** The live parts, in the order a reload applies them (providers before the models naming them). */
export function liveParts(deps: LiveDeps): LivePart[] {
  const bootDisabled = new Set(deps.disabledProviders.keys());
  let memo: { next: LoadedConfig; off: ReturnType<typeof offFor> } | undefined;
  const off = (next: LoadedConfig) => {
    if (memo?.next !== next) memo = { next, off: offFor(next, deps.pathEnv) };
    return memo.off;
  };
  return [
    {
      name: "providers",
      keys: ["providers"],
      apply(next) {
        deps.registry.update(next.config.providers);
        const now = off(next).providers;
        deps.disabledProviders.clear();
        for (const [id, reason] of now) deps.disabledProviders.set(id, reason);
        return [...now.keys()].filter((id) => !bootDisabled.has(id))
          .map((id) => `providers.${id} (permissions)`);
      },
    },
    {
      name: "agent",
      keys: [
        "agent.model",
        "agent.fallbacks",
        "agent.system_prompt",
        "agent.context_tokens",
        "agent.max_output_tokens",
        "agent.thinking_tokens",
        "agent.max_tool_iterations",
        "agent.failover",
        "agent.queue.mode",
      ],
      apply(next) {
        const agent = next.config.agent;
        deps.chat.configure({ settings: turnSettings(next), defaultMode: agent.queue.mode });
        deps.catalog.setChain(agent.model, agent.fallbacks);
        deps.failover.configure({
          rounds: agent.failover.rounds,
          maxWaitMs: agent.failover.max_wait_seconds * 1000,
        });
      },
    },
    {
      name: "tools",
      keys: ["tools.profile", "tools.allow", "tools.deny", "tools.modes", "tools.overrides"],
      apply: (next) => deps.tools.reconfigure(next, off(next).tools),
    },
    {
      name: "channels.telegram",
      keys: TELEGRAM_LIVE_KEYS.map((k) => `channels.telegram.${k}`),
      apply(next) {
        deps.telegram?.reconfigure(next.config.channels.telegram);
      },
    },
  ];
}

/**
 * The providers and tools a config needs Deno permissions for that this process lacks, each with
 * the sentence that says so. Asked of the runtime (never prompts).
 */
function offFor(next: LoadedConfig, pathEnv: string | undefined) {
  const providers = new Map<string, string>();
  const tools = new Map<string, string>();
  for (const need of missingNeeds(gatewayNeeds(next, { pathEnv }))) {
    const [kind, id] = need.for.split(":");
    const into = kind === "provider" ? providers : kind === "tool" ? tools : undefined;
    if (!into || into.has(id)) continue;
    into.set(
      id,
      `${kind} ${id} is off until the gateway restarts: it runs without ${needFlag(need)}; ` +
        "restart it with the flags `gatehouse permissions` prints",
    );
  }
  return { providers, tools };
}

/** A gateway started inside the test process (fast), with a fake provider and a temp home. */
import { parse as parseToml, stringify as stringifyToml } from "smol-toml";
import { type LoadedConfig, parseConfig } from "../../src/config/mod.ts";
import { type RunningGateway, startGateway } from "../../src/gateway/server.ts";
import {
  type ChannelAdapter,
  type Clock,
  type Logger,
  silentLogger,
} from "../../src/kernel/mod.ts";
import { GatewayClient } from "../../src/cli/client.ts";
import { FakeOpenAI } from "../_servers/openai.ts";
import type { FakeAnthropic } from "../_servers/anthropic.ts";

/** A gateway, its fake provider and helpers, disposed together. */
export interface TestGateway extends AsyncDisposable {
  gateway: RunningGateway;
  fake: FakeOpenAI;
  home: string;
  /** The config file (written only with `reload`). */
  configPath: string;
  token: string;
  wsUrl: string;
  /** A connected client (closed on dispose). */
  client(options?: { scopes?: string[] }): Promise<GatewayClient>;
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep-merges TOML tables; `over` wins. An `agent.model` of "" removes the model. */
function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTable(v) && isTable(out[k]) ? merge(out[k] as Table, v) : v;
  }
  const agent = out.agent as Table | undefined;
  if (agent?.model === "") delete agent.model;
  return out;
}

/**
 * Starts a gateway on 127.0.0.1:0 with `[providers.fake]` pointing at a FakeOpenAI (and, when
 * `anthropic` is given, `[providers.claude]` at that FakeAnthropic); `config` is TOML merged over
 * that base.
 */
export async function startTestGateway(
  options: {
    config?: string;
    clock?: Clock;
    fake?: FakeOpenAI;
    anthropic?: FakeAnthropic;
    channels?: ChannelAdapter[];
    /** Env values the gateway reads (besides PATH, which is passed through). */
    env?: Record<string, string>;
    /**
     * Write the config to `<home>/config.toml` and reload it as the real gateway does: when the
     * file is saved, on SIGHUP and on `gateway.reload()`. @default false (no watch, no SIGHUP)
     */
    reload?: boolean;
    /** @default silentLogger */
    logger?: Logger;
    /** Whether a peer is loopback (`() => false` plays a remote device). @default isLoopback */
    isLocalPeer?: (address: string) => boolean;
  } = {},
): Promise<TestGateway> {
  const fake = options.fake ?? await FakeOpenAI.start();
  const home = await Deno.makeTempDir({ prefix: "gatehouse-test-" });
  const providers: Table = { fake: { kind: "openai", base_url: fake.url } };
  if (options.anthropic) providers.claude = { kind: "anthropic", base_url: options.anthropic.url };
  const base = {
    gateway: { port: 0 },
    store: { path: ":memory:" },
    providers,
    agent: { model: "fake/test-model" },
  };
  const merged = merge(base, parseToml(options.config ?? ""));
  const configPath = `${home}/config.toml`;
  const text = stringifyToml(merged);
  const { config } = parseConfig(text, configPath);
  if (options.reload) await Deno.writeTextFile(configPath, text);
  const loaded: LoadedConfig = {
    config,
    home,
    path: configPath,
    found: true,
    warnings: [],
    storePath: ":memory:",
    tokenPath: `${home}/token`,
    workspacePath: `${home}/${config.tools.workspace}`,
  };
  const gateway = await startGateway({
    loaded,
    logger: options.logger ?? silentLogger,
    // Only PATH (exec looks up its allowlisted programs there); provider keys are never read.
    env: (name) => (name === "PATH" ? Deno.env.get("PATH") : options.env?.[name]),
    clock: options.clock,
    revokeUnusedPermissions: false,
    channels: options.channels,
    ...(options.isLocalPeer ? { isLocalPeer: options.isLocalPeer } : {}),
    watchConfig: options.reload ?? false,
    reloadOnSighup: options.reload ?? false,
    // What `start` does, without the env: the file as it is now, over the same home.
    loadConfig: async () => ({
      ...loaded,
      ...parseConfig(await Deno.readTextFile(configPath), configPath),
    }),
  });
  const token = (await Deno.readTextFile(`${home}/token`)).trim();
  const wsUrl = `ws://127.0.0.1:${gateway.port}/ws`;
  const clients: GatewayClient[] = [];
  return {
    gateway,
    fake,
    home,
    configPath,
    token,
    wsUrl,
    async client(o = {}) {
      const c = await GatewayClient.connect(wsUrl, { token, clientId: "test", mode: "test", ...o });
      clients.push(c);
      return c;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.stop("test over");
      if (!options.fake) await fake.close();
      await Deno.remove(home, { recursive: true });
    },
  };
}

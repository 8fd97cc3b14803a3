/**
 * The composition root: the one place that opens KV, reads the token, builds every part and wires
 * them together, then serves HTTP and the WebSocket until stopped.
 */
import { ChatService } from "../agent/chat_service.ts";
import { type EnvReader, loadConfig, type LoadedConfig } from "../config/mod.ts";
import {
  type ChannelAdapter,
  type Clock,
  GatehouseError,
  type Logger,
  type ModelResolver,
  type Replies,
  systemClock,
} from "../kernel/mod.ts";
import { gatewayNeeds, missingNeeds, type Need, needFlag, toFlags } from "../permissions/mod.ts";
import { ProviderRegistry } from "../providers/registry.ts";
import { ModelCatalog } from "../providers/catalog.ts";
import { CooldownBook } from "../providers/cooldown.ts";
import { Failover } from "../providers/failover.ts";
import { setupTools } from "../tools/setup.ts";
import { DeliveryWorker } from "../channels/delivery.ts";
import { PairingStore } from "../channels/pairing.ts";
import { openCron } from "../cron/mod.ts";
import { ChannelReplies } from "../channels/replies.ts";
import type { TelegramChannel, TelegramDeps } from "../channels/telegram/mod.ts";
import { operatorIsOwner } from "../tools/policy.ts";
import { createCommands } from "../agent/commands.ts";
import { KvOutbox, KvSessionStore } from "../store/mod.ts";
import { VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import { openHooks } from "./hooks.ts";
import { RecentProblems } from "./recent_problems.ts";
import { AuthLimiter } from "./auth_limiter.ts";
import { assertSafeBind, bindHost, isLoopback } from "./bind.ts";
import { type ConfigWatch, watchConfigFile } from "./config_watch.ts";
import { CLOSE, type Connection } from "./connection.ts";
import { NonceBook } from "./device_auth.ts";
import { DeviceStore } from "./devices.ts";
import { EventHub } from "./event_hub.ts";
import { gatewayMetrics } from "./gateway_metrics.ts";
import { bearerAuth } from "./http_auth.ts";
import { liveParts, turnSettings } from "./live_config.ts";
import { cronMethods } from "./cron_methods.ts";
import { createMethods } from "./methods.ts";
import { ConfigReloader, type ReloadReport } from "./reload.ts";
import { ensureTokenFile, TokenSource } from "./token.ts";
import { allowedOrigins, createUpgrade } from "./ws_upgrade.ts";

/** Options of {@linkcode startGateway}. */
export interface StartOptions {
  loaded: LoadedConfig;
  logger: Logger;
  env: EnvReader;
  clock?: Clock;
  /** Drop the permission classes the gateway never uses (run, ffi, sys) once it is up. @default true */
  revokeUnusedPermissions?: boolean;
  /** Channel adapters to serve besides those the config enables (tests use a recording one). */
  channels?: ChannelAdapter[];
  /**
   * Reads the config again for a reload, the way it was read at start.
   * @default the same file through loadConfig (the embedded defaults' path when there was none)
   */
  loadConfig?: () => Promise<LoadedConfig>;
  /** Reload the config when its file is saved. @default true */
  watchConfig?: boolean;
  /** Reload the config on SIGHUP (`systemctl reload`; not on Windows). @default true */
  reloadOnSighup?: boolean;
  /**
   * Whether a peer address is loopback, where a new device presenting the gateway token is paired
   * without asking. Tests pass `() => false` to play a remote peer. @default isLoopback
   */
  isLocalPeer?: (address: string) => boolean;
}

/** A running gateway. */
export interface RunningGateway {
  hostname: string;
  port: number;
  /** `http://host:port` */
  url: string;
  /** Reads the config again and applies what can be applied live (as SIGHUP does). */
  reload(): Promise<ReloadReport>;
  /** Stops accepting, lets turns finish within the grace period, closes everything. */
  stop(reason?: string): Promise<void>;
}

const EVENTS = [
  "connect.challenge",
  "chat",
  "agent",
  "sessions.changed",
  "exec.approval.requested",
  "exec.approval.resolved",
  "device.pair.requested",
  "device.pair.resolved",
  "tick",
  "shutdown",
];

/** Builds and starts the gateway. Throws ConfigError or GatehouseError with a message for the user. */
export async function startGateway(options: StartOptions): Promise<RunningGateway> {
  const { loaded, logger } = options;
  const clock = options.clock ?? systemClock;
  const { config } = loaded;
  const startedAt = clock.now();
  assertSafeBind(config, loaded.found ? loaded.path : undefined);

  const needs = gatewayNeeds(loaded, { pathEnv: options.env("PATH") });
  const missing = missingNeeds(needs);
  const missingCore = missing.filter((n) => n.for === "core" && n.kind !== "env");
  if (missingCore.length) {
    throw new GatehouseError(
      "UNAVAILABLE",
      `the gateway was started without ${describe(missingCore)}: start it with the flags ` +
        `\`gatehouse permissions\` prints (${toFlags(needs).join(" ")})`,
    );
  }
  const disabledProviders = disabledParts(missing, "provider", logger);
  const disabledTools = disabledParts(missing, "tool", logger);
  const disabledChannels = disabledParts(missing, "channel", logger);

  if (!/^(https?:|:memory:)/.test(loaded.storePath)) {
    await Deno.mkdir(loaded.home, { recursive: true, mode: 0o700 });
  }
  let kv: Deno.Kv;
  try {
    kv = await Deno.openKv(loaded.storePath);
  } catch (err) {
    throw new GatehouseError(
      "UNAVAILABLE",
      `cannot open the KV store at ${loaded.storePath}: ${(err as Error).message}: ` +
        `check store.path and that no other gateway uses it`,
    );
  }

  const problems = new RecentProblems();
  try {
    return await serve({
      ...options,
      logger: problems.wrap(logger, () => clock.now()),
      problems,
      clock,
      kv,
      startedAt,
      disabledProviders,
      disabledTools,
      disabledChannels,
      needs,
    });
  } catch (err) {
    kv.close();
    throw err;
  }
}

function describe(needs: Need[]): string {
  return needs.map(needFlag).join(" ");
}

/**
 * The parts (`provider:<id>`, `tool:<name>`) whose needs were not granted, each with the reason
 * it is off; one log line each. They are disabled, never fatal.
 */
function disabledParts(missing: Need[], kind: "provider" | "tool" | "channel", logger: Logger) {
  const out = new Map<string, string>();
  for (const n of missing) {
    if (!n.for.startsWith(`${kind}:`)) continue;
    const id = n.for.slice(kind.length + 1);
    if (out.has(id)) continue;
    const reason = `${kind} ${id} is disabled: the gateway runs without ${describe([n])}; ` +
      `restart it with the flags \`gatehouse permissions\` prints`;
    logger.warn(reason);
    out.set(id, reason);
  }
  return out;
}

/** The Telegram channel when `[channels.telegram]` is enabled, granted and has its token; else undefined, with why logged. */
async function openTelegram(
  options: StartOptions & { disabledChannels: Map<string, string>; clock: Clock },
  parts: {
    kv: Deno.Kv;
    hub: EventHub;
    pairing: PairingStore;
    replies: Replies;
    resolveApproval: TelegramDeps["resolveApproval"];
  },
): Promise<TelegramChannel | undefined> {
  const { loaded, logger, env } = options;
  const cfg = loaded.config.channels.telegram;
  if (!cfg.enabled || options.disabledChannels.has("telegram")) return undefined;
  const token = env(cfg.bot_token_env)?.trim();
  if (!token) {
    logger.error(
      `channel telegram is disabled: env ${cfg.bot_token_env} is not set; export the bot token ` +
        "from @BotFather there and restart",
    );
    return undefined;
  }
  let webhookSecret: string | undefined;
  if (cfg.mode === "webhook") {
    webhookSecret = env(cfg.webhook_secret_env)?.trim();
    if (!webhookSecret) {
      logger.error(
        `channel telegram is disabled: mode = "webhook" and env ${cfg.webhook_secret_env} is not ` +
          "set; export a secret there (e.g. `openssl rand -hex 32`) and restart",
      );
      return undefined;
    }
  }
  const { createTelegram } = await import("../channels/telegram/mod.ts");
  return await createTelegram({
    config: cfg,
    token,
    ...(webhookSecret ? { webhookSecret } : {}),
    dmScope: loaded.config.session.dm_scope,
    kv: parts.kv,
    pairing: parts.pairing,
    replies: parts.replies,
    resolveApproval: parts.resolveApproval,
    workspace: loaded.workspacePath,
    events: parts.hub,
    clock: options.clock,
    logger,
  });
}

async function serve(
  options: StartOptions & {
    clock: Clock;
    kv: Deno.Kv;
    startedAt: number;
    disabledProviders: Map<string, string>;
    disabledTools: Map<string, string>;
    disabledChannels: Map<string, string>;
    needs: Need[];
    problems: RecentProblems;
  },
): Promise<RunningGateway> {
  const { loaded, logger, env, clock, kv, startedAt, disabledProviders } = options;
  const { config } = loaded;

  const auth = config.gateway.auth;
  let tokens: TokenSource | undefined;
  if (auth.mode === "token") {
    if (auth.token_env) {
      const value = env(auth.token_env);
      if (!value) {
        throw new GatehouseError(
          "UNAVAILABLE",
          `gateway.auth.token_env names ${auth.token_env}, which is not set: export it or remove token_env to use ${loaded.tokenPath}`,
        );
      }
      tokens = new TokenSource({ env: auth.token_env, value });
    } else {
      await ensureTokenFile(loaded.tokenPath);
      tokens = new TokenSource({ file: loaded.tokenPath });
    }
  } else {
    logger.warn('gateway.auth.mode is "none": any local process can drive the agent');
  }

  const store = new KvSessionStore(kv, {
    clock,
    idempotencyTtlMs: config.store.idempotency_ttl_seconds * 1000,
  });
  const registry = new ProviderRegistry(config.providers, { env, logger });
  const models: ModelResolver = {
    resolve(ref) {
      const id = ref.slice(0, ref.indexOf("/"));
      const disabled = disabledProviders.get(id);
      if (disabled) return { ok: false, reason: disabled };
      return registry.resolve(ref);
    },
  };
  const hub = new EventHub();
  const cooldowns = new CooldownBook(clock);
  const failover = new Failover({
    models,
    cooldowns,
    clock,
    rounds: config.agent.failover.rounds,
    maxWaitMs: config.agent.failover.max_wait_seconds * 1000,
  });
  const catalog = new ModelCatalog({
    primary: config.agent.model,
    fallbacks: config.agent.fallbacks,
    models,
    cooldowns,
    clock,
  });
  const adapters = new Map((options.channels ?? []).map((a) => [a.id, a]));
  const outbox = new KvOutbox(kv, clock);
  const pairing = await PairingStore.open(kv, clock);
  const delivery = new DeliveryWorker({ outbox, adapters, clock, logger });
  const replies = new ChannelReplies(adapters, outbox, () => delivery.kick());
  const telegram = await openTelegram(options, {
    kv,
    hub,
    pairing,
    replies,
    resolveApproval: (id, decision, by) => tools.approvals.resolve(id, decision, by),
  });
  if (telegram) adapters.set("telegram", telegram.sender);
  const tools = setupTools({
    loaded,
    kv,
    store,
    events: hub,
    clock,
    logger,
    env,
    disabled: options.disabledTools,
    messaging: { outbox, adapters, kick: () => delivery.kick() },
    ...(config.cron.enabled ? { scheduling: { service: () => cron, clock } } : {}),
    isOwner: (origin) =>
      operatorIsOwner(origin) ||
      (origin.channel !== undefined && origin.sender !== undefined &&
        pairing.isOwner(origin.channel, origin.sender)),
  });
  const chat: ChatService = new ChatService({
    store,
    events: hub,
    failover,
    tools: tools.runner,
    replies,
    commands: createCommands({
      store,
      catalog,
      events: hub,
      control: () => ({
        reset: (key) => chat.reset(key),
        abort: (key) => chat.abort(key),
        running: (key) => chat.lanes.isRunning(key),
        queued: (key) => chat.lanes.depth(key),
        isOwner: (channel, sender) => pairing.isOwner(channel, sender),
      }),
    }),
    logger,
    clock,
    settings: turnSettings(loaded),
    lanes: {
      maxConcurrent: config.agent.max_concurrent,
      timeoutMs: config.agent.timeout_seconds * 1000,
      queueCap: config.agent.queue.cap,
      debounceMs: config.agent.queue.debounce_ms,
      defaultMode: config.agent.queue.mode,
    },
  });

  const reloader = new ConfigReloader({
    initial: loaded,
    load: options.loadConfig ??
      (() => loadConfig({ path: loaded.found ? loaded.path : undefined, env })),
    parts: liveParts({
      registry,
      disabledProviders,
      catalog,
      failover,
      chat,
      tools,
      ...(telegram ? { telegram } : {}),
      pathEnv: env("PATH"),
    }),
    logger,
  });
  /** The config in effect for what a reload applies live (models, tools, …). */
  const live = () => reloader.current.config;

  let ready = false;
  const connections = new Set<Connection>();
  const devices = new DeviceStore({
    kv,
    clock,
    events: hub,
    endSockets(deviceId, reason) {
      let closed = 0;
      for (const c of connections) {
        if (c.deviceId !== deviceId) continue;
        c.endDevice(reason);
        closed++;
      }
      return closed;
    },
  });
  const status = () => ({
    version: VERSION,
    uptimeMs: clock.now() - startedAt,
    ready,
    pid: Deno.pid,
    memory: { rssBytes: Deno.memoryUsage().rss },
    connections: connections.size,
    model: live().agent.model ?? null,
    fallbacks: live().agent.fallbacks,
    tools: tools.enabled(),
    providers: Object.entries(live().providers).map(([id, p]) => ({
      id,
      kind: p.kind,
      enabled: !disabledProviders.has(id),
      ...(disabledProviders.has(id) ? { reason: disabledProviders.get(id) } : {}),
    })),
    lanes: { ...chat.lanes.stats(), busiest: chat.lanes.lanes(10) },
    store: /^https?:/.test(loaded.storePath) ? "remote" : loaded.storePath,
    config: { path: loaded.path, found: loaded.found, restartNeeded: reloader.restartNeeded() },
    channels: channelStates(),
    cron: { enabled: config.cron.enabled },
    recentProblems: options.problems.list(),
  });
  /** Each chat surface and its state, for `status`. */
  const channelStates = () => {
    const tg = config.channels.telegram;
    const telegramState = telegram
      ? telegram.state()
      : !tg.enabled
      ? "off"
      : `off: ${options.disabledChannels.get("telegram") ?? "not started (see the log)"}`;
    return [
      { id: "webchat", state: "served at /" },
      { id: "telegram", state: telegramState },
      { id: "terminal", state: "gatehouse chat" },
    ];
  };
  // Built (and its config jobs seeded) before the methods; started once the gateway is ready.
  const cron = await openCron({
    config: config.cron,
    kv,
    clock,
    logger,
    chat,
    store,
    listen: (fn) => hub.listen(fn),
    replies,
    webhook: {
      policy: {
        hosts: config.tools.web_fetch.hosts,
        privateHosts: config.tools.web_fetch.private_hosts,
      },
    },
    owner: () => pairing.owner("telegram"),
  });
  const methods = createMethods({
    chat,
    store,
    events: hub,
    status,
    health: () => ({ ok: true, ready, uptimeMs: clock.now() - startedAt }),
    catalog,
    tools: tools.runner,
    approvals: tools.approvals,
    pairing,
    devices,
  });
  for (const [name, spec] of cronMethods(cron, clock)) methods.set(name, spec);
  const limiter = new AuthLimiter({
    clock,
    maxAttempts: auth.rate_limit.max_attempts,
    windowMs: auth.rate_limit.window_seconds * 1000,
    lockoutMs: auth.rate_limit.lockout_seconds * 1000,
  });

  const token = async () => tokens ? await tokens.current() : undefined;
  const metrics = gatewayMetrics({
    hub,
    clock,
    startedAt,
    version: VERSION,
    lanes: chat.lanes,
    providerAttempts: failover.attempts,
    deliveries: delivery.deliveries,
    approvalsPending: () => tools.approvals.pending().length,
    connections: () => connections.size,
    reloads: reloader.reloads,
    restartNeeded: () => reloader.restartNeeded(),
  });

  let port = config.gateway.port;
  const upgrade = createUpgrade({
    clock,
    logger,
    hub,
    limiter,
    methods,
    connections,
    token,
    version: VERSION,
    maxPayloadBytes: config.gateway.max_payload_bytes,
    tickIntervalMs: config.gateway.tick_interval_ms,
    events: EVENTS,
    devices,
    nonces: new NonceBook(clock),
    isLocal: options.isLocalPeer ?? isLoopback,
    snapshot: () => ({ uptimeMs: clock.now() - startedAt, model: live().agent.model ?? null }),
    origins: () => allowedOrigins(port, config.gateway.allowed_origins),
  });
  const hooks = openHooks({
    config: config.hooks,
    env: options.env,
    chat,
    replies,
    limiter,
    logger,
  });
  const app = createApp({
    isReady: () => ready,
    upgrade,
    logger,
    metrics: { render: metrics.render, authorize: bearerAuth({ token, limiter, logger }) },
    ...(telegram?.webhook ? { telegramWebhook: telegram.webhook } : {}),
    ...(hooks ? { hooks } : {}),
  });

  const recovered = await chat.recover();
  const hostname = bindHost(config.gateway.bind);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
  } catch (err) {
    await chat.shutdown(0);
    metrics.close();
    if (err instanceof Deno.errors.AddrInUse) {
      throw new GatehouseError(
        "UNAVAILABLE",
        `port ${port} on ${hostname} is already in use (another gateway?): stop it or set gateway.port`,
      );
    }
    throw err;
  }
  port = server.addr.port;
  const tick = setInterval(
    () => hub.publish("tick", { ts: clock.now() }),
    config.gateway.tick_interval_ms,
  );
  ready = true;
  logger.info("gateway ready", {
    url: `http://${hostname}:${port}`,
    version: VERSION,
    model: config.agent.model ?? "(none configured)",
    config: loaded.found ? loaded.path : "(defaults; no config file)",
    startupMs: clock.now() - options.startedAt,
    ...(recovered.replayed || recovered.interrupted ? recovered : {}),
  });
  // Whole permission classes the gateway never uses are dropped for the rest of the process:
  // `run` too unless exec is on (then only the allowlisted programs were granted).
  if (options.revokeUnusedPermissions ?? true) {
    const unused = ["ffi", "sys"] as ("run" | "ffi" | "sys")[];
    if (tools.disabled.has("exec")) unused.push("run");
    for (const name of unused) Deno.permissions.revokeSync({ name });
  }
  // The tools are built now that the gateway answers, off the start-up path.
  delivery.start();
  telegram?.start(chat);
  await cron?.start();
  const warming = tools.warm().catch((err) =>
    logger.error("tools could not be built", { error: String(err) })
  );
  // Reloads: a saved edit of the config file, and SIGHUP (what `systemctl reload` sends).
  const watch: ConfigWatch | undefined = (options.watchConfig ?? true)
    ? watchConfigFile({
      path: loaded.path,
      onChange: () => void reloader.reload("file"),
      clock,
      logger,
    })
    : undefined;
  const onSighup = () => void reloader.reload("SIGHUP");
  const sighup = (options.reloadOnSighup ?? true) && Deno.build.os !== "windows";
  if (sighup) Deno.addSignalListener("SIGHUP", onSighup);

  let stopping: Promise<void> | undefined;
  return {
    hostname,
    port,
    url: `http://${hostname}:${port}`,
    reload: () => reloader.reload("request"),
    stop(reason = "shutdown") {
      stopping ??= (async () => {
        ready = false;
        if (sighup) Deno.removeSignalListener("SIGHUP", onSighup);
        await watch?.close();
        await reloader.close();
        metrics.close();
        clearInterval(tick);
        hub.publish("shutdown", { reason });
        await telegram?.stop();
        cron?.stop();
        const graceMs = config.gateway.shutdown_grace_seconds * 1000;
        const { aborted } = await chat.shutdown(graceMs);
        await cron?.idle(); // their turns have ended: the runs record how
        await warming;
        await delivery.stop();
        if (aborted) logger.warn("turns aborted at shutdown", { aborted });
        for (const c of connections) c.close(CLOSE.shutdown, "gateway shutting down");
        await server.shutdown();
        kv.close();
        logger.info("gateway stopped", { reason });
      })();
      return stopping;
    },
  };
}

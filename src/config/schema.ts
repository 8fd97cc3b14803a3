/**
 * The config schema: the one home of every default. Input is TOML; output is the parsed `Config`.
 * Field docs here are mirrored in config.example.toml.
 */
import { z } from "zod";
import { cronConfig } from "./cron_schema.ts";
import { hooksConfig } from "./hooks_schema.ts";
import { BUILTIN_TOOLS } from "../tools/catalog.ts";

const envName = z.string().regex(
  /^[A-Za-z_][A-Za-z0-9_]*$/,
  "must be an environment variable name like OPENAI_API_KEY (the secret itself never goes in the file)",
);

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

const rateLimit = z.object({
  /** Failed auth attempts per source before a lockout. */
  max_attempts: z.number().int().min(1).max(1000).default(10),
  /** Window in which failures are counted. */
  window_seconds: seconds(1, 86_400).default(60),
  /** How long a locked-out source is refused. */
  lockout_seconds: seconds(1, 86_400).default(300),
});

const auth = z.object({
  /** `token` (default): clients present the gateway token. `none`: no auth, loopback bind only. */
  mode: z.enum(["token", "none"]).default("token"),
  /** Take the token from this env var instead of the generated `<home>/token` file. */
  token_env: envName.optional(),
  rate_limit: rateLimit.prefault({}),
});

const gateway = z.object({
  /** Address to bind: "loopback" (= 127.0.0.1), "lan" (= 0.0.0.0) or an IP address. */
  bind: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65_535).default(18789),
  /** Largest WebSocket frame accepted after `connect` (before it: 64 KiB). */
  max_payload_bytes: z.number().int().min(65_536).max(64 * 1024 * 1024).default(1_048_576),
  /** Interval of `tick` keepalive events. */
  tick_interval_ms: z.number().int().min(1000).max(300_000).default(30_000),
  /** Extra browser origins allowed to open the WebSocket (the gateway's own loopback origins always are). */
  allowed_origins: z.array(z.string().url()).default([]),
  /** Seconds `start` waits for running turns on SIGINT/SIGTERM before aborting them. */
  shutdown_grace_seconds: seconds(0, 600).default(10),
  auth: auth.prefault({}),
});

const store = z.object({
  /** KV database: a file path (relative to the home) or an http(s) KV Connect URL. */
  path: z.string().min(1).default("gatehouse.kv.sqlite"),
  /** How long a chat.send idempotencyKey is remembered. */
  idempotency_ttl_seconds: seconds(60, 30 * 86_400).default(86_400),
});

const session = z.object({
  /** How direct messages map to sessions: one main session, per peer, or per channel and peer. */
  dm_scope: z.enum(["main", "per-peer", "per-channel-peer"]).default("main"),
});

const queue = z.object({
  /** What a message does when its session is busy. */
  mode: z.enum(["followup", "collect", "interrupt", "steer"]).default("followup"),
  /** Queued messages kept per session; past it the oldest is dropped with a note. */
  cap: z.number().int().min(1).max(1000).default(20),
  /** Quiet window before collected messages run as one turn. */
  debounce_ms: z.number().int().min(0).max(60_000).default(500),
});

const modelRef = z.string().regex(
  /^[a-z0-9_-]+\/\S+$/,
  'must be "<provider>/<model>", for example "openai/gpt-4.1-mini"',
);

const failover = z.object({
  /** Passes over the model chain before a turn gives up (a session's own model gets one attempt per pass). */
  rounds: z.number().int().min(1).max(5).default(2),
  /** Longest wait between passes; a provider's retry-after is honoured up to this. */
  max_wait_seconds: seconds(0, 300).default(30),
});

const agent = z.object({
  /** The model for turns, `<provider>/<model>`; empty means none configured yet. */
  model: modelRef.optional(),
  /** Models tried in order when the one before fails (rate limit, outage, stall); per turn. */
  fallbacks: z.array(modelRef).max(8).default([]),
  system_prompt: z.string().max(32_768).default(
    "You are Gatehouse, a personal assistant. Answer concisely.",
  ),
  /** Turns running at once across all sessions. */
  max_concurrent: z.number().int().min(1).max(256).default(8),
  /** A turn running longer is aborted and its session freed. */
  timeout_seconds: seconds(1, 86_400).default(600),
  /** Budget of transcript context sent to the model, in tokens (estimated at 4 characters each). */
  context_tokens: z.number().int().min(256).max(2_000_000).default(16_000),
  /** Output token cap sent with each request; unset leaves it to the provider. */
  max_output_tokens: z.number().int().min(1).max(1_000_000).optional(),
  /** Extended-thinking budget in tokens for models that support it (Anthropic); 0 is off, else at least 1024. */
  thinking_tokens: z.number().int().min(0).max(200_000).refine((n) => n === 0 || n >= 1024, {
    message: "must be 0 (off) or at least 1024",
  }).default(0),
  /** Rounds of tool calls one turn may make before it is stopped with a note. */
  max_tool_iterations: z.number().int().min(1).max(100).default(12),
  queue: queue.prefault({}),
  failover: failover.prefault({}),
});

const provider = z.object({
  /** `openai` (also any OpenAI-compatible server: Ollama, OpenRouter, vLLM) or `anthropic`. */
  kind: z.enum(["openai", "anthropic"]),
  /** API root; unset uses the vendor's. */
  base_url: z.string().url().optional(),
  /** Env var holding the API key; unset for servers that need none. */
  api_key_env: envName.optional(),
  /** Seconds to wait for a response to start. */
  timeout_seconds: seconds(1, 3600).default(120),
  /** A stream that sends nothing for this long is aborted; counts as a timeout and fails over. */
  idle_timeout_seconds: seconds(1, 3600).default(60),
});

const toolMode = z.enum(["allow", "ask", "deny"]);
/** A tool name or a group (`group:fs`, `group:runtime`, `group:web`, `group:messaging`, `group:session`). */
const toolRef = z.string().regex(
  /^(group:(fs|runtime|web|messaging|session)|[a-z_]+)$/,
  'must be a tool name such as "exec" or a group: group:fs, group:runtime, group:web, group:messaging, group:session',
);

const toolOverride = z.object({
  /** Applies to sessions of this channel (`telegram`, `webchat`, `cli`…); unset matches any. */
  channel: z.string().min(1).optional(),
  /** Applies to this sender id on the channel; unset matches any. */
  sender: z.string().min(1).optional(),
  allow: z.array(toolRef).default([]),
  deny: z.array(toolRef).default([]),
  modes: z.record(z.string().regex(/^[a-z_]+$/), toolMode).default({}),
});

const exec = z.object({
  /** Programs `exec` may run (names found on PATH, or absolute paths); each becomes an --allow-run grant. Empty turns exec off. */
  programs: z.array(z.string().min(1)).default([]),
  /** Env names passed to programs (values from the gateway's env); everything else is cleared. */
  env: z.array(envName).default(["PATH", "HOME", "LANG"]),
  /** Allow `sh -c` style shells in argv[0]; off, a shell is refused even when allowlisted. */
  shell: z.boolean().default(false),
  /** Default and maximum run time of one program. */
  timeout_seconds: seconds(1, 3600).default(60),
  /** Output kept per call (stdout and stderr together); the rest is cut with a marker. */
  max_output_chars: z.number().int().min(1000).max(1_000_000).default(20_000),
});

const webFetch = z.object({
  /** Hosts web_fetch may reach; empty means any public host (the SSRF guard still applies). */
  hosts: z.array(z.string().min(1)).default([]),
  /** Hosts (host or host:port) allowed even though they resolve to loopback or private addresses. */
  private_hosts: z.array(z.string().min(1)).default([]),
  /** Largest response body read. */
  max_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(2 * 1024 * 1024),
  /** Characters of text returned by default (the model may ask for fewer); at most the 32,000 any tool result keeps. */
  max_chars: z.number().int().min(100).max(32_000).default(30_000),
  timeout_seconds: seconds(1, 300).default(20),
  max_redirects: z.number().int().min(0).max(20).default(5),
});

const tools = z.object({
  /** Base set: minimal (time, session), messaging (+ group:messaging), coding (+ files, exec, web_fetch), full (all). */
  profile: z.enum(["minimal", "messaging", "coding", "full"]).default("coding"),
  /** Folder the file tools and exec are confined to; relative paths are under the home. */
  workspace: z.string().min(1).default("workspace"),
  /** Tools or groups added to the profile. */
  allow: z.array(toolRef).default([]),
  /** Tools or groups taken away; deny wins over allow. */
  deny: z.array(toolRef).default([]),
  /** Mode per tool: allow (runs), ask (waits for an operator's approval), deny. */
  modes: z.record(z.string().regex(/^[a-z_]+$/), toolMode).default({}),
  /** Per channel / sender changes, applied in order after the above. */
  overrides: z.array(toolOverride).default([]),
  /** An approval not given within this time is a deny. */
  approval_timeout_seconds: seconds(5, 86_400).default(300),
  /** Largest file `read` returns and `write`/`edit` write. */
  max_file_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  exec: exec.prefault({}),
  web_fetch: webFetch.prefault({}),
});

const telegram = z.object({
  /** Serve Telegram. Off until a bot token is set up. */
  enabled: z.boolean().default(false),
  /** Env var holding the bot token from @BotFather. */
  bot_token_env: envName.default("TELEGRAM_BOT_TOKEN"),
  /** Bot API root; only tests and self-hosted Bot API servers change it. */
  api_root: z.string().url().default("https://api.telegram.org"),
  /** Who may talk to the bot in private chats: pairing (codes), allowlist, open, disabled. */
  dm_policy: z.enum(["pairing", "allowlist", "open", "disabled"]).default("pairing"),
  /** Numeric user ids allowed without pairing (the only ones, with dm_policy = "allowlist"). */
  allow_from: z.array(z.string().regex(/^\d+$/, "must be a numeric Telegram user id")).default([]),
  /** How updates arrive: long polling (default; works behind NAT and SSH tunnels) or a webhook. */
  mode: z.enum(["polling", "webhook"]).default("polling"),
  /** Webhook mode: the public https base URL of the reverse proxy in front of the gateway. */
  webhook_url: z.string().url().optional(),
  /** Webhook mode: env var holding the secret Telegram sends back in every request. */
  webhook_secret_env: envName.default("TELEGRAM_WEBHOOK_SECRET"),
  /** Seconds a getUpdates long poll waits for news. */
  poll_timeout_seconds: seconds(1, 50).default(25),
  /** Group chats (numeric ids, negative for groups) the bot answers in; others are ignored. */
  groups: z.array(z.string().regex(/^-?\d+$/, "must be a numeric Telegram chat id")).default([]),
  /** In groups, answer only messages that mention the bot or reply to it. */
  require_mention: z.boolean().default(true),
  /** Unmentioned group messages kept (per group or topic) as context for the next mentioned one. */
  group_context_messages: z.number().int().min(0).max(200).default(30),
  /** Show the answer while it is written, by editing a draft message. */
  stream: z.boolean().default(true),
  /** Least time between two edits of a draft (Telegram allows about one per second per chat). */
  draft_interval_ms: z.number().int().min(1000).max(60_000).default(1000),
  /** Largest photo or document saved into the workspace (Telegram bots can fetch up to 20 MB). */
  media_max_mb: z.number().min(0.1).max(20).default(20),
}).refine((t) => t.mode !== "webhook" || t.webhook_url !== undefined, {
  message: 'mode = "webhook" needs webhook_url: the public https URL Telegram calls',
  path: ["webhook_url"],
});

const channels = z.object({
  telegram: telegram.prefault({}),
});

const log = z.object({
  level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  format: z.enum(["text", "json"]).default("text"),
});

/** The whole config file. */
export const configSchema = z.object({
  gateway: gateway.prefault({}),
  store: store.prefault({}),
  session: session.prefault({}),
  agent: agent.prefault({}),
  providers: z.record(
    z.string().regex(/^[a-z0-9_-]+$/, "provider ids are lower case a-z 0-9 _ -"),
    provider,
  ).default({}),
  tools: tools.prefault({}),
  channels: channels.prefault({}),
  cron: cronConfig.prefault({}),
  hooks: hooksConfig.prefault({}),
  log: log.prefault({}),
}).superRefine((cfg, ctx) => {
  const refs: [string, (string | number)[]][] = [];
  if (cfg.agent.model) refs.push([cfg.agent.model, ["agent", "model"]]);
  cfg.agent.fallbacks.forEach((ref, i) => refs.push([ref, ["agent", "fallbacks", i]]));
  for (const [ref, path] of refs) {
    const id = ref.slice(0, ref.indexOf("/"));
    if (!cfg.providers[id]) {
      const known = Object.keys(cfg.providers);
      ctx.addIssue({
        code: "custom",
        path,
        message:
          `names provider "${id}", which is not configured: add a [providers.${id}] section` +
          (known.length ? ` or use one of: ${known.join(", ")}` : ""),
      });
    }
  }
  const tools = BUILTIN_TOOLS.map((t) => t.name);
  const checkTool = (name: string, path: (string | number)[]) => {
    if (name.startsWith("group:") || tools.includes(name)) return;
    ctx.addIssue({
      code: "custom",
      path,
      message: `unknown tool "${name}": the tools are ${tools.join(", ")}`,
    });
  };
  const t = cfg.tools;
  t.allow.forEach((n, i) => checkTool(n, ["tools", "allow", i]));
  t.deny.forEach((n, i) => checkTool(n, ["tools", "deny", i]));
  for (const n of Object.keys(t.modes)) checkTool(n, ["tools", "modes", n]);
  t.overrides.forEach((o, j) => {
    o.allow.forEach((n, i) => checkTool(n, ["tools", "overrides", j, "allow", i]));
    o.deny.forEach((n, i) => checkTool(n, ["tools", "overrides", j, "deny", i]));
    for (const n of Object.keys(o.modes)) checkTool(n, ["tools", "overrides", j, "modes", n]);
  });
  if (cfg.agent.fallbacks.length && !cfg.agent.model) {
    ctx.addIssue({
      code: "custom",
      path: ["agent", "fallbacks"],
      message: "fallbacks need a primary: set agent.model as well",
    });
  }
});

/** The parsed config. */
export type Config = z.output<typeof configSchema>;
/** One provider's config. */
export type ProviderConfig = z.output<typeof provider>;
/** The `[channels.telegram]` table. */
export type TelegramConfig = z.output<typeof telegram>;
/** The `[tools]` table. */
export type ToolsConfig = z.output<typeof tools>;

/**
 * What the gateway needs from Deno for a config: listen address, provider hosts, state paths and
 * env names. The same computation feeds `gatehouse permissions`, `deno task start`, the compile
 * task, the e2e tests and the start-up check.
 */
import { dirname } from "node:path";
import { CONFIG_ENV_VARS, type LoadedConfig } from "../config/mod.ts";
import { bindHost } from "../gateway/bind.ts";
import { webFetchNeeds } from "../tools/web/needs.ts";
import { realPathOf } from "./real_path.ts";
import { toolNeeds } from "./tool_needs.ts";

/** Env names the program itself reads (home, config and CLI token lookup). */
export const OWN_ENV: readonly string[] = [...CONFIG_ENV_VARS, "GATEHOUSE_TOKEN"];

/** A provider's default API root when `base_url` is unset. */
export const DEFAULT_BASE_URL: Record<string, string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
};

/**
 * Env names `@anthropic-ai/sdk` 1.12.0 reads when a client is built. Its env reader has no
 * try/catch, so a denied read throws instead of returning undefined. They are ignored rather than
 * allowed: a read returns undefined, and nothing in the environment can steer the client (extra
 * headers, base URL, logging). With the options our provider passes only
 * ANTHROPIC_CUSTOM_HEADERS is read; the others are listed so a changed option cannot break start.
 * The credential-chain names (ANTHROPIC_API_KEY, ANTHROPIC_PROFILE, …) are read only when no
 * `apiKey` is passed, which our provider never does.
 */
export const ANTHROPIC_SDK_ENV: readonly string[] = [
  "ANTHROPIC_BASE_URL",
  "ANTHROPIC_WEBHOOK_SIGNING_KEY",
  "ANTHROPIC_LOG",
  "ANTHROPIC_OPEN_TELEMETRY",
  "ANTHROPIC_OPEN_TELEMETRY_PROPAGATION",
  "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE",
  "ANTHROPIC_OPEN_TELEMETRY_TRACES_MAX_CONTENT_BYTES",
  "ANTHROPIC_CUSTOM_HEADERS",
];

/**
 * Env names `openai` 7.57.0 reads when a client is built. Its reader swallows a denied read, but
 * under broad grants OPENAI_CUSTOM_HEADERS (always read) would add headers to every request, so
 * the names are ignored as for Anthropic: the environment cannot steer the client.
 */
export const OPENAI_SDK_ENV: readonly string[] = [
  "OPENAI_BASE_URL",
  "OPENAI_CUSTOM_HEADERS",
  "OPENAI_LOG",
];

/**
 * One need, tagged with who needs it so a missing grant can disable just that part. `ignore-env`
 * is an env name whose reads must return undefined (`--ignore-env`), not throw.
 */
export interface Need {
  kind: "net" | "read" | "write" | "env" | "run" | "ignore-env" | "deny-net";
  /** A host, path, env name or program; `*` for `net` is every host (bare `--allow-net`). */
  value: string;
  /** `core` (the gateway cannot run without it), `provider:<id>` or `tool:<name>`. */
  for: string;
}

/** The host[:port] of a URL as Deno's net permission names it. */
export function netHost(url: string): string {
  const u = new URL(url);
  return u.host;
}

/**
 * Every need of a loaded config. `pathEnv` is the PATH the gateway will run with (exec looks up
 * its allowlisted programs there); without it those folders are not granted.
 */
export function gatewayNeeds(loaded: LoadedConfig, options: { pathEnv?: string } = {}): Need[] {
  const { config, home, storePath } = loaded;
  const needs: Need[] = [];
  const add = (kind: Need["kind"], value: string, who = "core") => {
    // A folder already granted covers everything under it.
    const covered = (n: Need) =>
      n.kind === kind &&
      (n.value === value ||
        ((kind === "read" || kind === "write") && value.startsWith(`${n.value}/`)));
    if (!needs.some(covered)) needs.push({ kind, value, for: who });
  };
  add("net", `${bindHost(config.gateway.bind)}:${config.gateway.port}`);
  add("read", home);
  add("write", home);
  if (loaded.found && !loaded.path.startsWith(home + "/")) add("read", loaded.path);
  if (/^https?:\/\//.test(storePath)) {
    add("net", netHost(storePath));
    add("env", "DENO_KV_ACCESS_TOKEN");
  } else if (storePath !== ":memory:" && !storePath.startsWith(home + "/")) {
    add("read", dirname(storePath));
    add("write", dirname(storePath));
  }
  for (const name of OWN_ENV) add("env", name);
  if (config.gateway.auth.token_env) add("env", config.gateway.auth.token_env);
  for (const [id, p] of Object.entries(config.providers)) {
    add("net", netHost(p.base_url ?? DEFAULT_BASE_URL[p.kind]), `provider:${id}`);
    if (p.api_key_env) add("env", p.api_key_env, `provider:${id}`);
    for (const name of p.kind === "anthropic" ? ANTHROPIC_SDK_ENV : OPENAI_SDK_ENV) {
      add("ignore-env", name, `provider:${id}`);
    }
  }
  if (config.hooks.enabled) add("env", config.hooks.token_env, "hooks");
  // A config job's webhook host, granted as web_fetch would grant it (the guard looks names up).
  for (const job of config.cron.enabled ? config.cron.jobs : []) {
    if (!job.webhook) continue;
    const { net } = webFetchNeeds({ hosts: [new URL(job.webhook).host], privateHosts: [] });
    for (const host of net === "all" ? [] : net) add("net", host, `cron:${job.id}`);
  }
  const telegram = config.channels.telegram;
  if (telegram.enabled) {
    add("net", netHost(telegram.api_root), "channel:telegram");
    add("env", telegram.bot_token_env, "channel:telegram");
    if (telegram.mode === "webhook") add("env", telegram.webhook_secret_env, "channel:telegram");
    // Photos and documents are saved into the workspace (by name and by real path, which differ
    // when it, or the home it is in, is a symlink).
    for (const path of new Set([loaded.workspacePath, realPathOf(loaded.workspacePath)])) {
      add("read", path, "channel:telegram");
      add("write", path, "channel:telegram");
    }
  }
  for (const t of toolNeeds(loaded, options.pathEnv)) add(t.kind, t.value, `tool:${t.tool}`);
  return needs;
}

/** The flag that grants one need, as `--allow-net=host` or `--ignore-env=NAME`. */
export function needFlag(need: Need): string {
  if (need.kind === "ignore-env") return `--ignore-env=${need.value}`;
  if (need.kind === "deny-net") return `--deny-net=${need.value}`;
  return need.value === "*" ? `--allow-${need.kind}` : `--allow-${need.kind}=${need.value}`;
}

/** The `deno run` flags that grant exactly `needs`. */
export function toFlags(needs: Need[]): string[] {
  const list = (kind: Need["kind"]) => needs.filter((n) => n.kind === kind).map((n) => n.value);
  const flags = ["--no-prompt", "--unstable-kv"];
  for (const kind of ["net", "read", "write", "env", "run"] as const) {
    const values = list(kind);
    // One `*` grants the whole class: the list would only narrow it.
    if (values.includes("*")) flags.push(`--allow-${kind}`);
    else if (values.length) flags.push(`--allow-${kind}=${values.join(",")}`);
  }
  const ignored = list("ignore-env");
  if (ignored.length) flags.push(`--ignore-env=${ignored.join(",")}`);
  const denied = list("deny-net");
  if (denied.length) flags.push(`--deny-net=${denied.join(",")}`);
  return flags;
}

/** Needs this process was not granted (asks Deno; never prompts). */
export function missingNeeds(needs: Need[]): Need[] {
  return needs.filter((n) => {
    if (n.kind === "ignore-env") return !readsQuietly(n.value);
    // A deny is hardening on top of the grants, never a reason to disable anything.
    if (n.kind === "deny-net") return false;
    const desc: Deno.PermissionDescriptor = n.kind === "net"
      ? n.value === "*" ? { name: "net" } : { name: "net", host: n.value }
      : n.kind === "env"
      ? { name: "env", variable: n.value }
      : n.kind === "run"
      ? { name: "run", command: n.value }
      : { name: n.kind, path: n.value };
    return Deno.permissions.querySync(desc).state !== "granted";
  });
}

/** Whether reading env `name` returns (a value or undefined) instead of throwing NotCapable. */
function readsQuietly(name: string): boolean {
  try {
    Deno.env.get(name);
    return true;
  } catch {
    return false;
  }
}

/** `gatehouse doctor`: one line per check, ok/warn/fail, with the fix. */
import { type EnvReader, loadConfig, type LoadedConfig } from "../config/mod.ts";
import { bindHost } from "../gateway/bind.ts";
import { ConfigError } from "../kernel/mod.ts";
import {
  DEFAULT_BASE_URL,
  gatewayNeeds,
  missingNeeds,
  needFlag,
  toFlags,
} from "../permissions/mod.ts";
import { type Command, parse } from "./command.ts";
import { logCheck, metricsChecks, reloadCheck } from "./doctor_ops.ts";
import { toolChecks } from "./doctor_tools.ts";

type Level = "ok" | "warn" | "fail";
interface Check {
  level: Level;
  what: string;
  detail: string;
}

async function checkConfig(path: string | undefined, env: EnvReader, out: Check[]) {
  try {
    const loaded = await loadConfig({ path, env });
    out.push({
      level: "ok",
      what: "config",
      detail: loaded.found
        ? `loaded ${loaded.path}`
        : `no file at ${loaded.path}; using embedded defaults`,
    });
    for (const w of loaded.warnings) out.push({ level: "warn", what: "config", detail: w });
    return loaded;
  } catch (err) {
    out.push({
      level: "fail",
      what: "config",
      detail: err instanceof ConfigError ? err.message : String((err as Error).message),
    });
    return undefined;
  }
}

function checkPermissions(loaded: LoadedConfig, env: EnvReader, out: Check[]) {
  const needs = gatewayNeeds(loaded, { pathEnv: env("PATH") });
  const missing = missingNeeds(needs);
  if (missing.length === 0) {
    out.push({
      level: "ok",
      what: "permissions",
      detail: "every permission the config needs is granted",
    });
    return;
  }
  for (const n of missing) {
    out.push({
      level: n.for === "core" && n.kind !== "env" ? "fail" : "warn",
      what: "permissions",
      detail: `${needFlag(n)} not granted (needed by ${n.for}); run with: ${
        toFlags(needs).join(" ")
      }`,
    });
  }
}

async function checkHome(loaded: LoadedConfig, out: Check[]) {
  try {
    await Deno.mkdir(loaded.home, { recursive: true, mode: 0o700 });
    const probe = `${loaded.home}/.doctor-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(probe, "ok");
    await Deno.remove(probe);
    out.push({ level: "ok", what: "home", detail: `${loaded.home} is writable` });
  } catch (err) {
    out.push({
      level: "fail",
      what: "home",
      detail: `${loaded.home} is not writable (${
        (err as Error).message
      }): fix its owner or set GATEHOUSE_HOME`,
    });
    return;
  }
  try {
    const st = await Deno.stat(loaded.tokenPath);
    if (Deno.build.os !== "windows" && st.mode !== null && (st.mode & 0o077) !== 0) {
      out.push({
        level: "fail",
        what: "token",
        detail: `${loaded.tokenPath} is readable by others (mode ${
          (st.mode & 0o777).toString(8)
        }): chmod 600 ${loaded.tokenPath}`,
      });
    } else out.push({ level: "ok", what: "token", detail: `${loaded.tokenPath} (mode 0600)` });
  } catch {
    out.push({
      level: "warn",
      what: "token",
      detail:
        `no token yet at ${loaded.tokenPath}: \`gatehouse start\` or \`gatehouse token\` creates it`,
    });
  }
}

async function checkKv(loaded: LoadedConfig, out: Check[]) {
  try {
    const kv = await Deno.openKv(loaded.storePath);
    try {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["s"] }, { limit: 10_000 })) n++;
      out.push({
        level: "ok",
        what: "store",
        detail: `${loaded.storePath} opens; ${n} session(s)`,
      });
    } finally {
      kv.close();
    }
  } catch (err) {
    out.push({
      level: "fail",
      what: "store",
      detail: `cannot open ${loaded.storePath}: ${(err as Error).message.split("\n")[0]}`,
    });
  }
}

async function checkPort(loaded: LoadedConfig, out: Check[]) {
  const host = bindHost(loaded.config.gateway.bind);
  const port = loaded.config.gateway.port;
  const probeHost = host === "0.0.0.0" ? "127.0.0.1" : host;
  try {
    const res = await fetch(`http://${probeHost}:${port}/readyz`, {
      signal: AbortSignal.timeout(2000),
    });
    await res.body?.cancel();
    out.push({
      level: "ok",
      what: "gateway",
      detail: `running at http://${probeHost}:${port} (${
        res.status === 200 ? "ready" : `readyz ${res.status}`
      })`,
    });
    return;
  } catch {
    // Not running (or not reachable); see whether the port is free for it.
  }
  try {
    const l = Deno.listen({ hostname: host, port });
    l.close();
    out.push({
      level: "ok",
      what: "port",
      detail: `${host}:${port} is free; the gateway is not running`,
    });
  } catch (err) {
    out.push({
      level: "fail",
      what: "port",
      detail: err instanceof Deno.errors.AddrInUse
        ? `${host}:${port} is taken by another program: stop it or set gateway.port`
        : `cannot listen on ${host}:${port}: ${(err as Error).message}`,
    });
  }
}

async function checkProviders(loaded: LoadedConfig, env: EnvReader, out: Check[]) {
  const { config } = loaded;
  if (!config.agent.model) {
    out.push({
      level: "warn",
      what: "model",
      detail:
        `agent.model is not set: turns will fail until you add [providers.<id>] and agent.model = "<id>/<model>" to ${loaded.path}`,
    });
  } else {
    const chain = [config.agent.model, ...config.agent.fallbacks].join(" → ");
    out.push({ level: "ok", what: "model", detail: chain });
  }
  for (const [id, p] of Object.entries(config.providers)) {
    const base = (p.base_url ?? DEFAULT_BASE_URL[p.kind]).replace(/\/$/, "");
    const key = p.api_key_env ? env(p.api_key_env) : undefined;
    if (p.api_key_env && !key) {
      out.push({
        level: "fail",
        what: `provider ${id}`,
        detail: `env ${p.api_key_env} is not set: export it where the gateway runs`,
      });
      continue;
    }
    // Anthropic's API root has no /v1. The key goes as the SDKs send it on turns (both send a
    // Bearer token), so doctor passes exactly when turns would.
    const models = p.kind === "anthropic" ? `${base}/v1/models` : `${base}/models`;
    const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
    if (p.kind === "anthropic") headers["anthropic-version"] = "2023-06-01";
    try {
      const res = await fetch(models, { headers, signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      if (res.ok) out.push({ level: "ok", what: `provider ${id}`, detail: `${base} answers` });
      else if (res.status === 401 || res.status === 403) {
        out.push({
          level: "fail",
          what: `provider ${id}`,
          detail: `${base} rejected the key (HTTP ${res.status}): check ${p.api_key_env}`,
        });
      } else {out.push({
          level: "warn",
          what: `provider ${id}`,
          detail: `${models} answered HTTP ${res.status}`,
        });}
    } catch (err) {
      out.push({
        level: "fail",
        what: `provider ${id}`,
        detail: `cannot reach ${base}: ${(err as Error).message.split("\n")[0]}`,
      });
    }
  }
}

export const doctor: Command = {
  name: "doctor",
  summary: "check config, permissions, home, store, port, metrics, reload and providers",
  usage: `gatehouse doctor [--config FILE]

Prints one line per check (ok / warn / fail) with the fix. Exit 1 if any check fails. With a
gateway running, it also reads its /metrics with the local token and names the config changes
waiting for a restart.`,
  async run(args, env) {
    const { values } = parse(args, { config: { type: "string" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const out: Check[] = [];
    const loaded = await checkConfig(values.config as string | undefined, env, out);
    if (loaded) {
      checkPermissions(loaded, env, out);
      out.push(...toolChecks(loaded, env));
      await checkHome(loaded, out);
      await checkKv(loaded, out);
      await checkPort(loaded, out);
      out.push(...await metricsChecks(loaded, env));
      out.push(logCheck(loaded), reloadCheck(loaded));
      await checkProviders(loaded, env, out);
    }
    const width = Math.max(16, ...out.map((c) => c.what.length));
    for (const c of out) console.log(`${c.level.padEnd(4)}  ${c.what.padEnd(width)} ${c.detail}`);
    return out.some((c) => c.level === "fail") ? 1 : 0;
  },
};

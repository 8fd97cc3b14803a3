/**
 * `gatehouse doctor`'s operations rows: the log format, whether config edits reach the running
 * gateway (file watch, SIGHUP), and the running gateway's `/metrics` with the local token,
 * including the config keys it waits for a restart to apply.
 */
import type { EnvReader, LoadedConfig } from "../config/mod.ts";
import { bindHost } from "../gateway/bind.ts";
import { readTokenFile } from "../gateway/token.ts";

/** One row of the doctor's output. */
export interface OpsCheck {
  level: "ok" | "warn" | "fail";
  what: string;
  detail: string;
}

/** How the gateway will log. */
export function logCheck(loaded: LoadedConfig): OpsCheck {
  const { format, level } = loaded.config.log;
  const shape = format === "json" ? "one JSON object per line" : "text lines";
  return {
    level: "ok",
    what: "log",
    detail: `${shape} at level ${level} on stderr (journald under systemd); ` +
      `\`gatehouse start --log-format json|text\` overrides [log] format`,
  };
}

/** Whether an edit of the config file reaches a running gateway. */
export function reloadCheck(loaded: LoadedConfig): OpsCheck {
  const signal = Deno.build.os === "windows" ? "" : " or SIGHUP (`systemctl reload gatehouse`)";
  if (!loaded.found) {
    return {
      level: "ok",
      what: "reload",
      detail: `no file at ${loaded.path} yet: once it is created, saving it${signal} reloads it`,
    };
  }
  try {
    Deno.watchFs(loaded.path, { recursive: false }).close();
  } catch (err) {
    return {
      level: "warn",
      what: "reload",
      detail: `${loaded.path} cannot be watched (${(err as Error).message.split("\n")[0]}): ` +
        (signal ? `only SIGHUP reloads it` : "restart the gateway after an edit"),
    };
  }
  return {
    level: "ok",
    what: "reload",
    detail: `saving ${loaded.path}${signal} applies tools, models, agent settings and Telegram ` +
      "access live; bind, port, auth and store need a restart",
  };
}

/** The running gateway's `/metrics` with the local token; no rows when no gateway answers. */
export async function metricsChecks(loaded: LoadedConfig, env: EnvReader): Promise<OpsCheck[]> {
  const host = bindHost(loaded.config.gateway.bind);
  const probeHost = host === "0.0.0.0" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${probeHost}:${loaded.config.gateway.port}/metrics`;
  const auth = loaded.config.gateway.auth;
  let token: string | undefined;
  if (auth.mode === "token") {
    try {
      token = auth.token_env ? env(auth.token_env) : await readTokenFile(loaded.tokenPath);
    } catch {
      token = undefined;
    }
  }
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(2000),
    });
  } catch {
    return []; // not running: the gateway/port row says so
  }
  const body = await res.text();
  if (res.status === 404) {
    return [{ level: "warn", what: "metrics", detail: `${url}: this gateway predates /metrics` }];
  }
  if (!res.ok) {
    return [{
      level: "fail",
      what: "metrics",
      detail: `${url} refused ${token ? "the local token" : "a request without a token"} ` +
        `(HTTP ${res.status}): ${
          token ? "the gateway runs with another token; check gateway.auth" : "the token " +
            (auth.token_env
              ? `env ${auth.token_env} is not set here`
              : `file ${loaded.tokenPath} is not readable`)
        }`,
    }];
  }
  const samples = body.split("\n").filter((l) => l && !l.startsWith("#"));
  const out: OpsCheck[] = [{
    level: "ok",
    what: "metrics",
    detail: `${url} answers (${samples.length} samples; Prometheus text, token required)`,
  }];
  const pending = samples
    .map((l) => /^gatehouse_config_restart_pending\{key="((?:[^"\\]|\\.)*)"\} 1$/.exec(l)?.[1])
    .filter((k): k is string => k !== undefined)
    .map((k) => k.replace(/\\(.)/g, (_m, c) => c === "n" ? "\n" : c));
  if (pending.length) {
    out.push({
      level: "warn",
      what: "restart",
      detail: `the running gateway waits for a restart to apply: ${pending.join(", ")}`,
    });
  }
  return out;
}

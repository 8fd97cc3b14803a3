/**
 * Which gateway a CLI command talks to and with what token. The token never comes from a URL or a
 * command-line argument (both are visible to other users in `ps`): `--token-file`, then
 * `GATEHOUSE_TOKEN`, then the local gateway's own token file; for a gateway given by `--url` (a
 * remote one, through an SSH forward) the last resort is a prompt on the terminal.
 */
import { type EnvReader, loadConfig, type LoadedConfig, resolveHome } from "../config/mod.ts";
import { bindHost, isLoopback } from "../gateway/bind.ts";
import { readTokenFile } from "../gateway/token.ts";
import { GatehouseError } from "../kernel/mod.ts";
import { ClientError, type ConnectOptions, GatewayClient } from "./client.ts";
import { type DeviceIdentity, DeviceTokens, loadDeviceIdentity } from "./device_identity.ts";
import { promptToken } from "./token_prompt.ts";

/** Flags shared by every command that talks to a gateway. */
export interface TargetFlags {
  url?: string;
  "token-file"?: string;
  config?: string;
}

/** Option definitions for `parseArgs`. */
export const TARGET_OPTIONS = {
  url: { type: "string" },
  "token-file": { type: "string" },
  config: { type: "string" },
} as const;

/** Usage lines for the shared flags. */
export const TARGET_USAGE =
  `  --url ws://HOST:PORT/ws   gateway to talk to (default: the local one from the config)
  --token-file FILE         read the gateway token from FILE (or set GATEHOUSE_TOKEN; with --url
                            and neither, it is asked for on the terminal, without echo)
  --config FILE             config file (default: $GATEHOUSE_HOME/config.toml)`;

/**
 * Resolves the URL and token for a command. A gateway given by `--url` alone needs nothing from
 * the local config, so none is read (`loaded` is then unset): a laptop with no config, or a binary
 * whose flags do not reach it, can still talk to a remote gateway.
 */
export async function resolveTarget(
  flags: TargetFlags,
  env: EnvReader,
): Promise<{ url: string; token?: string; loaded?: LoadedConfig }> {
  if (flags.url && !flags.config) {
    const url = normaliseUrl(flags.url);
    const home = homeOf(env);
    if (!flags["token-file"] && !env("GATEHOUSE_TOKEN")?.trim() && await keptToken(home, url)) {
      return { url };
    }
    return { url, token: await remoteToken(flags, env, { url, home }) };
  }
  const loaded = await loadConfig({ path: flags.config, env });
  const gw = loaded.config.gateway;
  let host = bindHost(gw.bind);
  if (host === "0.0.0.0" || host === "::") host = "127.0.0.1";
  const url = normaliseUrl(
    flags.url ?? `ws://${host.includes(":") ? `[${host}]` : host}:${gw.port}/ws`,
  );
  if (flags["token-file"]) {
    return { url, token: await readTokenFlag(flags["token-file"], loaded.home), loaded };
  }
  const fromEnv = env("GATEHOUSE_TOKEN") ??
    (gw.auth.token_env ? env(gw.auth.token_env) : undefined);
  if (fromEnv?.trim()) return { url, token: fromEnv.trim(), loaded };
  // A gateway given by --url is another one (often a remote one through a tunnel): the local token
  // file is not its token, so the last resort is asking (or saying how to give it).
  if (flags.url) {
    if (await keptToken(loaded.home, url)) return { url, loaded };
    return { url, token: await promptToken(url), loaded };
  }
  if (isLoopback(new URL(url).hostname)) {
    try {
      return { url, token: await readTokenFile(loaded.tokenPath), loaded };
    } catch {
      // No local token yet: the gateway has never started here; connect will say what to do.
    }
  }
  return { url, loaded };
}

/**
 * The token of a gateway reached through a tunnel: `--token-file`, then `GATEHOUSE_TOKEN`, then
 * typed on the terminal. `home` is the Gatehouse home, named when the file may not be read.
 */
export async function remoteToken(
  flags: { "token-file"?: string },
  env: EnvReader,
  options: { url: string; home?: string },
): Promise<string> {
  if (flags["token-file"]) return await readTokenFlag(flags["token-file"], options.home);
  const fromEnv = env("GATEHOUSE_TOKEN")?.trim();
  return fromEnv || await promptToken(options.url);
}

/**
 * Whether a device token kept for `url` stands in for asking on the terminal. Only where the CLI
 * would ask: a script without a token still gets the error that says how to give one.
 */
async function keptToken(home: string | undefined, url: string): Promise<boolean> {
  return home !== undefined && Deno.stdin.isTerminal() &&
    await new DeviceTokens(home).get(url) !== undefined;
}

/** The Gatehouse home, or undefined when it cannot be told (for messages only). */
export function homeOf(env: EnvReader): string | undefined {
  try {
    return resolveHome(env);
  } catch {
    return undefined;
  }
}

/** Reads the file given by `--token-file`, with a message that says how to fix a failure. */
async function readTokenFlag(path: string, home?: string): Promise<string> {
  try {
    return await readTokenFile(path);
  } catch (err) {
    let why = (err as Error).message;
    if (err instanceof Deno.errors.NotCapable) {
      // Under the flags `gatehouse permissions` computes, the CLI reads only the Gatehouse home
      // (and a release binary only its baked-in paths).
      const homeReadable = home !== undefined &&
        Deno.permissions.querySync({ name: "read", path: home }).state === "granted";
      why = `this process may not read it: ${
        homeReadable ? `keep the file in the Gatehouse home (${home}), ` : ""
      }set GATEHOUSE_TOKEN, or leave both out on a terminal to be asked`;
    }
    throw new GatehouseError("INVALID_REQUEST", `cannot read --token-file ${path}: ${why}`);
  }
}

function normaliseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new GatehouseError(
      "INVALID_REQUEST",
      `--url ${JSON.stringify(raw)} is not a URL: use ws://127.0.0.1:18789/ws`,
    );
  }
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new GatehouseError(
      "INVALID_REQUEST",
      `--url must start with ws:// or wss:// (got ${u.protocol})`,
    );
  }
  // A token in the URL (`?token=`, `user:pass@`, or the `#token=` of the browser page's link)
  // would be visible to other users in `ps` and land in shell history and logs.
  if (u.search || u.username || u.password || u.hash) {
    throw new GatehouseError(
      "INVALID_REQUEST",
      "--url must not carry credentials, a query string or a fragment (they show up in ps and logs): use --token-file or GATEHOUSE_TOKEN",
    );
  }
  if (u.pathname === "/" || u.pathname === "") u.pathname = "/ws";
  return u.toString();
}

/**
 * Connects to the resolved gateway as this install's device (when its key can be kept in the
 * home), turning auth errors into advice. For a gateway given by `--url`, a device token it
 * issues is kept in `<home>/device-token` and used next time instead of the gateway token.
 */
export async function connectTarget(
  flags: TargetFlags,
  env: EnvReader,
  options: Omit<ConnectOptions, "token" | "device" | "deviceToken"> = {},
): Promise<GatewayClient> {
  const target = await resolveTarget(flags, env);
  const home = target.loaded?.home ?? homeOf(env);
  const device = home ? await loadDeviceIdentity(home).catch(() => undefined) : undefined;
  const kept = device && home && flags.url ? new DeviceTokens(home) : undefined;
  let deviceToken = kept ? await kept.get(target.url) : undefined;
  let token = target.token;
  const connect = () =>
    GatewayClient.connect(target.url, {
      ...options,
      token,
      ...(device ? { device } : {}),
      ...(device && deviceToken ? { deviceToken } : {}),
    });
  try {
    let client: GatewayClient;
    try {
      client = await connect();
    } catch (err) {
      if (!(kept && deviceToken && isDeviceTokenRefusal(err))) throw err;
      // The kept token was rotated or revoked: forget it and use the gateway token instead.
      await kept.set(target.url, undefined);
      deviceToken = undefined;
      token ??= await remoteToken(flags, env, { url: target.url, home });
      client = await connect();
    }
    await keepDeviceToken(client, kept, target.url, device);
    return client;
  } catch (err) {
    if (
      err instanceof ClientError && (err.code === "AUTH_REQUIRED" || err.code === "AUTH_FAILED") &&
      !token && !deviceToken
    ) {
      throw new ClientError(
        err.code,
        `${err.message}\n  no token found: on the gateway host run \`gatehouse token\`, then pass it with ` +
          `--token-file FILE or GATEHOUSE_TOKEN`,
      );
    }
    throw err;
  }
}

function isDeviceTokenRefusal(err: unknown): boolean {
  return err instanceof ClientError && err.code === "AUTH_FAILED" &&
    (err.details as { reason?: string } | undefined)?.reason === "device-token";
}

/** Keeps a device token the gateway just issued, when this target keeps them. */
async function keepDeviceToken(
  client: GatewayClient,
  kept: DeviceTokens | undefined,
  url: string,
  device: DeviceIdentity | undefined,
): Promise<void> {
  const issued = (client.hello.auth as { deviceToken?: unknown } | undefined)?.deviceToken;
  if (kept && device && typeof issued === "string") await kept.set(url, issued);
}

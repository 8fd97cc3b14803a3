/** The listen address: aliases, the loopback test, and the refusal to expose an unauthenticated gateway. */
import type { Config } from "../config/mod.ts";
import { ConfigError } from "../kernel/mod.ts";

/** The hostname to listen on for `gateway.bind`. */
export function bindHost(bind: string): string {
  if (bind === "loopback" || bind === "localhost") return "127.0.0.1";
  if (bind === "lan") return "0.0.0.0";
  return bind;
}

/** Whether a host is a loopback address. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Throws a ConfigError when the config would expose the gateway without auth. */
export function assertSafeBind(config: Config, file?: string): void {
  const host = bindHost(config.gateway.bind);
  if (!/^[\d.]+$|^[0-9a-f:]+$|^\[?[0-9a-f:]+\]?$/i.test(host) && host !== "127.0.0.1") {
    throw new ConfigError([
      `gateway.bind ${
        JSON.stringify(config.gateway.bind)
      } is not an IP address: use "loopback", "lan" or an IP such as "127.0.0.1"`,
    ], file);
  }
  if (!isLoopback(host) && config.gateway.auth.mode === "none") {
    throw new ConfigError([
      `gateway.bind ${
        JSON.stringify(config.gateway.bind)
      } listens beyond this machine, and gateway.auth.mode is "none", ` +
      `so anyone who can reach the port could drive the agent: set gateway.auth.mode = "token", ` +
      `or bind "127.0.0.1" and reach it through an SSH tunnel`,
    ], file);
  }
}

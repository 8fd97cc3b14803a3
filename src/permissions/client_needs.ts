/**
 * What the client commands of the one binary need beyond the gateway's own grants: loopback on any
 * port (`--url ws://127.0.0.1:PORT/ws` through an SSH forward, and the port `gatehouse tunnel`
 * picks) and the `ssh` that `gatehouse tunnel` starts. The binary carries one set of flags for
 * every command, so `gatehouse permissions` prints these too; `gatehouse start` drops them before
 * the gateway serves anything, so the gateway never holds them.
 */
import { basename, delimiter, isAbsolute, join } from "node:path";
import type { LoadedConfig } from "../config/mod.ts";
import { gatewayNeeds, type Need } from "./needs.ts";

/** The host a forwarded port listens on, as `--url` and `gatehouse tunnel` use it. */
export const TUNNEL_HOST = "127.0.0.1";

/** The program `gatehouse tunnel` starts. */
export const SSH_PROGRAM = "ssh";

/**
 * The path Deno checks when `ssh` is started by name: the first executable `ssh` on `pathEnv`, as
 * found there, not its real path (Deno compares the path it finds on PATH with the grant, so a
 * symlinked ssh, as Homebrew installs it, is granted by its PATH name). Undefined when there is none.
 */
export function sshOnPath(pathEnv: string | undefined): string | undefined {
  const name = Deno.build.os === "windows" ? `${SSH_PROGRAM}.exe` : SSH_PROGRAM;
  // Relative entries ("", ".") would make the answer depend on the current folder: skipped.
  for (const dir of (pathEnv ?? "").split(delimiter).filter((d) => isAbsolute(d))) {
    const path = join(dir, name);
    try {
      const info = Deno.statSync(path);
      // mode is null on Windows, where any file found is taken as runnable.
      if (info.isFile && (info.mode === null || (info.mode & 0o111) !== 0)) return path;
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) throw err;
    }
  }
  return undefined;
}

/** Whether the gateway's own needs already grant net access to every port of `TUNNEL_HOST`. */
function netCovered(gateway: Need[]): boolean {
  return gateway.some((n) => n.kind === "net" && (n.value === "*" || n.value === TUNNEL_HOST));
}

/**
 * The client commands' needs that `gateway` (the gateway's needs) does not already cover.
 * `pathEnv` is the PATH the commands run with; without an `ssh` on it, `tunnel` gets nothing.
 */
export function clientNeeds(gateway: Need[], options: { pathEnv?: string } = {}): Need[] {
  const needs: Need[] = [];
  if (!netCovered(gateway)) needs.push({ kind: "net", value: TUNNEL_HOST, for: "cli:remote" });
  const ssh = sshOnPath(options.pathEnv);
  if (ssh && !gateway.some((n) => n.kind === "run" && n.value === ssh)) {
    needs.push({ kind: "run", value: ssh, for: "cli:tunnel" });
  }
  return needs;
}

/**
 * Every need of the one binary for a config: the gateway's, then the client commands'. This is
 * what `gatehouse permissions` prints.
 */
export function binaryNeeds(loaded: LoadedConfig, options: { pathEnv?: string } = {}): Need[] {
  const gateway = gatewayNeeds(loaded, options);
  return [...gateway, ...clientNeeds(gateway, options)];
}

/**
 * Drops the client commands' grants from this process, for `gatehouse start`: loopback on every
 * port and the `ssh` found on PATH, unless the gateway needs them itself (web_fetch to any host,
 * exec allowlisting ssh). Called before the gateway serves; a revoked grant cannot come back
 * under `--no-prompt`. The gateway may not read PATH, so ssh is revoked by name: Deno looks the
 * name up on its own PATH, as it did when the tunnel would have started it.
 */
export function dropClientGrants(loaded: LoadedConfig, options: { pathEnv?: string } = {}): void {
  const gateway = gatewayNeeds(loaded, options);
  if (!netCovered(gateway)) Deno.permissions.revokeSync({ name: "net", host: TUNNEL_HOST });
  const execUsesSsh = loaded.config.tools.exec.programs.some((p) => basename(p) === SSH_PROGRAM) ||
    gateway.some((n) => n.kind === "run" && basename(n.value) === SSH_PROGRAM);
  if (execUsesSsh) return;
  try {
    Deno.permissions.revokeSync({ name: "run", command: SSH_PROGRAM });
  } catch {
    // No ssh on PATH: nothing was granted for it.
  }
}

/**
 * The systemd unit that runs the gateway as a hardened service, built from a loaded config's
 * paths: what `gatehouse service print-unit` prints and what `deploy/gatehouse.service` ships.
 */
import { dirname, join, relative, resolve } from "node:path";
import { type EnvReader, type LoadedConfig, parseConfig, resolveHome } from "../config/mod.ts";
import { ConfigError } from "../kernel/mod.ts";
import { gatewayNeeds, toFlags } from "../permissions/mod.ts";

/**
 * The PATH systemd gives system services (systemd.exec(5), "Environment variables in spawned
 * processes"; builds for an unmerged /usr add /sbin:/bin). The exec tool's grants are computed
 * for it, since that is the PATH the service runs with.
 */
export const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Seconds the unit allows beyond `gateway.shutdown_grace_seconds` before SIGKILL: stopping
 * Telegram polling, sending queued replies and closing KV after the running turns are done.
 */
export const STOP_MARGIN_SECONDS = 20;

/** How the unit starts the gateway. */
export type Launch =
  /** A compiled gatehouse executable, its permission flags baked in by `deno compile`. */
  | { kind: "binary"; path: string }
  /** `deno run <flags> main.ts` from a source checkout, with the flags the config needs. */
  | { kind: "source"; deno: string; main: string };

/** Options of {@linkcode systemdUnit}. */
export interface UnitOptions {
  launch: Launch;
  /**
   * The account the service runs as (also its group).
   * @default "gatehouse"
   */
  user?: string;
}

/** Folders `ProtectHome=yes` hides; a path under them is bound into the service explicitly. */
const HOME_ROOTS = ["/home", "/root", "/run/user"];

/** The unit for `loaded`, as the text of a `.service` file (ends with a newline). */
export function systemdUnit(loaded: LoadedConfig, options: UnitOptions): string {
  const user = options.user ?? "gatehouse";
  const { launch } = options;
  const { config, home, path: configPath } = loaded;
  const needs = gatewayNeeds(loaded, { pathEnv: SYSTEMD_PATH });
  const writes = needs.filter((n) => n.kind === "write").map((n) => n.value);
  const reads = [
    configPath,
    ...(launch.kind === "binary" ? [launch.path] : [launch.deno, dirname(launch.main)]),
    ...needs.filter((n) => n.kind === "read").map((n) => n.value),
  ];
  for (const p of [...reads, ...writes, home]) {
    if (/[\r\n]/.test(p)) {
      throw new ConfigError([
        `the path ${JSON.stringify(p)} contains a line break, which a systemd unit cannot hold: ` +
        "rename it",
      ]);
    }
  }
  const hidden = (p: string) => HOME_ROOTS.some((r) => within(p, r));
  const bindWrite = outermost(writes.filter(hidden));
  const bindRead = outermost(reads.filter(hidden))
    .filter((p) => !bindWrite.some((w) => within(p, w)));
  const grace = config.gateway.shutdown_grace_seconds;
  const port = config.gateway.port;
  const stateDir = under("/var/lib", home);
  const configDir = under("/etc", dirname(configPath));
  const exec = launch.kind === "binary" ? [launch.path, "start", "--config", configPath] : [
    launch.deno,
    "run",
    ...toFlags(needs),
    launch.main,
    "start",
    "--config",
    configPath,
  ];

  const lines: string[] = [
    "# Gatehouse, a personal AI-agent gateway, as a systemd service.",
    "# Printed by `gatehouse service print-unit` for:",
    `#   ${launch.kind === "binary" ? "binary" : "source"}          ${
      launch.kind === "binary" ? launch.path : launch.main
    }`,
    `#   config          ${configPath}`,
    `#   GATEHOUSE_HOME  ${home}`,
    `#   user            ${user}`,
    "# docs/deploy.md explains how to install it and what each setting is for.",
    "",
    "[Unit]",
    "Description=Gatehouse AI-agent gateway",
    "# Telegram and the model providers are reached over the network; the gateway binds loopback.",
    "Wants=network-online.target",
    "After=network-online.target",
    "# Give up after 5 failed starts within 60 s (a broken config, say): fix the cause, then",
    "# `systemctl reset-failed gatehouse` and start it again.",
    "StartLimitIntervalSec=60",
    "StartLimitBurst=5",
    "",
    "[Service]",
    "# Like Type=simple (the gateway does not speak sd_notify), but `systemctl start` fails when",
    "# ExecStart cannot be run.",
    "Type=exec",
    `User=${user}`,
    `Group=${user}`,
    ...(launch.kind === "binary"
      ? [
        "# The binary carries its --allow-* permission flags, baked in by `deno task compile`:",
        `# \`gatehouse permissions --explain --config ${configPath}\` lists what the config needs,`,
        "# `gatehouse doctor` what the binary was not granted.",
      ]
      : [
        "# Runs the source checkout with deno (no compiled binary), under the flags the gateway",
        `# needs for ${configPath} with systemd's PATH (\`gatehouse permissions --explain\``,
        "# lists them): print this unit again after changing the config. Run `deno install` in",
        "# the checkout first; the service user must be able to read it.",
      ]),
    `ExecStart=${exec.map((a) => execWord(a)).join(" ")}`,
    "# `systemctl reload gatehouse` sends SIGHUP: the gateway reads its config again.",
    "ExecReload=/bin/kill -HUP $MAINPID",
    `Environment=${word(`GATEHOUSE_HOME=${home}`)}`,
    ...(launch.kind === "source"
      ? [
        "# deno's own cache (compiled modules), where the service user can write.",
        `Environment=${word(`DENO_DIR=${join(home, ".deno")}`)}`,
      ]
      : []),
    "# Secrets (OPENAI_API_KEY=…, TELEGRAM_BOT_TOKEN=…), one NAME=value a line, in a root-owned",
    '# file of mode 0600: never in this unit, which every local user can read. The leading "-"',
    "# lets the service start without the file.",
    // Taken whole (no quoting, spaces allowed); only specifiers are expanded.
    `EnvironmentFile=-${join(dirname(configPath), "env").replaceAll("%", "%%")}`,
    ...(stateDir
      ? [
        `# Creates ${home} for the state (KV, token, workspace), owned by ${user}, mode 0700.`,
        `StateDirectory=${word(stateDir)}`,
        "StateDirectoryMode=0700",
      ]
      : [`# ${home} is not under /var/lib: create it yourself, owned by ${user}, mode 0700.`]),
    ...(configDir
      ? [
        `# Creates ${dirname(configPath)} (owned by root) for config.toml and env; read-only here.`,
        `ConfigurationDirectory=${word(configDir)}`,
      ]
      : []),
    "",
    "# Restart after a crash or a failed exit; `systemctl stop` stays stopped.",
    "Restart=on-failure",
    "RestartSec=2",
    `# SIGTERM stops the gateway gracefully: running turns get gateway.shutdown_grace_seconds`,
    `# (${grace} s), then ${STOP_MARGIN_SECONDS} s more to stop Telegram, send queued replies and close KV.`,
    "# After that, SIGKILL; the store is durable, so nothing accepted is lost even then.",
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${grace + STOP_MARGIN_SECONDS}`,
    "# SIGTERM to the gateway alone: programs the exec tool runs end with their turns, not before;",
    "# what is left at the timeout gets SIGKILL.",
    "KillMode=mixed",
    "# Logs go to the journal: `journalctl -u gatehouse -f`.",
    "StandardOutput=journal",
    "StandardError=journal",
    "SyslogIdentifier=gatehouse",
    "",
    "# Hardening: `systemd-analyze security gatehouse` scores it.",
    "NoNewPrivileges=yes",
    ...(port > 0 && port < 1024
      ? [
        `# gateway.port ${port} is a privileged port: this one capability, nothing else.`,
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      ]
      : [
        "# No capabilities at all: the gateway listens on an unprivileged port.",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
      ]),
    "# The whole file system is read-only to the service except the paths granted below.",
    "ProtectSystem=strict",
    ...(bindWrite.length || bindRead.length
      ? [
        "# /home, /root and /run/user are empty and read-only, except the paths bound in below.",
        "ProtectHome=tmpfs",
        ...(bindWrite.length ? [`BindPaths=${bindWrite.map((p) => bindWord(p)).join(" ")}`] : []),
        ...(bindRead.length
          ? [`BindReadOnlyPaths=${bindRead.map((p) => bindWord(p)).join(" ")}`]
          : []),
      ]
      : ["# /home, /root and /run/user are invisible.", "ProtectHome=yes"]),
    ...(writes.some((w) => !hidden(w))
      ? [
        "# Writable: what the config writes (the --allow-write of `gatehouse permissions`).",
        `ReadWritePaths=${writes.filter((w) => !hidden(w)).map((p) => word(p)).join(" ")}`,
      ]
      : []),
    "# A private /tmp, and only the pseudo-devices (null, zero, random, …) in /dev.",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "# Other users' processes are invisible in /proc.",
    "ProtectProc=invisible",
    "# IPv4 and IPv6 for the listener and outbound HTTPS; AF_UNIX for the journal.",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "SystemCallArchitectures=native",
    "# Must stay off: V8, Deno's JavaScript engine, compiles to machine code at run time (JIT) into",
    "# memory it writes and then makes executable, which MemoryDenyWriteExecute=yes forbids.",
    "MemoryDenyWriteExecute=no",
    "# Files the gateway creates are private to its user.",
    "UMask=0077",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
  ];
  return lines.join("\n") + "\n";
}

/**
 * The loaded config for a config file that does not exist yet: the defaults, at `path`. The unit
 * can be printed before the config is written (`gatehouse start` itself refuses a missing file).
 */
export function unwrittenConfig(path: string, env: EnvReader): LoadedConfig {
  const home = resolveHome(env);
  const { config } = parseConfig("", path);
  // The default store path is a file name, resolved against the home as loadConfig does.
  return {
    config,
    home,
    path,
    found: false,
    warnings: [],
    storePath: resolve(home, config.store.path),
    tokenPath: join(home, "token"),
    workspacePath: resolve(home, config.tools.workspace),
  };
}

/** `path` relative to `root` when it lies strictly below it (StateDirectory= wants that form). */
function under(root: string, path: string): string | undefined {
  return path.startsWith(`${root}/`) ? relative(root, path) : undefined;
}

/** Whether `path` is `dir` or lies below it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** The paths not inside another one of them, each once. */
function outermost(paths: string[]): string[] {
  const all = [...new Set(paths)];
  return all.filter((p) => !all.some((q) => q !== p && within(p, q)));
}

/**
 * One word of a unit setting that splits on spaces and expands `%` specifiers (ExecStart=,
 * Environment=, ReadWritePaths=, StateDirectory=, …): `%` doubled, and double-quoted (with C
 * escapes) unless every character is plain. `:` separates a BindPaths= source from its target,
 * so there it counts as not plain.
 */
function word(value: string, plain = /^[A-Za-z0-9_@+=:,./-]+$/): string {
  const escaped = value.replaceAll("%", "%%");
  if (plain.test(value)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** A path of BindPaths= or BindReadOnlyPaths=. */
function bindWord(path: string): string {
  return word(path, /^[A-Za-z0-9_@+=,./-]+$/);
}

/** One argument of ExecStart=: a word, with `$` doubled (systemd expands `$NAME` there). */
function execWord(value: string): string {
  return word(value).replaceAll("$", "$$$$");
}

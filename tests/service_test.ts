/**
 * `gatehouse service print-unit` and the unit it prints: the shipped deploy/gatehouse.service is
 * its output for the default VPS profile, carries the hardening, follows the config's paths, and
 * passes `systemd-analyze verify` where systemd is installed.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadedConfig, parseConfig } from "../src/config/mod.ts";
import { gatewayNeeds, toFlags } from "../src/permissions/mod.ts";
import { UsageError } from "../src/cli/command.ts";
import { service } from "../src/cli/service.ts";
import {
  type Launch,
  STOP_MARGIN_SECONDS,
  SYSTEMD_PATH,
  systemdUnit,
  unwrittenConfig,
} from "../src/cli/systemd_unit.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHIPPED = join(ROOT, "deploy/gatehouse.service");
const DEFAULT_CONFIG = "/etc/gatehouse/config.toml";
const DEFAULT_HOME = "/var/lib/gatehouse";
const DEFAULT_BINARY = "/usr/local/bin/gatehouse";
const BINARY: Launch = { kind: "binary", path: DEFAULT_BINARY };

/** The default VPS profile: nothing at /etc/gatehouse/config.toml yet, GATEHOUSE_HOME set. */
function defaultProfile(): LoadedConfig {
  return unwrittenConfig(
    DEFAULT_CONFIG,
    (n) => (n === "GATEHOUSE_HOME" ? DEFAULT_HOME : undefined),
  );
}

/** A loaded config from TOML, as if read from `path`, with the state in `home`. */
function loadedFor(toml: string, options: { home: string; path: string }): LoadedConfig {
  const { config } = parseConfig(toml, options.path);
  const store = config.store.path;
  return {
    config,
    home: options.home,
    path: options.path,
    found: true,
    warnings: [],
    storePath: store.startsWith("/") ? store : join(options.home, store),
    tokenPath: join(options.home, "token"),
    workspacePath: config.tools.workspace.startsWith("/")
      ? config.tools.workspace
      : join(options.home, config.tools.workspace),
  };
}

/** Every `Key=value` of a unit, by section, comments and blank lines left out. */
function settings(unit: string): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  let section = "";
  for (const line of unit.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const header = line.match(/^\[(\w+)\]$/);
    if (header) {
      section = header[1];
      out.set(section, []);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `not a setting: ${line}`);
    out.get(section)!.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

/** The values of `key` in `section`. */
function values(unit: string, section: string, key: string): string[] {
  return (settings(unit).get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}

function value(unit: string, section: string, key: string): string | undefined {
  const all = values(unit, section, key);
  assert.ok(all.length <= 1, `${key} set ${all.length} times`);
  return all[0];
}

Deno.test("print-unit for the default VPS profile is deploy/gatehouse.service, byte for byte", async () => {
  const shipped = await Deno.readTextFile(SHIPPED);
  const printed = systemdUnit(defaultProfile(), { launch: BINARY });
  assert.equal(
    printed,
    shipped,
    "deploy/gatehouse.service drifted from print-unit: regenerate it with\n" +
      `  GATEHOUSE_HOME=${DEFAULT_HOME} deno task gatehouse service print-unit ` +
      `--config ${DEFAULT_CONFIG} --binary ${DEFAULT_BINARY} > deploy/gatehouse.service`,
  );
});

const realDefaultConfig = existsSync(DEFAULT_CONFIG);
Deno.test({
  name: "`gatehouse service print-unit` prints deploy/gatehouse.service, needing only read and " +
    "the config env vars" +
    (realDefaultConfig ? ` (ignored: this machine has a real ${DEFAULT_CONFIG})` : ""),
  ignore: realDefaultConfig,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        "--allow-env=HOME,GATEHOUSE_HOME,GATEHOUSE_CONFIG",
        join(ROOT, "main.ts"),
        "service",
        "print-unit",
        "--config",
        DEFAULT_CONFIG,
        "--binary",
        DEFAULT_BINARY,
      ],
      env: { GATEHOUSE_HOME: DEFAULT_HOME, GATEHOUSE_CONFIG: "", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout), await Deno.readTextFile(SHIPPED));
    assert.match(
      stderr,
      /\/etc\/gatehouse\/config\.toml does not exist yet: the unit uses the defaults/,
    );
  },
});

Deno.test("the shipped unit runs the binary as a dedicated user in a hardened sandbox", async () => {
  const unit = await Deno.readTextFile(SHIPPED);
  const expect: [string, string, string][] = [
    ["Unit", "After", "network-online.target"],
    ["Unit", "StartLimitIntervalSec", "60"],
    ["Unit", "StartLimitBurst", "5"],
    ["Service", "Type", "exec"],
    ["Service", "User", "gatehouse"],
    ["Service", "Group", "gatehouse"],
    ["Service", "ExecStart", `${DEFAULT_BINARY} start --config ${DEFAULT_CONFIG}`],
    ["Service", "ExecReload", "/bin/kill -HUP $MAINPID"],
    ["Service", "Environment", `GATEHOUSE_HOME=${DEFAULT_HOME}`],
    ["Service", "EnvironmentFile", "-/etc/gatehouse/env"],
    ["Service", "StateDirectory", "gatehouse"],
    ["Service", "StateDirectoryMode", "0700"],
    ["Service", "ConfigurationDirectory", "gatehouse"],
    ["Service", "Restart", "on-failure"],
    ["Service", "RestartSec", "2"],
    ["Service", "KillSignal", "SIGTERM"],
    ["Service", "KillMode", "mixed"],
    ["Service", "TimeoutStopSec", String(10 + STOP_MARGIN_SECONDS)],
    ["Service", "StandardOutput", "journal"],
    ["Service", "StandardError", "journal"],
    ["Service", "NoNewPrivileges", "yes"],
    ["Service", "CapabilityBoundingSet", ""],
    ["Service", "AmbientCapabilities", ""],
    ["Service", "ProtectSystem", "strict"],
    ["Service", "ProtectHome", "yes"],
    ["Service", "ReadWritePaths", DEFAULT_HOME],
    ["Service", "PrivateTmp", "yes"],
    ["Service", "PrivateDevices", "yes"],
    ["Service", "ProtectKernelTunables", "yes"],
    ["Service", "ProtectKernelModules", "yes"],
    ["Service", "ProtectKernelLogs", "yes"],
    ["Service", "ProtectControlGroups", "yes"],
    ["Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"],
    ["Service", "RestrictNamespaces", "yes"],
    ["Service", "LockPersonality", "yes"],
    ["Service", "MemoryDenyWriteExecute", "no"],
    ["Service", "SystemCallArchitectures", "native"],
    ["Service", "UMask", "0077"],
    ["Install", "WantedBy", "multi-user.target"],
  ];
  for (const [section, key, want] of expect) {
    assert.equal(value(unit, section, key), want, `[${section}] ${key}`);
  }
  assert.ok(
    !/OPENAI_API_KEY=|TELEGRAM_BOT_TOKEN=|token/i.test(
      values(unit, "Service", "Environment").join(" "),
    ),
  );
  assert.match(unit, /# Must stay off: V8, Deno's JavaScript engine, compiles to machine code/);
});

Deno.test("the unit follows the config's paths and settings", async (t) => {
  await t.step("TimeoutStopSec leaves the shutdown grace plus the stop margin", () => {
    const loaded = loadedFor("[gateway]\nshutdown_grace_seconds = 45\n", {
      home: DEFAULT_HOME,
      path: DEFAULT_CONFIG,
    });
    const unit = systemdUnit(loaded, { launch: BINARY });
    assert.equal(value(unit, "Service", "TimeoutStopSec"), String(45 + STOP_MARGIN_SECONDS));
    assert.match(unit, /\(45 s\), then 20 s more/);
  });

  await t.step("a store outside the home is writable too; other folders are the operator's", () => {
    const loaded = loadedFor('[store]\npath = "/srv/kv/gatehouse.sqlite"\n', {
      home: "/srv/gatehouse",
      path: "/opt/gatehouse/config.toml",
    });
    const unit = systemdUnit(loaded, { launch: BINARY, user: "gw" });
    assert.equal(value(unit, "Service", "ReadWritePaths"), "/srv/gatehouse /srv/kv");
    assert.equal(value(unit, "Service", "User"), "gw");
    assert.equal(value(unit, "Service", "Group"), "gw");
    assert.equal(value(unit, "Service", "StateDirectory"), undefined, "not under /var/lib");
    assert.match(
      unit,
      /# \/srv\/gatehouse is not under \/var\/lib: create it yourself, owned by gw/,
    );
    assert.equal(value(unit, "Service", "ConfigurationDirectory"), undefined, "not under /etc");
    assert.equal(value(unit, "Service", "EnvironmentFile"), "-/opt/gatehouse/env");
    assert.equal(
      value(unit, "Service", "ExecStart"),
      `${DEFAULT_BINARY} start --config /opt/gatehouse/config.toml`,
    );
  });

  await t.step("paths under /home are bound into an otherwise empty /home", () => {
    const loaded = loadedFor('[tools]\nworkspace = "/home/alice/ws"\n', {
      home: "/home/alice/.gatehouse",
      path: "/home/alice/.gatehouse/config.toml",
    });
    const unit = systemdUnit(loaded, {
      launch: { kind: "binary", path: "/home/alice/bin/gatehouse" },
    });
    assert.equal(value(unit, "Service", "ProtectHome"), "tmpfs");
    assert.equal(value(unit, "Service", "BindPaths"), "/home/alice/.gatehouse /home/alice/ws");
    assert.equal(value(unit, "Service", "BindReadOnlyPaths"), "/home/alice/bin/gatehouse");
    assert.equal(value(unit, "Service", "ReadWritePaths"), undefined);
    assert.equal(value(unit, "Service", "ProtectSystem"), "strict");
  });

  await t.step("a privileged port gets CAP_NET_BIND_SERVICE and nothing else", () => {
    const loaded = loadedFor("[gateway]\nport = 443\n", {
      home: DEFAULT_HOME,
      path: DEFAULT_CONFIG,
    });
    const unit = systemdUnit(loaded, { launch: BINARY });
    assert.equal(value(unit, "Service", "CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert.equal(value(unit, "Service", "AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
  });

  await t.step("spaces are quoted, % and $ escaped for systemd", () => {
    const loaded = loadedFor("", {
      home: "/srv/gate house%1",
      path: "/etc/gate$house/config.toml",
    });
    const unit = systemdUnit(loaded, { launch: BINARY });
    assert.equal(
      value(unit, "Service", "ExecStart"),
      `${DEFAULT_BINARY} start --config "/etc/gate$$house/config.toml"`,
    );
    assert.equal(value(unit, "Service", "Environment"), '"GATEHOUSE_HOME=/srv/gate house%%1"');
    assert.equal(value(unit, "Service", "ReadWritePaths"), '"/srv/gate house%%1"');
  });

  await t.step("a path with a line break is refused", () => {
    const loaded = loadedFor("", { home: "/srv/a\nb", path: DEFAULT_CONFIG });
    assert.throws(() => systemdUnit(loaded, { launch: BINARY }), /contains a line break/);
  });
});

Deno.test("from a source checkout, ExecStart is deno run under the gateway's flags", async (t) => {
  const loaded = loadedFor("[channels.telegram]\nenabled = true\n", {
    home: DEFAULT_HOME,
    path: DEFAULT_CONFIG,
  });
  const main = join(ROOT, "main.ts");

  await t.step("the unit names deno, the flags and main.ts", () => {
    const unit = systemdUnit(loaded, { launch: { kind: "source", deno: "/usr/bin/deno", main } });
    const flags = toFlags(gatewayNeeds(loaded, { pathEnv: SYSTEMD_PATH }));
    assert.ok(
      flags.some((f) => f.startsWith("--allow-env=") && f.includes("TELEGRAM_BOT_TOKEN")),
      flags.join(" "),
    );
    if (!/\s/.test(main)) {
      assert.equal(
        value(unit, "Service", "ExecStart"),
        ["/usr/bin/deno", "run", ...flags, main, "start", "--config", DEFAULT_CONFIG].join(" "),
      );
    }
    assert.match(unit, /# Runs the source checkout with deno \(no compiled binary\)/);
    assert.deepEqual(values(unit, "Service", "Environment"), [
      `GATEHOUSE_HOME=${DEFAULT_HOME}`,
      `DENO_DIR=${DEFAULT_HOME}/.deno`,
    ]);
  });

  await t.step("the command prints that form when run from source without --binary", async () => {
    const dir = await Deno.makeTempDir({ prefix: "gatehouse-unit-" });
    try {
      const config = join(dir, "config.toml");
      await Deno.writeTextFile(config, "[gateway]\nshutdown_grace_seconds = 5\n");
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--allow-read",
          "--allow-env=HOME,GATEHOUSE_HOME,GATEHOUSE_CONFIG",
          main,
          "service",
          "print-unit",
          "--config",
          config,
        ],
        env: { GATEHOUSE_HOME: join(dir, "home"), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.equal(stderr, "", "the config exists: nothing to warn about");
      const unit = new TextDecoder().decode(out.stdout);
      const exec = value(unit, "Service", "ExecStart")!;
      assert.ok(exec.startsWith(`${Deno.execPath()} run --no-prompt --unstable-kv `), exec);
      assert.ok(exec.endsWith(` ${main} start --config ${config}`), exec);
      assert.equal(value(unit, "Service", "TimeoutStopSec"), String(5 + STOP_MARGIN_SECONDS));
      assert.equal(value(unit, "Service", "ReadWritePaths"), join(dir, "home"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("print-unit refuses what it cannot put in a unit", async (t) => {
  const env = (n: string) => (n === "GATEHOUSE_HOME" ? DEFAULT_HOME : undefined);
  const cases: [string, string[], RegExp][] = [
    ["no action", [], /service needs an action: print-unit/],
    ["an unknown action", ["install"], /unknown action "install": use print-unit/],
    ["a relative --binary", ["print-unit", "--binary", "gatehouse"], /not an absolute path/],
    ["a user name systemd refuses", ["print-unit", "--user", "Bad Name"], /is not a user name/],
    ["a --token flag", ["print-unit", "--token", "x"], /--token is not accepted/],
  ];
  for (const [what, args, message] of cases) {
    await t.step(what, async () => {
      await assert.rejects(service.run(args, env), (err: Error) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.match(err.message, message);
        return true;
      });
    });
  }
});

Deno.test("the VPS config in docs/deploy.md is valid and matches its env file", async () => {
  const doc = await Deno.readTextFile(join(ROOT, "docs/deploy.md"));
  const toml = doc.match(/```toml\n([\s\S]*?)```/)![1];
  const { config, warnings } = parseConfig(toml, DEFAULT_CONFIG);
  assert.deepEqual(warnings, []);
  assert.equal(config.gateway.bind, "loopback");
  assert.ok(config.channels.telegram.enabled);
  const envBlock = doc.match(/# \/etc\/gatehouse\/env[^\n]*\n([\s\S]*?)```/)![1];
  const names = envBlock.trim().split("\n").map((l) => l.split("=")[0]);
  const needed = [
    ...Object.values(config.providers).map((p) => p.api_key_env),
    config.channels.telegram.bot_token_env,
  ];
  assert.deepEqual(names.sort(), needed.sort());
});

// --- systemd-analyze verify ------------------------------------------------------------------

const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) =>
  existsSync(p)
);
const UNIT_DIRS = ["/usr/lib/systemd/system", "/lib/systemd/system"];

/** The program a unit's Exec…= line runs: its first word, without prefixes or quotes. */
function execProgram(line: string): string {
  const rest = line.slice(line.indexOf("=") + 1).replace(/^[-@:+!]+/, "");
  if (rest.startsWith('"')) return rest.slice(1, rest.indexOf('"', 1)).replaceAll("%%", "%");
  return rest.split(" ")[0].replaceAll("%%", "%");
}

/**
 * `systemd-analyze verify` of `unit` (verbatim) in a scratch root holding this machine's system
 * unit files (verify loads the targets the unit names) and a stand-in executable at each path its
 * Exec…= lines run (verify requires them to exist; the real binary is not installed here). Returns
 * the exit code and everything verify printed: warnings about unknown keys or bad values leave
 * the code at 0, so a clean result is code 0 and no output.
 */
async function verify(unit: string): Promise<{ code: number; output: string }> {
  const root = await Deno.makeTempDir({ prefix: "gatehouse-verify-" });
  try {
    const units = UNIT_DIRS.find((d) => existsSync(d));
    assert.ok(units, `systemd-analyze is installed but no system unit folder is: ${UNIT_DIRS}`);
    await Deno.mkdir(join(root, "usr/lib/systemd"), { recursive: true });
    const cp = await new Deno.Command("cp", {
      args: ["-a", units, join(root, "usr/lib/systemd/system")],
    }).output();
    assert.equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
    for (const line of unit.split("\n").filter((l) => /^Exec\w+=/.test(l))) {
      const stub = join(root, execProgram(line));
      await Deno.mkdir(dirname(stub), { recursive: true });
      await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    const path = join(root, "etc/systemd/system/gatehouse.service");
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, unit);
    const out = await new Deno.Command(SYSTEMD_ANALYZE!, {
      args: ["verify", `--root=${root}`, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, output: text.trim() };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test({
  name: "systemd-analyze verify accepts deploy/gatehouse.service and print-unit's other forms" +
    (SYSTEMD_ANALYZE ? "" : " (ignored: systemd-analyze is not installed on this machine)"),
  ignore: !SYSTEMD_ANALYZE,
  async fn(t) {
    await t.step("the shipped unit, byte for byte", async () => {
      const result = await verify(await Deno.readTextFile(SHIPPED));
      assert.deepEqual(result, { code: 0, output: "" });
    });

    await t.step("verify is not silent about a broken unit (the check can fail)", async () => {
      const broken = (await Deno.readTextFile(SHIPPED))
        .replace("ProtectSystem=strict", "ProtectSystem=stricter");
      const result = await verify(broken);
      assert.match(result.output, /ProtectSystem|protect system/i);
    });

    await t.step(
      "a source checkout with home and workspace under /home, odd characters",
      async () => {
        const loaded = loadedFor(
          '[gateway]\nport = 443\n[store]\npath = "/srv/kv %1/g.sqlite"\n[tools]\nworkspace = "/home/al ice/ws"\n',
          { home: "/home/alice/.gatehouse", path: "/home/alice/.gatehouse/config.toml" },
        );
        const unit = systemdUnit(loaded, {
          launch: {
            kind: "source",
            deno: "/opt/deno/bin/deno",
            main: "/home/alice/src/gatehouse/main.ts",
          },
          user: "alice",
        });
        const result = await verify(unit);
        assert.deepEqual(result, { code: 0, output: "" });
      },
    );
  },
});

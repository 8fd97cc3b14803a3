/**
 * Tools that would fail on every call are off from the start: a workspace that cannot be created
 * and an exec allowlist with no program that resolves switch their tools off before the gateway
 * serves (so it revokes `run` then), `tools.effective` says why, and `gatehouse doctor` says so too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LoadedConfig, parseConfig } from "../src/config/mod.ts";
import { type SessionStore, silentLogger, systemClock } from "../src/kernel/mod.ts";
import { setupTools } from "../src/tools/setup.ts";
import { ROOT } from "./_helpers/gateway_process.ts";

function loadedFor(home: string, toml: string): LoadedConfig {
  const { config } = parseConfig(toml, `${home}/config.toml`);
  return {
    config,
    home,
    path: `${home}/config.toml`,
    found: true,
    warnings: [],
    storePath: ":memory:",
    tokenPath: `${home}/token`,
    workspacePath: join(home, config.tools.workspace),
  };
}

function setup(loaded: LoadedConfig, kv: Deno.Kv) {
  return setupTools({
    loaded,
    kv,
    store: {} as SessionStore,
    events: { publish: () => {} },
    clock: systemClock,
    logger: silentLogger,
    env: (name) => Deno.env.get(name),
    disabled: new Map(),
    messaging: {
      outbox: {} as never,
      adapters: new Map(),
      kick: () => {},
    },
    isOwner: () => true,
  });
}

/** A home with a file where the workspace's parent folder should be. */
async function brokenHome(): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-setup-" });
  await Deno.writeTextFile(join(home, "not_a_folder"), "");
  return home;
}

const BROKEN = `[tools]\nworkspace = "not_a_folder/ws"\n[tools.exec]\nprograms = ["echo"]\n`;

Deno.test("a workspace that cannot be created switches its tools off before anything runs", async () => {
  const home = await brokenHome();
  try {
    await using kv = await Deno.openKv(":memory:");
    const tools = setup(loadedFor(home, BROKEN), kv);
    // Known at once: the gateway decides right after start-up whether to revoke `run`.
    for (const name of ["read", "write", "edit", "list", "exec"]) {
      assert.match(
        tools.disabled.get(name) ?? "",
        /the workspace .*not_a_folder\/ws cannot be created or resolved/,
        name,
      );
    }
    assert.deepEqual(tools.enabled(), ["time_now", "session_status", "web_fetch"]);
    const read = tools.runner.effective({ channel: "ws" }).find((d) => d.name === "read")!;
    assert.match(read.reason ?? "", /cannot be created or resolved/);
    await tools.warm();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("exec with no program that resolves is off, not offered to fail on every call", async () => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-setup-" });
  try {
    await using kv = await Deno.openKv(":memory:");
    const tools = setup(
      loadedFor(home, `[tools.exec]\nprograms = ["no-such-program-gatehouse", "sh"]\n`),
      kv,
    );
    assert.match(
      tools.disabled.get("exec") ?? "",
      /none of tools\.exec\.programs can be run .*not found on PATH.*is a shell/,
    );
    assert.ok(!tools.enabled().includes("exec"));
    assert.ok(tools.enabled().includes("read"), "the file tools are unaffected");
    await tools.warm();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a tool the policy leaves off for everyone counts as disabled, so run is revoked", async () => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-setup-" });
  try {
    await using kv = await Deno.openKv(":memory:");
    const tools = setup(
      loadedFor(home, `[tools]\ndeny = ["exec"]\n[tools.exec]\nprograms = ["echo"]\n`),
      kv,
    );
    assert.match(tools.disabled.get("exec") ?? "", /off for every conversation/);
    await tools.warm();
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("doctor prints one row per tool: its mode and grants, or why it is off", async () => {
  const home = await brokenHome();
  try {
    await Deno.writeTextFile(join(home, "config.toml"), BROKEN + `[tools.modes]\nlist = "deny"\n`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "doctor", "--config", join(home, "config.toml")],
      cwd: ROOT,
      env: { GATEHOUSE_HOME: home, NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const rows = text.split("\n").filter((l) => /^\w+\s+tool /.test(l));
    assert.equal(rows.length, 10, text);
    assert.match(text, /^ok\s+tool time_now\s+allow; needs no permission$/m);
    assert.match(text, /^ok\s+tool session_status\s+allow; needs no permission$/m);
    assert.match(
      text,
      /^warn\s+tool read\s+off: the workspace \S+not_a_folder\/ws cannot be created or resolved/m,
    );
    assert.match(text, /^warn\s+tool exec\s+off: the workspace/m);
    assert.match(text, /^ok\s+tool list\s+off: tools\.modes\.list = deny$/m);
    assert.match(
      text,
      /^ok\s+tool web_fetch\s+allow; runs with --allow-net --deny-net=169\.254\.169\.254/m,
    );
    assert.match(text, /^ok\s+tool message\s+off: /m);
    assert.match(text, /^ok\s+tool cron\s+allow; needs no permission$/m);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

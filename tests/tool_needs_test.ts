/**
 * The grants the tools get: exec's programs by their real paths (Deno checks the path a program is
 * started by, and exec starts the real one), never a shell unless the config allows shells, and
 * the workspace by its real path too when it is reached through a symlink.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LoadedConfig, parseConfig } from "../src/config/mod.ts";
import { gatewayNeeds, toFlags, toolNeeds } from "../src/permissions/mod.ts";
import { findOnPath } from "../src/tools/exec/mod.ts";

const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";

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

const values = (loaded: LoadedConfig, kind: string) =>
  toolNeeds(loaded, PATH).filter((n) => n.kind === kind).map((n) => n.value);

Deno.test("exec is granted its programs' real paths, and no shell", async (t) => {
  const home = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse-needs-" }));
  try {
    const echo = findOnPath("echo", PATH)!;
    const sh = findOnPath("sh", PATH)!;
    assert.ok(echo && sh, "echo and sh must be on PATH");
    await Deno.mkdir(join(home, "bin"));
    const say = join(home, "bin", "say");
    await Deno.symlink(echo, say);

    await t.step("a symlinked program is granted by the file it leads to", () => {
      const loaded = loadedFor(home, `[tools.exec]\nprograms = ["${say}"]\n`);
      assert.deepEqual(values(loaded, "run"), [echo]);
      assert.ok(values(loaded, "read").includes(say), "read, to resolve it at start-up");
      const flags = toFlags(gatewayNeeds(loaded, { pathEnv: PATH }));
      assert.ok(flags.includes(`--allow-run=${echo}`), flags.join(" "));
    });

    await t.step("a bare name is granted by its real path on PATH", () => {
      assert.deepEqual(values(loadedFor(home, `[tools.exec]\nprograms = ["echo"]\n`), "run"), [
        echo,
      ]);
    });

    await t.step("shells are granted nothing unless tools.exec.shell is on", () => {
      const toml = `[tools.exec]\nprograms = ["sh", "bash", "dash", "echo"]\n`;
      assert.deepEqual(values(loadedFor(home, toml), "run"), [echo]);
      const withShell = values(loadedFor(home, toml + "shell = true\n"), "run");
      assert.ok(withShell.includes(sh), withShell.join(" "));
    });

    await t.step("a program that is not found is granted nothing", () => {
      const toml = `[tools.exec]\nprograms = ["no-such-program-gatehouse"]\n`;
      assert.deepEqual(values(loadedFor(home, toml), "run"), []);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a symlinked workspace is granted by its real path as well as its name", async (t) => {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse-needs-" }));
  try {
    const home = join(base, "home");
    const real = join(base, "elsewhere");
    await Deno.mkdir(home);
    await Deno.mkdir(real);
    await Deno.symlink(real, join(home, "workspace"));

    await t.step("the workspace itself is a symlink", () => {
      const loaded = loadedFor(home, "");
      assert.ok(values(loaded, "read").includes(real));
      assert.ok(values(loaded, "write").includes(real));
      const flags = toFlags(gatewayNeeds(loaded));
      assert.ok(flags.includes(`--allow-write=${home},${real}`), flags.join(" "));
    });

    await t.step("the home is a symlink and the workspace does not exist yet", () => {
      const link = join(base, "home_link");
      Deno.symlinkSync(home, link);
      const loaded = loadedFor(link, `[tools]\nworkspace = "new_ws"\n`);
      assert.ok(values(loaded, "write").includes(join(home, "new_ws")));
    });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

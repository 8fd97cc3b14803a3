/**
 * `deno task compile` (scripts/compile.ts): its plan for the four targets carries exactly the flags
 * `gatehouse permissions --format compile` prints, for a given config and for the default VPS
 * profile; and with DENORT_BIN it compiles offline, baking those flags into the executable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TARGETS, VPS_PROFILE } from "../scripts/compile.ts";
import { ROOT } from "./_helpers/gateway_process.ts";

const dec = new TextDecoder();

/** Runs a Deno program from the repository root; throws with its output when it fails. */
async function deno(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `deno task compile`'s command line (deno.json), with `args` after it. */
async function compileTask(args: string[], env: Record<string, string> = {}) {
  const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.compile;
  return await deno([...task.split(/\s+/).slice(1), ...args], env);
}

/** The flags in `gatehouse permissions --format compile`'s command, as `deno task permissions` runs it. */
async function permissionsFlags(args: string[], env: Record<string, string>): Promise<string[]> {
  const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks
    .permissions;
  const words = task.split(/\s+/).slice(1).filter((w) => w !== "--explain");
  const r = await deno([...words, ...args, "--format", "compile"], env);
  assert.equal(r.code, 0, r.stderr);
  const command = r.stdout.trim().split(" ");
  assert.deepEqual(command.slice(0, 2), ["deno", "compile"]);
  assert.deepEqual(command.slice(-3), ["--output", "gatehouse", "main.ts"], r.stdout);
  return command.slice(2, -3);
}

/** The dry run's commands, one per target, each split into words. */
async function dryRun(args: string[], env: Record<string, string>): Promise<string[][]> {
  const r = await compileTask(["--dry-run", "--target", "all", ...args], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n").map((line) => line.split(" "));
}

/** What each target's command must be: the flags, the target, the output, main.ts. */
function expected(flags: string[]): string[][] {
  return TARGETS.map((target) => [
    "deno",
    "compile",
    ...flags,
    "--target",
    target,
    "--output",
    `dist/gatehouse-${target}${target.includes("windows") ? ".exe" : ""}`,
    // The browser assets, once the folder exists.
    ...(exists(join(ROOT, "web")) ? ["--include", "web"] : []),
    "main.ts",
  ]);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("deno task compile plans the four targets with the flags gatehouse permissions prints", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-compile-" });
  try {
    await t.step("for a given config", async () => {
      const config = join(home, "config.toml");
      await Deno.writeTextFile(
        config,
        `[gateway]\nport = 18999\n[providers.p]\nkind = "openai"\nbase_url = "http://127.0.0.1:9"\n` +
          `api_key_env = "P_KEY"\n[tools]\ndeny = ["web_fetch"]\n[tools.exec]\nprograms = ["echo"]\n`,
      );
      const env = { GATEHOUSE_HOME: home, PATH: Deno.env.get("PATH") ?? "" };
      const flags = await permissionsFlags(["--config", config], env);
      assert.ok(
        flags.includes(`--allow-read=${home}`) ||
          flags.some((f) => f.startsWith(`--allow-read=${home},`)),
        flags.join(" "),
      );
      assert.ok(
        flags.some((f) => f.startsWith("--allow-net=127.0.0.1:18999,127.0.0.1:9")),
        flags.join(" "),
      );
      assert.ok(flags.some((f) => /^--allow-run=.*\/echo/.test(f)), flags.join(" "));
      assert.deepEqual(await dryRun(["--config", config], env), expected(flags));
    });

    await t.step("for the default VPS profile, which needs no file on this machine", async () => {
      // `gatehouse permissions` for the profile's file with the server's home; the file stands in
      // for /etc/gatehouse/config.toml, so its read grant is the only difference.
      const env = { GATEHOUSE_HOME: VPS_PROFILE.home, PATH: Deno.env.get("PATH") ?? "" };
      const flags = (await permissionsFlags(["--config", VPS_PROFILE.file], env))
        .map((f) => f.replace(VPS_PROFILE.file, VPS_PROFILE.config));
      assert.ok(
        flags.includes(`--allow-read=${VPS_PROFILE.home},${VPS_PROFILE.config}`),
        flags.join(" "),
      );
      assert.ok(flags.includes(`--allow-write=${VPS_PROFILE.home}`), flags.join(" "));
      assert.ok(
        flags.some((f) =>
          f.startsWith("--allow-env=") &&
          ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TELEGRAM_BOT_TOKEN"].every((n) => f.includes(n))
        ),
        flags.join(" "),
      );
      assert.ok(!flags.some((f) => /^--allow-run=.*\/echo/.test(f)), "exec is off");
      // This machine's GATEHOUSE_HOME does not leak into the profile.
      assert.deepEqual(await dryRun([], { ...env, GATEHOUSE_HOME: home }), expected(flags));
    });

    await t.step("an unknown target is refused with the list", async () => {
      const r = await compileTask(["--dry-run", "--target", "x86_64-linux"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--target x86_64-linux: use all or one of x86_64-unknown-linux-gnu/);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("with DENORT_BIN deno task compile builds offline and bakes the flags in", async (t) => {
  const out = await Deno.makeTempDir({ prefix: "gatehouse-compile-out-" });
  // Deno's own executable stands in for denort: deno compile accepts it (the result runs as the
  // deno CLI, not as gatehouse), which is enough to check the command and what it embeds.
  const env = { DENORT_BIN: Deno.execPath(), PATH: Deno.env.get("PATH") ?? "" };
  try {
    await t.step("one runtime for several targets is refused", async () => {
      const r = await compileTask(["--target", "all", "--out", out], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /DENORT_BIN .* is one runtime for one target/);
    });

    await t.step("the executable carries the profile's flags and no baked subcommand", async () => {
      const target = Deno.build.target;
      const r = await compileTask(["--target", target, "--out", out], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const exe = join(out, `gatehouse-${target}${target.includes("windows") ? ".exe" : ""}`);
      const meta = await bakedMetadata(exe, (await Deno.stat(Deno.execPath())).size);
      assert.deepEqual(meta.argv, []);
      assert.deepEqual(meta.permissions.allow_read, [VPS_PROFILE.home, VPS_PROFILE.config]);
      assert.deepEqual(meta.permissions.allow_write, [VPS_PROFILE.home]);
      assert.deepEqual(meta.permissions.deny_net, ["169.254.169.254", "metadata.google.internal"]);
      assert.equal(meta.permissions.prompt, false);
      assert.ok((meta.permissions.allow_env as string[]).includes("TELEGRAM_BOT_TOKEN"));

      const sums = await Deno.readTextFile(join(out, "SHA256SUMS"));
      const check = await new Deno.Command("sha256sum", { args: ["-c", "SHA256SUMS"], cwd: out })
        .output().catch(() => undefined);
      if (check) assert.ok(check.success, dec.decode(check.stdout) + dec.decode(check.stderr));
      assert.match(sums, new RegExp(`^[0-9a-f]{64}  gatehouse-${target}(\\.exe)?\\n$`));
    });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/**
 * The `argv` and `permissions` deno compile wrote into the executable's metadata: a JSON object
 * after the runtime's bytes (`runtimeSize`), ahead of the embedded files. An internal format of
 * Deno 2.9: if it moves, this test says so rather than passing.
 */
async function bakedMetadata(
  exe: string,
  runtimeSize: number,
): Promise<{ argv: string[]; permissions: Record<string, unknown> }> {
  using file = await Deno.open(exe);
  await file.seek(runtimeSize, Deno.SeekMode.Start);
  // Scan in chunks that overlap by 64 KiB, so the metadata is whole in the chunk it starts in.
  const latin1 = new TextDecoder("latin1");
  const chunk = new Uint8Array(8 << 20);
  let text = "";
  for (let read = 0; read < 64 << 20;) {
    const n = await file.read(chunk);
    if (n === null) break;
    read += n;
    text = text.slice(-(64 << 10)) + latin1.decode(chunk.subarray(0, n));
    const at = text.indexOf('"argv":[');
    if (at >= 0 && text.length - at > 64 << 10) {
      text = text.slice(at);
      break;
    }
  }
  const argv = text.match(/^"argv":(\[[^\]]*\])/);
  const at = text.indexOf('"permissions":{');
  assert.ok(argv && at >= 0, "no metadata after the runtime: has deno compile's layout changed?");
  const from = at + '"permissions":'.length;
  let depth = 0;
  let end = from;
  for (; end < text.length; end++) {
    if (text[end] === "{") depth++;
    if (text[end] === "}" && --depth === 0) break;
  }
  return { argv: JSON.parse(argv[1]), permissions: JSON.parse(text.slice(from, end + 1)) };
}

/**
 * `exec` as the fence it must be: shells, programs off the allowlist and paths out of the
 * workspace are refused before anything runs; programs get only the allowed env; an approved
 * (prepared) call is what runs; and the limits hold: exit codes, the output cap, the timeout and
 * the abort kill. The last tests run the tool in a child Deno with only
 * `--allow-run=<one program>` and workspace access, as the gateway will.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PreparedCall, Tool, ToolContext, ToolResult } from "../../src/kernel/mod.ts";
import { ToolRegistry } from "../../src/tools/registry.ts";
import { Workspace } from "../../src/tools/workspace.ts";
import { execTool, findOnPath, resolvePrograms } from "../../src/tools/exec/mod.ts";

const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
const linux = Deno.build.os === "linux";

/** The real path of a program on PATH (the test needs it to exist). */
function which(name: string): string {
  const real = findOnPath(name, PATH);
  assert.ok(real, `${name} must be on PATH for this test`);
  return real;
}

interface Harness extends AsyncDisposable {
  dir: string;
  workspace: Workspace;
  tool: Tool;
  /** Runs one exec call through the registry. */
  exec(
    args: Record<string, unknown>,
    options?: { signal?: AbortSignal; prepared?: PreparedCall },
  ): Promise<ToolResult>;
  /** The prepared call the last gated run used. */
  lastPrepared?: PreparedCall;
}

async function harness(options: {
  programs?: string[];
  map?: Map<string, string>;
  shell?: boolean;
  timeoutMs?: number;
  maxOutputChars?: number;
  env?: Record<string, string>;
}): Promise<Harness> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse-exec-" }));
  const workspace = await Workspace.open(join(dir, "ws"));
  const shell = options.shell ?? false;
  const programs = options.map ??
    resolvePrograms(options.programs ?? [], { pathEnv: PATH, shell }).programs;
  const tool = execTool({
    workspace,
    programs,
    env: options.env ?? { PATH, HOME: dir, LANG: "C.UTF-8" },
    shell,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxOutputChars: options.maxOutputChars ?? 20_000,
    killGraceMs: 500,
  });
  const registry = new ToolRegistry([tool]);
  const h: Harness = {
    dir,
    workspace,
    tool,
    exec: (args, o = {}) =>
      registry.run(
        { id: crypto.randomUUID(), name: "exec", arguments: JSON.stringify(args) },
        {
          sessionKey: "agent:main:main",
          runId: "run-1",
          model: "fake/model",
          signal: o.signal ?? new AbortController().signal,
        },
        {
          // As the gateway does: the tool prepares, the gate binds (or replaces, in one test).
          gate: async (t, a, ctx: ToolContext) => {
            const prepared = o.prepared ?? await t.prepare!(a, ctx);
            h.lastPrepared = prepared;
            return { run: true, prepared };
          },
        },
      ),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
  return h;
}

/** Whether a pid is a live (not zombie) process; Linux only. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone or `ms` pass (it is killed by someone else). */
async function gone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await alive(pid))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test("exec refuses shells, programs off the allowlist and escapes, and runs nothing", async (t) => {
  const sh = which("sh");
  const env = which("env");
  const ls = which("ls");
  // sh is in the allowlist map on purpose: the shell rule must hold even then.
  await using h = await harness({
    map: new Map([[env, "env"], [ls, "ls"], [sh, "sh"]]),
  });
  const pwned = join(h.dir, "pwned");
  const refused = async (args: Record<string, unknown>, pattern: RegExp) => {
    const r = await h.exec(args);
    assert.equal(r.isError, true, r.content);
    assert.match(r.content, pattern);
    return r;
  };

  await t.step("sh -c is refused as a shell, and nothing is written", async () => {
    const r = await refused(
      { argv: ["sh", "-c", `echo pwned > ${pwned}`] },
      /"sh" is a shell.*tools\.exec\.shell = true/,
    );
    assert.doesNotMatch(r.content, /at .*\.ts:\d+/, "no stack trace");
    await assert.rejects(Deno.stat(pwned), Deno.errors.NotFound);
  });

  await t.step("bash and a shell by absolute path are refused", async () => {
    await refused({ argv: ["bash", "-c", "id"] }, /"bash" is a shell/);
    await refused({ argv: ["/bin/sh", "-c", "id"] }, /"\/bin\/sh" is a shell/);
    await refused({ argv: [sh, "-c", "id"] }, /is a shell/);
  });

  await t.step(
    "a program not allowlisted is refused, naming the allowlist and its key",
    async () => {
      await refused(
        { argv: ["cat", "/etc/passwd"] },
        /"cat" is not an allowed program; exec may run: env, ls, sh .*tools\.exec\.programs/,
      );
      await refused({ argv: [which("cat"), "/etc/passwd"] }, /is not an allowed program/);
    },
  );

  await t.step("a relative program path out of the workspace is refused", async () => {
    await refused({ argv: ["../../usr/bin/env"] }, /leaves the workspace/);
    await Deno.mkdir(join(h.workspace.root, "app"));
    await refused({ argv: ["../../bin/env"], cwd: "app" }, /leaves the workspace/);
  });

  await t.step("a symlink in the workspace named ls pointing at /bin/sh runs nothing", async () => {
    await Deno.symlink("/bin/sh", join(h.workspace.root, "ls"));
    await refused({ argv: ["./ls", "-c", `echo pwned > ${pwned}`] }, /not an allowed program/);
    await refused({ argv: [join(h.workspace.root, "ls"), "-c", "id"] }, /not an allowed program/);
    // A bare name is the allowlisted program, never a file in the cwd.
    const r = await h.exec({ argv: ["ls", "-d", "app"] });
    assert.equal(r.isError, false, r.content);
    assert.equal(r.content, "exit code 0\n--- stdout ---\napp");
    assert.equal(h.lastPrepared?.program, ls);
    await assert.rejects(Deno.stat(pwned), Deno.errors.NotFound);
  });

  await t.step("a cwd outside the workspace is refused", async () => {
    await refused({ argv: ["env"], cwd: ".." }, /^exec failed: cwd \.\. leaves the workspace/);
    await refused({ argv: ["env"], cwd: "/etc" }, /cwd \/etc is outside the workspace/);
    await Deno.symlink("/etc", join(h.workspace.root, "etc-link"));
    await refused({ argv: ["env"], cwd: "etc-link" }, /cwd etc-link resolves outside/);
    await refused({ argv: ["env"], cwd: "missing" }, /cwd "missing" does not exist/);
    await Deno.writeTextFile(join(h.workspace.root, "file.txt"), "x");
    await refused({ argv: ["env"], cwd: "file.txt" }, /cwd "file.txt" is a file, not a folder/);
  });

  await t.step("arguments out of bounds are refused by the schema", async () => {
    await refused({ argv: [] }, /argv/);
    await refused({ argv: ["env", "x".repeat(8 * 1024 + 1)] }, /at most 8 KB/);
    await refused({ argv: Array(201).fill("env") }, /argv/);
    await refused({ argv: ["env", "a\0b"] }, /NUL/);
  });
});

Deno.test("resolvePrograms resolves names on PATH to real paths and reports, not throws, the rest", async () => {
  const sh = which("sh");
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-exec-" });
  const plain = join(dir, "not-executable");
  await Deno.writeTextFile(plain, "#!/bin/sh\n", { mode: 0o644 });
  const { programs, problems } = resolvePrograms(
    ["env", "/bin/env", "sh", "no-such-program-gatehouse", "bin/env", plain],
    { pathEnv: PATH },
  );
  await Deno.remove(dir, { recursive: true });
  assert.deepEqual([...programs], [[which("env"), "env"]]);
  assert.deepEqual(problems.map((p) => p.name), [
    "sh",
    "no-such-program-gatehouse",
    "bin/env",
    plain,
  ]);
  assert.match(problems[0].reason, /is a shell.*tools\.exec\.shell = true/);
  const withShell = resolvePrograms(["sh"], { pathEnv: PATH, shell: true });
  assert.deepEqual([...withShell.programs], [[sh, "sh"]]);
});

Deno.test("exec passes only the configured env names to programs", async () => {
  Deno.env.set("GATEHOUSE_TEST_SECRET", "hunter2-secret");
  try {
    // As the gateway does: the values of tools.exec.env names, read at start-up.
    const env = Object.fromEntries(
      ["PATH", "HOME", "LANG"].flatMap((k) => {
        const v = Deno.env.get(k);
        return v === undefined ? [] : [[k, v]];
      }),
    );
    await using h = await harness({ programs: ["env"], env });
    const r = await h.exec({ argv: ["env"] });
    assert.equal(r.isError, false, r.content);
    assert.doesNotMatch(r.content, /GATEHOUSE_TEST_SECRET|hunter2/);
    const names = r.content.split("\n").slice(2).map((l) => l.slice(0, l.indexOf("=")));
    assert.deepEqual(names.sort(), Object.keys(env).sort());
  } finally {
    Deno.env.delete("GATEHOUSE_TEST_SECRET");
  }
});

Deno.test("exec prepares the real program, argv and cwd, and runs the prepared call, not the arguments", async (t) => {
  await using h = await harness({ programs: ["env", "ls"] });
  await Deno.mkdir(join(h.workspace.root, "app"));
  await Deno.writeTextFile(join(h.workspace.root, "app", "marker.txt"), "");

  await t.step("prepare resolves and summarises the call", async () => {
    const r = await h.exec({ argv: ["ls", "-a", "it's here"], cwd: "app" });
    assert.equal(r.isError, false);
    assert.deepEqual(h.lastPrepared, {
      summary: "ls -a 'it'\\''s here'  (in app/)",
      program: which("ls"),
      argv: ["ls", "-a", "it's here"],
      cwd: join(h.workspace.root, "app"),
    });
  });

  await t.step("an approved call that differs from the arguments runs as approved", async () => {
    const r = await h.exec({ argv: ["env"] }, {
      prepared: {
        summary: "ls  (in app/)",
        program: which("ls"),
        argv: ["ls"],
        cwd: join(h.workspace.root, "app"),
      },
    });
    assert.equal(r.content, "exit code 0\n--- stdout ---\nmarker.txt");
  });

  await t.step("a prepared call is still held to the allowlist", async () => {
    const outside = await h.exec({ argv: ["env"] }, {
      prepared: {
        summary: "cat",
        program: which("cat"),
        argv: ["cat"],
        cwd: h.workspace.root,
      },
    });
    assert.equal(outside.isError, true);
    assert.match(outside.content, /is not an allowed program/);
  });
});

Deno.test("exec reports a non-zero exit code as a normal result with stderr", async () => {
  await using h = await harness({ programs: ["ls"] });
  const r = await h.exec({ argv: ["ls", "no-such-file"] });
  assert.equal(r.isError, false);
  // Deno passes the program's real path as argv[0], so ls names itself by it.
  assert.match(r.content, /^exit code 2\n--- stderr ---\n\S*ls: .*no-such-file/);
});

Deno.test("exec caps output with a marker and a child writing megabytes does not block", async () => {
  await using h = await harness({ programs: ["seq"], maxOutputChars: 1000 });
  const n = 1_000_000;
  let total = 0;
  for (let i = 1; i <= n; i++) total += String(i).length + 1;
  const started = Date.now();
  const r = await h.exec({ argv: ["seq", "1", String(n)] });
  assert.ok(Date.now() - started < 10_000);
  assert.equal(r.isError, false);
  const [head, stdout] = r.content.split("--- stdout ---\n");
  assert.equal(head, "exit code 0\n");
  assert.ok(stdout.startsWith("1\n2\n3\n"));
  assert.ok(stdout.endsWith(`\n[… ${total - 1000} more characters cut]`), stdout.slice(-80));
  assert.equal(stdout.length, 1000 + `[… ${total - 1000} more characters cut]`.length);
});

Deno.test("exec kills a program at the timeout, with the programs it started when it may", async (t) => {
  await t.step("sleep 30 is killed after the configured 1 s", async () => {
    await using h = await harness({ programs: ["sleep"], timeoutMs: 1000 });
    const started = Date.now();
    const r = await h.exec({ argv: ["sleep", "30"] });
    const took = Date.now() - started;
    assert.ok(took >= 1000 && took < 4000, `took ${took} ms`);
    assert.equal(r.isError, true);
    assert.match(r.content, /^killed after 1 s \(the limit set by tools\.exec\.timeout_seconds\)/);
  });

  await t.step("timeout_seconds shortens the configured limit", async () => {
    await using h = await harness({ programs: ["sleep"], timeoutMs: 60_000 });
    const started = Date.now();
    const r = await h.exec({ argv: ["sleep", "30"], timeout_seconds: 1 });
    assert.ok(Date.now() - started < 4000);
    assert.match(r.content, /^killed after 1 s \(the limit set by timeout_seconds\)/);
  });

  await t.step({
    name: "with full run access the process group dies too (sh -c 'sleep 30 & sleep 30')",
    ignore: !linux,
    fn: async () => {
      // Only `deno test -A` has run access for every program; the child-process test below
      // shows what happens with --allow-run=<list>.
      assert.equal(Deno.permissions.querySync({ name: "run" }).state, "granted");
      await using h = await harness({ programs: ["sh"], shell: true, timeoutMs: 1000 });
      const started = Date.now();
      const r = await h.exec({ argv: ["sh", "-c", "sleep 30 & echo $$ $!; exec sleep 30"] });
      assert.ok(Date.now() - started < 4000);
      assert.equal(r.isError, true);
      assert.match(r.content, /^killed after 1 s[^\n]*\n--- stdout ---\n\d+ \d+$/);
      assert.doesNotMatch(r.content, /may still be running/);
      const [shPid, bgPid] = r.content.split("\n")[2].split(" ").map(Number);
      assert.ok(await gone(shPid), "the shell is gone");
      assert.ok(await gone(bgPid), "the background sleep is gone");
    },
  });
});

Deno.test("exec kills the program when the turn is aborted", async () => {
  await using h = await harness({ programs: ["sleep"], timeoutMs: 60_000 });
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 300);
  const started = Date.now();
  const r = await h.exec({ argv: ["sleep", "30"] }, { signal: ac.signal });
  clearTimeout(timer);
  assert.ok(Date.now() - started < 4000);
  assert.equal(r.isError, true);
  assert.equal(r.content, "the tool was stopped: the turn was aborted");
});

/** Runs the tool in a child Deno with `flags`; returns the registry results, in order. */
async function inChild(
  flags: string[],
  setup: { ws: string; program: string; name: string; shell: boolean; timeoutMs: number },
  calls: Record<string, unknown>[],
): Promise<{ results: ToolResult[]; runAll: string; write: string }> {
  const src = (p: string) => pathToFileURL(join(Deno.cwd(), "src", p)).href;
  const script = `
    import { Workspace } from "${src("tools/workspace.ts")}";
    import { ToolRegistry } from "${src("tools/registry.ts")}";
    import { execTool } from "${src("tools/exec/mod.ts")}";
    const setup = ${JSON.stringify(setup)};
    const calls = ${JSON.stringify(calls)};
    // Opening creates the folder, so it needs write; exec itself must not.
    const workspace = await Workspace.open(setup.ws);
    Deno.permissions.revokeSync({ name: "write" });
    const registry = new ToolRegistry([execTool({
      workspace,
      programs: new Map([[setup.program, setup.name]]),
      env: { PATH: "/usr/bin:/bin", LANG: "C" },
      shell: setup.shell,
      timeoutMs: setup.timeoutMs,
      maxOutputChars: 10000,
    })]);
    const results = [];
    for (const args of calls) {
      results.push(await registry.run(
        { id: "c", name: "exec", arguments: JSON.stringify(args) },
        { sessionKey: "agent:main:main", runId: "r", model: "m/m", signal: new AbortController().signal },
      ));
    }
    console.log(JSON.stringify({
      results,
      runAll: Deno.permissions.querySync({ name: "run" }).state,
      write: Deno.permissions.querySync({ name: "write" }).state,
    }));
  `;
  const file = join(setup.ws, "..", "child.ts");
  await Deno.writeTextFile(file, script);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--config=${join(Deno.cwd(), "deno.json")}`, ...flags, file],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("exec works with only --allow-run=<its program> and read access to the workspace", async () => {
  const env = which("env");
  await using h = await harness({});
  const ws = h.workspace.root;
  const { results, runAll, write } = await inChild(
    [`--allow-run=${env}`, `--allow-read=${ws}`, `--allow-write=${ws}`],
    { ws, program: env, name: "env", shell: false, timeoutMs: 5000 },
    [{ argv: ["env"] }, { argv: ["/usr/bin/env"] }, { argv: ["cat", "/etc/passwd"] }, {
      argv: ["env"],
      cwd: "/etc",
    }],
  );
  assert.equal(runAll, "prompt", "the child has no run access beyond env");
  assert.equal(write, "prompt", "write was revoked before exec ran");
  const [head, stdout] = results[0].content.split("--- stdout ---\n");
  assert.equal(head, "exit code 0\n");
  assert.deepEqual(stdout.split("\n").sort(), ["LANG=C", "PATH=/usr/bin:/bin"]);
  assert.equal(results[1].isError, false, results[1].content);
  assert.match(results[2].content, /"cat" is not an allowed program; exec may run: env/);
  assert.match(results[3].content, /cwd \/etc is outside the workspace/);
});

Deno.test({
  name:
    "with --allow-run=<list> a timeout kills the program but not what it started in the background",
  ignore: !linux,
  fn: async () => {
    const sh = which("sh");
    await using h = await harness({});
    const ws = h.workspace.root;
    const { results } = await inChild(
      [`--allow-run=${sh}`, `--allow-read=${ws}`, `--allow-write=${ws}`],
      { ws, program: sh, name: "sh", shell: true, timeoutMs: 1000 },
      [{ argv: ["sh", "-c", "sleep 30 & echo $$ $!; exec sleep 30"] }],
    );
    const r = results[0];
    assert.equal(r.isError, true);
    assert.match(
      r.content,
      /^killed after 1 s [^\n]*programs it started in the background may still be running\n--- stdout ---\n\d+ \d+\n\[the program exited but a process it started kept its output open; reading stopped\]$/,
    );
    const [shPid, bgPid] = r.content.split("\n")[2].split(" ").map(Number);
    assert.ok(await gone(shPid), "the shell itself is killed");
    // The documented limit: Deno.kill(-pgid) needs --allow-run for every program.
    const survived = await alive(bgPid);
    if (survived) Deno.kill(bgPid, "SIGKILL");
    assert.ok(survived, "the background sleep outlived the shell");
  },
});

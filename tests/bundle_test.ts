/**
 * The offline build: `deno task bundle`'s own command writes the single-file bundle into a temp
 * folder, and the bundle runs from there (no deno.json, no node_modules in reach) under the flags
 * `gatehouse permissions` computes, minus `--allow-run`: it answers /readyz, runs a turn over /ws
 * against the fake OpenAI server through the real `openai` SDK (loaded lazily from inside the
 * bundle), serves the browser page from the bundle itself, reports exec off, and its CLI (`doctor`)
 * works too. CI runs this with `deno task test`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GatewayClient, sendAndWait } from "../src/cli/client.ts";
import type { ToolDecision } from "../src/tools/mod.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { GatewayProcess, ROOT } from "./_helpers/gateway_process.ts";

/** `deno task bundle` from deno.json, writing to `output` instead of dist/gatehouse.mjs. */
async function bundleTo(output: string): Promise<void> {
  const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.bundle;
  const words = task.split(/\s+/);
  const at = words.indexOf("dist/gatehouse.mjs");
  assert.ok(words[0] === "deno" && words[1] === "bundle" && at > 0, `unexpected task: ${task}`);
  words[at] = output;
  const out = await new Deno.Command(Deno.execPath(), {
    args: words.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.ok(out.success, `${task}\n${dec.decode(out.stdout)}${dec.decode(out.stderr)}`);
}

Deno.test("the bundle starts under the computed flags, runs a turn and reports exec off without --allow-run", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-bundle-" });
  try {
    const bundle = join(dir, "gatehouse.mjs");
    await bundleTo(bundle);

    await t.step(
      "the lazy imports are inside the bundle, and no package is left to fetch",
      async () => {
        const code = await Deno.readTextFile(bundle);
        // esbuild inlines each `await import("…")` of a bundled module as a call of its deferred
        // init, so the providers, grammY and the CLI commands still load only when first used.
        const left = [...code.matchAll(/\bimport\(\s*["'`]([^"'`]+)["'`]/g)].map((m) => m[1])
          .filter((s) => !s.startsWith("node:"));
        assert.deepEqual(left, []);
        assert.doesNotMatch(code, /\bfrom\s*["']npm:/);
      },
    );

    await using fake = await FakeOpenAI.start();
    await using gp = await GatewayProcess.start({
      config: `[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\n` +
        `api_key_env = "FAKE_KEY"\n[agent]\nmodel = "fake/bundle"\n` +
        `[tools.exec]\nprograms = ["echo"]\n`,
      env: { FAKE_KEY: "sk-test-key-bundle" },
      entry: bundle,
      flags: (computed) => computed.filter((f) => !f.startsWith("--allow-run")),
    });
    assert.ok(!gp.flags.some((f) => f.startsWith("--allow-run")), gp.flags.join(" "));

    await t.step("/readyz answers 200", async () => {
      const res = await fetch(`${gp.httpUrl}/readyz`);
      await res.body?.cancel();
      assert.equal(res.status, 200);
    });

    await t.step(
      "the browser page is served from inside the bundle, byte for byte web/",
      async () => {
        for (
          const [path, file] of [["/", "index.html"], ["/app.js", "app.js"], [
            "/app.css",
            "app.css",
          ]]
        ) {
          const res = await fetch(`${gp.httpUrl}${path}`);
          assert.equal(res.status, 200, path);
          assert.equal(await res.text(), await Deno.readTextFile(join(ROOT, "web", file)), path);
          assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
        }
      },
    );

    await t.step("a turn over /ws reaches the fake provider through the openai SDK", async () => {
      const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
      try {
        const r = await sendAndWait(c, {
          sessionKey: "agent:main:main",
          message: "from the bundle",
        });
        assert.equal(r.state, "final", JSON.stringify(r));
        assert.equal(r.text, "echo: from the bundle");
        assert.equal(fake.requests.at(-1)!.authorization, "Bearer sk-test-key-bundle");
        const offered = (fake.requests.at(-1)!.body.tools as { function: { name: string } }[])
          .map((tool) => tool.function.name);
        assert.ok(offered.includes("read") && !offered.includes("exec"), offered.join(", "));

        const effective = await c.request<{ tools: ToolDecision[] }>("tools.effective", {
          sessionKey: "agent:main:main",
        });
        const exec = effective.tools.find((d) => d.name === "exec")!;
        assert.equal(exec.enabled, false);
        assert.match(exec.reason ?? "", /--allow-run/);
      } finally {
        await c.close();
      }
    });

    await t.step("the CLI runs from the bundle: doctor says exec is off", async () => {
      const doctor = await gp.cli(["doctor"]);
      assert.match(doctor.stdout, /^warn\s+tool exec\s+off: --allow-run=\S*\/echo not granted/m);
      assert.match(doctor.stdout, /^ok\s+tool read\s+allow/m);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * End to end: the gateway as a real process under its least-privilege flags, driven over /ws and
 * through the CLI (itself a real process), with the real openai SDK against a fake provider.
 */
import assert from "node:assert/strict";
import { GatewayClient, sendAndWait } from "../src/cli/client.ts";
import { sshOnPath } from "../src/permissions/mod.ts";
import { findOnPath } from "../src/tools/exec/mod.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeAnthropic } from "./_servers/anthropic.ts";
import { GatewayProcess, ROOT } from "./_helpers/gateway_process.ts";

const providerConfig = (fake: FakeOpenAI) =>
  `[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\napi_key_env = "FAKE_KEY"\n` +
  `[agent]\nmodel = "fake/e2e-model"\n`;

async function history(gp: GatewayProcess, sessionKey = "agent:main:main") {
  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  try {
    const h = await c.request<{ messages: { role: string; text: string }[] }>("chat.history", {
      sessionKey,
    });
    return h.messages.map((m) => [m.role, m.text]);
  } finally {
    await c.close();
  }
}

Deno.test("deno task start serves /readyz on 127.0.0.1:18789 with no config file", async () => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-defaults-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: ROOT,
    env: { GATEHOUSE_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    let status = 0;
    for (let i = 0; i < 200 && status !== 200; i++) {
      try {
        const res = await fetch("http://127.0.0.1:18789/readyz");
        await res.body?.cancel();
        status = res.status;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(status, 200, "ready on the default port");
    const token = await Deno.stat(`${home}/token`);
    assert.equal(token.mode! & 0o777, 0o600, "token file is private");
    assert.ok((await Deno.stat(`${home}/gatehouse.kv.sqlite`)).isFile, "KV lives under the home");
  } finally {
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0, "graceful stop exits 0");
    const log = await stderr;
    assert.match(log, /gateway ready url=http:\/\/127\.0\.0\.1:18789/);
    assert.match(log, /gateway stopped/);
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("the CLI on the same machine works without flags", async (t) => {
  await using fake = await FakeOpenAI.start();
  await using gp = await GatewayProcess.start({
    config: providerConfig(fake),
    env: { FAKE_KEY: "sk-test-key-e2e" },
  });

  await t.step("send prints the reply", async () => {
    const r = await gp.cli(["send", "hello from the cli"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "echo: hello from the cli");
    assert.equal(fake.requests.at(-1)!.authorization, "Bearer sk-test-key-e2e");
  });

  await t.step("chat streams replies and runs slash commands", async () => {
    const r = await gp.cli(["chat", "--session", "agent:main:cli:direct:me"], {
      stdin: "first line\n/sessions\n/model\n/quit\n",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /agent> echo: first line/);
    assert.match(r.stdout, /agent:main:cli:direct:me/);
    assert.match(r.stdout, /This session uses the configured models: fake\/e2e-model\./);
  });

  await t.step("sessions and status", async () => {
    const s = await gp.cli(["sessions"]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /agent:main:main/);
    const st = await gp.cli(["status", "--json"]);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout);
    assert.equal(status.ready, true);
    assert.equal(status.model, "fake/e2e-model");
  });

  await t.step("a failed turn exits 1 with the reason", async () => {
    fake.script({ fault: "unauthorized" });
    const r = await gp.cli(["send", "will fail"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /turn error: model fake\/e2e-model failed \(auth\)/);
    assert.doesNotMatch(r.stderr + r.stdout, /sk-test-key-e2e/, "the key never shows");
  });

  await t.step("the token never comes from the command line", async () => {
    const r = await gp.cli(["sessions", "--token", "abc"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /visible to other users in `ps`/);
  });

  await t.step("a wrong GATEHOUSE_TOKEN is refused with advice", async () => {
    const r = await gp.cli(["sessions"], { env: { GATEHOUSE_TOKEN: "wrong" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong token/);
  });

  await t.step("--token-file works against an explicit --url", async () => {
    const file = `${gp.home}/copy-of-token`;
    await Deno.writeTextFile(file, await gp.token());
    const r = await gp.cli(["sessions", "--url", gp.wsUrl, "--token-file", file]);
    assert.equal(r.code, 0, r.stderr);
  });

  await t.step("token --rotate takes effect without a restart", async () => {
    const old = await gp.token();
    const r = await gp.cli(["token", "--rotate"]);
    assert.equal(r.code, 0, r.stderr);
    const fresh = r.stdout.trim();
    assert.notEqual(fresh, old);
    assert.equal(await gp.token(), fresh);
    await assert.rejects(GatewayClient.connect(gp.wsUrl, { token: old }), /wrong token/);
    const c = await GatewayClient.connect(gp.wsUrl, { token: fresh });
    await c.close();
  });

  await t.step("doctor reports each check", async () => {
    const r = await gp.cli(["doctor"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (
      const what of [
        "config",
        "permissions",
        "home",
        "token",
        "store",
        "gateway",
        "model",
        "provider fake",
      ]
    ) {
      assert.match(r.stdout, new RegExp(`^ok\\s+${what}`, "m"), `doctor line for ${what}`);
    }
  });
});

Deno.test("kill -9 after chat.send was acknowledged loses nothing", async () => {
  await using fake = await FakeOpenAI.start();
  await using gp = await GatewayProcess.start({
    config: providerConfig(fake),
    env: { FAKE_KEY: "k" },
  });
  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  fake.script({ text: "half an ans", fault: "stall" });
  const send = (message: string) =>
    c.request<{ runId: string }>("chat.send", {
      sessionKey: "agent:main:main",
      message,
      idempotencyKey: crypto.randomUUID(),
    });
  await send("the running one");
  for (let i = 0; i < 200 && fake.requestCount === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(fake.requestCount, 1, "the first turn is at the model");
  await send("the queued one");
  await gp.kill("SIGKILL");
  await c.closed;

  await gp.spawn();
  let h: string[][] = [];
  for (let i = 0; i < 200; i++) {
    h = await history(gp);
    if (h.some(([role]) => role === "assistant")) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(h, [
    ["user", "the running one"],
    [
      "system",
      "[turn interrupted: the gateway stopped before this turn finished; send the message again to retry]",
    ],
    ["user", "the queued one"],
    ["assistant", "echo: the queued one"],
  ]);
  assert.match(gp.logs, /ingress recovered.*interrupted=1.*replayed=1/);
});

Deno.test("graceful stop lets a running turn finish", async () => {
  await using fake = await FakeOpenAI.start({ latencyMs: 300 });
  await using gp = await GatewayProcess.start({
    config: providerConfig(fake),
    env: { FAKE_KEY: "k" },
  });
  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  const reply = sendAndWait(c, { sessionKey: "agent:main:main", message: "finish me" });
  for (let i = 0; i < 200 && fake.requestCount === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const status = await gp.kill("SIGTERM");
  assert.equal(status.code, 0);
  assert.equal((await reply).state, "final");
  await c.closed;
});

Deno.test("a provider host the process may not reach is disabled with one clear line", async () => {
  await using fake = await FakeOpenAI.start();
  await using gp = await GatewayProcess.start({
    // web_fetch off: with it the gateway holds a bare --allow-net, which reaches every host.
    config: providerConfig(fake) + `[tools]\ndeny = ["web_fetch"]\n`,
    env: { FAKE_KEY: "k" },
    flags: (f) =>
      f.map((x) => x.startsWith("--allow-net=") ? x.replace(`,127.0.0.1:${fake.port}`, "") : x),
  });
  assert.match(
    gp.logs,
    /provider fake is disabled: the gateway runs without --allow-net=127\.0\.0\.1:\d+/,
  );
  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  const r = await sendAndWait(c, { sessionKey: "agent:main:main", message: "hi" });
  assert.equal(r.state, "error");
  assert.match(r.error!.message, /gatehouse permissions/);
  assert.equal(fake.requestCount, 0);
  await c.close();
});

Deno.test("bad config stops the start with a message that names the key", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-badcfg-" });
  const start = async (toml: string) => {
    await Deno.writeTextFile(`${dir}/config.toml`, toml);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--unstable-kv",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "--allow-env",
        "--allow-net=127.0.0.1,0.0.0.0",
        "main.ts",
        "start",
        "--config",
        `${dir}/config.toml`,
      ],
      cwd: ROOT,
      env: { GATEHOUSE_HOME: dir, NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  try {
    await t.step("invalid value", async () => {
      const r = await start(`[gateway]\nport = "eighty"\n`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /gateway\.port: expected a number/);
      assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/, "no stack trace");
    });
    await t.step("TOML syntax error", async () => {
      const r = await start(`[gateway]\nport = 18789\nbind = "127.0.0.1\n`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /line 3, column \d+/);
    });
    await t.step("non-loopback bind without auth", async () => {
      const r = await start(`[gateway]\nbind = "0.0.0.0"\n[gateway.auth]\nmode = "none"\n`);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /gateway\.bind "0\.0\.0\.0".*gateway\.auth\.mode = "token"/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gatehouse permissions prints exactly the grants the config needs", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-perm-" });
  const provider =
    `[providers.openai]\nkind = "openai"\napi_key_env = "OPENAI_API_KEY"\n[agent]\nmodel = "openai/gpt-4.1-mini"\n`;
  const flagsOf = async (toml: string) => {
    await Deno.writeTextFile(`${dir}/config.toml`, provider + toml);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read`,
        "--allow-env=HOME,GATEHOUSE_HOME,GATEHOUSE_CONFIG,USERPROFILE,PATH",
        "main.ts",
        "permissions",
        "--config",
        `${dir}/config.toml`,
      ],
      cwd: ROOT,
      env: { GATEHOUSE_HOME: dir, PATH: "/usr/local/bin:/usr/bin:/bin" },
    }).output();
    return new TextDecoder().decode(out.stdout).trim().split(" ");
  };
  const base = [`--allow-read=${dir}`, `--allow-write=${dir}`];
  const env = "--allow-env=HOME,GATEHOUSE_HOME,GATEHOUSE_CONFIG,GATEHOUSE_TOKEN,OPENAI_API_KEY";
  const ignore = "--ignore-env=OPENAI_BASE_URL,OPENAI_CUSTOM_HEADERS,OPENAI_LOG";
  // The client commands' grants: `gatehouse tunnel` starts the ssh on PATH (`start` drops it).
  const ssh = sshOnPath("/usr/local/bin:/usr/bin:/bin");
  const runSsh = ssh ? [`--allow-run=${ssh}`] : [];
  try {
    await t.step(
      "default tools: web_fetch to any public host, metadata denied, run only for the tunnel's ssh",
      async () => {
        assert.deepEqual(await flagsOf(""), [
          "--no-prompt",
          "--unstable-kv",
          "--allow-net",
          ...base,
          env,
          ...runSsh,
          ignore,
          "--deny-net=169.254.169.254,metadata.google.internal",
        ]);
      },
    );
    await t.step(
      "web_fetch off: net for the bind address, the provider and (for --url) loopback",
      async () => {
        assert.deepEqual(await flagsOf(`[tools]\ndeny = ["web_fetch"]\n`), [
          "--no-prompt",
          "--unstable-kv",
          "--allow-net=127.0.0.1:18789,api.openai.com,127.0.0.1",
          ...base,
          env,
          ...runSsh,
          ignore,
        ]);
      },
    );
    await t.step(
      "exec programs: run for each real path, PATH readable to find them, env passed on",
      async () => {
        const flags = await flagsOf(
          `[tools]\ndeny = ["web_fetch"]\n[tools.exec]\nprograms = ["echo"]\nenv = ["PATH"]\n`,
        );
        // The real path: exec starts it by that path, and Deno checks the path it is given.
        const echo = findOnPath("echo", "/usr/local/bin:/usr/bin:/bin");
        assert.ok(
          flags.includes(`--allow-run=${[echo, ...(ssh && ssh !== echo ? [ssh] : [])]}`),
          flags.join(" "),
        );
        assert.ok(
          flags.includes(`--allow-read=${dir},/usr/local/bin,/usr/bin,/bin`),
          flags.join(" "),
        );
        assert.ok(flags.includes(`${env},PATH`), flags.join(" "));
      },
    );
    await t.step("--format deno-json and compile carry the same grants", async () => {
      await flagsOf(`[tools]\ndeny = ["web_fetch"]\n`);
      const run = (format: string) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--no-prompt",
            "--allow-read",
            "--allow-env=HOME,GATEHOUSE_HOME,GATEHOUSE_CONFIG,USERPROFILE,PATH",
            "main.ts",
            "permissions",
            "--config",
            `${dir}/config.toml`,
            "--format",
            format,
          ],
          cwd: ROOT,
          env: { GATEHOUSE_HOME: dir },
        }).output().then((o) => new TextDecoder().decode(o.stdout).trim());
      const set = JSON.parse(await run("deno-json")).permissions.gateway;
      assert.deepEqual(set.net, { allow: ["127.0.0.1:18789", "api.openai.com", "127.0.0.1"] });
      assert.deepEqual(set.read, { allow: [dir] });
      assert.deepEqual(set.env.ignore, ["OPENAI_BASE_URL", "OPENAI_CUSTOM_HEADERS", "OPENAI_LOG"]);
      assert.match(
        await run("compile"),
        /^deno compile --no-prompt --unstable-kv --allow-net=127\.0\.0\.1:18789,api\.openai\.com,127\.0\.0\.1 .* --output gatehouse main\.ts$/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("under its computed flags the gateway fails over to Anthropic and runs tools there", async (t) => {
  await using fake = await FakeOpenAI.start();
  await using claude = await FakeAnthropic.start();
  await using gp = await GatewayProcess.start({
    config: providerConfig(fake) +
      `fallbacks = ["claude/claude-e2e"]\n` +
      `[providers.claude]\nkind = "anthropic"\nbase_url = "${claude.url}"\napi_key_env = "CLAUDE_KEY"\n`,
    env: {
      FAKE_KEY: "sk-test-key-e2e",
      CLAUDE_KEY: "sk-ant-e2e",
      ANTHROPIC_CUSTOM_HEADERS: "x-evil: 1",
    },
  });

  await t.step("a rate-limited primary hands the turn to the fallback, visibly", async () => {
    fake.script({ fault: "rate_limit", retryAfterSeconds: 2 });
    const r = await gp.cli(["send", "over to you"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "echo: over to you");
    assert.match(r.stderr, /\[fake\/e2e-model failed \(rate_limit\); trying claude\/claude-e2e\]/);
    const sent = claude.requests.at(-1)!;
    assert.equal(sent.authorization, "Bearer sk-ant-e2e");
    assert.equal(sent.headers["x-evil"], undefined, "ANTHROPIC_* env cannot steer the SDK");
  });

  await t.step("gatehouse models shows the primary cooling down", async () => {
    const r = await gp.cli(["models"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /fake\/e2e-model\s+primary\s+cooling down \d+s \(rate_limit, 1 in a row\)/,
    );
    assert.match(r.stdout, /claude\/claude-e2e\s+fallback\s+ready/);
  });

  await t.step("doctor checks the Anthropic provider with its own key header", async () => {
    const r = await gp.cli(["doctor"], { env: { CLAUDE_KEY: "sk-ant-e2e", FAKE_KEY: "k" } });
    assert.match(r.stdout, /^ok\s+provider claude\s/m, r.stdout);
    assert.match(r.stdout, /^ok\s+model\s+fake\/e2e-model → claude\/claude-e2e/m);
  });

  await t.step("tool calls run through the Anthropic SDK in the real process", async () => {
    claude.script(
      { toolCalls: [{ id: "toolu_e2e", name: "time_now", input: { timezone: "UTC" } }] },
      { text: "tool done" },
    );
    const r = await gp.cli(["send", "what time is it?"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "tool done");
    const fed = claude.requests.at(-1)!.body.messages.at(-1)!.content as { content: unknown }[];
    assert.match(JSON.stringify(fed[0].content), /utc: \d{4}-/);
  });
});

/**
 * `GET /metrics` (Prometheus text, behind the gateway token) and JSON logs: the counters move
 * with turns, model attempts and failures; every log line is one JSON object and every line of a
 * turn carries its runId and sessionKey, including under `gatehouse start --log-format json`.
 */
import assert from "node:assert/strict";
import { GatewayClient, sendAndWait } from "../src/cli/client.ts";
import { createLogger, Tally } from "../src/kernel/mod.ts";
import { escapeLabelValue, renderMetrics } from "../src/gateway/metrics.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { flagsFor, freePort, ROOT } from "./_helpers/gateway_process.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

/** `GET /metrics` with an optional Authorization header. */
async function scrape(url: string, authorization?: string) {
  const res = await fetch(`${url}/metrics`, {
    headers: authorization ? { authorization } : {},
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Sample lines as `name{labels}` → value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

Deno.test("/metrics answers only with the gateway token as a Bearer header", async (t) => {
  await using gw = await startTestGateway({
    config: "[gateway.auth.rate_limit]\nmax_attempts = 3\n",
  });
  await t.step("with the token: Prometheus text", async () => {
    const r = await scrape(gw.gateway.url, `Bearer ${gw.token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.match(r.body, /^# HELP gatehouse_build_info /);
    assert.match(r.body, /\n# TYPE gatehouse_turns_total counter\n/);
  });
  await t.step("without it, in the query string, or wrong: 401", async () => {
    const none = await scrape(gw.gateway.url);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="gatehouse"');
    assert.match(JSON.parse(none.body).error, /Authorization: Bearer <token>/);
    const query = await fetch(`${gw.gateway.url}/metrics?token=${gw.token}`);
    await query.body?.cancel();
    assert.equal(query.status, 401, "never from the query string");
  });
  await t.step("failures count towards the lockout, which holds even for the token", async () => {
    const wrong = await scrape(gw.gateway.url, "Bearer not-the-token");
    assert.equal(wrong.status, 429, "the third failure locks the source out");
    assert.ok(Number(wrong.headers.get("retry-after")) > 0);
    assert.equal((await scrape(gw.gateway.url, `Bearer ${gw.token}`)).status, 429);
  });
});

Deno.test("the counters move with turns, model attempts and failures", async () => {
  await using gw = await startTestGateway({
    config: '[agent]\nfallbacks = ["fake/backup"]\n[agent.failover]\nrounds = 1\n',
  });
  const auth = `Bearer ${gw.token}`;
  const c = await gw.client();
  const before = samples((await scrape(gw.gateway.url, auth)).body);
  assert.equal(before.get('gatehouse_turns_total{outcome="ok"}'), 0);
  assert.equal(before.get('gatehouse_turns_total{outcome="error"}'), 0);
  assert.equal(before.get('gatehouse_queue_drops_total{reason="queue_full"}'), 0);
  assert.equal(before.get("gatehouse_lane_depth"), 0);
  assert.equal(before.get("gatehouse_approvals_pending"), 0);
  assert.equal(before.get("gatehouse_ws_connections"), 1);
  assert.ok(before.get("gatehouse_process_resident_memory_bytes")! > 1_000_000);

  assert.equal(
    (await sendAndWait(c, { sessionKey: "agent:main:main", message: "a" })).state,
    "final",
  );
  gw.fake.script({ fault: "server_error" }); // the primary fails, the fallback answers
  assert.equal(
    (await sendAndWait(c, { sessionKey: "agent:main:main", message: "b" })).state,
    "final",
  );
  gw.fake.script({ fault: "server_error" }, { fault: "rate_limit" }); // both fail: the turn fails
  assert.equal(
    (await sendAndWait(c, { sessionKey: "agent:main:main", message: "c" })).state,
    "error",
  );

  const after = samples((await scrape(gw.gateway.url, auth)).body);
  assert.equal(after.get('gatehouse_turns_total{outcome="ok"}'), 2);
  assert.equal(after.get('gatehouse_turns_total{outcome="error"}'), 1);
  assert.equal(
    after.get('gatehouse_provider_attempts_total{model="fake/test-model",result="ok"}'),
    1,
  );
  assert.equal(after.get('gatehouse_provider_attempts_total{model="fake/backup",result="ok"}'), 1);
  // Which model got which failure in the last turn depends on cooldown order; the classes add up.
  const byResult = (result: string) =>
    [...after].filter(([k]) =>
      k.startsWith("gatehouse_provider_attempts_total{") && k.endsWith(`result="${result}"}`)
    ).reduce((n, [, v]) => n + v, 0);
  assert.deepEqual([byResult("ok"), byResult("server"), byResult("rate_limit")], [2, 2, 1]);
  assert.equal(after.get('gatehouse_config_reloads_total{result="rejected"}'), 0);
});

Deno.test("a tally folds label sets past its cap into one series", () => {
  const t = new Tally(["model", "result"] as const, 2);
  t.add({ model: "a/1", result: "ok" });
  t.add({ model: "a/1", result: "ok" });
  t.add({ model: "a/2", result: "ok" });
  t.add({ model: "a/3", result: "ok" });
  t.add({ model: "a/4", result: "server" });
  assert.equal(t.get({ model: "a/1", result: "ok" }), 2);
  assert.equal(t.get({ model: "other", result: "other" }), 2);
  assert.equal(t.entries().length, 3);
});

Deno.test("the exposition escapes label values and help text", () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const text = renderMetrics([{
    name: "x_total",
    help: "line\none",
    type: "counter",
    samples: () => [{ labels: { model: 'we"ird' }, value: 3 }, { value: Infinity }],
  }]);
  assert.equal(
    text,
    '# HELP x_total line\\none\n# TYPE x_total counter\nx_total{model="we\\"ird"} 3\nx_total +Inf\n',
  );
});

/** Every line parsed; fails on any line that is not one JSON object with ts, level and msg. */
function parseJsonLines(lines: string[]): Record<string, unknown>[] {
  return lines.filter((l) => l.trim()).map((l) => {
    const o = JSON.parse(l);
    assert.equal(typeof o.ts, "string", l);
    assert.ok(["debug", "info", "warn", "error"].includes(o.level), l);
    assert.equal(typeof o.msg, "string", l);
    return o;
  });
}

/** Lines that belong to a turn carry both its runId and its sessionKey. */
function assertTurnLines(lines: Record<string, unknown>[], turnMessages: string[]) {
  for (const msg of turnMessages) {
    assert.ok(lines.some((l) => l.msg === msg), `a "${msg}" line was logged`);
  }
  for (const l of lines) {
    if (turnMessages.includes(String(l.msg)) || "runId" in l || "sessionKey" in l) {
      assert.equal(typeof l.runId, "string", JSON.stringify(l));
      assert.equal(typeof l.sessionKey, "string", JSON.stringify(l));
    }
  }
}

Deno.test("JSON log lines parse and every turn line carries runId and sessionKey", async () => {
  const lines: string[] = [];
  await using gw = await startTestGateway({
    config: '[agent]\nfallbacks = ["fake/backup"]\n',
    logger: createLogger({ format: "json", level: "debug", write: (l) => lines.push(l) }),
  });
  const c = await gw.client();
  gw.fake.script({ fault: "server_error" }); // a failover: the provider's and the turn's lines
  const r = await sendAndWait(c, { sessionKey: "agent:main:main", message: "hello" });
  assert.equal(r.state, "final");
  const parsed = parseJsonLines(lines);
  assertTurnLines(parsed, [
    "message accepted",
    "turn started",
    "model request failed",
    "model failed; failing over",
    "turn finished",
  ]);
  const failed = parsed.find((l) => l.msg === "model request failed")!;
  assert.equal(failed.provider, "fake");
  assert.equal(failed.runId, r.runId);
});

Deno.test("gatehouse start --log-format json writes one JSON object per line", async () => {
  await using fake = await FakeOpenAI.start();
  const home = await Deno.makeTempDir({ prefix: "gatehouse-json-" });
  const port = freePort();
  const configPath = `${home}/config.toml`;
  await Deno.writeTextFile(
    configPath,
    `[gateway]\nport = ${port}\n[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\n` +
      `[agent]\nmodel = "fake/json-model"\n[log]\nlevel = "debug"\n`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await flagsFor(configPath, home),
      "main.ts",
      "start",
      "--config",
      configPath,
      "--log-format",
      "json",
    ],
    cwd: ROOT,
    env: { GATEHOUSE_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 400; i++) {
      const ok = await fetch(`${url}/readyz`).then(async (r) => {
        await r.body?.cancel();
        return r.ok;
      }, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50)); // the process starts on its own time
    }
    const token = (await Deno.readTextFile(`${home}/token`)).trim();
    const c = await GatewayClient.connect(`ws://127.0.0.1:${port}/ws`, { token });
    const r = await sendAndWait(c, { sessionKey: "agent:main:cli:direct:me", message: "json" });
    await c.close();
    assert.equal(r.state, "final");
    const metrics = samples((await scrape(url, `Bearer ${token}`)).body);
    assert.equal(metrics.get('gatehouse_turns_total{outcome="ok"}'), 1);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    const parsed = parseJsonLines((await stderr).split("\n"));
    assert.ok(parsed.some((l) => l.msg === "gateway ready"));
    assertTurnLines(parsed, ["message accepted", "turn started", "turn finished"]);
    assert.ok(parsed.some((l) => l.msg === "gateway stopped"));
    await Deno.remove(home, { recursive: true });
  }
});

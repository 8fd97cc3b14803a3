/**
 * Config reload: a saved edit or SIGHUP applies what can change live (the tool policy here), an
 * invalid edit is refused with one log line while the gateway keeps serving on its last good
 * config, and a change only a restart applies (the port) is reported as such. In process for the
 * details, and as a real process under its computed flags for the whole path.
 */
import assert from "node:assert/strict";
import { GatewayClient, sendAndWait } from "../src/cli/client.ts";
import { changedKeys, parseConfig } from "../src/config/mod.ts";
import { createLogger } from "../src/kernel/mod.ts";
import type { ToolDecision } from "../src/tools/mod.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { freePort, GatewayProcess } from "./_helpers/gateway_process.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

/** A logger whose lines a test can read. */
function captured() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ write: (line) => lines.push(line) }) };
}

/** Waits (up to `ms`) for `check` to return something other than undefined or false. */
async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25)); // file events arrive on their own time
  }
}

async function effective(c: GatewayClient): Promise<Map<string, ToolDecision>> {
  const r = await c.request<{ tools: ToolDecision[] }>("tools.effective", {
    sessionKey: "agent:main:main",
  });
  return new Map(r.tools.map((d) => [d.name, d]));
}

async function readyz(url: string): Promise<number> {
  const res = await fetch(`${url}/readyz`);
  await res.body?.cancel();
  return res.status;
}

Deno.test("a reload compares configs key by key; arrays and added tables count whole", () => {
  const a = parseConfig('[tools]\ndeny = ["exec"]\n[tools.modes]\nwrite = "ask"\n', "a").config;
  const b = parseConfig(
    '[gateway]\nport = 1\n[tools]\ndeny = ["exec", "edit"]\n[tools.modes]\nwrite = "ask"\n' +
      'edit = "deny"\n[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9"\n',
    "b",
  ).config;
  assert.deepEqual(changedKeys(a, b), [
    "gateway.port",
    "providers.local",
    "tools.deny",
    "tools.modes.edit",
  ]);
  assert.deepEqual(changedKeys(b, b), []);
});

Deno.test("a tool policy change saved to the config file applies without a restart", async () => {
  const { lines, logger } = captured();
  await using gw = await startTestGateway({ reload: true, logger });
  const c = await gw.client();
  assert.equal((await effective(c)).get("web_fetch")?.enabled, true);

  await Deno.writeTextFile(gw.configPath, '\n[tools]\ndeny = ["web_fetch"]\n', { append: true });
  const off = await eventually(async () => {
    const d = (await effective(c)).get("web_fetch")!;
    return !d.enabled && d;
  }, "web_fetch to be denied");
  assert.equal(off.reason, "tools.deny");
  const line = lines.find((l) => l.includes("config reloaded"));
  assert.match(line!, /config reloaded: applied tools trigger=file/);
  assert.doesNotMatch(line!, /restart/);

  gw.fake.script({ text: "done" });
  const reply = await sendAndWait(c, { sessionKey: "agent:main:main", message: "hi" });
  assert.equal(reply.state, "final");
  const offered = (gw.fake.requests.at(-1)!.body.tools as { function: { name: string } }[])
    .map((t) => t.function.name);
  assert.ok(offered.length > 0 && !offered.includes("web_fetch"), "the next turn follows it");
});

Deno.test("an invalid edit is refused with one log line and the gateway keeps serving", async (t) => {
  const { lines, logger } = captured();
  await using gw = await startTestGateway({ reload: true, logger });
  const c = await gw.client();
  const good = await Deno.readTextFile(gw.configPath);
  const rejected = () => lines.filter((l) => l.includes("config edit rejected"));

  await t.step("broken TOML", async () => {
    await Deno.writeTextFile(gw.configPath, `${good}\n[tools\ndeny = ["edit"]\n`);
    const [line] = await eventually(() => rejected().length > 0 && rejected(), "the rejection");
    assert.match(
      line,
      /ERROR config edit rejected: line \d+, column \d+: .+: fix the TOML syntax there; still running on the last good config trigger=file path=/,
    );
    assert.equal(await readyz(gw.gateway.url), 200);
    const reply = await sendAndWait(c, { sessionKey: "agent:main:main", message: "still here" });
    assert.deepEqual([reply.state, reply.text], ["final", "echo: still here"]);
    assert.equal((await effective(c)).get("edit")?.enabled, true, "the old policy still holds");
  });

  await t.step("a bad value names the key, the value and the fix", async () => {
    await Deno.writeTextFile(gw.configPath, good.replace("[agent]", "[agent]\nmax_concurrent = 0"));
    const report = await gw.gateway.reload();
    assert.equal(report.outcome, "rejected");
    assert.match(report.line, /config edit rejected: agent\.max_concurrent: 0 is too small/);
    assert.equal(await readyz(gw.gateway.url), 200);
    // The saved file is refused on its own too.
    await eventually(
      () => rejected().some((l) => l.includes("max_concurrent") && l.includes("trigger=file")),
      "the watch's rejection",
    );
  });

  await t.step("the next valid edit applies, with no more rejections logged", async () => {
    const before = rejected().length;
    await Deno.writeTextFile(gw.configPath, `${good}\n[tools]\ndeny = ["edit"]\n`);
    await eventually(async () => !(await effective(c)).get("edit")!.enabled, "edit denied");
    assert.equal(rejected().length, before);
    assert.equal(rejected().filter((l) => l.includes("line ")).length, 1, "one line per edit");
  });
});

Deno.test("a port change is reported as needing a restart and the old port keeps serving", async () => {
  const { lines, logger } = captured();
  await using gw = await startTestGateway({ reload: true, logger });
  const c = await gw.client();
  const text = await Deno.readTextFile(gw.configPath);
  const newPort = freePort();
  await Deno.writeTextFile(
    gw.configPath,
    text.replace(/port = 0/, `port = ${newPort}`) + '\n[tools]\ndeny = ["edit"]\n',
  );
  const line = await eventually(
    () => lines.find((l) => l.includes("config reloaded")),
    "the reload line",
  );
  assert.match(line, /WARN {2}config reloaded: applied tools; restart needed for gateway\.port /);
  assert.equal(await readyz(gw.gateway.url), 200, "the old port keeps serving");
  const status = await c.request<{ config: { restartNeeded: string[] } }>("status", {});
  assert.deepEqual(status.config.restartNeeded, ["gateway.port"]);

  // Putting the old value back leaves nothing waiting.
  await Deno.writeTextFile(gw.configPath, text);
  await eventually(async () => {
    const s = await c.request<{ config: { restartNeeded: string[] } }>("status", {});
    return s.config.restartNeeded.length === 0;
  }, "the pending restart to clear");
});

Deno.test("an unchanged reload says so, and agent settings and models apply live", async () => {
  await using gw = await startTestGateway({ reload: true });
  const c = await gw.client();
  const unchanged = await gw.gateway.reload();
  assert.deepEqual([unchanged.outcome, unchanged.line], [
    "unchanged",
    "config reloaded: no changes",
  ]);

  const text = await Deno.readTextFile(gw.configPath);
  await Deno.writeTextFile(
    gw.configPath,
    text.replace('model = "fake/test-model"', 'model = "fake/other-model"') +
      `\n[providers.second]\nkind = "openai"\nbase_url = "${gw.fake.url}"\n`,
  );
  const report = await gw.gateway.reload();
  assert.ok(report.outcome === "applied" || report.outcome === "unchanged"); // the watch may be first
  const status = await c.request<{ model: string; providers: { id: string }[] }>("status", {});
  assert.equal(status.model, "fake/other-model");
  assert.deepEqual(status.providers.map((p) => p.id), ["fake", "second"]);
  const reply = await sendAndWait(c, { sessionKey: "agent:main:main", message: "which model" });
  assert.equal(reply.state, "final");
  assert.equal(gw.fake.requests.at(-1)!.body.model, "other-model");
});

const providerConfig = (fake: FakeOpenAI) =>
  `[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\n[agent]\nmodel = "fake/e2e-model"\n`;

Deno.test("the gateway process reloads on save and on SIGHUP under its least-privilege flags", async (t) => {
  await using fake = await FakeOpenAI.start();
  // web_fetch is denied at start, so the computed flags grant it no network.
  await using gp = await GatewayProcess.start({
    config: `${providerConfig(fake)}[tools]\ndeny = ["web_fetch"]\n`,
  });
  const base = await Deno.readTextFile(gp.configPath);
  const withDeny = (deny: string) => base.replace(/deny = \[.*\]/, `deny = ${deny}`);
  const c = await GatewayClient.connect(gp.wsUrl, { token: await gp.token() });
  const { pid } = await c.request<{ pid: number }>("status", {});
  const reloads = () =>
    gp.logs.split("\n").filter((l) => /config (reloaded|edit rejected)/.test(l));

  try {
    await t.step("a policy change applies without a restart", async () => {
      assert.equal((await effective(c)).get("edit")?.enabled, true);
      await Deno.writeTextFile(gp.configPath, withDeny('["web_fetch", "edit"]'));
      const d = await eventually(async () => {
        const d = (await effective(c)).get("edit")!;
        return !d.enabled && d;
      }, "edit to be denied");
      assert.equal(d.reason, "tools.deny");
      assert.match(reloads().at(-1)!, /INFO {2}config reloaded: applied tools trigger=file/);
      assert.equal((await c.request<{ pid: number }>("status", {})).pid, pid, "same process");
    });

    await t.step("a tool whose permission was never granted waits for a restart", async () => {
      await Deno.writeTextFile(gp.configPath, withDeny('["edit"]'));
      const line = await eventually(
        () => reloads().find((l) => l.includes("tools.web_fetch (permissions)")),
        "the permissions note",
      );
      assert.match(line, /applied tools; restart needed for tools\.web_fetch \(permissions\)/);
      const d = (await effective(c)).get("web_fetch")!;
      assert.equal(d.enabled, false);
      assert.match(d.reason!, /until the gateway restarts: it runs without --allow-net/);

      // doctor reads the running gateway's /metrics with the local token.
      const doctor = await gp.cli(["doctor", "--config", gp.configPath]);
      assert.match(doctor.stdout, /ok +metrics +http:\/\/127\.0\.0\.1:\d+\/metrics answers/);
      assert.match(
        doctor.stdout,
        /warn +restart +the running gateway waits for a restart to apply: tools\.web_fetch \(permissions\)/,
      );
      assert.match(doctor.stdout, /ok +reload +saving .*config\.toml or SIGHUP/);
      assert.match(doctor.stdout, /ok +log +text lines at level info/);
    });

    await t.step("an invalid edit is rejected and the gateway keeps serving", async () => {
      const before = reloads().length;
      await Deno.writeTextFile(gp.configPath, withDeny('["edit"') + "\n");
      const line = await eventually(
        () => reloads().length > before && reloads().at(-1),
        "the rejection",
      );
      assert.match(line, /ERROR config edit rejected: .*; still running on the last good config/);
      assert.equal(await readyz(gp.httpUrl), 200);
      // (The CLI reads the same broken file, so the turn goes over the open connection.)
      const r = await sendAndWait(c, { sessionKey: "agent:main:main", message: "still serving" });
      assert.deepEqual([r.state, r.text], ["final", "echo: still serving"]);
      assert.equal((await effective(c)).get("edit")?.enabled, false, "last good policy kept");
    });

    await t.step("a port change reports restart needed", async () => {
      const before = reloads().length;
      await Deno.writeTextFile(
        gp.configPath,
        withDeny('["edit"]').replace(`port = ${gp.port}`, `port = ${freePort()}`),
      );
      const line = await eventually(
        () => reloads().length > before && reloads().at(-1),
        "the restart note",
      );
      assert.match(line, /WARN {2}config reloaded: nothing to apply live; restart needed for /);
      assert.match(line, /gateway\.port/);
      assert.equal(await readyz(gp.httpUrl), 200, "the old port keeps serving");
    });

    await t.step("SIGHUP reloads too", async () => {
      const before = reloads().length;
      Deno.kill(pid, "SIGHUP");
      const line = await eventually(
        () => reloads().length > before && reloads().at(-1),
        "the SIGHUP reload",
      );
      assert.match(line, /config reloaded: no changes; restart still needed for .*trigger=SIGHUP/);
      assert.equal(await readyz(gp.httpUrl), 200, "SIGHUP does not stop the gateway");
    });
  } finally {
    await c.close();
  }
});

Deno.test("a Telegram allowlist edit applies to the running poller", async () => {
  const { FakeTelegram } = await import("./_servers/telegram.ts");
  const TOKEN = "7000000002:AAreload-token";
  const ANN = { id: 4242, first_name: "Ann", username: "ann" };
  await using fake = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await GatewayProcess.start({
    config: `${providerConfig(fake)}[channels.telegram]\nenabled = true\n` +
      `api_root = "${telegram.url}"\npoll_timeout_seconds = 1\ndm_policy = "allowlist"\n` +
      `allow_from = []\n`,
    env: { TELEGRAM_BOT_TOKEN: TOKEN },
  });
  telegram.pushMessage({ from: ANN, text: "anyone?" });
  await eventually(() => gp.logs.includes("not allowed, ignored"), "Ann to be ignored");
  assert.equal(fake.requests.length, 0);

  const text = await Deno.readTextFile(gp.configPath);
  await Deno.writeTextFile(gp.configPath, text.replace("allow_from = []", 'allow_from = ["4242"]'));
  await eventually(
    () => gp.logs.includes("config reloaded: applied channels.telegram"),
    "the reload",
  );
  telegram.pushMessage({ from: ANN, text: "now?" });
  await telegram.until(() => telegram.sent(ANN.id).length === 1, AbortSignal.timeout(10_000));
  assert.match(telegram.sent(ANN.id)[0], /now\?/);

  // The delivery is counted once the Bot API answered the send, just after the fake saw it.
  const token = await gp.token();
  const body = await eventually(async () => {
    const res = await fetch(`${gp.httpUrl}/metrics`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    return text.includes(
      'gatehouse_channel_deliveries_total{channel="telegram",result="sent"} 1',
    ) &&
      text;
  }, "the delivery to be counted");
  assert.match(body, /\ngatehouse_turns_total\{outcome="ok"\} 1\n/);
});

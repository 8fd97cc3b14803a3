/**
 * Cron end to end: the gateway as a real process under its computed flags; `gatehouse cron` adds a
 * job, lists it, runs it now (a turn against the fake provider, announced to the fake Telegram
 * server's chat), shows the run history, disables and removes it; the methods check their scopes.
 */
import assert from "node:assert/strict";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeTelegram } from "./_servers/telegram.ts";
import { GatewayProcess } from "./_helpers/gateway_process.ts";
import { GatewayClient } from "../src/cli/client.ts";

const TOKEN = "7000000001:AAtest-token";
const ANN = { id: 4242, first_name: "Ann" };

Deno.test("gatehouse cron adds, lists, runs (announcing to Telegram), shows runs and removes a job", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await GatewayProcess.start({
    config: `[providers.fake]
kind = "openai"
base_url = "${provider.url}"
[agent]
model = "fake/e2e-model"
[channels.telegram]
enabled = true
api_root = "${telegram.url}"
poll_timeout_seconds = 1
allow_from = ["${ANN.id}"]
`,
    env: { TELEGRAM_BOT_TOKEN: TOKEN },
  });
  const add = await gp.cli([
    "cron",
    "add",
    "standup",
    "--cron",
    "0 9 * * 1-5",
    "--tz",
    "Europe/Berlin",
    "--message",
    "remind me of the standup",
    "--target",
    "isolated",
    "--announce",
    `telegram:${ANN.id}`,
  ]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /added standup: cron 0 9 \* \* 1-5 \(Europe\/Berlin\); next run 20/);
  const bad = await gp.cli(["cron", "add", "oops", "--every", "soon", "--message", "x"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /every "soon" is not a duration/);

  const list = await gp.cli(["cron", "list"]);
  assert.match(
    list.stdout,
    /standup\s+cron 0 9 \* \* 1-5 \(Europe\/Berlin\)\s+20\S+\s+isolated\s+enabled/,
  );

  const run = await gp.cli(["cron", "run", "standup"]);
  assert.equal(run.code, 0, run.stderr);
  await telegram.until(() => telegram.sent(ANN.id).length === 1, AbortSignal.timeout(10_000));
  assert.match(telegram.sent(ANN.id)[0], /remind me of the standup/);
  let runs = await gp.cli(["cron", "runs", "standup"]);
  for (let i = 0; i < 50 && !/manual\s+ok/.test(runs.stdout); i++) {
    await new Promise((r) => setTimeout(r, 100));
    runs = await gp.cli(["cron", "runs", "standup"]);
  }
  assert.match(runs.stdout, /manual\s+ok/);

  assert.equal((await gp.cli(["cron", "disable", "standup"])).code, 0);
  assert.match((await gp.cli(["cron", "list"])).stdout, /standup.*disabled/);
  assert.equal((await gp.cli(["cron", "rm", "standup"])).code, 0);
  assert.match((await gp.cli(["cron", "list"])).stdout, /no scheduled jobs/);

  const reader = await GatewayClient.connect(gp.wsUrl, {
    token: await gp.token(),
    scopes: ["operator.read"],
  });
  try {
    assert.deepEqual(await reader.request("cron.list", {}), { jobs: [] });
    await assert.rejects(
      reader.request("cron.add", { id: "x", every: "1h", message: "x" }),
      (e: Error & { code?: string }) => e.code === "FORBIDDEN",
    );
  } finally {
    await reader.close();
  }
});

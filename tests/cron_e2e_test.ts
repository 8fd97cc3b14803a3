/**
 * Cron end to end: the gateway as a real process under its computed flags; `gatehouse cron` adds a
 * job, lists it, runs it now (a turn against the fake provider, announced to the fake Telegram
 * server's chat), shows the run history, disables and removes it; the methods check their scopes.
 */
import assert from "node:assert/strict";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeTelegram } from "./_servers/telegram.ts";
import { startWithTelegram, TELEGRAM_TEST_TOKEN } from "./_helpers/telegram_gateway.ts";
import { GatewayClient } from "../src/cli/client.ts";

const TOKEN = TELEGRAM_TEST_TOKEN;
const ANN = { id: 4242, first_name: "Ann" };

Deno.test("gatehouse cron adds, lists, runs (announcing to Telegram), shows runs and removes a job", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await startWithTelegram(provider, telegram, {
    telegram: `poll_timeout_seconds = 1\nallow_from = ["${ANN.id}"]`,
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

Deno.test("a reminder asked for in Telegram is listed, fires in that chat, and its run is kept", async () => {
  const OLGA = { id: 6161, first_name: "Olga" };
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await startWithTelegram(provider, telegram);
  const within = () => AbortSignal.timeout(15_000);
  // Olga pairs and so owns the bot (cron is an owner-only tool).
  telegram.pushMessage({ from: OLGA, text: "hi" });
  await telegram.until(() => telegram.sent(OLGA.id).length === 1, within());
  const code = /\b([A-HJKMNP-Z2-9]{8})\b/.exec(telegram.sent(OLGA.id)[0])![1];
  assert.equal((await gp.cli(["pairing", "approve", "telegram", code])).code, 0);

  provider.script(
    {
      toolCalls: [{
        id: "c1",
        name: "cron",
        arguments: JSON.stringify({ action: "add", text: "call Ana", in: "3s" }),
      }],
    },
    { text: "I will remind you in 3 seconds." },
  );
  telegram.pushMessage({ from: OLGA, text: "remind me in 3 seconds to call Ana" });
  await telegram.until(
    () => telegram.sent(OLGA.id).some((t) => t.includes("I will remind you")),
    within(),
  );
  const fed = (provider.requests.at(-1)!.body.messages as { role: string; content: unknown }[])
    .find((m) => m.role === "tool");
  assert.match(
    String(fed?.content),
    /scheduled (r-[0-9a-f]{8}) \(at 3s\); next run .*sent to this telegram chat/,
  );
  const id = /scheduled (r-[0-9a-f]{8})/.exec(String(fed?.content))![1];
  const before = await gp.cli(["cron", "list"]);
  assert.match(
    before.stdout,
    new RegExp(`${id}\\s+at 3s\\s+\\S+\\s+session:agent:main:main\\s+enabled`),
  );

  await telegram.until(
    () => telegram.sent(OLGA.id).some((t) => t.includes("⏰ Reminder: call Ana")),
    within(),
  );
  let runs = await gp.cli(["cron", "runs", id]);
  for (let i = 0; i < 50 && !/schedule\s+ok/.test(runs.stdout); i++) {
    await new Promise((r) => setTimeout(r, 100));
    runs = await gp.cli(["cron", "runs", id]);
  }
  assert.match(runs.stdout, /schedule\s+ok/);
  assert.doesNotMatch(
    (await gp.cli(["cron", "list"])).stdout,
    new RegExp(id),
    "a done reminder is gone",
  );
  assert.equal(
    telegram.sent(OLGA.id).filter((t) => t.includes("Reminder: call Ana")).length,
    1,
    "delivered once",
  );
});

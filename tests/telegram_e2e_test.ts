/**
 * Telegram end to end: the gateway as a real process under the flags `gatehouse permissions`
 * computes, polling the fake Bot API server, answering through the fake OpenAI server. A stranger
 * gets a pairing code and costs no model call; once the owner approves the code their messages are
 * answered, long answers arrive as ordered chunks, a second poller on the token is one error line,
 * and a 429 storm delays replies without losing or doubling any.
 */
import assert from "node:assert/strict";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeTelegram } from "./_servers/telegram.ts";
import { startWithTelegram, TELEGRAM_TEST_TOKEN } from "./_helpers/telegram_gateway.ts";

const TOKEN = TELEGRAM_TEST_TOKEN;
const ANN = { id: 4242, first_name: "Ann", username: "ann" };

async function start(provider: FakeOpenAI, telegram: FakeTelegram, extra = "") {
  return await startWithTelegram(provider, telegram, {
    telegram: `poll_timeout_seconds = 1\n${extra}`,
  });
}

/** Bounds a wait on the fake so a broken gateway fails the test instead of hanging it. */
function within(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

Deno.test("a stranger gets a code and no model call; once approved, the owner is answered", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  // With web_fetch off, the net grant is exactly the listen address and the two fake servers,
  // plus loopback for the client commands (`--url`, `tunnel`), which `start` drops at once.
  await using gp = await start(provider, telegram, '[tools]\ndeny = ["group:web"]');
  const net = gp.flags.find((f) => f.startsWith("--allow-net="));
  assert.equal(
    net,
    `--allow-net=127.0.0.1:${gp.port},${new URL(provider.url).host},${
      new URL(telegram.url).host
    },127.0.0.1`,
    gp.flags.join(" "),
  );
  assert.ok(gp.flags.some((f) => f.includes("TELEGRAM_BOT_TOKEN")), gp.flags.join(" "));

  telegram.pushMessage({ from: ANN, text: "hello?" });
  await telegram.until(() => telegram.sent(ANN.id).length === 1, within(10_000));
  const [pairingReply] = telegram.sent(ANN.id);
  const code = /\b([A-HJKMNP-Z2-9]{8})\b/.exec(pairingReply)?.[1];
  assert.ok(code, pairingReply);
  assert.match(pairingReply, /gatehouse pairing approve telegram/);
  assert.equal(provider.requests.length, 0, "no model call for a stranger");

  const listed = await gp.cli(["pairing", "list"]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(code));
  const approved = await gp.cli(["pairing", "approve", "telegram", code]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.match(approved.stdout, /they own this channel/, JSON.stringify(approved));

  telegram.pushMessage({ from: ANN, text: "what is the plan?" });
  await telegram.until(() => telegram.sent(ANN.id).length === 2, within(10_000));
  assert.equal(provider.requests.length, 1);
  // The fake provider echoes the last user message.
  assert.match(telegram.sent(ANN.id)[1], /what is the plan\?/);
  assert.equal(telegram.pendingUpdates, 0, "every update confirmed");
});

Deno.test("a 9,000-character answer arrives as three messages in order, each once", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using _gateway = await start(
    provider,
    telegram,
    `allow_from = ["${ANN.id}"]`,
  );
  const paragraphs = Array.from(
    { length: 9 },
    (_, i) => `Part ${i + 1}. ${"lorem ipsum dolor sit amet ".repeat(37)}`.trim(),
  );
  const answer = paragraphs.join("\n\n");
  assert.ok(answer.length >= 9_000, String(answer.length));
  provider.script({ text: answer });

  telegram.pushMessage({ from: ANN, text: "tell me everything" });
  await telegram.until(() => telegram.sent(ANN.id).length >= 3, within(15_000));
  // Give a duplicate a moment to show up if the delivery were to send one.
  await new Promise((r) => setTimeout(r, 300));
  const sent = telegram.sent(ANN.id);
  assert.equal(sent.length, 3, sent.map((s) => s.slice(0, 40)).join(" | "));
  assert.equal(telegram.deliveries(ANN.id), 3);
  for (const chunk of sent) assert.ok(chunk.length <= 4_096, String(chunk.length));
  assert.equal(sent.join("\n\n").replace(/\s+/g, " "), answer.replace(/\s+/g, " "));
  assert.ok(sent[0].startsWith("Part 1."));
  assert.match(sent[2], /Part 9\./);
});

Deno.test("another poller on the token is one clear error line, and the gateway runs on", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  telegram.conflict = true;
  await using gp = await start(provider, telegram, `allow_from = ["${ANN.id}"]`);
  const since = telegram.calls.length;
  // Several 409s in a row (the backoff starts near half a second).
  await telegram.until(
    () => telegram.calls.filter((c) => c.seq >= since && c.status === 409).length >= 2,
    within(15_000),
  );
  const conflictLines = gp.logs.split("\n").filter((l) => /409 Conflict/.test(l));
  assert.equal(conflictLines.length, 1, gp.logs);
  assert.match(conflictLines[0], /another program is polling this bot token/);
  const ready = await fetch(`${gp.httpUrl}/readyz`);
  await ready.body?.cancel();
  assert.equal(ready.status, 200);

  telegram.conflict = false;
  telegram.pushMessage({ from: ANN, text: "are you there?" });
  await telegram.until(() => telegram.sent(ANN.id).length === 1, within(30_000));
  assert.match(telegram.sent(ANN.id)[0], /are you there\?/);
  assert.match(gp.logs, /polling again/);
});

Deno.test("a 429 storm on 30% of sends delays replies but loses, doubles and reorders none", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN, rateLimitShare: 0.3, seed: 7 });
  const users = [ANN, { id: 4343, first_name: "Ben" }, { id: 4444, first_name: "Cy" }];
  await using _gateway = await start(
    provider,
    telegram,
    `allow_from = [${users.map((u) => `"${u.id}"`).join(", ")}]`,
  );
  const perChat = 4;
  for (let i = 1; i <= perChat; i++) {
    for (const user of users) {
      telegram.pushMessage({ from: user, text: `${user.first_name} #${i}` });
    }
  }
  await telegram.until(
    () => users.every((u) => telegram.sent(u.id).length >= perChat),
    within(90_000),
  );
  await new Promise((r) => setTimeout(r, 300));
  for (const user of users) {
    const sent = telegram.sent(user.id);
    assert.deepEqual(
      sent.map((t) => /#(\d+)/.exec(t)?.[1]),
      Array.from({ length: perChat }, (_, i) => String(i + 1)),
      `${user.first_name}: ${sent.join(" | ")}`,
    );
    assert.equal(telegram.deliveries(user.id), perChat);
  }
  assert.ok(telegram.calls.some((c) => c.method === "sendMessage" && c.status === 429));
  assert.equal(provider.requests.length, users.length * perChat, "each message ran once");
});

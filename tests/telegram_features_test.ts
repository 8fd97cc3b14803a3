/**
 * Telegram features end to end, the gateway as a real process against the fake Bot API and the
 * fake OpenAI server: a streamed draft that becomes the answer, group mention gating with context,
 * forum topics, commands (registered and answered without the model), an exec approval granted by
 * the owner's inline button (and refused to anyone else), and a photo saved into the workspace.
 */
import assert from "node:assert/strict";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeTelegram } from "./_servers/telegram.ts";
import type { GatewayProcess } from "./_helpers/gateway_process.ts";
import { startWithTelegram, TELEGRAM_TEST_TOKEN } from "./_helpers/telegram_gateway.ts";

const TOKEN = TELEGRAM_TEST_TOKEN;
const BOT = "gatehouse_test_bot";
const ANN = { id: 4242, first_name: "Ann", username: "ann" };
const BOB = { id: 5151, first_name: "Bob" };
const OLGA = { id: 6161, first_name: "Olga" };
const GROUP = -1001234567;

type Msg = { role: string; content?: unknown };

async function start(provider: FakeOpenAI, telegram: FakeTelegram, extra = "") {
  return await startWithTelegram(provider, telegram, {
    before: extra,
    telegram: `poll_timeout_seconds = 1\nallow_from = ["${ANN.id}"]\ngroups = ["${GROUP}"]`,
  });
}

const within = (ms: number) => AbortSignal.timeout(ms);

/** Polls `cond` (for state outside the fake Telegram server) until it holds or `ms` pass. */
async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("waitFor: condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The user text of the model request `i` (the last user message). */
function userText(provider: FakeOpenAI, i: number): string {
  const msgs = provider.requests[i].body.messages as Msg[];
  return String(msgs.filter((m) => m.role === "user").at(-1)?.content ?? "");
}

/** Pairs OLGA (not allowlisted) through a code, so she owns the channel. */
async function pairOwner(gp: GatewayProcess, telegram: FakeTelegram): Promise<void> {
  telegram.pushMessage({ from: OLGA, text: "hi" });
  await telegram.until(() => telegram.sent(OLGA.id).length === 1, within(10_000));
  const code = /\b([A-HJKMNP-Z2-9]{8})\b/.exec(telegram.sent(OLGA.id)[0])![1];
  const approved = await gp.cli(["pairing", "approve", "telegram", code]);
  assert.equal(approved.code, 0, approved.stderr);
}

Deno.test("while a turn runs the chat shows typing and a draft, which becomes the answer", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using _gateway = await start(provider, telegram);
  provider.script(
    {
      text: "Let me look at the clock.",
      toolCalls: [{ id: "t", name: "time_now", arguments: "{}" }],
    },
    { text: "It is **late**.", delayMs: 2_500 },
  );
  telegram.pushMessage({ from: ANN, text: "what time is it?" });
  await telegram.until(
    () => telegram.sent(ANN.id).some((t) => t.includes("It is late.")),
    within(15_000),
  );
  const bot = telegram.messages(ANN.id).filter((m) => m.fromBot);
  assert.equal(bot.length, 1, "the draft became the answer: one message");
  assert.equal(bot[0].message.text, "Let me look at the clock.\n\nIt is late.");
  assert.ok(bot[0].edits >= 1, "edited at least once");
  assert.equal(bot[0].parseMode, "HTML", "the answer replaced the plain draft as HTML");
  assert.ok(telegram.calls.some((c) => c.method === "sendChatAction"), "typing shown");
  const drafts = telegram.calls.filter((c) =>
    c.method === "sendMessage" || c.method === "editMessageText"
  )
    .map((c) => String(c.params.text));
  assert.ok(drafts.some((t) => t.includes("🔧 time_now")), drafts.join(" | "));
});

Deno.test("groups: only allowlisted ones, only when mentioned, with what was said before", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await start(provider, telegram);
  telegram.pushMessage({ from: BOB, chatId: GROUP, text: "the code is 42" });
  telegram.pushMessage({ from: ANN, chatId: -100999, text: `@${BOT} hello from elsewhere` });
  const asked = telegram.pushMessage({
    from: ANN,
    chatId: GROUP,
    text: `@${BOT} what was the code?`,
  });
  await telegram.until(() => telegram.sent(GROUP).length === 1, within(10_000));
  assert.equal(provider.requests.length, 1, "one model call: the mentioned message only");
  const text = userText(provider, 0);
  assert.match(text, /Bob: the code is 42/);
  assert.match(text, /Ann: what was the code\?/);
  assert.ok(!text.includes(`@${BOT}`), text);
  assert.equal(telegram.sent(-100999).length, 0, "a group not allowlisted is ignored");
  assert.match(gp.logs, /group -100999 .* not in channels\.telegram\.groups/);
  const answer = telegram.messages(GROUP).find((m) => m.fromBot)!;
  const askedMessage = telegram.messages(GROUP).find((m) =>
    !m.fromBot && m.message.text?.includes("what was the code")
  );
  assert.equal(answer.message.reply_to_message?.message_id, askedMessage?.message.message_id);
  assert.ok(asked > 0);

  // A reply to the bot counts as addressing it; the context was used up.
  telegram.pushMessage({ from: BOB, chatId: GROUP, text: "and now?", replyToBot: true });
  await telegram.until(() => telegram.sent(GROUP).length === 2, within(10_000));
  assert.equal(userText(provider, 1).includes("the code is 42"), false);

  // A forum topic is a session of its own, answered in the topic.
  telegram.pushMessage({ from: ANN, chatId: GROUP, threadId: 77, text: `@${BOT} topic question` });
  await telegram.until(() => telegram.sent(GROUP).length === 3, within(10_000));
  const inTopic = telegram.messages(GROUP).filter((m) => m.fromBot).at(-1)!;
  assert.equal(inTopic.message.message_thread_id, 77);
  const sessions = await gp.cli(["sessions", "--json"]);
  assert.match(sessions.stdout, new RegExp(`telegram:group:${GROUP}:topic:77`));
});

Deno.test("commands are registered, answered without the model, and /stop stops", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using _gateway = await start(provider, telegram);
  await telegram.until(() => telegram.commands().length > 0, within(10_000));
  const names = (telegram.commands() as { command: string }[]).map((c) => c.command);
  for (const c of ["start", "new", "reset", "status", "model", "stop", "help"]) {
    assert.ok(names.includes(c), names.join(","));
  }
  telegram.pushMessage({ from: ANN, text: "/status" });
  await telegram.until(() => telegram.sent(ANN.id).length === 1, within(10_000));
  assert.match(telegram.sent(ANN.id)[0], /Models: fake\/e2e-model/);
  telegram.pushMessage({ from: ANN, text: "/help" });
  await telegram.until(() => telegram.sent(ANN.id).length === 2, within(10_000));
  assert.match(telegram.sent(ANN.id)[1], /\/reset/);
  assert.equal(provider.requests.length, 0, "commands cost no model call");
  // The main session is shared with the operator: a user who does not own the bot cannot clear it.
  telegram.pushMessage({ from: ANN, text: "/reset" });
  await telegram.until(() => telegram.sent(ANN.id).length === 3, within(10_000));
  assert.match(telegram.sent(ANN.id)[2], /only they can clear it/);
  // In a group, a command for another bot is not ours.
  telegram.pushMessage({ from: ANN, chatId: GROUP, text: "/status@other_bot" });
  telegram.pushMessage({ from: ANN, chatId: GROUP, text: `/status@${BOT}` });
  await telegram.until(() => telegram.sent(GROUP).length === 1, within(10_000));
  assert.match(telegram.sent(GROUP)[0], /Session: agent:main:telegram:group/);

  provider.script({ text: "too slow", delayMs: 20_000 });
  telegram.pushMessage({ from: ANN, text: "write me a novel" });
  await waitFor(() => provider.requests.length === 1);
  await telegram.until(
    () => telegram.calls.some((c) => c.method === "sendChatAction"),
    within(10_000),
  );
  telegram.pushMessage({ from: ANN, text: "/stop" });
  await telegram.until(
    () => telegram.sent(ANN.id).some((t) => /Stopped the answer in progress/.test(t)),
    within(10_000),
  );
  await telegram.until(
    () => telegram.sent(ANN.id).some((t) => /stopped by the user/.test(t)),
    within(10_000),
  );
});

Deno.test("an exec approval reaches the owner as buttons; only the owner's press counts", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await start(provider, telegram, '[tools.exec]\nprograms = ["echo"]');
  await pairOwner(gp, telegram);
  provider.script(
    { toolCalls: [{ id: "x", name: "exec", arguments: '{"argv":["echo","from the phone"]}' }] },
    { text: "done" },
  );
  telegram.pushMessage({ from: OLGA, text: "run echo" });
  await telegram.until(
    () => telegram.messages(OLGA.id).some((m) => m.message.reply_markup !== undefined),
    within(10_000),
  );
  const prompt = telegram.messages(OLGA.id).find((m) => m.message.reply_markup !== undefined)!;
  assert.match(prompt.message.text ?? "", /echo from the phone/);
  const buttons = (prompt.message.reply_markup as {
    inline_keyboard: { text: string; callback_data: string }[][];
  }).inline_keyboard.flat();
  assert.deepEqual(buttons.map((b) => b.text), ["Allow once", "Always", "Deny"]);
  const allowOnce = buttons[0].callback_data;

  const since = telegram.calls.length;
  telegram.pushCallbackQuery({
    from: BOB,
    chatId: OLGA.id,
    messageId: prompt.message.message_id,
    data: allowOnce,
  });
  const refused = await telegram.waitForCall("answerCallbackQuery", {
    since,
    signal: within(10_000),
  });
  assert.match(String(refused.params.text), /Only the owner/);
  assert.equal(provider.requests.length, 1, "still waiting");

  telegram.pushCallbackQuery({ from: OLGA, messageId: prompt.message.message_id, data: allowOnce });
  await telegram.until(() => telegram.sent(OLGA.id).some((t) => t === "done"), within(10_000));
  const fed = (provider.requests[1].body.messages as Msg[]).find((m) => m.role === "tool");
  assert.match(String(fed?.content), /from the phone/);
  await telegram.until(
    () =>
      /Allowed once/.test(
        telegram.messages(OLGA.id).find((m) => m.message.message_id === prompt.message.message_id)!
          .message.text ?? "",
      ),
    within(10_000),
  );
});

Deno.test("a photo is saved into the workspace and named in the message; a voice note is not", async () => {
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  await using gp = await start(provider, telegram);
  const bytes = new Uint8Array(2048).map((_, i) => i % 251);
  telegram.pushMessage({ from: ANN, text: "look at this", photo: { bytes } });
  await telegram.until(() => telegram.sent(ANN.id).length === 1, within(10_000));
  const text = userText(provider, 0);
  assert.match(text, /^look at this/);
  const path = /saved to (inbox\/telegram\/\S+)/.exec(text)?.[1];
  assert.ok(path, text);
  assert.deepEqual(await Deno.readFile(`${gp.home}/workspace/${path}`), bytes);

  telegram.pushUpdate({
    message: {
      message_id: 900,
      date: 0,
      chat: { id: ANN.id, type: "private", first_name: "Ann" },
      from: { ...ANN, is_bot: false },
      voice: { file_id: "v1", file_unique_id: "uv1", duration: 2 },
    },
  } as never);
  await telegram.until(() => telegram.sent(ANN.id).length === 2, within(10_000));
  assert.match(telegram.sent(ANN.id)[1], /Voice messages are not supported/);
  assert.equal(provider.requests.length, 1);
});

Deno.test("webhook mode: Telegram's posts with the secret are answered; others are refused", async () => {
  const { webhookPath } = await import("../src/channels/telegram/webhook.ts");
  await using provider = await FakeOpenAI.start();
  await using telegram = await FakeTelegram.start({ token: TOKEN });
  const secret = "s3cret_for-the-webhook";
  await using gp = await startWithTelegram(provider, telegram, {
    telegram:
      `mode = "webhook"\nwebhook_url = "https://bot.example.com/gw"\nallow_from = ["${ANN.id}"]`,
    env: { TELEGRAM_WEBHOOK_SECRET: secret },
  });
  assert.ok(gp.flags.some((f) => f.includes("TELEGRAM_WEBHOOK_SECRET")), gp.flags.join(" "));
  const path = await webhookPath(secret);
  const set = await telegram.waitForCall("setWebhook", { signal: within(10_000) });
  assert.equal(set.params.url, `https://bot.example.com/gw${path}`);
  assert.equal(set.params.secret_token, secret);

  const update = {
    update_id: 501,
    message: {
      message_id: 1,
      date: 0,
      chat: { id: ANN.id, type: "private", first_name: "Ann" },
      from: { ...ANN, is_bot: false },
      text: "hello over the webhook",
    },
  };
  const post = (headers: Record<string, string>) =>
    fetch(`${gp.httpUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(update),
    });
  const wrong = await post({ "X-Telegram-Bot-Api-Secret-Token": "nope" });
  await wrong.body?.cancel();
  assert.equal(wrong.status, 401);
  assert.equal(provider.requests.length, 0);
  for (let i = 0; i < 2; i++) {
    const res = await post({ "X-Telegram-Bot-Api-Secret-Token": secret });
    await res.body?.cancel();
    assert.equal(res.status, 200);
  }
  await telegram.until(() => telegram.sent(ANN.id).length === 1, within(10_000));
  assert.match(telegram.sent(ANN.id)[0], /hello over the webhook/);
  assert.equal(provider.requests.length, 1, "a re-delivered update runs once");
  assert.equal(telegram.calls.filter((c) => c.method === "getUpdates").length, 0, "no polling");
});

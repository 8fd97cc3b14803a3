/**
 * The fake Telegram Bot API, driven by the real grammY client: what it sends is what grammY parses,
 * and what it rejects is what the real API rejects, in the real API's words.
 */
import assert from "node:assert/strict";
import { Bot, GrammyError, HttpError, InlineKeyboard } from "grammy";
import { Bot as WebBot, GrammyError as WebGrammyError } from "grammy/web";
import {
  FakeTelegram,
  NOT_MODIFIED,
  POLL_CONFLICT,
  WEBHOOK_CONFLICT,
} from "./_servers/telegram.ts";
import { parseHtml } from "./_servers/telegram_html.ts";

const TOKEN = "123456:TEST-TOKEN";
const ALICE = { id: 42, first_name: "Alice", username: "alice" };
const BOB = { id: 43, first_name: "Bob" };

/** A real grammY bot for `fake`. */
const botFor = (fake: FakeTelegram, token = TOKEN) =>
  new Bot(token, { client: { apiRoot: fake.url } });

async function rejection<T>(promise: Promise<T>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    return err;
  }
  assert.fail("the call succeeded instead of failing");
}

/** The GrammyError `promise` rejects with. */
async function apiError<T>(promise: Promise<T>): Promise<GrammyError> {
  const err = await rejection(promise);
  assert.ok(err instanceof GrammyError, `expected a GrammyError, got ${err}`);
  return err;
}

Deno.test("fake telegram answers the bot API calls the gateway makes", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  const bot = botFor(fake);

  await t.step("getMe returns the test bot, and a wrong token gets 401", async () => {
    const me = await bot.api.getMe();
    assert.equal(me.username, "gatehouse_test_bot");
    assert.equal(me.is_bot, true);
    assert.equal(me.id, 123456);
    const err = await apiError(botFor(fake, "999:WRONG").api.getMe());
    assert.equal(err.error_code, 401);
    assert.equal(err.description, "Unauthorized");
  });

  await t.step("sendMessage numbers messages per chat and keeps them in order", async () => {
    const first = await bot.api.sendMessage(ALICE.id, "hello");
    const second = await bot.api.sendMessage(ALICE.id, "  world \n");
    const other = await bot.api.sendMessage(BOB.id, "hi bob");
    assert.deepEqual([first.message_id, second.message_id, other.message_id], [1, 2, 1]);
    assert.equal(first.chat.id, ALICE.id);
    assert.equal(first.from?.username, "gatehouse_test_bot");
    assert.equal(second.text, "world", "the API trims message texts");
    assert.deepEqual(fake.sent(ALICE.id), ["hello", "world"]);
    assert.equal(fake.deliveries(ALICE.id), 2);
    assert.equal(fake.deliveries(BOB.id), 1);
  });

  await t.step(
    "HTML becomes text plus entities; replies and inline keyboards come back",
    async () => {
      const keyboard = new InlineKeyboard().text("Approve", "approve:1").text("Deny", "deny:1");
      const sent = await bot.api.sendMessage(ALICE.id, "<b>Run</b> <code>ls</code>?", {
        parse_mode: "HTML",
        reply_parameters: { message_id: 1 },
        reply_markup: keyboard,
      });
      assert.equal(sent.text, "Run ls?");
      assert.deepEqual(sent.entities, [
        { type: "bold", offset: 0, length: 3 },
        { type: "code", offset: 4, length: 2 },
      ]);
      assert.equal(sent.reply_to_message?.message_id, 1);
      assert.deepEqual(sent.reply_markup?.inline_keyboard[0].map((b) => b.text), [
        "Approve",
        "Deny",
      ]);
      const stored = fake.messages(ALICE.id).at(-1)!;
      assert.equal(stored.raw, "<b>Run</b> <code>ls</code>?");
      assert.equal(stored.parseMode, "HTML");

      const legacy = await bot.api.sendMessage(ALICE.id, "legacy", { reply_to_message_id: 2 });
      assert.equal(legacy.reply_to_message?.message_id, 2);
      const missing = await apiError(
        bot.api.sendMessage(ALICE.id, "x", { reply_parameters: { message_id: 99 } }),
      );
      assert.equal(missing.description, "Bad Request: message to be replied not found");
      const allowed = await bot.api.sendMessage(ALICE.id, "anyway", {
        reply_parameters: { message_id: 99, allow_sending_without_reply: true },
      });
      assert.equal(allowed.reply_to_message, undefined);
    },
  );

  await t.step(
    "editMessageText changes the stored text; an unchanged edit is refused",
    async () => {
      const draft = await bot.api.sendMessage(BOB.id, "thinking…");
      const edited = await bot.api.editMessageText(BOB.id, draft.message_id, "<i>done</i>", {
        parse_mode: "HTML",
      });
      assert.ok(edited !== true && "text" in edited);
      assert.equal(edited.text, "done");
      assert.ok(typeof edited.edit_date === "number");
      assert.deepEqual(fake.sent(BOB.id), ["hi bob", "done"]);
      assert.equal(fake.messages(BOB.id).at(-1)!.edits, 1);

      const same = await apiError(
        bot.api.editMessageText(BOB.id, draft.message_id, "<i>done</i>", { parse_mode: "HTML" }),
      );
      assert.equal(same.error_code, 400);
      assert.equal(same.description, NOT_MODIFIED);
      assert.equal(same.method, "editMessageText");
      // Same text but other formatting is a change.
      await bot.api.editMessageText(BOB.id, draft.message_id, "done");
      const gone = await apiError(bot.api.editMessageText(BOB.id, 77, "x"));
      assert.equal(gone.description, "Bad Request: message to edit not found");
    },
  );

  await t.step("deleteMessage removes a message from sent(); a second delete fails", async () => {
    await bot.api.deleteMessage(BOB.id, 1);
    assert.deepEqual(fake.sent(BOB.id), ["done"]);
    assert.equal(fake.messages(BOB.id)[0].deleted, true);
    const again = await apiError(bot.api.deleteMessage(BOB.id, 1));
    assert.equal(again.description, "Bad Request: message to delete not found");
  });

  await t.step("chat actions, commands and the call log", async () => {
    assert.equal(await bot.api.sendChatAction(ALICE.id, "typing"), true);
    const wrong = await apiError(bot.api.sendChatAction(ALICE.id, "dancing" as "typing"));
    assert.equal(wrong.description, "Bad Request: wrong parameter action in request");

    const commands = [{ command: "new", description: "Start a new session" }];
    assert.equal(await bot.api.setMyCommands(commands), true);
    assert.deepEqual(await bot.api.getMyCommands(), commands);
    assert.deepEqual(fake.commands(), commands);
    const invalid = await apiError(
      bot.api.setMyCommands([{ command: "New Session", description: "x" }]),
    );
    assert.equal(invalid.description, "Bad Request: BOT_COMMAND_INVALID");

    const action = fake.calls.find((c) => c.method === "sendChatAction")!;
    assert.deepEqual(action.params, { chat_id: ALICE.id, action: "typing" });
    assert.equal(action.status, 200);
    assert.ok(action.time <= Date.now());
    assert.equal(fake.calls.at(-1)!.description, "Bad Request: BOT_COMMAND_INVALID");
  });
});

Deno.test("fake telegram rejects the HTML the real API rejects, in its words", async (t) => {
  await using fake = await FakeTelegram.start();
  const bot = botFor(fake);
  const html = async (text: string) => {
    const err = await apiError(bot.api.sendMessage(1, text, { parse_mode: "HTML" }));
    assert.equal(err.error_code, 400);
    return err.description;
  };
  const prefix = "Bad Request: can't parse entities: ";

  await t.step("unknown, unclosed and crossed tags", async () => {
    assert.equal(await html("<p>hi</p>"), `${prefix}Unsupported start tag "p" at byte offset 0`);
    assert.equal(await html("<b>hi"), `${prefix}Can't find end tag corresponding to start tag b`);
    assert.equal(
      await html("<b><i>x</b></i>"),
      `${prefix}Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`,
    );
    assert.equal(await html("x</b>"), `${prefix}Unexpected end tag at byte offset 1`);
    assert.equal(await html("1 < 2"), `${prefix}Unsupported start tag "" at byte offset 2`);
    assert.equal(await html("é <br>"), `${prefix}Unsupported start tag "br" at byte offset 3`);
    assert.equal(
      await html('<span class="x">y</span>'),
      `${prefix}Tag "span" must have class "tg-spoiler" at byte offset 0`,
    );
  });

  await t.step("escaped text, links and code blocks pass", async () => {
    const sent = await bot.api.sendMessage(1, '1 &lt; 2 &amp;&amp; <a href="https://x.dev">x</a>', {
      parse_mode: "HTML",
    });
    assert.equal(sent.text, "1 < 2 && x");
    assert.deepEqual(sent.entities, [
      { type: "text_link", offset: 9, length: 1, url: "https://x.dev/" },
    ]);
    const parsed = parseHtml('<pre><code class="language-ts">let a = 1;</code></pre>');
    assert.deepEqual(parsed, {
      text: "let a = 1;",
      entities: [{ type: "pre", offset: 0, length: 10, language: "ts" }],
    });
  });

  await t.step("edits are parsed the same way; empty and long texts are refused", async () => {
    const sent = await bot.api.sendMessage(1, "ok");
    const err = await apiError(
      bot.api.editMessageText(1, sent.message_id, "<b>x", { parse_mode: "HTML" }),
    );
    assert.equal(err.description, `${prefix}Can't find end tag corresponding to start tag b`);
    const empty = await apiError(bot.api.sendMessage(1, "<b> </b>", { parse_mode: "HTML" }));
    assert.equal(empty.description, "Bad Request: message text is empty");
    const long = await apiError(bot.api.sendMessage(1, "x".repeat(4097)));
    assert.equal(long.description, "Bad Request: message is too long");
    assert.deepEqual(fake.sent(1), ["1 < 2 && x", "ok"]);
  });
});

Deno.test("fake telegram long polling confirms updates by offset, as the real API", async (t) => {
  await using fake = await FakeTelegram.start();
  const bot = botFor(fake);

  await t.step("pushed messages arrive as realistic updates, until confirmed", async () => {
    const id = fake.pushMessage({ from: ALICE, text: "/start@gatehouse_test_bot now" });
    const [update] = await bot.api.getUpdates({ offset: 0, timeout: 1 });
    assert.equal(update.update_id, id);
    assert.equal(update.message?.text, "/start@gatehouse_test_bot now");
    assert.deepEqual(update.message?.entities, [{ type: "bot_command", offset: 0, length: 25 }]);
    assert.deepEqual(update.message?.chat, {
      id: ALICE.id,
      type: "private",
      first_name: "Alice",
      username: "alice",
    });
    // Not confirmed yet: asked again from the same offset, it comes again.
    assert.deepEqual((await bot.api.getUpdates({ offset: id })).map((u) => u.update_id), [id]);
    assert.deepEqual(await bot.api.getUpdates({ offset: id + 1 }), []);
    assert.equal(fake.pendingUpdates, 0);
  });

  await t.step("a waiting long poll is answered as soon as an update is pushed", async () => {
    const polled = bot.api.getUpdates({ timeout: 30 });
    await fake.until(() => fake.polling === 1);
    const a = fake.pushMessage({ from: BOB, text: "one" });
    const b = fake.pushMessage({ from: BOB, text: "two" });
    assert.deepEqual((await polled).map((u) => u.message?.text), ["one", "two"]);
    const limited = await bot.api.getUpdates({ offset: a, limit: 1 });
    assert.deepEqual(limited.map((u) => u.update_id), [a]);
    assert.deepEqual((await bot.api.getUpdates({ offset: -1 })).map((u) => u.update_id), [b]);
    assert.equal(fake.pendingUpdates, 1, "a negative offset forgets all but the last updates");
  });

  await t.step("a short getUpdates loop reads a group conversation", async () => {
    let offset = 0;
    const group = -1001234;
    fake.pushMessage({ from: ALICE, chatId: group, text: "hi @gatehouse_test_bot", threadId: 7 });
    fake.pushMessage({ from: BOB, chatId: group, text: "me too" });
    const texts: string[] = [];
    while (texts.length < 2) {
      for (const u of await bot.api.getUpdates({ offset, timeout: 1 })) {
        offset = u.update_id + 1;
        if (u.message?.chat.id === group) texts.push(u.message.text ?? "");
        if (u.message?.message_thread_id === 7) {
          assert.equal(u.message.chat.type, "supergroup");
          assert.deepEqual(u.message.entities, [{ type: "mention", offset: 3, length: 19 }]);
        }
      }
    }
    assert.deepEqual(texts, ["hi @gatehouse_test_bot", "me too"]);
  });

  await t.step("allowed_updates filters updates created after it is set", async () => {
    await bot.api.getUpdates({ offset: -1, allowed_updates: ["callback_query"] });
    const before = fake.pendingUpdates;
    fake.pushMessage({ from: ALICE, text: "dropped" });
    assert.equal(fake.pendingUpdates, before);
    await bot.api.getUpdates({ allowed_updates: [] });
    fake.pushMessage({ from: ALICE, text: "kept" });
    assert.equal(fake.pendingUpdates, before + 1);
  });
});

Deno.test("fake telegram: one poller per token, and webhooks exclude polling", async (t) => {
  await using fake = await FakeTelegram.start();
  const first = botFor(fake);
  const second = botFor(fake);

  await t.step("a second long poll ends the waiting one with 409", async () => {
    const waiting = first.api.getUpdates({ timeout: 30 });
    await fake.until(() => fake.polling === 1);
    const newcomer = second.api.getUpdates({ timeout: 30 });
    const err = await apiError(waiting);
    assert.equal(err.error_code, 409);
    assert.equal(err.description, POLL_CONFLICT);
    const id = fake.pushMessage({ from: ALICE, text: "for the newcomer" });
    assert.deepEqual((await newcomer).map((u) => u.update_id), [id]);
  });

  await t.step("`conflict` acts out another instance polling for good", async () => {
    fake.conflict = true;
    const err = await apiError(first.api.getUpdates({ timeout: 30 }));
    assert.equal(err.description, POLL_CONFLICT);
    fake.conflict = false;
  });

  await t.step("setWebhook makes getUpdates a 409; deleteWebhook undoes it", async () => {
    const insecure = await apiError(first.api.setWebhook("http://127.0.0.1/hook"));
    assert.equal(
      insecure.description,
      "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    );
    assert.equal(
      await first.api.setWebhook("https://gate.example/tg", { secret_token: "s" }),
      true,
    );
    assert.equal((await first.api.getWebhookInfo()).url, "https://gate.example/tg");
    const err = await apiError(first.api.getUpdates());
    assert.equal(err.description, WEBHOOK_CONFLICT);
    await first.api.deleteWebhook({ drop_pending_updates: true });
    const info = await first.api.getWebhookInfo();
    assert.deepEqual(info, { url: "", has_custom_certificate: false, pending_update_count: 0 });
    assert.deepEqual(await first.api.getUpdates(), []);
  });
});

Deno.test("grammY's bot.start() polls the fake and bot.stop() confirms and ends cleanly", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });

  await t.step("a pushed message reaches a handler whose reply the fake records", async () => {
    const bot = botFor(fake);
    bot.command("start", (ctx) => ctx.reply(`welcome, ${ctx.from?.first_name}`));
    bot.on("message:text", (ctx) => ctx.reply(`echo: ${ctx.msg.text}`));
    const running = bot.start();
    fake.pushMessage({ from: ALICE, text: "/start" });
    fake.pushMessage({ from: ALICE, text: "hello" });
    await fake.until(() => fake.deliveries(ALICE.id) === 2);
    assert.deepEqual(fake.sent(ALICE.id), ["welcome, Alice", "echo: hello"]);

    await bot.stop();
    await running;
    // stop() aborts the long poll, then confirms what it handled with one last getUpdates.
    const last = fake.calls.filter((c) => c.method === "getUpdates").at(-1)!;
    assert.deepEqual(last.params, { offset: 3, limit: 1 });
    assert.equal(fake.pendingUpdates, 0);
    assert.deepEqual(fake.calls.slice(0, 2).map((c) => c.method), ["getMe", "deleteWebhook"]);
  });

  await t.step("a second poller makes bot.start() reject with the 409", async () => {
    const bot = botFor(fake);
    const running = bot.start();
    await fake.until(() => fake.calls.at(-1)?.method === "getUpdates" && fake.polling === 1);
    const other = botFor(fake).api.getUpdates({ timeout: 30 });
    const err = await apiError(running);
    assert.equal(err.error_code, 409);
    assert.equal(bot.isRunning(), false);
    fake.pushMessage({ from: BOB, text: "ends the other poll" });
    await other;
  });
});

Deno.test("grammY's bot.start() waits out a 429 on getUpdates, then polls on", async () => {
  await using fake = await FakeTelegram.start();
  const bot = botFor(fake);
  const seen: string[] = [];
  bot.on("message:text", (ctx) => void seen.push(ctx.msg.text));
  fake.failNext("getUpdates", { status: 429, retryAfter: 1 });
  const running = bot.start();
  const limited = await fake.waitForCall("getUpdates");
  assert.equal(limited.status, 429);
  fake.pushMessage({ from: ALICE, text: "after the pause" });
  await fake.until(() => seen.length === 1);
  const retried = await fake.waitForCall("getUpdates", { since: limited.seq + 1 });
  // grammY sleeps retry_after seconds on a timer no signal reaches: bot.stop() cannot cut it short.
  assert.ok(retried.time - limited.time >= 900, `retried after ${retried.time - limited.time} ms`);
  assert.deepEqual(seen, ["after the pause"]);
  await bot.stop();
  await running;
});

Deno.test("fake telegram faults surface in grammY as the real ones do", async (t) => {
  await using fake = await FakeTelegram.start();
  const bot = botFor(fake);

  await t.step("429 becomes a GrammyError with parameters.retry_after", async () => {
    fake.failNext("sendMessage", { status: 429, retryAfter: 7, times: 2 });
    for (let i = 0; i < 2; i++) {
      const err = await apiError(bot.api.sendMessage(ALICE.id, "x"));
      assert.equal(err.error_code, 429);
      assert.equal(err.description, "Too Many Requests: retry after 7");
      assert.deepEqual(err.parameters, { retry_after: 7 });
    }
    await bot.api.sendMessage(ALICE.id, "through");
    assert.equal(fake.deliveries(ALICE.id), 1);
  });

  await t.step("other statuses: 403, 400 and an nginx 502 that is not JSON", async () => {
    fake.failNext("sendMessage", { status: 403 });
    const blocked = await apiError(bot.api.sendMessage(ALICE.id, "x"));
    assert.equal(blocked.description, "Forbidden: bot was blocked by the user");
    fake.failNext("editMessageText", {
      status: 400,
      description: "Bad Request: group chat was upgraded to a supergroup chat",
      parameters: { migrate_to_chat_id: -1009 },
    });
    const moved = await apiError(bot.api.editMessageText(ALICE.id, 1, "y"));
    assert.deepEqual(moved.parameters, { migrate_to_chat_id: -1009 });
    fake.failNext("getMe", { status: 502 });
    const gateway = await rejection(bot.api.getMe());
    assert.ok(gateway instanceof HttpError, `expected an HttpError, got ${gateway}`);
  });

  await t.step(
    "a dropped connection is an HttpError; by default the message was sent",
    async () => {
      fake.dropConnectionNext("sendMessage");
      const err = await rejection(bot.api.sendMessage(BOB.id, "maybe"));
      assert.ok(err instanceof HttpError, `expected an HttpError, got ${err}`);
      assert.deepEqual(fake.sent(BOB.id), ["maybe"]);
      assert.equal(fake.calls.at(-1)!.dropped, true);

      fake.dropConnectionNext("sendMessage", { processed: false });
      assert.ok((await rejection(bot.api.sendMessage(BOB.id, "lost"))) instanceof HttpError);
      assert.deepEqual(fake.sent(BOB.id), ["maybe"]);
      assert.equal(fake.deliveries(BOB.id), 1);
    },
  );

  await t.step("rateLimitShare limits a seeded, repeatable share of sends", async () => {
    const statuses = async (seed: number) => {
      await using limited = await FakeTelegram.start({ rateLimitShare: 0.3, seed });
      const api = botFor(limited).api;
      const out: number[] = [];
      for (let i = 0; i < 40; i++) {
        out.push(await api.sendMessage(1, `m${i}`).then(() => 200, (e) => e.error_code));
      }
      assert.equal(limited.deliveries(1), out.filter((s) => s === 200).length);
      return out;
    };
    const first = await statuses(7);
    const limitedCount = first.filter((s) => s === 429).length;
    assert.ok(limitedCount >= 5 && limitedCount <= 20, `${limitedCount} of 40 limited`);
    assert.deepEqual(await statuses(7), first);
  });
});

Deno.test("fake telegram serves files and callback queries", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  const bot = botFor(fake);

  await t.step("a pushed photo is downloadable through getFile and the file route", async () => {
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    fake.pushMessage({ from: ALICE, text: "look", photo: { fileId: "ph1", bytes } });
    const [update] = await bot.api.getUpdates();
    assert.equal(update.message?.caption, "look");
    const photo = update.message?.photo?.at(-1);
    assert.equal(photo?.file_id, "ph1");
    const file = await bot.api.getFile("ph1");
    assert.equal(file.file_size, bytes.length);
    const res = await fetch(`${fake.url}/file/bot${TOKEN}/${file.file_path}`);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    assert.equal((await fake.waitForCall("file")).params.file_path, file.file_path);
    const missing = await fetch(`${fake.url}/file/bot${TOKEN}/photos/nope.jpg`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const err = await apiError(bot.api.getFile("nope"));
    assert.equal(err.description, "Bad Request: invalid file_id");
  });

  await t.step("a pressed button arrives with its message and is answered once", async () => {
    const sent = await bot.api.sendMessage(ALICE.id, "Run it?", {
      reply_markup: new InlineKeyboard().text("Yes", "run:yes"),
    });
    const id = fake.pushCallbackQuery({ from: ALICE, messageId: sent.message_id, data: "run:yes" });
    const [update] = await bot.api.getUpdates({ offset: id });
    const query = update.callback_query!;
    assert.equal(query.data, "run:yes");
    assert.equal(query.message?.message_id, sent.message_id);
    assert.equal(await bot.api.answerCallbackQuery(query.id, { text: "running" }), true);
    const again = await apiError(bot.api.answerCallbackQuery(query.id));
    assert.match(again.description, /query is too old/);
    // Editing the message without reply_markup removes the keyboard.
    const edited = await bot.api.editMessageText(ALICE.id, sent.message_id, "Running…");
    assert.ok(edited !== true && edited.reply_markup === undefined);
    const reply = await apiError(
      bot.api.sendMessage(ALICE.id, "x", {
        reply_markup: { inline_keyboard: [[{ text: "no action" } as never]] },
      }),
    );
    assert.match(reply.description, /Text buttons are unallowed in the inline keyboard/);
  });

  await t.step("replyToBot makes a user's reply to the bot's last message", async () => {
    fake.pushMessage({ from: ALICE, text: "yes please", replyToBot: true });
    const updates = await bot.api.getUpdates({ offset: -1 });
    assert.equal(updates[0].message?.reply_to_message?.text, "Running…");
  });
});

Deno.test("grammy/web talks to the fake like the node entry; its errors are its own classes", async () => {
  await using fake = await FakeTelegram.start();
  const bot = new WebBot(TOKEN, { client: { apiRoot: fake.url } });
  assert.equal((await bot.api.getMe()).username, "gatehouse_test_bot");
  fake.pushMessage({ from: ALICE, text: "web" });
  const [update] = await bot.api.getUpdates({ timeout: 1 });
  assert.equal(update.message?.text, "web");
  const err = await rejection(bot.api.editMessageText(ALICE.id, 99, "x"));
  assert.ok(err instanceof WebGrammyError);
  assert.ok(!(err instanceof GrammyError), "the node entry's GrammyError is another class");

  const seen: string[] = [];
  bot.on("message:text", (ctx) => void seen.push(ctx.msg.text));
  const running = bot.start();
  fake.pushMessage({ from: BOB, text: "polled" });
  await fake.until(() => seen.length === 2 && fake.polling === 1);
  assert.deepEqual(seen, ["web", "polled"], "bot.start() begins at the first unconfirmed update");
  await bot.stop();
  await running;
});

Deno.test("grammy/web needs only --allow-net; grammy's node entry also enumerates env", async () => {
  await using fake = await FakeTelegram.start();
  const dir = await Deno.makeTempDir({ prefix: "gatehouse_grammy_" });
  const config = new URL("../deno.json", import.meta.url).pathname;
  const run = async (entry: string, flags: string[] = []) => {
    const script = `${dir}/${entry.replace("/", "_")}.ts`;
    await Deno.writeTextFile(
      script,
      `import { Bot } from "${entry}";\n` +
        `const me = await new Bot("1:x", { client: { apiRoot: Deno.args[0] } }).api.getMe();\n` +
        `console.log(me.username);\n`,
    );
    const args = ["run", "--no-prompt", "--config", config, "--allow-net=127.0.0.1", ...flags];
    const out = await new Deno.Command(Deno.execPath(), {
      args: [...args, script, fake.url],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  };
  try {
    const web = await run("grammy/web");
    assert.equal(web.code, 0, web.stderr);
    assert.equal(web.stdout.trim(), "gatehouse_test_bot");
    assert.equal(web.stderr, "");

    const node = await run("grammy");
    assert.notEqual(node.code, 0);
    assert.match(node.stderr, /NotCapable: Requires env access/);
    assert.match(node.stderr, /Object\.keys\(process\.env\)/);

    const ignored = await run("grammy", ["--ignore-env=DEBUG"]);
    assert.equal(ignored.code, 0, ignored.stderr);
    assert.equal(ignored.stdout.trim(), "gatehouse_test_bot");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

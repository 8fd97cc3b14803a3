/**
 * Drafts and group addressing, with a fake clock: at most one draft edit per interval (three in
 * groups), none before a 429's retry_after, tool lines shown compactly, typing until the draft
 * exists, and the draft handed to the answer's first chunk; and what counts as addressing the bot.
 */
import assert from "node:assert/strict";
import { Drafts } from "../src/channels/telegram/drafts.ts";
import { addressesBot, withoutMention } from "../src/channels/telegram/groups.ts";
import { TelegramSender } from "../src/channels/telegram/send.ts";
import { silentLogger } from "../src/kernel/mod.ts";
import { FakeClock, flush } from "./_helpers/fake_clock.ts";

interface Call {
  method: string;
  at: number;
  text?: string;
  other?: Record<string, unknown>;
}

async function setup(options: { failEdit?: () => unknown } = {}) {
  const clock = new FakeClock();
  const kv = await Deno.openKv(":memory:");
  const calls: Call[] = [];
  let nextId = 100;
  const api = {
    sendMessage: (_chat: string, text: string, other: Record<string, unknown>) => {
      calls.push({ method: "sendMessage", at: clock.now(), text, other });
      return Promise.resolve({ message_id: nextId++ });
    },
    editMessageText: (_chat: string, _id: number, text: string, other: Record<string, unknown>) => {
      const failure = options.failEdit?.();
      calls.push({ method: "editMessageText", at: clock.now(), text, other });
      return failure ? Promise.reject(failure) : Promise.resolve(true);
    },
    sendChatAction: () => {
      calls.push({ method: "sendChatAction", at: clock.now() });
      return Promise.resolve(true);
    },
  };
  const drafts = new Drafts({
    api,
    kv,
    clock,
    logger: silentLogger,
    stream: true,
    intervalMs: 1000,
  });
  return { clock, kv, calls, drafts, api, [Symbol.dispose]: () => kv.close() };
}

const delta = (runId: string, text: string) => ({
  runId,
  sessionKey: "s",
  state: "delta",
  deltaText: text,
});

Deno.test("a draft is edited at most once a second, with tool lines, and typing stops once it exists", async () => {
  using s = await setup();
  s.drafts.accepted("r1", { channel: "telegram", to: "42" });
  await flush();
  assert.equal(s.calls.filter((c) => c.method === "sendChatAction").length, 1);
  for (let i = 0; i < 30; i++) {
    s.drafts.onEvent("chat", delta("r1", `word${i} `));
    await s.clock.advance(100);
  }
  s.drafts.onEvent("agent", {
    runId: "r1",
    sessionKey: "s",
    stream: "tool",
    data: { phase: "start", name: "exec", callId: "c1" },
  });
  await s.clock.advance(1000);
  s.drafts.onEvent("agent", {
    runId: "r1",
    sessionKey: "s",
    stream: "tool",
    data: { phase: "result", name: "exec", callId: "c1", isError: false },
  });
  await s.clock.advance(5000);
  const edits = s.calls.filter((c) => c.method === "sendMessage" || c.method === "editMessageText");
  assert.equal(edits[0].method, "sendMessage");
  for (let i = 1; i < edits.length; i++) {
    assert.ok(
      edits[i].at - edits[i - 1].at >= 1000,
      `edit ${i} after ${edits[i].at - edits[i - 1].at} ms`,
    );
  }
  assert.ok(edits.length <= 6, `${edits.length} sends for 4 s of text`);
  assert.match(edits.at(-1)!.text!, /word29\n\n🔧 exec ✓$/);
  assert.ok(edits.some((e) => e.text!.endsWith("🔧 exec…")));
  const typing = s.calls.filter((c) => c.method === "sendChatAction").length;
  assert.equal(typing, 1, "no typing once the draft shows progress");
});

Deno.test("in groups drafts reply to the message and edit every three seconds; a 429 holds edits", async () => {
  let fail: unknown;
  using s = await setup({ failEdit: () => fail });
  s.drafts.accepted("g1", { channel: "telegram", to: "-100", replyTo: "7", threadId: "3" });
  s.drafts.onEvent("chat", delta("g1", "a"));
  await s.clock.advance(10);
  const first = s.calls.find((c) => c.method === "sendMessage")!;
  assert.deepEqual(first.other?.reply_parameters, {
    message_id: 7,
    allow_sending_without_reply: true,
  });
  assert.equal(first.other?.message_thread_id, 3);
  s.drafts.onEvent("chat", delta("g1", "b"));
  await s.clock.advance(2_000);
  assert.equal(s.calls.filter((c) => c.method === "editMessageText").length, 0);
  fail = { error_code: 429, parameters: { retry_after: 20 } };
  await s.clock.advance(1_100);
  assert.equal(s.calls.filter((c) => c.method === "editMessageText").length, 1);
  fail = undefined;
  s.drafts.onEvent("chat", delta("g1", "c"));
  await s.clock.advance(19_000);
  assert.equal(
    s.calls.filter((c) => c.method === "editMessageText").length,
    1,
    "held by retry_after",
  );
  await s.clock.advance(2_000);
  const last = s.calls.filter((c) => c.method === "editMessageText").at(-1)!;
  assert.equal(last.text, "abc");
});

Deno.test("the answer's first chunk replaces the draft, again on a replay; a draft that is gone gets a new message", async () => {
  using s = await setup();
  s.drafts.accepted("r2", { channel: "telegram", to: "42" });
  s.drafts.onEvent("chat", delta("r2", "partial"));
  await s.clock.advance(10);
  s.drafts.onEvent("chat", { runId: "r2", sessionKey: "s", state: "final" });
  const sender = new TelegramSender(s.api, s.drafts);
  const signal = new AbortController().signal;
  const sent = await sender.send({ to: "42", text: "<b>final</b>", index: 0, runId: "r2" }, signal);
  assert.equal(sent.messageId, "100");
  const edit = s.calls.at(-1)!;
  assert.equal(edit.method, "editMessageText");
  assert.equal(edit.other?.parse_mode, "HTML");
  // A replayed delivery of the same chunk (the process died before it was marked sent) edits
  // the same message again rather than sending the answer twice.
  const again = await sender.send(
    { to: "42", text: "<b>final</b>", index: 0, runId: "r2" },
    signal,
  );
  assert.equal(again.messageId, "100");
  assert.equal(s.calls.at(-1)!.method, "editMessageText");
  assert.equal(s.calls.filter((c) => c.method === "sendMessage").length, 1, "only the draft");

  using gone = await setup({
    failEdit: () => ({ error_code: 400, description: "Bad Request: message to edit not found" }),
  });
  gone.drafts.accepted("r3", { channel: "telegram", to: "42" });
  gone.drafts.onEvent("chat", delta("r3", "partial"));
  await gone.clock.advance(10);
  const sender2 = new TelegramSender(gone.api, gone.drafts);
  const second = await sender2.send({ to: "42", text: "final", index: 0, runId: "r3" }, signal);
  assert.equal(second.messageId, "101");
});

Deno.test("a group message addresses the bot by @mention, text mention, /command@bot or a reply", () => {
  const bot = { id: 7, username: "gate_bot" };
  const base = { message_id: 1, chat: { id: -1, type: "supergroup" } };
  const mention = (text: string, type = "mention") => ({
    ...base,
    text,
    entities: [{ type, offset: text.indexOf("@"), length: "@gate_bot".length }],
  });
  assert.ok(addressesBot(mention("hey @gate_bot look"), bot));
  assert.ok(addressesBot(mention("hey @GATE_BOT look"), bot), "case-insensitive");
  assert.ok(!addressesBot(mention("hey @gate_bot2 x".replace("@gate_bot2", "@other_bo")), bot));
  assert.ok(!addressesBot({ ...base, text: "hey @gate_bot (no entity)" }, bot), "entities decide");
  assert.ok(addressesBot({
    ...base,
    text: "/status@gate_bot",
    entities: [{ type: "bot_command", offset: 0, length: 16 }],
  }, bot));
  assert.ok(addressesBot({
    ...base,
    text: "Gate, hi",
    entities: [{
      type: "text_mention",
      offset: 0,
      length: 4,
      user: { id: 7, is_bot: true, first_name: "Gate" },
    }],
  }, bot));
  assert.ok(
    addressesBot({
      ...base,
      text: "yes",
      reply_to_message: { message_id: 3, from: { id: 7, is_bot: true, first_name: "G" } },
    }, bot),
  );
  assert.ok(
    !addressesBot({
      ...base,
      text: "yes",
      reply_to_message: { message_id: 3, from: { id: 8, is_bot: false, first_name: "H" } },
    }, bot),
  );
  assert.equal(withoutMention("@gate_bot  what now?", bot), "what now?");
  assert.equal(withoutMention("/status@gate_bot", bot), "/status");
  assert.ok(addressesBot(mention("😀 @gate_bot"), bot), "offsets in UTF-16 units");
});

Deno.test("a run that collected several messages streams into one draft and ends them all", async () => {
  using s = await setup();
  s.drafts.accepted("c1", { channel: "telegram", to: "42" });
  s.drafts.accepted("c2", { channel: "telegram", to: "42" });
  s.drafts.onEvent("chat", {
    runId: "c1",
    runIds: ["c1", "c2"],
    sessionKey: "s",
    state: "delta",
    deltaText: "x",
  });
  await s.clock.advance(10);
  assert.equal(s.calls.filter((c) => c.method === "sendMessage").length, 1);
  s.drafts.onEvent("chat", { runId: "c1", runIds: ["c1", "c2"], sessionKey: "s", state: "final" });
  const before = s.calls.length;
  await s.clock.advance(60_000);
  assert.equal(s.calls.length, before, "no typing or edits after the end");
});

Deno.test("a run that starts without an inbound message (replayed after a restart) is followed", async () => {
  using s = await setup();
  s.drafts.onEvent("agent", {
    runId: "replayed",
    sessionKey: "s",
    stream: "lifecycle",
    data: { phase: "start", reply: { channel: "telegram", to: "42" } },
  });
  await flush();
  assert.equal(s.calls.filter((c) => c.method === "sendChatAction").length, 1, "typing");
  s.drafts.onEvent("chat", delta("replayed", "hi"));
  await s.clock.advance(10);
  assert.equal(s.calls.filter((c) => c.method === "sendMessage").length, 1, "a draft");
  s.drafts.onEvent("agent", {
    runId: "other",
    sessionKey: "s",
    stream: "lifecycle",
    data: { phase: "start", reply: { channel: "webchat", to: "x" } },
  });
  s.drafts.onEvent("chat", delta("other", "not ours"));
  await s.clock.advance(2_000);
  assert.ok(s.calls.every((c) => !c.text?.includes("not ours")));
});

/**
 * The outbox and its delivery worker: recorded before sending, in order per chat, each chunk once
 * (a restart resumes at the first chunk not delivered), retries after the platform's wait, a
 * permanent refusal dropped; and the `message` tool that queues into it, owner-only by default.
 */
import assert from "node:assert/strict";
import {
  type ChannelAdapter,
  type ChannelSend,
  ChannelSendError,
  silentLogger,
} from "../src/kernel/mod.ts";
import { KvOutbox } from "../src/store/mod.ts";
import { DeliveryWorker } from "../src/channels/delivery.ts";
import { EventLog } from "./_helpers/events.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

/** An adapter that records sends and fails the ones the test queues failures for. */
class RecordingAdapter implements ChannelAdapter {
  readonly id = "test";
  sent: ChannelSend[] = [];
  failures: ChannelSendError[] = [];
  #next = 1;
  render(markdown: string): string[] {
    return markdown.split("\n---\n");
  }
  send(message: ChannelSend): Promise<{ messageId: string }> {
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    this.sent.push(message);
    return Promise.resolve({ messageId: String(this.#next++) });
  }
}

async function setup() {
  const kv = await Deno.openKv(":memory:");
  const clock = new FakeClock();
  const adapter = new RecordingAdapter();
  const outbox = new KvOutbox(kv, clock);
  const worker = () =>
    new DeliveryWorker({
      outbox,
      adapters: new Map([[adapter.id, adapter]]),
      clock,
      logger: silentLogger,
      random: () => 0.5,
    });
  return {
    kv,
    clock,
    adapter,
    outbox,
    worker,
    [Symbol.asyncDispose]: () => Promise.resolve(kv.close()),
  };
}

/** Lets the worker's promise chain run (its waits are on the fake clock). */
async function settle(clock: FakeClock, rounds = 20) {
  for (let i = 0; i < rounds; i++) await clock.advance(0);
}

Deno.test("messages to one chat go in order, chunk by chunk; other chats are not held up", async () => {
  await using s = await setup();
  await s.outbox.enqueue({ id: "a", channel: "test", to: "1", chunks: ["a1", "a2", "a3"] });
  await s.outbox.enqueue({ id: "b", channel: "test", to: "1", chunks: ["b1"] });
  await s.outbox.enqueue({ id: "c", channel: "test", to: "2", chunks: ["c1"] });
  s.adapter.failures.push(new ChannelSendError("retry", "429", { retryAfterMs: 5_000 }));
  const w = s.worker();
  w.start();
  await settle(s.clock);
  // a1 hit the rate limit: chat 1 waits, chat 2 is served.
  assert.deepEqual(s.adapter.sent.map((m) => m.text), ["c1"]);
  await s.clock.advance(5_000);
  await settle(s.clock);
  assert.deepEqual(s.adapter.sent.map((m) => `${m.to}:${m.text}`), [
    "2:c1",
    "1:a1",
    "1:a2",
    "1:a3",
    "1:b1",
  ]);
  assert.deepEqual(await s.outbox.pending(), []);
  await w.stop();
});

Deno.test("a restart resumes a reply at the first chunk not delivered, and sends none twice", async () => {
  await using s = await setup();
  await s.outbox.enqueue({ id: "r", channel: "test", to: "1", chunks: ["one", "two", "three"] });
  // The first worker delivers one chunk, then the network fails and the process "dies".
  const first = s.worker();
  const realSend = s.adapter.send.bind(s.adapter);
  let calls = 0;
  s.adapter.send = (
    m,
  ) => (++calls === 2 ? Promise.reject(new Error("connection reset")) : realSend(m));
  first.start();
  await settle(s.clock);
  await first.stop();
  assert.deepEqual(s.adapter.sent.map((m) => m.text), ["one"]);
  const [left] = await s.outbox.pending();
  assert.equal(left.sent, 1);
  assert.equal(left.attempts, 1);

  s.adapter.send = realSend;
  const second = s.worker();
  second.start();
  await s.clock.advance(60_000);
  await settle(s.clock);
  await second.stop();
  assert.deepEqual(s.adapter.sent.map((m) => m.text), ["one", "two", "three"]);
  assert.deepEqual(await s.outbox.pending(), []);
});

Deno.test("the same id is queued once, even after delivery", async () => {
  await using s = await setup();
  await s.outbox.enqueue({ id: "x", channel: "test", to: "1", chunks: ["hi"] });
  await s.outbox.enqueue({ id: "x", channel: "test", to: "1", chunks: ["hi"] });
  assert.equal((await s.outbox.pending()).length, 1);
  const w = s.worker();
  w.start();
  await settle(s.clock);
  await s.outbox.enqueue({ id: "x", channel: "test", to: "1", chunks: ["hi"] });
  w.kick();
  await settle(s.clock);
  await w.stop();
  assert.equal(s.adapter.sent.length, 1);
});

Deno.test("a permanent refusal drops the message; an unknown channel too", async () => {
  await using s = await setup();
  await s.outbox.enqueue({ id: "p", channel: "test", to: "1", chunks: ["bad", "never"] });
  await s.outbox.enqueue({ id: "q", channel: "nowhere", to: "1", chunks: ["lost"] });
  await s.outbox.enqueue({ id: "n", channel: "test", to: "1", chunks: ["next"] });
  s.adapter.failures.push(new ChannelSendError("permanent", "chat not found"));
  const w = s.worker();
  w.start();
  await settle(s.clock);
  await w.stop();
  assert.deepEqual(s.adapter.sent.map((m) => m.text), ["next"]);
  assert.deepEqual(await s.outbox.pending(), []);
});

Deno.test("the message tool queues through the outbox and the worker delivers it", async () => {
  const adapter = new RecordingAdapter();
  await using gw = await startTestGateway({
    channels: [adapter],
    config: '[tools]\nallow = ["message"]\n',
  });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script(
    {
      toolCalls: [{
        id: "m1",
        name: "message",
        arguments: JSON.stringify({ channel: "test", to: "42", text: "first\n---\nsecond" }),
      }],
    },
    { text: "sent" },
  );
  const runId = (await c.request<{ runId: string }>("chat.send", {
    sessionKey: "agent:main:main",
    message: "tell 42",
    idempotencyKey: crypto.randomUUID(),
  })).runId;
  assert.equal((await log.end(runId)).state, "final");
  await log.until(() => adapter.sent.length === 2);
  assert.deepEqual(adapter.sent.map((m) => [m.to, m.text]), [["42", "first"], ["42", "second"]]);
  const fed = (gw.fake.requests.at(-1)!.body.messages as { role: string; content: string }[])
    .find((m) => m.role === "tool");
  assert.equal(fed?.content, "queued for test:42 (2 messages)");
});

Deno.test("message is for the owner's conversations only unless an override allows it", async () => {
  const adapter = new RecordingAdapter();
  await using gw = await startTestGateway({
    channels: [adapter],
    config: `[tools]
allow = ["message"]
[[tools.overrides]]
channel = "test"
sender = "7"
allow = ["message"]
`,
  });
  const c = await gw.client();
  const effective = async (channel?: string, sender?: string) =>
    (await c.request<{ tools: { name: string; enabled: boolean; why: string[] }[] }>(
      "tools.effective",
      { sessionKey: "agent:main:main", ...(channel ? { channel, sender } : {}) },
    )).tools.find((t) => t.name === "message")!;
  assert.equal((await effective()).enabled, true, "the operator is the owner");
  const stranger = await effective("test", "99");
  assert.equal(stranger.enabled, false);
  assert.equal(stranger.why.at(-1), "message is for the owner's conversations only");
  assert.equal((await effective("test", "7")).enabled, true, "an override for the sender");
});

Deno.test("without a channel the message tool is off and says why", async () => {
  await using gw = await startTestGateway({ config: '[tools]\nallow = ["message"]\n' });
  const c = await gw.client();
  const r = await c.request<{ tools: { name: string; enabled: boolean; why: string[] }[] }>(
    "tools.effective",
    { sessionKey: "agent:main:main" },
  );
  const message = r.tools.find((t) => t.name === "message")!;
  assert.equal(message.enabled, false);
  assert.equal(message.why.at(-1), "message is off: no channel is configured to send to");
});

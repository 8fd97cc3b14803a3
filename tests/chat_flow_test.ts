import assert from "node:assert/strict";
import type { GatewayClient } from "../src/cli/client.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { EventLog } from "./_helpers/events.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

let n = 0;
async function send(
  c: GatewayClient,
  sessionKey: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  return (await c.request<{ runId: string }>("chat.send", {
    sessionKey,
    message,
    idempotencyKey: `k${++n}-${crypto.randomUUID()}`,
    ...extra,
  })).runId;
}

const userTexts = (body: { messages: { role: string; content: unknown }[] }) =>
  body.messages.filter((m) => m.role === "user").map((m) => String(m.content));

Deno.test("a turn streams deltas, ends final, and lands in the transcript", async () => {
  await using gw = await startTestGateway();
  const c = await gw.client();
  const log = new EventLog(c);
  const runId = await send(c, "agent:main:main", "hello gateway");
  const end = await log.end(runId);
  assert.equal(end.state, "final");
  assert.deepEqual(end.message, { role: "assistant", text: "echo: hello gateway" });
  const deltas = log.chat(runId).filter((p) => p.state === "delta").map((p) => p.deltaText).join(
    "",
  );
  assert.equal(deltas, "echo: hello gateway");
  const lifecycle = log.events.filter((e) =>
    e.event === "agent" && e.payload.stream === "lifecycle"
  )
    .map((e) => (e.payload.data as { phase: string }).phase);
  assert.deepEqual(lifecycle, ["start", "end"]);
  const h = await c.request<{ messages: { role: string; text: string }[] }>("chat.history", {
    sessionKey: "agent:main:main",
  });
  assert.deepEqual(h.messages.map((m) => [m.role, m.text]), [
    ["user", "hello gateway"],
    ["assistant", "echo: hello gateway"],
  ]);
  const body = gw.fake.requests[0].body as { messages: { role: string }[]; model: string };
  assert.equal(body.model, "test-model");
  assert.equal(body.messages[0].role, "system");
});

Deno.test("two sessions in parallel never share context", async () => {
  await using fake = await FakeOpenAI.start({ latencyMs: 50 });
  await using gw = await startTestGateway({ fake });
  const c = await gw.client();
  const log = new EventLog(c);
  const a = "agent:main:cli:direct:alice";
  const b = "agent:main:cli:direct:bob";
  const runs = await Promise.all([send(c, a, "alice-1"), send(c, b, "bob-1")]);
  await Promise.all(runs.map((r) => log.end(r)));
  const more = await Promise.all([send(c, a, "alice-2"), send(c, b, "bob-2")]);
  await Promise.all(more.map((r) => log.end(r)));
  for (const r of fake.requests) {
    const texts = userTexts(r.body as never);
    const who = texts[texts.length - 1].split("-")[0];
    assert.ok(texts.every((t) => t.startsWith(who)), `context mixed sessions: ${texts}`);
  }
  assert.equal(fake.requests.length, 4);
  assert.deepEqual((await log.end(more[0])).message, { role: "assistant", text: "echo: alice-2" });
});

Deno.test("two messages to one session never run at once", async () => {
  await using fake = await FakeOpenAI.start({ latencyMs: 80 });
  await using gw = await startTestGateway({ fake });
  const c = await gw.client();
  const log = new EventLog(c);
  const r1 = await send(c, "agent:main:main", "first");
  const r2 = await send(c, "agent:main:main", "second");
  await log.end(r2);
  const order = log.events.filter((e) => e.event === "chat").map((e) =>
    `${e.payload.runId === r1 ? 1 : 2}:${e.payload.state}`
  );
  assert.ok(order.indexOf("1:final") < order.indexOf("2:delta"), `interleaved: ${order}`);
  const second = fake.requests[1].body as { messages: { role: string; content: string }[] };
  assert.deepEqual(second.messages.slice(1).map((m) => m.content), [
    "first",
    "echo: first",
    "second",
  ]);
});

Deno.test("a replayed idempotencyKey returns the first runId and runs nothing", async () => {
  await using gw = await startTestGateway();
  const c = await gw.client();
  const log = new EventLog(c);
  const params = { sessionKey: "agent:main:main", message: "once", idempotencyKey: "same-key" };
  const first = await c.request<{ runId: string }>("chat.send", params);
  await log.end(first.runId);
  const again = await c.request<{ runId: string; duplicate?: boolean }>("chat.send", params);
  assert.equal(again.runId, first.runId);
  assert.equal(again.duplicate, true);
  const h = await c.request<{ messages: unknown[] }>("chat.history", {
    sessionKey: "agent:main:main",
  });
  assert.equal(h.messages.length, 2);
  assert.equal(gw.fake.requestCount, 1);
});

Deno.test("queue modes", async (t) => {
  await using fake = await FakeOpenAI.start();
  await using gw = await startTestGateway({ fake, config: "[agent.queue]\ndebounce_ms = 50\n" });
  const c = await gw.client();
  const log = new EventLog(c);
  let s = 0;

  await t.step("followup: each queued message is its own turn", async () => {
    const key = `agent:main:t:direct:f${++s}`;
    fake.reset();
    fake.latencyMs = 60;
    const r1 = await send(c, key, "one");
    const r2 = await send(c, key, "two", { queueMode: "followup" });
    const r3 = await send(c, key, "three", { queueMode: "followup" });
    await log.end(r3);
    assert.equal(fake.requestCount, 3);
    for (const r of [r1, r2, r3]) assert.equal((await log.end(r)).state, "final");
  });

  await t.step("collect: messages queued while busy run as one turn", async () => {
    const key = `agent:main:t:direct:c${++s}`;
    fake.reset();
    fake.latencyMs = 100;
    const r1 = await send(c, key, "one", { queueMode: "collect" });
    const r2 = await send(c, key, "two", { queueMode: "collect" });
    const r3 = await send(c, key, "three", { queueMode: "collect" });
    await log.end(r1);
    const end2 = await log.end(r2);
    assert.equal(end2.state, "final");
    assert.deepEqual(end2.runIds, [r2, r3], "one run answers both");
    assert.equal((await log.end(r3)).state, "final");
    assert.equal(fake.requestCount, 2);
    assert.deepEqual(userTexts(fake.requests[1].body as never), ["one", "two", "three"]);
  });

  await t.step("interrupt: the running turn is aborted and the newest runs", async () => {
    const key = `agent:main:t:direct:i${++s}`;
    fake.reset();
    fake.latencyMs = 0;
    fake.script({ text: "partial", fault: "stall" });
    const r1 = await send(c, key, "long task");
    await log.until((l) => l.chat(r1).some((p) => p.state === "delta"));
    const r2 = await send(c, key, "never mind", { queueMode: "interrupt" });
    const end1 = await log.end(r1);
    assert.equal(end1.state, "aborted");
    assert.match((end1.error as { message: string }).message, /interrupted/);
    assert.equal((await log.end(r2)).state, "final");
    const h = await c.request<{ messages: { role: string; text: string }[] }>("chat.history", {
      sessionKey: key,
    });
    assert.deepEqual(h.messages.map((m) => m.role), [
      "user",
      "assistant",
      "system",
      "user",
      "assistant",
    ]);
    assert.equal(h.messages[1].text, "partial");
    assert.match(h.messages[2].text, /turn stopped: interrupted/);
  });

  await t.step("steer: a message joins the running turn at its next model boundary", async () => {
    const key = `agent:main:t:direct:s${++s}`;
    fake.reset();
    fake.latencyMs = 150;
    const r1 = await send(c, key, "write a poem");
    await new Promise((r) => setTimeout(r, 30)); // r1's model call is in flight
    const r2 = await send(c, key, "make it short", { queueMode: "steer" });
    const end = await log.end(r1);
    assert.equal(end.state, "final");
    assert.deepEqual(end.runIds, [r1, r2]);
    assert.equal((await log.end(r2)).state, "final", "the steered message's run id ends too");
    const streamed = log.chat(r1).filter((p) => p.state === "delta").map((p) => p.deltaText).join(
      "",
    );
    assert.equal(streamed, "echo: write a poem\n\necho: make it short");
    assert.deepEqual(
      end.message,
      { role: "assistant", text: streamed },
      "final matches what streamed",
    );
    assert.equal(fake.requestCount, 2);
    assert.deepEqual(userTexts(fake.requests[1].body as never), ["write a poem", "make it short"]);
    assert.ok(
      log.events.some((e) =>
        e.event === "agent" && (e.payload.data as { phase?: string })?.phase === "steered"
      ),
    );
  });
});

Deno.test("a full queue drops the oldest waiting message with a visible note", async () => {
  await using fake = await FakeOpenAI.start({ latencyMs: 100 });
  await using gw = await startTestGateway({ fake, config: "[agent.queue]\ncap = 1\n" });
  const c = await gw.client();
  const log = new EventLog(c);
  const key = "agent:main:main";
  const r1 = await send(c, key, "running");
  const r2 = await send(c, key, "dropped one");
  const r3 = await send(c, key, "kept");
  const dropped = await log.end(r2);
  assert.equal(dropped.state, "error");
  assert.equal((dropped.error as { code: string }).code, "QUEUE_DROPPED");
  await log.end(r3);
  assert.equal((await log.end(r1)).state, "final");
  const h = await c.request<{ messages: { role: string; text: string }[] }>("chat.history", {
    sessionKey: key,
  });
  assert.ok(
    h.messages.some((m) => m.role === "system" && /queue was full.*"dropped one"/.test(m.text)),
  );
});

Deno.test("the watchdog stops a stuck turn and frees the session", async () => {
  await using gw = await startTestGateway({ config: "[agent]\ntimeout_seconds = 1\n" });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script({ fault: "stall" });
  const r1 = await send(c, "agent:main:main", "hang");
  const end = await log.end(r1, 5_000);
  assert.equal(end.state, "error");
  assert.equal((end.error as { code: string }).code, "TIMEOUT");
  assert.match((end.error as { message: string }).message, /agent\.timeout_seconds/);
  const r2 = await send(c, "agent:main:main", "still there?");
  assert.equal((await log.end(r2)).state, "final");
});

Deno.test("chat.abort stops the running turn", async () => {
  await using gw = await startTestGateway();
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script({ fault: "stall" });
  const r1 = await send(c, "agent:main:main", "hang");
  await log.until(() => gw.fake.requestCount === 1);
  assert.deepEqual(await c.request("chat.abort", { sessionKey: "agent:main:main" }), {
    aborted: true,
    dropped: 0,
  });
  assert.equal((await log.end(r1)).state, "aborted");
});

Deno.test("a lone model is retried once; failing again ends the turn with what happened", async () => {
  await using gw = await startTestGateway({ config: "[agent.failover]\nmax_wait_seconds = 0\n" });
  const c = await gw.client();
  const log = new EventLog(c);
  gw.fake.script({ fault: "server_error" });
  const r1 = await send(c, "agent:main:main", "hi");
  const first = await log.end(r1);
  assert.equal(first.state, "final", "the second pass over the chain answered");
  assert.deepEqual(log.statuses(r1).map((s) => [s.model, s.reason, s.next]), [
    ["fake/test-model", "server", "fake/test-model"],
  ]);

  gw.fake.script({ fault: "server_error" }, { fault: "rate_limit" });
  const r2 = await send(c, "agent:main:main", "hi again");
  const end = await log.end(r2);
  assert.equal(end.state, "error");
  const err = end.error as { code: string; message: string; retryable: boolean };
  assert.equal(err.code, "PROVIDER_ERROR");
  assert.match(err.message, /^model fake\/test-model failed \(rate_limit\): .*rate limited/);
  assert.equal(err.retryable, true);
  assert.equal(log.statuses(r2).at(-1)?.next, undefined, "the last status says nothing is left");
});

Deno.test("with no model configured the turn errors with how to configure one", async () => {
  await using gw = await startTestGateway({ config: `[agent]\nmodel = ""\n` });
  const c = await gw.client();
  const log = new EventLog(c);
  const end = await log.end(await send(c, "agent:main:main", "hi"));
  assert.equal(end.state, "error");
  assert.equal((end.error as { code: string }).code, "NO_MODEL");
  assert.match((end.error as { message: string }).message, /agent\.model = "openai\/<model>"/);
});

Deno.test("sessions: list, patch, reset, delete", async () => {
  await using gw = await startTestGateway();
  const c = await gw.client();
  const log = new EventLog(c);
  const key = "agent:main:telegram:direct:42";
  await log.end(await send(c, key, "hi"));
  const list = await c.request<{ sessions: Record<string, unknown>[] }>("sessions.list");
  assert.equal(list.sessions[0].key, key);
  assert.ok((list.sessions[0].inputTokens as number) > 0);
  await c.request("sessions.patch", { sessionKey: key, label: "phone", model: "fake/other" });
  assert.ok(
    log.events.some((e) => e.event === "sessions.changed" && e.payload.reason === "patched"),
  );
  await assert.rejects(
    c.request("sessions.patch", { sessionKey: key, model: "" }),
    (e: Error) => /use null to go back to the default model/.test(e.message),
  );
  await assert.rejects(
    c.request("sessions.patch", { sessionKey: key, model: "nope/x" }),
    (e: Error) => /nope/.test(e.message),
  );
  await log.end(await send(c, key, "again"));
  assert.equal((gw.fake.requests.at(-1)!.body as { model: string }).model, "other");
  const patched =
    (await c.request<{ sessions: Record<string, unknown>[] }>("sessions.list")).sessions[0];
  assert.equal(patched.label, "phone");
  await c.request("sessions.reset", { sessionKey: key });
  const h = await c.request<{ messages: unknown[] }>("chat.history", { sessionKey: key });
  assert.equal(h.messages.length, 0);
  assert.equal(
    (await c.request<{ sessions: Record<string, unknown>[] }>("sessions.list")).sessions[0].label,
    "phone",
  );
  await c.request("sessions.delete", { sessionKey: key });
  assert.equal((await c.request<{ sessions: unknown[] }>("sessions.list")).sessions.length, 0);
  await assert.rejects(
    c.request("sessions.delete", { sessionKey: key }),
    (e: Error) => /no session/.test(e.message),
  );
  assert.ok(
    log.events.some((e) => e.event === "sessions.changed" && e.payload.reason === "deleted"),
  );
});

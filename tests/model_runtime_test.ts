/**
 * The model runtime end to end inside one process: the real openai and Anthropic SDKs against the
 * fake servers, through the gateway's protocol. Failover per failure class, strict session models,
 * cooldowns, stalls, compaction, usage and `/model`.
 */
import assert from "node:assert/strict";
import type { GatewayClient } from "../src/cli/client.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeAnthropic } from "./_servers/anthropic.ts";
import { EventLog } from "./_helpers/events.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

const S = "agent:main:main";
/** Fallback to the Anthropic fake, one pass, short stall detection. */
const CHAIN = `
[agent]
fallbacks = ["claude/claude-test"]
[agent.failover]
rounds = 1
[providers.fake]
timeout_seconds = 2
idle_timeout_seconds = 1
[providers.claude]
timeout_seconds = 2
idle_timeout_seconds = 1
`;
/** The same with Anthropic first. */
const REVERSED = CHAIN.replace(
  'fallbacks = ["claude/claude-test"]',
  'model = "claude/claude-test"\nfallbacks = ["fake/test-model"]',
);

async function send(c: GatewayClient, message: string, sessionKey = S): Promise<string> {
  const r = await c.request<{ runId: string }>("chat.send", {
    sessionKey,
    message,
    idempotencyKey: crypto.randomUUID(),
  });
  return r.runId;
}

async function withGateway(
  fn: (
    h: { openai: FakeOpenAI; claude: FakeAnthropic; c: GatewayClient; log: EventLog },
  ) => Promise<void>,
  options: { config?: string; clock?: FakeClock } = {},
) {
  await using openai = await FakeOpenAI.start();
  await using claude = await FakeAnthropic.start();
  await using gw = await startTestGateway({
    fake: openai,
    anthropic: claude,
    config: options.config ?? CHAIN,
    clock: options.clock,
  });
  const c = await gw.client();
  await fn({ openai, claude, c, log: new EventLog(c) });
}

/**
 * Scripts `fault` on the primary, sends one message and checks the turn ends on the fallback:
 * one status event naming the failure class, the failed model's streamed text dropped.
 */
async function failsOver(
  config: string,
  primary: "openai" | "claude",
  fault: string,
  kind: string,
): Promise<void> {
  const [from, to] = primary === "openai"
    ? ["fake/test-model", "claude/claude-test"]
    : ["claude/claude-test", "fake/test-model"];
  await withGateway(async (h) => {
    const failing = primary === "openai" ? h.openai : h.claude;
    const fallback = primary === "openai" ? h.claude : h.openai;
    failing.script({ text: "partial words that will be dropped", fault: fault as never });
    const runId = await send(h.c, "hello");
    const end = await h.log.end(runId);
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.equal(end.model, to);
    assert.deepEqual(end.message, { role: "assistant", text: "echo: hello" });
    const statuses = h.log.statuses(runId);
    assert.equal(statuses.length, 1);
    assert.deepEqual(
      { ...statuses[0], detail: undefined, cooldownMs: undefined },
      {
        kind: "failover",
        attempt: 1,
        model: from,
        reason: kind,
        next: to,
        detail: undefined,
        cooldownMs: undefined,
      },
    );
    assert.ok((statuses[0].cooldownMs as number) >= 30_000);
    // The status event resets what the client shows: the failed model's text is gone.
    const status = h.log.chat(runId).find((p) => p.state === "status")!;
    assert.deepEqual(status.message, { role: "assistant", text: "" });
    assert.equal(fallback.requestCount, 1);
  }, { config });
}

Deno.test("fault matrix: each failure of an OpenAI primary ends on the Anthropic fallback", async (t) => {
  const cases = [
    ["rate_limit", "rate_limit"],
    ["overloaded", "overloaded"],
    ["server_error", "server"],
    ["stall", "timeout"],
    ["cut", "network"],
    ["bad_json", "server"],
    ["unauthorized", "auth"],
    ["billing", "billing"],
  ];
  for (const [fault, kind] of cases) {
    await t.step(`${fault} → ${kind}`, () => failsOver(CHAIN, "openai", fault, kind));
  }
});

Deno.test("fault matrix: each failure of an Anthropic primary ends on the OpenAI fallback", async (t) => {
  const cases = [
    ["rate_limit", "rate_limit"],
    ["overloaded", "overloaded"],
    ["server_error", "server"],
    ["stall", "timeout"],
    ["cut", "network"],
    ["stream_error", "overloaded"],
    ["unauthorized", "auth"],
    ["billing", "billing"],
  ];
  for (const [fault, kind] of cases) {
    await t.step(`${fault} → ${kind}`, () => failsOver(REVERSED, "claude", fault, kind));
  }
});

Deno.test("bad_request does not fail over: the turn ends with the provider's reason", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    openai.script({ fault: "bad_request" });
    const end = await log.end(await send(c, "hello"));
    assert.equal(end.state, "error");
    const error = end.error as { code: string; message: string; details: { kind: string } };
    assert.equal(error.code, "PROVIDER_ERROR");
    assert.equal(error.details.kind, "bad_request");
    assert.equal(claude.requestCount, 0);
    assert.equal(openai.requestCount, 1);
  });
});

Deno.test("a model the session picked is strict: no fallback, and the error says so", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    await c.request("sessions.patch", { sessionKey: S, model: "fake/test-model" });
    openai.script({ fault: "rate_limit" });
    const end = await log.end(await send(c, "hello"));
    assert.equal(end.state, "error");
    const error = end.error as { code: string; message: string };
    assert.match(error.message, /model fake\/test-model failed \(rate_limit\)/);
    assert.match(error.message, /no fallback was tried because this session's model was picked/);
    assert.equal(claude.requestCount, 0);
  });
});

Deno.test("a cooling primary is skipped by the next turns and used again after its cooldown", async () => {
  const clock = new FakeClock(Date.now());
  await withGateway(async ({ openai, claude, c, log }) => {
    openai.script({ fault: "server_error" });
    assert.equal((await log.end(await send(c, "one"))).model, "claude/claude-test");
    const models = await c.request<{ models: { ref: string; cooldown: unknown }[] }>(
      "models.list",
      {},
    );
    assert.deepEqual(models.models.map((m) => [m.ref, m.cooldown !== null]), [
      ["fake/test-model", true],
      ["claude/claude-test", false],
    ]);
    const second = await log.end(await send(c, "two"));
    assert.equal(second.model, "claude/claude-test");
    assert.deepEqual(log.statuses(second.runId as string), [], "no attempt on the cooling primary");
    assert.equal(openai.requestCount, 1);
    await clock.advance(30_000);
    const third = await log.end(await send(c, "three"));
    assert.equal(third.model, "fake/test-model");
    assert.equal(openai.requestCount, 2);
    assert.equal(claude.requestCount, 2);
  }, { clock });
});

Deno.test("a provider that never answers ends the turn within its timeout and frees the lane", async () => {
  const config = `
[agent.failover]
rounds = 1
[providers.fake]
timeout_seconds = 1
`;
  await withGateway(async ({ openai, c, log }) => {
    openai.script({ delayMs: 60_000 });
    const started = Date.now();
    const end = await log.end(await send(c, "anyone there?"), 8_000);
    const elapsed = Date.now() - started;
    assert.equal(end.state, "error");
    assert.match((end.error as { message: string }).message, /\(timeout\)/);
    assert.ok(elapsed < 5_000, `ended after ${elapsed} ms`);
    const next = await log.end(await send(c, "and now?"));
    assert.equal(next.state, "final");
    assert.deepEqual(next.message, { role: "assistant", text: "echo: and now?" });
  }, { config });
});

Deno.test("context overflow: older turns are compacted into a summary and the turn retried once", async () => {
  await withGateway(async ({ openai, c, log }) => {
    for (const text of ["first question", "second question"]) {
      assert.equal((await log.end(await send(c, text))).state, "final");
    }
    openai.reset();
    openai.script(
      { fault: "context_overflow" },
      { text: "SUMMARY: the user asked two questions" },
      { text: "answer after compaction" },
    );
    const runId = await send(c, "third question");
    const end = await log.end(runId);
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.deepEqual(end.message, { role: "assistant", text: "answer after compaction" });
    assert.deepEqual(log.statuses(runId).map((s) => s.kind), ["compaction"]);
    const [, summarise, retry] = openai.requests.map((r) => r.body);
    const summaryPrompt = String(summarise.messages.at(-1)?.content);
    assert.match(summaryPrompt, /User: first question/);
    assert.doesNotMatch(
      summaryPrompt,
      /third question/,
      "the running turn is kept, not summarised",
    );
    assert.match(String(retry.messages[0].content), /SUMMARY: the user asked two questions/);
    assert.deepEqual(
      retry.messages.slice(1).map((m) => [m.role, m.content]),
      [["user", "third question"]],
    );
    const history = await c.request<{ messages: { role: string; text: string }[] }>(
      "chat.history",
      { sessionKey: S },
    );
    assert.deepEqual(history.messages.map((m) => m.role), [
      "user",
      "assistant",
      "user",
      "assistant",
      "user",
      "compaction",
      "assistant",
    ], "the originals stay in the transcript");
  });
});

Deno.test("context overflow that survives compaction ends the turn with a clear error", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    assert.equal((await log.end(await send(c, "earlier"))).state, "final");
    openai.script(
      { fault: "context_overflow" },
      { text: "summary" },
      { fault: "context_overflow" },
    );
    const end = await log.end(await send(c, "now"));
    assert.equal(end.state, "error");
    assert.match(
      (end.error as { message: string }).message,
      /does not fit the model's context even after compaction: lower agent\.context_tokens/,
    );
    assert.equal(claude.requestCount, 0, "an overflow is not a reason to fail over");
  });
});

Deno.test("usage: tokens per turn add up per session in sessions.list and in status", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    openai.script({ text: "a", usage: { prompt_tokens: 11, completion_tokens: 3 } });
    const one = await log.end(await send(c, "one"));
    assert.deepEqual(one.usage, { inputTokens: 11, outputTokens: 3 });
    await c.request("sessions.patch", { sessionKey: S, model: "claude/claude-test" });
    claude.script({ text: "b", usage: { input_tokens: 20, output_tokens: 5 } });
    assert.equal((await log.end(await send(c, "two"))).state, "final");
    const list = await c.request<
      { sessions: { key: string; inputTokens: number; outputTokens: number }[] }
    >(
      "sessions.list",
      {},
    );
    const s = list.sessions.find((x) => x.key === S)!;
    assert.deepEqual([s.inputTokens, s.outputTokens], [31, 8]);
    const status = await c.request<{ usage: { inputTokens: number; outputTokens: number } }>(
      "status",
      {},
    );
    assert.deepEqual(status.usage, { sessions: 1, inputTokens: 31, outputTokens: 8 });
  });
});

Deno.test("/model in chat pins, shows and clears the session's model without a model call", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    const pin = await log.end(await send(c, "/model claude/claude-test"));
    assert.equal(pin.state, "final");
    assert.match((pin.message as { text: string }).text, /now uses claude\/claude-test.*strictly/);
    const show = await log.end(await send(c, "/model"));
    assert.match((show.message as { text: string }).text, /uses claude\/claude-test \(picked/);
    assert.match((show.message as { text: string }).text, /- fake\/test-model \(primary\): ready/);
    assert.equal((await log.end(await send(c, "hi"))).model, "claude/claude-test");
    const usage = await log.end(await send(c, "/model claude/claude-test please"));
    assert.match((usage.message as { text: string }).text, /^Usage: "\/model" shows the models/);
    const bad = await log.end(await send(c, "/model nope/x"));
    assert.match((bad.message as { text: string }).text, /Cannot use that model: .*"nope"/);
    const clear = await log.end(await send(c, "/model default"));
    assert.match(
      (clear.message as { text: string }).text,
      /fake\/test-model → claude\/claude-test/,
    );
    assert.equal((await log.end(await send(c, "hi again"))).model, "fake/test-model");
    assert.equal(openai.requestCount + claude.requestCount, 2, "commands call no model");
    const history = await c.request<{ messages: { text: string }[] }>("chat.history", {
      sessionKey: S,
    });
    assert.ok(history.messages.every((m) => !m.text.startsWith("/model")));
  });
});

Deno.test("the request for a first 'hi' stays within 8 KB (system prompt and tool schemas included)", async () => {
  await withGateway(async ({ openai, claude, c, log }) => {
    await log.end(await send(c, "hi"));
    await log.end(await send(c, "/model claude/claude-test", "agent:main:cli:direct:k"));
    await log.end(await send(c, "hi", "agent:main:cli:direct:k"));
    for (const body of [openai.requests[0].body, claude.requests[0].body]) {
      const bytes = new TextEncoder().encode(JSON.stringify(body)).length;
      assert.ok(bytes <= 8 * 1024, `${bytes} bytes`);
      assert.equal((body as { tools: unknown[] }).tools.length, 8, "the coding profile's tools");
    }
  });
});

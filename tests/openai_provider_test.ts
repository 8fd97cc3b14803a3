import assert from "node:assert/strict";
import { OpenAI } from "openai";
import type { ProviderConfig } from "../src/config/schema.ts";
import {
  type Clock,
  type ModelRequest,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
  silentLogger,
} from "../src/kernel/mod.ts";
import { createOpenAIProvider, ProviderRegistry } from "../src/providers/mod.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";
import { collect, failure, textOf } from "./_helpers/model_stream.ts";
import { FakeOpenAI } from "./_servers/openai.ts";

const KEY = "sk-test-0123456789abcdef";
const env = (vars: Record<string, string>) => (name: string) => vars[name];

function openai(
  fake: FakeOpenAI,
  options: { config?: Partial<ProviderConfig>; vars?: Record<string, string>; clock?: Clock } = {},
): Provider {
  return createOpenAIProvider(
    "openai",
    {
      kind: "openai",
      base_url: fake.url,
      timeout_seconds: 30,
      idle_timeout_seconds: 30,
      ...options.config,
    },
    { env: env(options.vars ?? {}), logger: silentLogger, clock: options.clock },
  );
}

const ask = (text: string, extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: "gpt-4.1-mini",
  messages: [{ role: "user", text }],
  ...extra,
});

Deno.test("openai provider streams text deltas, then usage, then one done", async () => {
  await using fake = await FakeOpenAI.start();
  fake.script({
    chunks: ["Hel", "lo ", "there"],
    usage: { prompt_tokens: 12, completion_tokens: 3 },
  });
  const events = await collect(openai(fake).stream(ask("hi"), new AbortController().signal));
  assert.deepEqual(events, [
    { type: "text", delta: "Hel" },
    { type: "text", delta: "lo " },
    { type: "text", delta: "there" },
    { type: "usage", inputTokens: 12, outputTokens: 3 },
    { type: "done", stopReason: "end" },
  ]);
});

Deno.test("openai provider maps finish reasons to stop reasons", async (t) => {
  await using fake = await FakeOpenAI.start();
  const provider = openai(fake);
  const cases: [string, string][] = [
    ["stop", "end"],
    ["length", "max_tokens"],
    ["tool_calls", "tool_use"],
    ["content_filter", "content_filter"],
  ];
  for (const [finishReason, stopReason] of cases) {
    await t.step(`${finishReason} is ${stopReason}`, async () => {
      fake.script({ text: "some text", finishReason });
      const events = await collect(provider.stream(ask("hi"), new AbortController().signal));
      assert.deepEqual(events.at(-1), { type: "done", stopReason });
      assert.equal(events.filter((e) => e.type === "done").length, 1);
    });
  }
});

Deno.test("openai provider echoes each request's own last user message by default", async () => {
  await using fake = await FakeOpenAI.start();
  const provider = openai(fake);
  const signal = new AbortController().signal;
  const [a, b] = await Promise.all([
    collect(provider.stream(ask("from session a"), signal)),
    collect(provider.stream(ask("from session b"), signal)),
  ]);
  assert.equal(textOf(a), "echo: from session a");
  assert.equal(textOf(b), "echo: from session b");
});

Deno.test("openai provider sends the system prompt and messages in order", async () => {
  await using fake = await FakeOpenAI.start();
  await collect(
    openai(fake).stream(
      {
        model: "gpt-4.1",
        system: "be brief",
        messages: [
          { role: "user", text: "one" },
          { role: "assistant", text: "two" },
          { role: "user", text: "three" },
        ],
        maxTokens: 64,
      },
      new AbortController().signal,
    ),
  );
  assert.equal(fake.requests.length, 1);
  const { body } = fake.requests[0];
  assert.equal(body.model, "gpt-4.1");
  assert.deepEqual(body.messages, [
    { role: "system", content: "be brief" },
    { role: "user", content: "one" },
    { role: "assistant", content: "two" },
    { role: "user", content: "three" },
  ]);
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  assert.equal(body.max_tokens, 64);
  assert.equal(body.tools, undefined);
});

Deno.test("openai provider sends tool specs as function tools", async () => {
  await using fake = await FakeOpenAI.start();
  const parameters = {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
  };
  await collect(
    openai(fake).stream(
      ask("weather?", {
        tools: [{ name: "get_weather", description: "Current weather in a city", parameters }],
      }),
      new AbortController().signal,
    ),
  );
  assert.deepEqual(fake.requests[0].body.tools, [{
    type: "function",
    function: { name: "get_weather", description: "Current weather in a city", parameters },
  }]);

  await collect(openai(fake).stream(ask("no tools", { tools: [] }), new AbortController().signal));
  assert.equal(fake.requests[1].body.tools, undefined);
});

Deno.test("openai provider reassembles streamed tool-call deltas into whole calls", async () => {
  await using fake = await FakeOpenAI.start();
  fake.script({
    text: "Let me check.",
    toolCalls: [
      { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      { id: "call_2", name: "get_time", arguments: '{"tz":"Europe/Paris"}' },
    ],
    usage: { prompt_tokens: 20, completion_tokens: 9 },
  });
  const events = await collect(openai(fake).stream(ask("weather?"), new AbortController().signal));
  assert.equal(textOf(events), "Let me check.");
  // Whole calls once the stream has finished, after usage and right before done.
  assert.deepEqual(events.slice(-4), [
    { type: "usage", inputTokens: 20, outputTokens: 9 },
    {
      type: "tool_call",
      call: { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
    },
    {
      type: "tool_call",
      call: { id: "call_2", name: "get_time", arguments: '{"tz":"Europe/Paris"}' },
    },
    { type: "done", stopReason: "tool_use" },
  ]);
});

Deno.test("openai provider sends assistant tool calls and their results on the wire", async () => {
  await using fake = await FakeOpenAI.start();
  await collect(
    openai(fake).stream(
      {
        model: "gpt-4.1",
        messages: [
          { role: "user", text: "weather in Paris and Rome?" },
          {
            role: "assistant",
            text: "",
            toolCalls: [
              { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
              { id: "toolu_01:x", name: "get_weather", arguments: '{"city":"Rome"' },
            ],
            reasoning: [{ text: "thinking about it", signature: "sig" }],
          },
          {
            role: "tool",
            results: [
              { callId: "call_1", name: "get_weather", content: "sunny", isError: false },
              { callId: "toolu_01:x", name: "get_weather", content: "bad JSON", isError: true },
            ],
          },
          { role: "assistant", text: "Paris is sunny.", toolCalls: [] },
        ],
      },
      new AbortController().signal,
    ),
  );
  assert.deepEqual(fake.requests[0].body.messages, [
    { role: "user", content: "weather in Paris and Rome?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        {
          id: "call_1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        },
        {
          id: "toolu_01:x",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Rome"' },
        },
      ],
    },
    { role: "tool", tool_call_id: "call_1", content: "sunny" },
    { role: "tool", tool_call_id: "toolu_01:x", content: "bad JSON" },
    { role: "assistant", content: "Paris is sunny." },
  ]);
});

Deno.test("openai provider sends the bearer key from the configured env var", async (t) => {
  await using fake = await FakeOpenAI.start();
  const signal = new AbortController().signal;

  await t.step("the key from api_key_env", async () => {
    const provider = openai(fake, {
      config: { api_key_env: "OPENAI_API_KEY" },
      vars: { OPENAI_API_KEY: KEY },
    });
    await collect(provider.stream(ask("hi"), signal));
    assert.equal(fake.requests.at(-1)?.authorization, `Bearer ${KEY}`);
  });

  await t.step("a placeholder when no api_key_env is configured", async () => {
    await collect(openai(fake).stream(ask("hi"), signal));
    assert.equal(fake.requests.at(-1)?.authorization, "Bearer not-needed");
  });
});

Deno.test("openai provider fails with auth without a request when the key env is unset", async () => {
  await using fake = await FakeOpenAI.start();
  const provider = openai(fake, { config: { api_key_env: "OPENAI_API_KEY" } });
  const err = await failure(provider.stream(ask("hi"), new AbortController().signal));
  assert.equal(err.kind, "auth");
  assert.equal(
    err.message,
    "provider openai: env OPENAI_API_KEY is not set: export it before starting the gateway",
  );
  assert.equal(fake.requestCount, 0);
});

Deno.test("openai provider classifies HTTP failures", async (t) => {
  await using fake = await FakeOpenAI.start();
  const provider = openai(fake, {
    config: { api_key_env: "OPENAI_API_KEY" },
    vars: { OPENAI_API_KEY: KEY },
  });
  const call = () => failure(provider.stream(ask("hi"), new AbortController().signal));

  await t.step("429 is rate_limit with retryAfterMs from retry-after", async () => {
    fake.script({ fault: "rate_limit", retryAfterSeconds: 7 });
    const err = await call();
    assert.equal(err.kind, "rate_limit");
    assert.equal(err.options.status, 429);
    assert.equal(err.options.retryAfterMs, 7000);
    assert.match(err.message, /^provider openai: HTTP 429/);
  });

  await t.step("500 is server", async () => {
    fake.script({ fault: "server_error" });
    const err = await call();
    assert.equal(err.kind, "server");
    assert.equal(err.options.status, 500);
    assert.match(err.message, /provider openai: HTTP 500/);
  });

  await t.step("401 is auth, and the message never repeats the key", async () => {
    fake.script({ fault: "unauthorized" });
    const err = await call();
    assert.equal(err.kind, "auth");
    assert.equal(err.options.status, 401);
    assert.match(err.message, /provider openai: HTTP 401 .*OPENAI_API_KEY/);
    assert.ok(!err.message.includes(KEY));
    assert.ok(!String(err.cause ?? "").includes(KEY));
  });

  await t.step("400 context_length_exceeded is context_overflow", async () => {
    fake.script({ fault: "context_overflow" });
    const err = await call();
    assert.equal(err.kind, "context_overflow");
    assert.equal(err.options.status, 400);
  });

  await t.step("a garbage body is server", async () => {
    fake.script({ fault: "bad_json" });
    const err = await call();
    assert.equal(err.kind, "server");
  });

  await t.step("no request was retried by the SDK", () => {
    assert.equal(fake.requestCount, 5);
  });
});

Deno.test("openai provider fails with network when the stream is cut mid-way", async () => {
  await using fake = await FakeOpenAI.start();
  fake.script({ chunks: ["one ", "two ", "three ", "four"], fault: "cut" });
  const seen: ModelStreamEvent[] = [];
  const err = await failure((async function* () {
    for await (const e of openai(fake).stream(ask("hi"), new AbortController().signal)) {
      seen.push(e);
      yield e;
    }
  })());
  assert.equal(err.kind, "network");
  assert.ok(seen.length > 0 && seen.every((e) => e.type === "text"), JSON.stringify(seen));
});

Deno.test("openai provider fails with network when the server is unreachable", async () => {
  const fake = await FakeOpenAI.start();
  await fake.close();
  const err = await failure(openai(fake).stream(ask("hi"), new AbortController().signal));
  assert.equal(err.kind, "network");
  assert.match(err.message, /127\.0\.0\.1/);
});

Deno.test("openai provider ends a stalled stream as aborted when the signal aborts", async (t) => {
  await using fake = await FakeOpenAI.start();

  await t.step("abort after a first delta", async () => {
    fake.script({ text: "partial", fault: "stall" });
    const ac = new AbortController();
    const it = openai(fake).stream(ask("hi"), ac.signal)[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value, { type: "text", delta: "partial" });
    const started = performance.now();
    const next = it.next();
    ac.abort();
    await assert.rejects(next, (err) => err instanceof ProviderError && err.kind === "aborted");
    assert.ok(performance.now() - started < 1000);
  });

  await t.step("abort 100 ms into a silent stream", async () => {
    fake.script({ fault: "stall" });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    const err = await failure(openai(fake).stream(ask("hi"), ac.signal));
    clearTimeout(timer);
    assert.equal(err.kind, "aborted");
    assert.ok(performance.now() - started < 1000);
  });

  await t.step("an already aborted signal sends nothing", async () => {
    const before = fake.requestCount;
    const err = await failure(openai(fake).stream(ask("hi"), AbortSignal.abort()));
    assert.equal(err.kind, "aborted");
    assert.equal(fake.requestCount, before);
  });
});

Deno.test("openai provider times the response start and the silences after it apart", async (t) => {
  await using fake = await FakeOpenAI.start();
  const config = { timeout_seconds: 30, idle_timeout_seconds: 5 };
  const signal = new AbortController().signal;

  await t.step("a stream silent for idle_timeout_seconds after it started", async () => {
    fake.script({ text: "partial", fault: "stall" });
    const clock = new FakeClock();
    const it = openai(fake, { config, clock }).stream(ask("hi"), signal)[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value, { type: "text", delta: "partial" });
    const next = it.next().then(
      () => assert.fail("the stream went on"),
      (e: unknown) => e,
    );
    await clock.advance(4_999);
    assert.equal(clock.pending, 1);
    await clock.advance(1);
    const err = await next;
    assert.ok(err instanceof ProviderError);
    assert.equal(err.kind, "timeout");
    assert.equal(
      err.message,
      "provider openai: the stream went silent for 5s: raise idle_timeout_seconds in [providers.openai] if the model pauses that long",
    );
    assert.equal(clock.pending, 0);
  });

  await t.step(
    "a response that has not started gets timeout_seconds, not the idle limit",
    async () => {
      fake.script({ text: "late", delayMs: 60_000 });
      const clock = new FakeClock();
      const stream = openai(fake, { config, clock }).stream(ask("hi"), signal);
      const result = failure(stream);
      await clock.advance(10_000); // twice the idle limit: still waiting for the start
      assert.equal(clock.pending, 1);
      await clock.advance(20_000);
      const err = await result;
      assert.equal(err.kind, "timeout");
      assert.equal(
        err.message,
        "provider openai: no response for 30s: raise timeout_seconds in [providers.openai] if the model is slow",
      );
      assert.equal(clock.pending, 0);
    },
  );
});

Deno.test("openai provider stops the request when the consumer stops reading", async () => {
  await using fake = await FakeOpenAI.start();
  fake.script({ text: "partial", fault: "stall" });
  for await (const e of openai(fake).stream(ask("hi"), new AbortController().signal)) {
    assert.deepEqual(e, { type: "text", delta: "partial" });
    break;
  }
});

Deno.test("fake openai speaks the wire format the SDK reassembles", async (t) => {
  await using fake = await FakeOpenAI.start();
  const client = new OpenAI({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });

  await t.step("streamed tool calls", async () => {
    fake.script({
      text: "Let me check.",
      toolCalls: [
        { id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
        { id: "call_2", name: "get_time", arguments: '{"tz":"Europe/Paris"}' },
      ],
    });
    const runner = client.chat.completions.stream({
      model: "gpt-4.1-mini",
      messages: [{ role: "user", content: "weather?" }],
      stream_options: { include_usage: true },
    });
    const done = await runner.finalChatCompletion();
    const choice = done.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, "Let me check.");
    assert.deepEqual(
      choice.message.tool_calls?.map((c) =>
        c.type === "function" ? [c.id, c.function.name, c.function.arguments] : []
      ),
      [["call_1", "get_weather", '{"city":"Paris"}'], [
        "call_2",
        "get_time",
        '{"tz":"Europe/Paris"}',
      ]],
    );
    assert.ok(done.usage && done.usage.total_tokens > 0);
  });

  await t.step("non-streaming completions", async () => {
    const done = await client.chat.completions.create({
      model: "gpt-4.1-mini",
      messages: [{ role: "user", content: "plain" }],
    });
    assert.equal(done.object, "chat.completion");
    assert.equal(done.choices[0].message.content, "echo: plain");
  });

  await t.step("the models list", async () => {
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === "gpt-4.1-mini"));
  });

  await t.step("requests are recorded up to the cap", () => {
    assert.equal(fake.requestCount, 2);
    assert.equal(fake.requests[1].authorization, `Bearer ${KEY}`);
    fake.reset();
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("fake openai keeps only the most recent requests", async () => {
  await using fake = await FakeOpenAI.start({ maxRecorded: 2 });
  const provider = openai(fake);
  for (const text of ["a", "b", "c"]) {
    await collect(provider.stream(ask(text), new AbortController().signal));
  }
  assert.equal(fake.requestCount, 3);
  assert.deepEqual(fake.requests.map((r) => r.body.messages[0].content), ["b", "c"]);
});

Deno.test("provider registry resolves <provider>/<model> refs", async (t) => {
  const registry = new ProviderRegistry(
    {
      openai: {
        kind: "openai",
        api_key_env: "OPENAI_API_KEY",
        timeout_seconds: 120,
        idle_timeout_seconds: 60,
      },
      openrouter: {
        kind: "openai",
        base_url: "https://openrouter.ai/api/v1",
        timeout_seconds: 120,
        idle_timeout_seconds: 60,
      },
    },
    { env: env({}), logger: silentLogger },
  );

  await t.step("splits at the first slash and reuses the provider", () => {
    const a = registry.resolve("openai/gpt-4.1-mini");
    const b = registry.resolve("openai/gpt-4.1");
    assert.ok(a.ok && b.ok);
    assert.equal(a.provider.id, "openai");
    assert.equal(a.provider.kind, "openai");
    assert.equal(a.model, "gpt-4.1-mini");
    assert.equal(b.provider, a.provider);
  });

  await t.step("keeps further slashes in the model", () => {
    const r = registry.resolve("openrouter/meta-llama/llama-3");
    assert.ok(r.ok);
    assert.equal(r.provider.id, "openrouter");
    assert.equal(r.model, "meta-llama/llama-3");
  });

  await t.step("reports an unknown provider with the configured ids and the fix", () => {
    const r = registry.resolve("anthropic/claude");
    assert.ok(!r.ok);
    assert.match(r.reason, /"anthropic"/);
    assert.match(r.reason, /add \[providers\.anthropic\] to the config/);
    assert.match(r.reason, /openai, openrouter/);
    assert.ok(!registry.resolve("constructor/x").ok);
  });

  await t.step("rejects refs without a model", () => {
    for (const ref of ["openai", "openai/", "/gpt"]) {
      const r = registry.resolve(ref);
      assert.ok(!r.ok);
      assert.match(r.reason, /<provider>\/<model>/);
    }
  });

  await t.step("lists the configured ids", () => {
    assert.deepEqual(registry.ids(), ["openai", "openrouter"]);
  });
});

import assert from "node:assert/strict";
import type { LoadedConfig } from "../src/config/mod.ts";
import { parseConfig, type ProviderConfig } from "../src/config/mod.ts";
import {
  type Clock,
  type ModelMessage,
  type ModelRequest,
  type Provider,
  ProviderError,
  silentLogger,
  type ToolSpec,
} from "../src/kernel/mod.ts";
import {
  ANTHROPIC_SDK_ENV,
  gatewayNeeds,
  missingNeeds,
  needFlag,
  toFlags,
} from "../src/permissions/mod.ts";
import {
  createAnthropicProvider,
  DEFAULT_MAX_TOKENS,
  ProviderRegistry,
  toolUseId,
} from "../src/providers/mod.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";
import { collect, failure, textOf } from "./_helpers/model_stream.ts";
import { FakeAnthropic } from "./_servers/anthropic.ts";

const KEY = "sk-ant-test-0123456789abcdef";
const KEY_ENV = "ANTHROPIC_API_KEY";

function anthropic(
  fake: FakeAnthropic,
  options: {
    config?: Partial<ProviderConfig>;
    env?: (name: string) => string | undefined;
    clock?: Clock;
  } = {},
): Provider {
  return createAnthropicProvider(
    "claude",
    {
      kind: "anthropic",
      base_url: fake.url,
      api_key_env: KEY_ENV,
      timeout_seconds: 30,
      idle_timeout_seconds: 30,
      ...options.config,
    },
    {
      env: options.env ?? ((name) => (name === KEY_ENV ? KEY : undefined)),
      logger: silentLogger,
      clock: options.clock,
    },
  );
}

const ask = (
  messages: ModelMessage[] | string,
  extra: Partial<ModelRequest> = {},
): ModelRequest => ({
  model: "claude-fake-1",
  messages: typeof messages === "string" ? [{ role: "user", text: messages }] : messages,
  ...extra,
});

const never = () => new AbortController().signal;

const weather: ToolSpec = {
  name: "get_weather",
  description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

Deno.test("anthropic provider streams text deltas, then usage, then one done", async () => {
  await using fake = await FakeAnthropic.start();
  fake.script({ chunks: ["Hel", "lo ", "there"], usage: { input_tokens: 12, output_tokens: 3 } });
  const events = await collect(anthropic(fake).stream(ask("hi"), never()));
  assert.deepEqual(events, [
    { type: "text", delta: "Hel" },
    { type: "text", delta: "lo " },
    { type: "text", delta: "there" },
    { type: "usage", inputTokens: 12, outputTokens: 3 },
    { type: "done", stopReason: "end" },
  ]);
});

Deno.test("anthropic provider maps stop reasons", async (t) => {
  await using fake = await FakeAnthropic.start();
  const provider = anthropic(fake);
  const cases = [
    ["end_turn", "end"],
    ["stop_sequence", "end"],
    ["max_tokens", "max_tokens"],
    ["refusal", "refusal"],
  ] as const;
  for (const [stopReason, ours] of cases) {
    await t.step(`${stopReason} is ${ours}`, async () => {
      fake.script({ text: "some text", stopReason });
      const events = await collect(provider.stream(ask("hi"), never()));
      assert.deepEqual(events.at(-1), { type: "done", stopReason: ours });
      assert.equal(events.filter((e) => e.type === "done").length, 1);
    });
  }
});

Deno.test("anthropic provider sends the model, system prompt, output cap and bearer key", async (t) => {
  await using fake = await FakeAnthropic.start();

  await t.step("defaults: the named max_tokens, no tools, no thinking", async () => {
    const events = await collect(
      anthropic(fake).stream(ask("hello", { system: "be brief" }), never()),
    );
    assert.equal(textOf(events), "echo: hello");
    const req = fake.requests.at(-1)!;
    assert.equal(req.body.model, "claude-fake-1");
    assert.equal(req.body.system, "be brief");
    assert.equal(req.body.max_tokens, DEFAULT_MAX_TOKENS);
    assert.equal(req.body.stream, true);
    assert.equal(req.body.tools, undefined);
    assert.equal(req.body.thinking, undefined);
    assert.deepEqual(req.body.messages, [{
      role: "user",
      content: [{ type: "text", text: "hello" }],
    }]);
    // SDK 1.12 sends the key as a bearer token.
    assert.equal(req.authorization, `Bearer ${KEY}`);
    assert.equal(req.apiKey, null);
    assert.ok(req.anthropicVersion);
  });

  await t.step("the request's own cap, and no system prompt when unset", async () => {
    await collect(anthropic(fake).stream(ask("hello", { maxTokens: 64 }), never()));
    const req = fake.requests.at(-1)!;
    assert.equal(req.body.max_tokens, 64);
    assert.equal("system" in req.body, false);
  });

  await t.step("a placeholder key when no api_key_env is configured", async () => {
    await collect(
      anthropic(fake, { config: { api_key_env: undefined } }).stream(ask("hi"), never()),
    );
    assert.equal(fake.requests.at(-1)!.authorization, "Bearer not-needed");
  });
});

Deno.test("anthropic provider sends tool specs with their schema as input_schema", async () => {
  await using fake = await FakeAnthropic.start();
  await collect(anthropic(fake).stream(ask("weather?", { tools: [weather] }), never()));
  assert.deepEqual(fake.requests[0].body.tools, [{
    name: "get_weather",
    description: "Current weather in a city",
    input_schema: weather.parameters,
  }]);

  await collect(anthropic(fake).stream(ask("no tools", { tools: [] }), never()));
  assert.equal(fake.requests[1].body.tools, undefined);
});

Deno.test("anthropic provider reassembles tool_use input from input_json_delta pieces", async (t) => {
  await using fake = await FakeAnthropic.start();

  await t.step("parallel calls, each whole at its block's stop, in order", async () => {
    fake.script({
      text: "Let me check.",
      toolCalls: [
        { id: "toolu_01", name: "get_weather", input: { city: "Paris", units: "metric" } },
        { id: "toolu_02", name: "get_weather", input: { city: "Rome" } },
      ],
      usage: { input_tokens: 30, output_tokens: 20 },
    });
    const events = await collect(
      anthropic(fake).stream(ask("weather?", { tools: [weather] }), never()),
    );
    assert.equal(textOf(events), "Let me check.");
    const calls = events.flatMap((e) => (e.type === "tool_call" ? [e.call] : []));
    assert.deepEqual(calls.map((c) => [c.id, c.name, JSON.parse(c.arguments)]), [
      ["toolu_01", "get_weather", { city: "Paris", units: "metric" }],
      ["toolu_02", "get_weather", { city: "Rome" }],
    ]);
    assert.deepEqual(events.slice(-2), [
      { type: "usage", inputTokens: 30, outputTokens: 20 },
      { type: "done", stopReason: "tool_use" },
    ]);
  });

  await t.step("a call with no input pieces has arguments {}", async () => {
    fake.script({ toolCalls: [{ id: "toolu_03", name: "list_files", arguments: "" }] });
    const events = await collect(anthropic(fake).stream(ask("files?"), never()));
    assert.deepEqual(events.find((e) => e.type === "tool_call"), {
      type: "tool_call",
      call: { id: "toolu_03", name: "list_files", arguments: "{}" },
    });
  });
});

Deno.test("anthropic provider translates a history with another provider's ids and results", async () => {
  await using fake = await FakeAnthropic.start();
  const odd = "call:abc.1/x"; // not a valid Anthropic tool id
  const events = await collect(
    anthropic(fake).stream(
      ask([
        { role: "user", text: "weather in Paris and Rome?" },
        {
          role: "assistant",
          text: "Checking both.",
          toolCalls: [
            { id: odd, name: "get_weather", arguments: '{"city":"Paris"}' },
            { id: "call_2", name: "get_weather", arguments: '{"city":"Rome"' }, // invalid JSON
          ],
        },
        {
          role: "tool",
          results: [
            { callId: odd, name: "get_weather", content: "sunny", isError: false },
            { callId: "call_2", name: "get_weather", content: "invalid arguments", isError: true },
          ],
        },
      ], { tools: [weather] }),
      never(),
    ),
  );
  // The fake checks pairing and id patterns as the API does, and echoes the results.
  assert.equal(textOf(events), "tool results: sunny, invalid arguments");
  const mapped = toolUseId(odd);
  assert.match(mapped, /^[a-zA-Z0-9_-]+$/);
  assert.equal(mapped, toolUseId(odd), "the mapping is deterministic");
  assert.notEqual(toolUseId("call:abc.1/x"), toolUseId("call_abc_1_x"));
  assert.deepEqual(fake.requests[0].body.messages, [
    { role: "user", content: [{ type: "text", text: "weather in Paris and Rome?" }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Checking both." },
        { type: "tool_use", id: mapped, name: "get_weather", input: { city: "Paris" } },
        { type: "tool_use", id: "call_2", name: "get_weather", input: {} },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: mapped, content: "sunny", is_error: false },
        {
          type: "tool_result",
          tool_use_id: "call_2",
          content: "invalid arguments",
          is_error: true,
        },
      ],
    },
  ]);
});

Deno.test("anthropic provider merges consecutive messages of one role and drops empty ones", async () => {
  await using fake = await FakeAnthropic.start();
  const events = await collect(
    anthropic(fake).stream(
      ask([
        { role: "user", text: "first" },
        { role: "assistant", text: "" }, // an empty reply: dropped, so the users merge
        { role: "user", text: "second" },
        { role: "assistant", text: "Let me look." },
        {
          role: "assistant",
          text: "",
          toolCalls: [{ id: "toolu_9", name: "get_weather", arguments: '{"city":"Oslo"}' }],
        },
        {
          role: "tool",
          results: [{ callId: "toolu_9", name: "get_weather", content: "snow", isError: false }],
        },
        { role: "user", text: "and tomorrow?" }, // steered in during the tool round
      ], { tools: [weather] }),
      never(),
    ),
  );
  assert.equal(textOf(events), "echo: and tomorrow?");
  assert.deepEqual(fake.requests[0].body.messages, [
    {
      role: "user",
      content: [{ type: "text", text: "first" }, { type: "text", text: "second" }],
    },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Let me look." },
        { type: "tool_use", id: "toolu_9", name: "get_weather", input: { city: "Oslo" } },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_9", content: "snow", is_error: false },
        { type: "text", text: "and tomorrow?" },
      ],
    },
  ]);
});

Deno.test("anthropic provider thinks when asked and passes its thinking back in the tool loop", async (t) => {
  await using fake = await FakeAnthropic.start();
  const provider = anthropic(fake);
  const thinkingTokens = 2048;
  const history: ModelMessage[] = [{ role: "user", text: "weather in Paris?" }];

  await t.step(
    "reasoning events with the signature, and the budget on top of the cap",
    async () => {
      fake.script({
        thinking: "The user wants the weather.",
        toolCalls: [{ id: "toolu_1", name: "get_weather", input: { city: "Paris" } }],
      });
      const events = await collect(
        provider.stream(ask(history, { tools: [weather], thinkingTokens }), never()),
      );
      const reasoning = events.flatMap((e) => (e.type === "reasoning" ? [e.block] : []));
      assert.equal(reasoning.length, 1);
      assert.equal(reasoning[0].text, "The user wants the weather.");
      assert.match(reasoning[0].signature ?? "", /^fake-signature-/);
      const body = fake.requests.at(-1)!.body;
      assert.deepEqual(body.thinking, { type: "enabled", budget_tokens: thinkingTokens });
      assert.equal(body.max_tokens, thinkingTokens + DEFAULT_MAX_TOKENS);
      const calls = events.flatMap((e) => (e.type === "tool_call" ? [e.call] : []));
      history.push(
        { role: "assistant", text: "", toolCalls: calls, reasoning },
        {
          role: "tool",
          results: [{ callId: "toolu_1", name: "get_weather", content: "sunny", isError: false }],
        },
      );
    },
  );

  await t.step("the next call of the loop sends the thinking block first, unchanged", async () => {
    // A second round: the model calls another tool without thinking again.
    fake.script({ toolCalls: [{ id: "toolu_2", name: "get_weather", input: { city: "Nice" } }] });
    const events = await collect(
      provider.stream(ask(history, { tools: [weather], thinkingTokens }), never()),
    );
    const body = fake.requests.at(-1)!.body;
    assert.deepEqual(body.thinking, { type: "enabled", budget_tokens: thinkingTokens });
    const assistant = body.messages[1].content as Record<string, unknown>[];
    assert.deepEqual(assistant[0], {
      type: "thinking",
      thinking: "The user wants the weather.",
      signature: (history[1] as { reasoning: { signature: string }[] }).reasoning[0].signature,
    });
    assert.equal(events.filter((e) => e.type === "reasoning").length, 0);
    const calls = events.flatMap((e) => (e.type === "tool_call" ? [e.call] : []));
    history.push(
      { role: "assistant", text: "", toolCalls: calls },
      {
        role: "tool",
        results: [{ callId: "toolu_2", name: "get_weather", content: "cloudy", isError: false }],
      },
    );
  });

  await t.step("a later round without thinking keeps it on: the loop began with it", async () => {
    const events = await collect(
      provider.stream(ask(history, { tools: [weather], thinkingTokens }), never()),
    );
    assert.equal(textOf(events), "tool results: cloudy");
    assert.deepEqual(fake.requests.at(-1)!.body.thinking, {
      type: "enabled",
      budget_tokens: thinkingTokens,
    });
  });

  await t.step("a redacted block goes back as redacted_thinking", async () => {
    const redacted: ModelMessage[] = [
      history[0],
      {
        ...(history[1] as ModelMessage & { role: "assistant" }),
        reasoning: [{ redacted: "opaque" }],
      },
      history[2],
    ];
    await collect(provider.stream(ask(redacted, { tools: [weather], thinkingTokens }), never()));
    const assistant = fake.requests.at(-1)!.body.messages[1].content as Record<string, unknown>[];
    assert.deepEqual(assistant[0], { type: "redacted_thinking", data: "opaque" });
  });
});

Deno.test("anthropic provider sends without thinking when the loop's tool calls carry none", async (t) => {
  await using fake = await FakeAnthropic.start();
  const provider = anthropic(fake);
  // The previous round was answered by an OpenAI model: no reasoning, an OpenAI-style id.
  const history: ModelMessage[] = [
    { role: "user", text: "weather in Paris?" },
    {
      role: "assistant",
      text: "",
      toolCalls: [{ id: "call_Xy9", name: "get_weather", arguments: '{"city":"Paris"}' }],
    },
    {
      role: "tool",
      results: [{ callId: "call_Xy9", name: "get_weather", content: "sunny", isError: false }],
    },
  ];

  await t.step("mid-loop: no thinking, no budget added to the cap", async () => {
    const events = await collect(
      provider.stream(ask(history, { tools: [weather], thinkingTokens: 2048 }), never()),
    );
    assert.equal(textOf(events), "tool results: sunny");
    const body = fake.requests.at(-1)!.body;
    assert.equal(body.thinking, undefined);
    assert.equal(body.max_tokens, DEFAULT_MAX_TOKENS);
  });

  await t.step("once that turn ended with an answer, the next one thinks again", async () => {
    await collect(provider.stream(
      ask([...history, { role: "assistant", text: "Sunny." }, { role: "user", text: "thanks" }], {
        thinkingTokens: 2048,
      }),
      never(),
    ));
    assert.deepEqual(fake.requests.at(-1)!.body.thinking, { type: "enabled", budget_tokens: 2048 });
  });

  await t.step("a budget under 1024 is off", async () => {
    await collect(provider.stream(ask("hi", { thinkingTokens: 512 }), never()));
    assert.equal(fake.requests.at(-1)!.body.thinking, undefined);
  });
});

Deno.test("anthropic provider classifies every failure", async (t) => {
  await using fake = await FakeAnthropic.start();
  const provider = anthropic(fake);
  const call = () => failure(provider.stream(ask("hi"), never()));
  const noKey = (err: ProviderError) => {
    assert.ok(!err.message.includes(KEY), err.message);
    assert.ok(!String(err.cause ?? "").includes(KEY));
  };

  await t.step("429 is rate_limit with retryAfterMs from retry-after", async () => {
    fake.script({ fault: "rate_limit", retryAfterSeconds: 7 });
    const err = await call();
    assert.equal(err.kind, "rate_limit");
    assert.equal(err.options.status, 429);
    assert.equal(err.options.retryAfterMs, 7000);
    assert.equal(err.message, "provider claude: HTTP 429 rate limited: retry after 7s");
  });

  await t.step("529 is overloaded", async () => {
    fake.script({ fault: "overloaded" });
    const err = await call();
    assert.equal(err.kind, "overloaded");
    assert.equal(err.options.status, 529);
  });

  await t.step("500 is server", async () => {
    fake.script({ fault: "server_error" });
    const err = await call();
    assert.equal(err.kind, "server");
    assert.equal(err.message, "provider claude: HTTP 500 server error");
  });

  await t.step("400 is bad_request with the upstream message", async () => {
    fake.script({ fault: "bad_request" });
    const err = await call();
    assert.equal(err.kind, "bad_request");
    assert.equal(
      err.message,
      "provider claude: HTTP 400 messages: the fake was scripted to reject this request",
    );
  });

  await t.step("400 prompt is too long is context_overflow", async () => {
    fake.script({ fault: "context_overflow" });
    const err = await call();
    assert.equal(err.kind, "context_overflow");
    assert.match(err.message, /lower agent\.context_tokens/);
  });

  await t.step("401 is auth, and nothing repeats the key the server echoed", async () => {
    fake.script({ fault: "unauthorized" });
    const err = await call();
    assert.equal(err.kind, "auth");
    assert.equal(err.options.status, 401);
    assert.match(err.message, /check the key in ANTHROPIC_API_KEY/);
    noKey(err);
  });

  await t.step("an SSE line that is not JSON is server", async () => {
    fake.script({ fault: "bad_json" });
    const err = await call();
    assert.equal(err.kind, "server");
    noKey(err);
  });

  await t.step("an error event inside the stream is classified by its type", async () => {
    fake.script({ text: "partial answer here", fault: "stream_error" });
    const err = await call();
    assert.equal(err.kind, "overloaded");
    assert.equal(
      err.message,
      "provider claude: the server reported overloaded_error mid-stream: Overloaded",
    );
  });

  await t.step("a stream cut before message_stop is network", async () => {
    fake.script({ text: "one two three four five six", fault: "cut" });
    const err = await call();
    assert.equal(err.kind, "network");
  });

  await t.step("no request was retried by the SDK", () => {
    assert.equal(fake.requestCount, 9);
  });
});

Deno.test("anthropic provider fails with auth without a request when the key env is unset", async () => {
  await using fake = await FakeAnthropic.start();
  const err = await failure(anthropic(fake, { env: () => undefined }).stream(ask("hi"), never()));
  assert.equal(err.kind, "auth");
  assert.equal(
    err.message,
    "provider claude: env ANTHROPIC_API_KEY is not set: export it before starting the gateway",
  );
  assert.equal(fake.requestCount, 0);
});

Deno.test("anthropic provider fails with network when the server is unreachable", async () => {
  const fake = await FakeAnthropic.start();
  await fake.close();
  const err = await failure(anthropic(fake).stream(ask("hi"), never()));
  assert.equal(err.kind, "network");
  assert.match(err.message, /cannot connect to 127\.0\.0\.1/);
});

Deno.test("anthropic provider times out a stream silent for idle_timeout_seconds", async () => {
  await using fake = await FakeAnthropic.start();
  fake.script({ text: "partial", fault: "stall" });
  const clock = new FakeClock();
  const provider = anthropic(fake, {
    config: { timeout_seconds: 30, idle_timeout_seconds: 5 },
    clock,
  });
  const it = provider.stream(ask("hi"), never())[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value, { type: "text", delta: "partial" });
  const next = it.next().then(() => assert.fail("the stream went on"), (e: unknown) => e);
  await clock.advance(4_999);
  assert.equal(clock.pending, 1);
  await clock.advance(1);
  const err = await next;
  assert.ok(err instanceof ProviderError);
  assert.equal(err.kind, "timeout");
  assert.match(err.message, /silent for 5s: raise idle_timeout_seconds in \[providers\.claude\]/);
  assert.equal(clock.pending, 0);
  await fake.streamsClosed();
});

Deno.test("anthropic provider ends a stalled stream as aborted when the signal aborts", async (t) => {
  await using fake = await FakeAnthropic.start();

  await t.step("abort after a first delta", async () => {
    fake.script({ text: "partial", fault: "stall" });
    const ac = new AbortController();
    const it = anthropic(fake).stream(ask("hi"), ac.signal)[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value, { type: "text", delta: "partial" });
    const next = it.next();
    ac.abort();
    await assert.rejects(next, (err) => err instanceof ProviderError && err.kind === "aborted");
    await fake.streamsClosed();
  });

  await t.step("an already aborted signal sends nothing", async () => {
    const before = fake.requestCount;
    const err = await failure(anthropic(fake).stream(ask("hi"), AbortSignal.abort()));
    assert.equal(err.kind, "aborted");
    assert.equal(fake.requestCount, before);
  });

  await t.step("the consumer stopping early ends the request", async () => {
    fake.script({ text: "partial", fault: "stall" });
    for await (const e of anthropic(fake).stream(ask("hi"), never())) {
      assert.deepEqual(e, { type: "text", delta: "partial" });
      break;
    }
    await fake.streamsClosed();
  });
});

Deno.test("anthropic provider reads nothing and sends nothing until its first call", async () => {
  await using fake = await FakeAnthropic.start();
  const reads: string[] = [];
  const provider = anthropic(fake, {
    env: (name) => {
      reads.push(name);
      return KEY;
    },
  });
  assert.equal(provider.kind, "anthropic");
  assert.deepEqual(reads, []);
  assert.equal(fake.requestCount, 0);
  await collect(provider.stream(ask("hi"), never()));
  assert.deepEqual(reads, [KEY_ENV]);
  assert.equal(fake.requestCount, 1);
});

Deno.test("provider registry creates anthropic providers for kind anthropic", () => {
  const registry = new ProviderRegistry(
    { claude: { kind: "anthropic", timeout_seconds: 120, idle_timeout_seconds: 60 } },
    { env: () => undefined, logger: silentLogger },
  );
  const r = registry.resolve("claude/claude-fake-1");
  assert.ok(r.ok);
  assert.equal(r.provider.kind, "anthropic");
  assert.equal(r.model, "claude-fake-1");
});

function loaded(toml: string): LoadedConfig {
  const { config } = parseConfig(toml, "/srv/gatehouse/config.toml");
  return {
    config,
    home: "/srv/gatehouse",
    path: "/srv/gatehouse/config.toml",
    found: true,
    warnings: [],
    storePath: "/srv/gatehouse/gatehouse.kv.sqlite",
    tokenPath: "/srv/gatehouse/token",
    workspacePath: "/srv/gatehouse/workspace",
  };
}

Deno.test("an anthropic provider's needs ignore the env names its SDK reads", async (t) => {
  await t.step("tagged for the provider, emitted as one --ignore-env flag", () => {
    const needs = gatewayNeeds(loaded(`
[providers.claude]
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"
`));
    assert.deepEqual(
      needs.filter((n) => n.for === "provider:claude"),
      [
        { kind: "net", value: "api.anthropic.com", for: "provider:claude" },
        { kind: "env", value: "ANTHROPIC_API_KEY", for: "provider:claude" },
        ...ANTHROPIC_SDK_ENV.map((value) => ({
          kind: "ignore-env",
          value,
          for: "provider:claude",
        })),
      ],
    );
    const flags = toFlags(needs);
    assert.ok(flags.includes(`--ignore-env=${ANTHROPIC_SDK_ENV.join(",")}`), flags.join(" "));
    assert.ok(!flags.some((f) => f.startsWith("--allow-env=") && f.includes("ANTHROPIC_LOG")));
    assert.equal(
      needFlag({ kind: "ignore-env", value: "ANTHROPIC_LOG", for: "provider:claude" }),
      "--ignore-env=ANTHROPIC_LOG",
    );
    // This test process may read every env name, so none of them is missing.
    assert.deepEqual(missingNeeds(needs.filter((n) => n.kind === "ignore-env")), []);
  });

  await t.step("an openai provider ignores only the openai SDK's names", () => {
    const needs = gatewayNeeds(loaded(`
[providers.openai]
kind = "openai"
api_key_env = "OPENAI_API_KEY"
`));
    assert.ok(!needs.some((n) => n.value.startsWith("ANTHROPIC_")));
    assert.ok(
      toFlags(needs).includes("--ignore-env=OPENAI_BASE_URL,OPENAI_CUSTOM_HEADERS,OPENAI_LOG"),
    );
  });
});

Deno.test("the anthropic SDK runs under the computed flags and nothing in env steers it", async (t) => {
  await using fake = await FakeAnthropic.start();
  const keyEnv = "GATEHOUSE_TEST_ANTHROPIC_KEY";
  const needs = gatewayNeeds(loaded(`
[providers.claude]
kind = "anthropic"
base_url = "${fake.url}"
api_key_env = "${keyEnv}"
`)).filter((n) => n.for === "provider:claude");
  // The provider's own flags: --allow-net=127.0.0.1:<port> --allow-env=<key> --ignore-env=...
  const flags = toFlags(needs);
  const script = `
import { createAnthropicProvider } from "./src/providers/mod.ts";
import { missingNeeds } from "./src/permissions/mod.ts";
import { silentLogger } from "./src/kernel/mod.ts";
const provider = createAnthropicProvider("claude", {
  kind: "anthropic", base_url: ${JSON.stringify(fake.url)}, api_key_env: ${JSON.stringify(keyEnv)},
  timeout_seconds: 10, idle_timeout_seconds: 10,
}, { env: (name) => Deno.env.get(name), logger: silentLogger });
const missing = missingNeeds(${JSON.stringify(needs)}).map((n) => n.value);
let text = "";
try {
  for await (const e of provider.stream(
    { model: "claude-fake-1", messages: [{ role: "user", text: "hi" }] },
    new AbortController().signal,
  )) if (e.type === "text") text += e.delta;
  console.log(JSON.stringify({ ok: true, text, missing }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, kind: err.kind, message: err.message, missing }));
}
`;
  const run = async (args: string[]) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...args, "-"],
      cwd: new URL("..", import.meta.url),
      env: {
        NO_COLOR: "1",
        [keyEnv]: KEY,
        // Honoured, it would replace the version header the fake records.
        ANTHROPIC_CUSTOM_HEADERS: "anthropic-version: steered",
        ANTHROPIC_LOG: "debug",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    return JSON.parse(new TextDecoder().decode(stdout));
  };

  await t.step("with the flags: the call works and the env is not read", async () => {
    const out = await run(flags);
    assert.deepEqual(out, { ok: true, text: "echo: hi", missing: [] });
    const req = fake.requests.at(-1)!;
    assert.equal(req.authorization, `Bearer ${KEY}`);
    assert.notEqual(req.anthropicVersion, "steered");
  });

  await t.step("control: with all env readable, the same env would steer the client", async () => {
    const out = await run(["--no-prompt", "--allow-net=127.0.0.1", "--allow-env"]);
    assert.equal(out.ok, true);
    assert.equal(fake.requests.at(-1)!.anthropicVersion, "steered");
  });

  await t.step(
    "without --ignore-env: creation still works, the first call fails as auth",
    async () => {
      const before = fake.requestCount;
      const out = await run(flags.filter((f) => !f.startsWith("--ignore-env")));
      assert.equal(out.ok, false);
      assert.equal(out.kind, "auth");
      assert.match(out.message, /not permitted: Requires env access to "ANTHROPIC_CUSTOM_HEADERS"/);
      assert.deepEqual(out.missing, [...ANTHROPIC_SDK_ENV]);
      assert.equal(fake.requestCount, before);
    },
  );
});

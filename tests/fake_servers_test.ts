/**
 * The fake provider servers, driven by the real SDKs: what they send is what the SDKs parse, and
 * what they reject is what the real APIs reject.
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { OpenAI } from "openai";
import { FakeAnthropic } from "./_servers/anthropic.ts";
import { requestProblem } from "./_servers/anthropic_validation.ts";
import { randomFaults, seededRandom } from "./_servers/common.ts";
import { type ChatRequestBody, FakeOpenAI, toolProblem } from "./_servers/openai.ts";

const KEY = "sk-ant-test-0123456789abcdef";
const MODEL = "claude-fake-1";

/** A real client for `fake`; explicit options so nothing is read from env or credential files. */
function anthropic(fake: FakeAnthropic): Anthropic {
  return new Anthropic({
    apiKey: KEY,
    baseURL: fake.url,
    maxRetries: 0,
    authToken: null,
    webhookKey: null,
    logLevel: "off",
    openTelemetry: false,
  });
}

type MessageParam = Anthropic.MessageParam;
const ask = (text: string) => [{ role: "user", content: text }] satisfies MessageParam[];

/** A user question, a tool call for it, and the call's result. */
const toolLoop = (result: string, thinking?: Anthropic.ThinkingBlockParam): MessageParam[] => [
  { role: "user", content: "weather in Paris?" },
  {
    role: "assistant",
    content: [
      ...(thinking ? [thinking] : []),
      { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
    ],
  },
  { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: result }] },
];

/** `promise`, or a failure after `ms` so a server that never notices cannot hang the run. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejection<T>(promise: Promise<T>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${err}`);
    return err;
  }
  assert.fail("the call succeeded instead of failing");
}

Deno.test("fake anthropic streams text that the SDK reassembles", async (t) => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);

  await t.step("the echo reply through messages.stream()", async () => {
    const texts: string[] = [];
    const stream = client.messages.stream({ model: MODEL, max_tokens: 64, messages: ask("hello") })
      .on("text", (delta) => texts.push(delta));
    const message = await stream.finalMessage();
    assert.deepEqual(message.content, [{ type: "text", text: "echo: hello" }]);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.role, "assistant");
    assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);
    assert.equal(texts.join(""), "echo: hello");
  });

  await t.step("the raw events, in the real order", async () => {
    fake.script({ chunks: ["one ", "two"], usage: { input_tokens: 11, output_tokens: 7 } });
    const stream = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: ask("count"),
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) {
      types.push(event.type === "content_block_delta" ? event.delta.type : event.type);
      if (event.type === "message_start") assert.equal(event.message.usage.input_tokens, 11);
      if (event.type === "message_delta") {
        assert.equal(event.delta.stop_reason, "end_turn");
        assert.equal(event.usage.output_tokens, 7);
      }
    }
    assert.deepEqual(types, [
      "message_start",
      "content_block_start",
      "text_delta",
      "text_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
  });

  await t.step("a whole Message when not streaming", async () => {
    fake.script({ text: "cut short", stopReason: "max_tokens" });
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 3,
      messages: ask("x"),
    });
    assert.equal(message.type, "message");
    assert.equal(message.model, MODEL);
    assert.deepEqual(message.content, [{ type: "text", text: "cut short" }]);
    assert.equal(message.stop_reason, "max_tokens");
  });

  await t.step("the SDK's headers are recorded: its key goes out as a Bearer", () => {
    assert.equal(fake.requestCount, 3);
    const sent = fake.requests[0];
    assert.equal(sent.authorization, `Bearer ${KEY}`);
    assert.equal(sent.apiKey, null);
    assert.ok(sent.anthropicVersion);
    assert.equal(sent.body.stream, true);
  });

  await t.step("the models list", async () => {
    const page = await client.models.list();
    assert.ok(page.data.some((m) => m.id === MODEL));
  });
});

Deno.test("fake anthropic streams tool_use input in input_json_delta pieces", async (t) => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);
  const input = { city: "Paris", days: 3, units: { temp: "C" } };

  await t.step("the SDK joins the pieces into the input object", async () => {
    fake.script({
      text: "Let me check.",
      toolCalls: [
        { id: "toolu_1", name: "get_weather", input },
        { id: "toolu_2", name: "get_time", arguments: '{"tz":"Europe/Paris"}' },
      ],
    });
    const pieces: string[] = [];
    const message = await client.messages
      .stream({ model: MODEL, max_tokens: 256, messages: ask("weather?") })
      .on("inputJson", (partial) => pieces.push(partial))
      .finalMessage();
    assert.equal(message.stop_reason, "tool_use");
    assert.deepEqual(
      message.content.map((b) => b.type === "tool_use" ? [b.id, b.name, b.input] : b),
      [
        { type: "text", text: "Let me check." },
        ["toolu_1", "get_weather", input],
        ["toolu_2", "get_time", { tz: "Europe/Paris" }],
      ],
    );
    assert.ok(pieces.length >= 6, `only ${pieces.length} pieces`);
  });

  await t.step("the answered loop is accepted and echoed as tool results", async () => {
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: toolLoop("sunny, 21C"),
    });
    assert.deepEqual(message.content, [{ type: "text", text: "tool results: sunny, 21C" }]);
  });
});

Deno.test("fake anthropic sends a thinking block with its signature", async () => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);
  const thinking = { type: "enabled", budget_tokens: 1024 } as const;
  fake.script({
    thinking: "The user wants the weather, so I call the tool.",
    toolCalls: [{ id: "toolu_1", name: "get_weather", input: { city: "Paris" } }],
  });
  const signatures: string[] = [];
  const first = await client.messages
    .stream({ model: MODEL, max_tokens: 2048, thinking, messages: ask("weather in Paris?") })
    .on("signature", (s) => signatures.push(s))
    .finalMessage();
  const block = first.content[0];
  assert.equal(block.type, "thinking");
  assert.equal(block.thinking, "The user wants the weather, so I call the tool.");
  assert.ok(block.signature.length > 0);
  assert.deepEqual(signatures, [block.signature]);

  const withThinking = toolLoop("sunny", { ...block, type: "thinking" });
  const next = await client.messages.create({
    model: MODEL,
    max_tokens: 2048,
    thinking,
    messages: withThinking,
  });
  assert.deepEqual(next.content, [{ type: "text", text: "tool results: sunny" }]);

  const err = await rejection(
    client.messages.create({ model: MODEL, max_tokens: 2048, thinking, messages: toolLoop("x") }),
  );
  assert.ok(err instanceof Anthropic.BadRequestError);
  assert.match(err.message, /must start with a thinking block/);
});

Deno.test("fake anthropic faults surface as the SDK's error classes", async (t) => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);
  const call = () =>
    rejection(client.messages.create({ model: MODEL, max_tokens: 64, messages: ask("hi") }));
  const stream = () =>
    rejection(
      client.messages.stream({ model: MODEL, max_tokens: 64, messages: ask("hi") }).finalMessage(),
    );

  await t.step("rate_limit is a 429 with a readable retry-after", async () => {
    fake.script({ fault: "rate_limit", retryAfterSeconds: 7 });
    const err = await call();
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.headers.get("retry-after"), "7");
    assert.equal(err.type, "rate_limit_error");
    assert.match(err.requestID ?? "", /^req_fake_/);
  });

  await t.step("overloaded is a 529 OverloadedError", async () => {
    fake.script({ fault: "overloaded" });
    const err = await stream();
    assert.ok(err instanceof Anthropic.OverloadedError);
    assert.equal(err.status, 529);
    assert.equal(err.type, "overloaded_error");
  });

  await t.step("server_error is a 500 api_error", async () => {
    fake.script({ fault: "server_error" });
    const err = await call();
    assert.ok(err instanceof Anthropic.InternalServerError);
    assert.equal(err.status, 500);
    assert.equal(err.type, "api_error");
  });

  await t.step("bad_request and context_overflow are 400 invalid_request_error", async () => {
    fake.script({ fault: "bad_request" }, { fault: "context_overflow" });
    const bad = await call();
    assert.ok(bad instanceof Anthropic.BadRequestError);
    assert.equal(bad.type, "invalid_request_error");
    const overflow = await stream();
    assert.ok(overflow instanceof Anthropic.BadRequestError);
    assert.match(overflow.message, /prompt is too long: \d+ tokens > 200000 maximum/);
  });

  await t.step("unauthorized is a 401 that carries the presented key", async () => {
    fake.script({ fault: "unauthorized" });
    const err = await call();
    assert.ok(err instanceof Anthropic.AuthenticationError);
    assert.equal(err.status, 401);
    assert.ok(err.message.includes(KEY), "the fake echoes the key so callers must redact it");
  });

  await t.step("stream_error sends text, then an error event the SDK throws", async () => {
    fake.script({ chunks: ["one ", "two ", "three"], fault: "stream_error" });
    const texts: string[] = [];
    const err = await rejection(
      client.messages.stream({ model: MODEL, max_tokens: 64, messages: ask("hi") })
        .on("text", (t) => texts.push(t))
        .finalMessage(),
    );
    assert.ok(err instanceof Anthropic.APIError);
    assert.equal(err.status, undefined);
    assert.equal(err.type, "overloaded_error");
    assert.ok(texts.length > 0 && texts.length < 3, JSON.stringify(texts));
  });

  await t.step("bad_json fails the stream", async () => {
    fake.script({ fault: "bad_json" });
    const err = await stream();
    // MessageStream wraps the JSON.parse failure in its own error class.
    assert.ok(err instanceof Anthropic.AnthropicError, String(err));
    assert.match(err.message, /JSON/);
  });

  await t.step("cut drops the connection after some text", async () => {
    fake.script({ chunks: ["one ", "two ", "three ", "four"], fault: "cut" });
    const texts: string[] = [];
    const err = await rejection(
      client.messages.stream({ model: MODEL, max_tokens: 64, messages: ask("hi") })
        .on("text", (t) => texts.push(t))
        .finalMessage(),
    );
    // MessageStream wraps the body read failure (a TypeError, kept as cause) in AnthropicError.
    assert.ok(err instanceof Anthropic.AnthropicError && err.cause instanceof TypeError);
    assert.ok(texts.length > 0 && texts.length < 4, JSON.stringify(texts));
  });

  await t.step("no request was retried", () => {
    assert.equal(fake.requestCount, 9);
  });
});

Deno.test("fake anthropic holds a stalled stream until the client leaves", async () => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);
  fake.script({ text: "partial", fault: "stall" });
  const ac = new AbortController();
  const stream = await client.messages.create(
    { model: MODEL, max_tokens: 64, messages: ask("hi"), stream: true },
    { signal: ac.signal },
  );
  const seen: string[] = [];
  const timer = setTimeout(() => ac.abort(), 50);
  try {
    for await (const event of stream) {
      seen.push(event.type === "content_block_delta" ? event.delta.type : event.type);
    }
  } catch (err) {
    assert.ok(err instanceof Anthropic.APIUserAbortError, String(err));
  } finally {
    clearTimeout(timer);
  }
  assert.deepEqual(seen, ["message_start", "content_block_start", "text_delta"]);
  await within(2_000, fake.streamsClosed(), "the server closing the stream the client left");
  assert.equal(fake.openStreams, 0);
});

Deno.test("fake anthropic ends a stall when it closes", async () => {
  await using fake = await FakeAnthropic.start();
  fake.script({ fault: "stall" });
  const stream = await anthropic(fake).messages.create({
    model: MODEL,
    max_tokens: 64,
    messages: ask("hi"),
    stream: true,
  });
  const it = stream[Symbol.asyncIterator]();
  assert.equal((await it.next()).value?.type, "message_start");
  const next = it.next();
  await fake.close();
  await assert.rejects(next);
  assert.equal(fake.openStreams, 0);
});

Deno.test("fake anthropic spaces streamed events by chunkDelayMs", async () => {
  await using fake = await FakeAnthropic.start({ chunkDelayMs: 2 });
  const started = performance.now();
  const message = await anthropic(fake).messages
    .stream({ model: MODEL, max_tokens: 64, messages: ask("slowly now") })
    .finalMessage();
  assert.deepEqual(message.content, [{ type: "text", text: "echo: slowly now" }]);
  assert.ok(performance.now() - started >= 2 * 8, "nine events, eight gaps of 2 ms");
  assert.equal(fake.openStreams, 0);
});

Deno.test("fake anthropic rejects what the real API rejects", async (t) => {
  await using fake = await FakeAnthropic.start();
  const client = anthropic(fake);
  const send = (messages: MessageParam[]) =>
    rejection(client.messages.create({ model: MODEL, max_tokens: 64, messages }));

  await t.step("a tool_result that answers no tool_use", async () => {
    const err = await send([
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_9", content: "x" }] },
    ]);
    assert.ok(err instanceof Anthropic.BadRequestError);
    assert.equal(err.type, "invalid_request_error");
    assert.match(err.message, /messages\.2\.content\.0: unexpected `tool_use_id`.*toolu_9/);
  });

  await t.step("a tool_use left unanswered", async () => {
    const [question, call] = toolLoop("x");
    const err = await send([question, call, { role: "user", content: "never mind" }]);
    assert.ok(err instanceof Anthropic.BadRequestError);
    assert.match(
      err.message,
      /messages\.1: `tool_use` ids were found without `tool_result`.*toolu_1/,
    );
  });

  await t.step("a scripted reply waits for a valid request", async () => {
    fake.script({ text: "scripted" });
    await send([{ role: "assistant", content: "hi" }]);
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 8,
      messages: ask("again"),
    });
    assert.deepEqual(message.content, [{ type: "text", text: "scripted" }]);
  });

  await t.step("request shapes", () => {
    const base = { model: MODEL, max_tokens: 64, messages: ask("hi") };
    const toolUse = (id: string) => ({ type: "tool_use", id, name: "get_weather", input: {} });
    const [question, call] = toolLoop("x");
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["no max_tokens", { max_tokens: undefined }, /^max_tokens: Field required/],
      ["no model", { model: undefined }, /^model: Field required/],
      ["no messages", { messages: [] }, /at least one message/],
      ["a system role", { messages: [{ role: "system", content: "x" }] }, /messages\.0\.role/],
      ["a system image", { system: [{ type: "image" }] }, /^system\.0/],
      [
        "a small budget",
        { thinking: { type: "enabled", budget_tokens: 512 } },
        /than or equal to 1024/,
      ],
      ["a budget past max_tokens", {
        thinking: { type: "enabled", budget_tokens: 1024 },
      }, /`max_tokens` must be greater/],
      ["a dotted tool name", {
        tools: [{ name: "a.b", input_schema: { type: "object" } }],
      }, /tools\.0\.custom\.name/],
      ["an array schema", {
        tools: [{ name: "a", input_schema: { type: "array" } }],
      }, /input_schema\.type/],
      ["no schema", { tools: [{ name: "a" }] }, /tools\.0\.custom\.input_schema: Field required/],
      ["a repeated tool_use id", {
        messages: [...toolLoop("x"), { role: "assistant", content: [toolUse("toolu_1")] }],
      }, /ids must be unique/],
      ["an empty text block", {
        messages: [{ role: "user", content: [{ type: "text", text: "" }] }],
      }, /must be non-empty/],
      ["a user tool_use", {
        messages: [{ role: "user", content: [toolUse("toolu_1")] }],
      }, /can only be in `assistant`/],
      ["a bad tool_use id", {
        messages: [question, { role: "assistant", content: [toolUse("bad id")] }],
      }, /String should match pattern/],
      ["a trailing space", {
        messages: [question, { role: "assistant", content: "a " }],
      }, /trailing whitespace/],
      ["text before the results", {
        messages: [question, call, {
          role: "user",
          content: [{ type: "text", text: "and" }, { type: "tool_result", tool_use_id: "toolu_1" }],
        }],
      }, /must come first/],
    ];
    for (const [name, patch, expected] of cases) {
      assert.match(requestProblem({ ...base, ...patch } as never) ?? "accepted", expected, name);
    }
    assert.equal(requestProblem({ ...base, system: [{ type: "text", text: "be brief" }] }), null);
    assert.equal(requestProblem({ ...base, messages: toolLoop("x") }), null);
  });

  await t.step("a missing anthropic-version header", async () => {
    const res = await fetch(`${fake.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: ask("hi") }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual((await res.json()).error, {
      type: "invalid_request_error",
      message: "anthropic-version: header is required",
    });
    assert.equal(fake.requests.at(-1)?.apiKey, KEY);
  });
});

Deno.test("fake openai acts out overloaded and bad_request", async (t) => {
  await using fake = await FakeOpenAI.start();
  const client = new OpenAI({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });
  const call = () =>
    rejection(client.chat.completions.create({
      model: "gpt-4.1-mini",
      messages: [{ role: "user", content: "hi" }],
    }));

  await t.step("overloaded is a 503 server_error", async () => {
    fake.script({ fault: "overloaded" });
    const err = await call();
    assert.ok(err instanceof OpenAI.InternalServerError);
    assert.equal(err.status, 503);
    assert.equal(err.type, "server_error");
  });

  await t.step("bad_request is a 400 invalid_request_error", async () => {
    fake.script({ fault: "bad_request" });
    const err = await call();
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.type, "invalid_request_error");
    assert.match(err.message, /scripted to reject/);
  });
});

Deno.test("fake openai rejects malformed tool-call histories", async (t) => {
  await using fake = await FakeOpenAI.start();
  const client = new OpenAI({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });
  type Message = OpenAI.ChatCompletionMessageParam;
  const user: Message = { role: "user", content: "weather?" };
  const assistant: Message = {
    role: "assistant",
    content: null,
    tool_calls: [
      { id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } },
      { id: "call_2", type: "function", function: { name: "get_time", arguments: "{}" } },
    ],
  };
  const result = (id: string): Message => ({ role: "tool", tool_call_id: id, content: "ok" });
  const send = (messages: Message[], tools?: unknown) =>
    client.chat.completions.create({ model: "gpt-4.1-mini", messages, tools: tools as never });

  await t.step("a whole loop is accepted", async () => {
    const done = await send([user, assistant, result("call_2"), result("call_1")]);
    assert.equal(done.choices[0].message.content, "echo: weather?");
  });

  await t.step("a tool message with no call before it", async () => {
    const err = await rejection(send([user, result("call_1")]));
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.type, "invalid_request_error");
    assert.match(err.message, /must be a response to a preceeding message with 'tool_calls'/);
  });

  await t.step("a tool message answering another id", async () => {
    const err = await rejection(send([user, assistant, result("call_1"), result("call_9")]));
    assert.match(err.message, /'tool_call_id' of 'call_9' not found/);
  });

  await t.step("a call left unanswered", async () => {
    const err = await rejection(send([user, assistant, result("call_1"), user]));
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.match(err.message, /did not have response messages: call_2/);
  });

  await t.step("arguments sent as an object", () => {
    const bad = structuredClone(assistant) as { tool_calls: { function: unknown }[] };
    bad.tool_calls[0].function = { name: "get_weather", arguments: { city: "Paris" } };
    const problem = toolProblem(
      { messages: [user, bad, result("call_1"), result("call_2")] } as ChatRequestBody,
    );
    assert.match(
      problem?.message ?? "",
      /'messages\[1\]\.tool_calls\[0\]\.function\.arguments': expected a string, but got an object/,
    );
  });

  await t.step("malformed tools", async () => {
    const err = await rejection(send([user], [{ type: "function", name: "flat" }]));
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.match(err.message, /Missing required parameter: 'tools\[0\]\.function'/);
    const ok = await send([user], [{
      type: "function",
      function: { name: "get_weather", description: "d", parameters: { type: "object" } },
    }]);
    assert.equal(ok.choices[0].message.content, "echo: weather?");
  });
});

Deno.test("randomFaults fails about the asked share of requests, replayably", () => {
  const pick = () => {
    const reply = randomFaults({
      rate: 0.25,
      faults: ["rate_limit", "server_error"] as const,
      fallback: () => ({ text: "ok" } as { text: string; fault?: "rate_limit" | "server_error" }),
      random: seededRandom(42),
    });
    return Array.from({ length: 400 }, () => reply(undefined).fault ?? "none");
  };
  const first = pick();
  assert.deepEqual(first, pick());
  const failed = first.filter((f) => f !== "none").length;
  assert.ok(failed > 60 && failed < 140, `${failed} of 400 failed`);
  assert.ok(first.includes("rate_limit") && first.includes("server_error"));
});

Deno.test("fake anthropic runs standalone and prints its address", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      new URL("./_servers/anthropic.ts", import.meta.url).pathname,
      "--port",
      "0",
    ],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const { url, port } = JSON.parse(line);
    assert.equal(url, `http://127.0.0.1:${port}`);
    const client = new Anthropic({
      apiKey: KEY,
      baseURL: url,
      maxRetries: 0,
      authToken: null,
      webhookKey: null,
      logLevel: "off",
      openTelemetry: false,
    });
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 8,
      messages: ask("ping"),
    });
    assert.deepEqual(message.content, [{ type: "text", text: "echo: ping" }]);
  } finally {
    child.kill("SIGTERM");
    await reader.cancel();
    await child.status;
  }
});

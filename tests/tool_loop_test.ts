/**
 * The tool-calling loop on both providers (real SDKs against the fakes): parallel calls, failing
 * calls returned to the model, the iteration cap, and one conversation that crosses providers with
 * its tool calls and results translated both ways.
 */
import assert from "node:assert/strict";
import type { GatewayClient } from "../src/cli/client.ts";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeAnthropic } from "./_servers/anthropic.ts";
import { EventLog } from "./_helpers/events.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

const S = "agent:main:main";
type Msg = { role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: string };
type Block = Record<string, unknown>;

async function send(c: GatewayClient, message: string): Promise<string> {
  return (await c.request<{ runId: string }>("chat.send", {
    sessionKey: S,
    message,
    idempotencyKey: crypto.randomUUID(),
  })).runId;
}

async function withGateway(
  config: string,
  fn: (
    h: { openai: FakeOpenAI; claude: FakeAnthropic; c: GatewayClient; log: EventLog },
  ) => Promise<void>,
) {
  await using openai = await FakeOpenAI.start();
  await using claude = await FakeAnthropic.start();
  await using gw = await startTestGateway({ fake: openai, anthropic: claude, config });
  const c = await gw.client();
  await fn({ openai, claude, c, log: new EventLog(c) });
}

const ON_CLAUDE = `[agent]\nmodel = "claude/claude-test"\n`;

Deno.test("openai: parallel tool calls run, a failing one comes back as an error result", async () => {
  await withGateway("", async ({ openai, c, log }) => {
    openai.script(
      {
        text: "Let me check.",
        toolCalls: [
          { id: "call_a", name: "time_now", arguments: '{"timezone":"UTC"}' },
          { id: "call_b", name: "time_now", arguments: '{"timezone":"Mars/Olympus_Mons"}' },
          { id: "call_c", name: "session_status", arguments: "{}" },
        ],
      },
      { text: "It is noon." },
    );
    const runId = await send(c, "what time is it?");
    const end = await log.end(runId);
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.deepEqual(end.message, { role: "assistant", text: "Let me check.\n\nIt is noon." });

    const tools = log.tools(runId);
    assert.deepEqual(
      tools.filter((d) => d.phase === "start").map((d) => [d.callId, d.name, d.args]),
      [
        ["call_a", "time_now", { timezone: "UTC" }],
        ["call_b", "time_now", { timezone: "Mars/Olympus_Mons" }],
        ["call_c", "session_status", {}],
      ],
    );
    const results = new Map(tools.filter((d) => d.phase === "result").map((d) => [d.callId, d]));
    assert.equal(results.get("call_a")?.isError, false);
    assert.equal(results.get("call_b")?.isError, true);
    assert.match(String(results.get("call_b")?.summary), /unknown time zone "Mars\/Olympus_Mons"/);

    const second = openai.requests[1].body.messages as Msg[];
    assert.deepEqual(second.slice(1, 3).map((m) => m.role), ["user", "assistant"]);
    assert.deepEqual(
      (second[2].tool_calls as { id: string }[]).map((t) => t.id),
      ["call_a", "call_b", "call_c"],
    );
    const fed = second.slice(3);
    assert.deepEqual(fed.map((m) => [m.role, m.tool_call_id]), [
      ["tool", "call_a"],
      ["tool", "call_b"],
      ["tool", "call_c"],
    ]);
    assert.match(String(fed[0].content), /^utc: \d{4}-\d\d-\d\dT/);
    assert.match(String(fed[1].content), /unknown time zone/);
    assert.equal(JSON.parse(String(fed[2].content)).sessionKey, S);
    const specs = (openai.requests[0].body.tools as { function: { name: string } }[])
      .map((t) => t.function.name);
    assert.deepEqual(specs, [
      "time_now",
      "session_status",
      "read",
      "write",
      "edit",
      "list",
      "web_fetch",
      "cron",
    ], "the coding profile without exec (no programs listed)");

    const history = await c.request<{ messages: { role: string }[] }>("chat.history", {
      sessionKey: S,
    });
    assert.deepEqual(history.messages.map((m) => m.role), [
      "user",
      "assistant",
      "tool_call",
      "tool_call",
      "tool_call",
      "tool_result",
      "tool_result",
      "tool_result",
      "assistant",
    ]);
  });
});

Deno.test("openai: unknown tools and invalid arguments are answered, not thrown", async () => {
  await withGateway("", async ({ openai, c, log }) => {
    openai.script(
      {
        toolCalls: [
          { id: "c1", name: "rm_rf", arguments: "{}" },
          { id: "c2", name: "time_now", arguments: '{"timezone": 5}' },
          { id: "c3", name: "time_now", arguments: "{not json" },
        ],
      },
      { text: "sorry" },
    );
    const end = await log.end(await send(c, "do things"));
    assert.equal(end.state, "final");
    const fed = (openai.requests[1].body.messages as Msg[]).filter((m) => m.role === "tool");
    assert.deepEqual(fed.map((m) => String(m.content).replace(/: .*/s, "")), [
      'unknown tool "rm_rf"; the tools available are',
      "invalid arguments for time_now",
      "the arguments are not valid JSON",
    ]);
    assert.match(String(fed[1].content), /timezone: Invalid input: expected string/);
  });
});

Deno.test("openai: the iteration cap stops a tool loop with a clear note", async () => {
  const loop = { toolCalls: [{ id: "x", name: "time_now", arguments: "{}" }] };
  await withGateway("[agent]\nmax_tool_iterations = 2\n", async ({ openai, c, log }) => {
    openai.script(loop, loop, { text: "still going", ...loop });
    const end = await log.end(await send(c, "loop forever"));
    assert.equal(end.state, "final");
    assert.match(
      (end.message as { text: string }).text,
      /still going\n\n\[stopped: the model asked for more than 2 rounds of tool calls in one turn; raise agent\.max_tool_iterations/,
    );
    assert.equal(openai.requestCount, 3);
    // The later calls reused the id "x": each got a fresh one, so the context stays valid.
    const ids = (openai.requests[2].body.messages as Msg[]).filter((m) => m.role === "tool")
      .map((m) => m.tool_call_id);
    assert.equal(new Set(ids).size, 2);
  });
});

Deno.test("anthropic: parallel tool_use blocks run and come back as tool_result blocks", async () => {
  await withGateway(ON_CLAUDE, async ({ claude, c, log }) => {
    claude.script(
      {
        text: "Checking.",
        toolCalls: [
          { id: "toolu_01", name: "time_now", input: { timezone: "Europe/Berlin" } },
          { id: "toolu_02", name: "time_now", input: { timezone: "Nowhere/Land" } },
        ],
      },
      { text: "Done." },
    );
    const runId = await send(c, "time in Berlin?");
    const end = await log.end(runId);
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.deepEqual(end.message, { role: "assistant", text: "Checking.\n\nDone." });
    assert.deepEqual(
      log.tools(runId).filter((d) => d.phase === "start").map((d) => d.args),
      [{ timezone: "Europe/Berlin" }, { timezone: "Nowhere/Land" }],
    );
    const body = claude.requests[1].body as { messages: { role: string; content: Block[] }[] };
    const [, assistant, results] = body.messages;
    assert.deepEqual(assistant.content.map((b) => [b.type, b.id ?? null]), [
      ["text", null],
      ["tool_use", "toolu_01"],
      ["tool_use", "toolu_02"],
    ]);
    assert.deepEqual(assistant.content[1].input, { timezone: "Europe/Berlin" });
    assert.deepEqual(
      results.content.map((b) => [b.type, b.tool_use_id, b.is_error ?? false]),
      [["tool_result", "toolu_01", false], ["tool_result", "toolu_02", true]],
    );
    const tools = (claude.requests[0].body as { tools: { name: string; input_schema: Block }[] })
      .tools;
    assert.deepEqual(tools.slice(0, 2).map((t) => [t.name, t.input_schema.type]), [
      ["time_now", "object"],
      ["session_status", "object"],
    ]);
    assert.ok(tools.every((t) => t.input_schema.type === "object"));
  });
});

Deno.test("anthropic: the iteration cap applies the same way", async () => {
  const loop = { toolCalls: [{ id: "toolu_x", name: "session_status", input: {} }] };
  await withGateway(ON_CLAUDE + "max_tool_iterations = 1\n", async ({ claude, c, log }) => {
    claude.script(loop, loop);
    const end = await log.end(await send(c, "loop"));
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.match((end.message as { text: string }).text, /more than 1 rounds of tool calls/);
    assert.equal(claude.requestCount, 2);
  });
});

Deno.test("one conversation crosses providers OpenAI → Anthropic → OpenAI with its tool calls", async () => {
  await withGateway("", async ({ openai, claude, c, log }) => {
    openai.script(
      { toolCalls: [{ id: "call_o.1", name: "time_now", arguments: '{"timezone":"UTC"}' }] },
      { text: "OpenAI says noon." },
    );
    assert.equal((await log.end(await send(c, "first"))).model, "fake/test-model");

    await log.end(await send(c, "/model claude/claude-test"));
    claude.script(
      { toolCalls: [{ id: "toolu_9", name: "session_status", input: {} }] },
      { text: "Claude checked the session." },
    );
    const second = await log.end(await send(c, "second"));
    assert.equal(second.state, "final", JSON.stringify(second));
    assert.equal(second.model, "claude/claude-test");
    // Anthropic got OpenAI's call as a tool_use with a valid id, answered by its tool_result.
    const seen = (claude.requests[0].body as { messages: { role: string; content: unknown }[] })
      .messages;
    const blocks = seen.flatMap((m) => Array.isArray(m.content) ? m.content as Block[] : []);
    const use = blocks.find((b) => b.type === "tool_use")!;
    const res = blocks.find((b) => b.type === "tool_result")!;
    assert.equal(use.name, "time_now");
    assert.deepEqual(use.input, { timezone: "UTC" });
    assert.match(String(use.id), /^[a-zA-Z0-9_-]+$/);
    assert.equal(res.tool_use_id, use.id);

    await log.end(await send(c, "/model default"));
    const third = await log.end(await send(c, "third"));
    assert.equal(third.model, "fake/test-model");
    const last = openai.requests.at(-1)!.body.messages as Msg[];
    const calls = last.flatMap((m) =>
      (m.tool_calls as { id: string; function: { name: string; arguments: string } }[]) ?? []
    );
    assert.deepEqual(calls.map((t) => t.function.name), ["time_now", "session_status"]);
    assert.deepEqual(JSON.parse(calls[1].function.arguments), {});
    const answered = last.filter((m) => m.role === "tool").map((m) => m.tool_call_id);
    assert.deepEqual(answered, calls.map((t) => t.id));
    assert.deepEqual(
      last.filter((m) => m.role === "user").map((m) => m.content),
      ["first", "second", "third"],
    );
  });
});

Deno.test("a message steered into a running tool loop joins it after the tool results", async () => {
  await withGateway("", async ({ openai, c, log }) => {
    openai.script(
      { toolCalls: [{ id: "call_s", name: "time_now", arguments: "{}" }], delayMs: 300 },
      { text: "answered both" },
    );
    const first = await send(c, "first");
    await log.until((l) => l.chat(first).length > 0 || openai.requestCount > 0);
    const steered = (await c.request<{ runId: string }>("chat.send", {
      sessionKey: S,
      message: "also this",
      queueMode: "steer",
      idempotencyKey: crypto.randomUUID(),
    })).runId;
    const end = await log.end(first);
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.deepEqual(end.runIds, [first, steered]);
    const second = openai.requests[1].body.messages as Msg[];
    assert.deepEqual(second.slice(1).map((m) => m.role), ["user", "assistant", "tool", "user"]);
    assert.equal(second.at(-1)?.content, "also this");
    assert.equal((await log.end(steered)).state, "final", "the steered run ends with the turn");
  });
});

Deno.test("anthropic thinking: the signed thinking block goes back first within the tool loop", async () => {
  await withGateway(ON_CLAUDE + "thinking_tokens = 1024\n", async ({ claude, c, log }) => {
    claude.script(
      {
        thinking: "The user wants the time; call the tool.",
        toolCalls: [{ id: "toolu_t", name: "time_now", input: {} }],
      },
      { text: "It is now." },
    );
    const end = await log.end(await send(c, "time?"));
    assert.equal(end.state, "final", JSON.stringify(end));
    assert.deepEqual(
      end.message,
      { role: "assistant", text: "It is now." },
      "thinking is never shown",
    );
    const [first, second] = claude.requests.map((r) =>
      r.body as { thinking?: { budget_tokens: number }; messages: { content: Block[] }[] }
    );
    assert.equal(first.thinking?.budget_tokens, 1024);
    assert.deepEqual(second.messages[1].content.map((b) => b.type), ["thinking", "tool_use"]);
    assert.equal(second.messages[1].content[0].thinking, "The user wants the time; call the tool.");
  });
});

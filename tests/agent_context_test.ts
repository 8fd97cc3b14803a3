/** Context assembly from transcript entries and compaction planning. */
import assert from "node:assert/strict";
import type { EntryFields, TranscriptEntry } from "../src/kernel/mod.ts";
import { MISSING_RESULT, toModelContext } from "../src/agent/context.ts";
import { compactionEntry, planCompaction } from "../src/agent/compaction.ts";

let nextId = 1;
const entries = (...fields: EntryFields[]): TranscriptEntry[] =>
  fields.map((f) => ({ ...f, id: nextId++, ts: 0 }));
const call = (id: string, name: string, args = "{}"): EntryFields => ({
  role: "tool_call",
  text: args,
  tool: { callId: id, name },
});
const result = (id: string, name: string, text: string, isError = false): EntryFields => ({
  role: "tool_result",
  text,
  tool: { callId: id, name, ...(isError ? { isError } : {}) },
});

Deno.test("tool calls join their assistant entry and results follow as one tool message", () => {
  const ctx = toModelContext(entries(
    { role: "user", text: "what time is it in two zones?" },
    { role: "assistant", text: "Checking." },
    call("c1", "time_now", '{"timezone":"UTC"}'),
    call("c2", "time_now", '{"timezone":"Asia/Tokyo"}'),
    result("c1", "time_now", "12:00"),
    result("c2", "time_now", "unknown zone", true),
    { role: "assistant", text: "Noon." },
  ));
  assert.deepEqual(ctx, {
    messages: [
      { role: "user", text: "what time is it in two zones?" },
      {
        role: "assistant",
        text: "Checking.",
        toolCalls: [
          { id: "c1", name: "time_now", arguments: '{"timezone":"UTC"}' },
          { id: "c2", name: "time_now", arguments: '{"timezone":"Asia/Tokyo"}' },
        ],
      },
      {
        role: "tool",
        results: [
          { callId: "c1", name: "time_now", content: "12:00", isError: false },
          { callId: "c2", name: "time_now", content: "unknown zone", isError: true },
        ],
      },
      { role: "assistant", text: "Noon." },
    ],
  });
});

Deno.test("a call without a result gets a stated one; a result without its call is dropped", () => {
  const ctx = toModelContext(entries(
    { role: "user", text: "go" },
    { role: "assistant", text: "" },
    call("c1", "time_now"),
    { role: "note", text: "[turn interrupted]" },
    { role: "user", text: "again" },
    result("zz", "time_now", "stray"),
  ));
  assert.deepEqual(ctx.messages, [
    { role: "user", text: "go" },
    { role: "assistant", text: "", toolCalls: [{ id: "c1", name: "time_now", arguments: "{}" }] },
    {
      role: "tool",
      results: [{ callId: "c1", name: "time_now", content: MISSING_RESULT, isError: true }],
    },
    { role: "user", text: "again" },
  ]);
});

Deno.test("a context cut by the budget opens with the user, never with a tool exchange", () => {
  const ctx = toModelContext(entries(
    call("c1", "time_now"),
    result("c1", "time_now", "12:00"),
    { role: "assistant", text: "It is noon." },
    { role: "user", text: "thanks" },
  ));
  assert.deepEqual(ctx.messages, [{ role: "user", text: "thanks" }]);
});

Deno.test("a compaction entry replaces what it covers with its summary", () => {
  const list = entries(
    { role: "user", text: "old question" },
    { role: "assistant", text: "old answer" },
    { role: "user", text: "recent question" },
  );
  list.push(
    ...entries({ role: "compaction", text: "they talked about old things", covers: list[1].id }),
  );
  list.push(...entries({ role: "assistant", text: "recent answer" }));
  assert.deepEqual(toModelContext(list), {
    summary: "they talked about old things",
    messages: [
      { role: "user", text: "recent question" },
      { role: "assistant", text: "recent answer" },
    ],
  });
});

Deno.test("compaction keeps the running turn and recent whole turns, and summarises the rest", () => {
  const list = entries(
    { role: "user", text: "a".repeat(400), runId: "r1" },
    { role: "assistant", text: "b".repeat(400), runId: "r1" },
    { role: "note", text: "[a note is not summarised]" },
    { role: "user", text: "short", runId: "r2" },
    { role: "assistant", text: "reply", runId: "r2" },
    { role: "user", text: "now", runId: "r3" },
  );
  const plan = planCompaction(list, new Set(["r3"]))!;
  assert.equal(plan.covers, list[2].id, "covers up to the entry before the kept turns");
  assert.equal(plan.entries, 2);
  const prompt = plan.messages[0];
  assert.equal(prompt.role, "user");
  assert.match(prompt.role === "user" ? prompt.text : "", /User: a{400}\nAssistant: b{400}/);
  assert.doesNotMatch(prompt.role === "user" ? prompt.text : "", /a note is not/);
  assert.deepEqual(compactionEntry(plan, "  summary  ", "r3"), {
    role: "compaction",
    text: "summary",
    covers: list[2].id,
    runId: "r3",
  });
});

Deno.test("compaction has nothing to do when only the running turn is there", () => {
  const list = entries({ role: "user", text: "x".repeat(10_000), runId: "r1" });
  assert.equal(planCompaction(list, new Set(["r1"])), undefined);
});

Deno.test("a second compaction starts from the first summary, not from what it covered", () => {
  const history = (middle: number) => {
    const list = entries(
      { role: "user", text: "very old", runId: "r1" },
      { role: "assistant", text: "very old answer", runId: "r1" },
    );
    list.push(...entries({ role: "compaction", text: "first summary", covers: list[1].id }));
    list.push(...entries(
      { role: "user", text: "middle", runId: "r2" },
      { role: "assistant", text: "m".repeat(middle), runId: "r2" },
      { role: "user", text: "now", runId: "r3" },
    ));
    return list;
  };
  const prompt = (plan: ReturnType<typeof planCompaction>) =>
    plan?.messages[0].role === "user" ? plan.messages[0].text : "";
  const text = prompt(planCompaction(history(300), new Set(["r3"])));
  assert.match(
    text,
    /\[summary of what came before: first summary\]\nUser: middle\nAssistant: m{300}/,
  );
  assert.doesNotMatch(text, /very old/);
  // Cut short (the text to summarise is capped at half the context), the summary still opens it.
  const cut = prompt(planCompaction(history(5_000), new Set(["r3"])));
  assert.match(
    cut,
    /<conversation>\n\[summary of what came before: first summary\]\n\[…earlier part omitted\]\nm+\n<\/conversation>$/,
  );
  assert.ok(cut.length < 3_000, `${cut.length} characters`);
});

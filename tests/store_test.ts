import assert from "node:assert/strict";
import type { Clock, InboundMessage, TimerId } from "../src/kernel/mod.ts";
import { KvSessionStore, MAX_PARTS, PART_BYTES, utf8Length } from "../src/store/mod.ts";

const TTL = 60_000;
const S = "agent:main:main";

/** A clock the test moves by hand; the store must never start a timer. */
function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
    setTimeout(): TimerId {
      throw new Error("the store must not start timers");
    },
    clearTimeout() {},
  } satisfies Clock & { advance(ms: number): void };
}

async function setup() {
  const kv = await Deno.openKv(":memory:");
  const clock = fakeClock();
  const store = new KvSessionStore(kv, { clock, idempotencyTtlMs: TTL });
  return {
    kv,
    clock,
    store,
    [Symbol.dispose]: () => kv.close(),
  };
}

let counter = 0;
function msg(text: string, extra: Partial<InboundMessage> = {}): InboundMessage {
  return {
    runId: `run-${++counter}`,
    sessionKey: S,
    text,
    queueMode: "followup",
    acceptedAt: 1_000 + counter,
    source: "cli",
    ...extra,
  };
}

/** Every key with its versionstamp, to prove a call wrote nothing. */
async function snapshot(kv: Deno.Kv): Promise<string[]> {
  const out: string[] = [];
  for await (const row of kv.list({ prefix: [] })) {
    out.push(`${JSON.stringify(row.key)}@${row.versionstamp}`);
  }
  return out;
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

Deno.test("admit records ingress and creates the session once", async () => {
  using h = await setup();
  const first = msg("hello");
  assert.deepEqual(await h.store.admit(first), { admitted: true, createdSession: true });
  assert.deepEqual(await h.store.admit(msg("again")), { admitted: true, createdSession: false });

  const meta = await h.store.getSession(S);
  assert.deepEqual(meta, {
    key: S,
    createdAt: h.clock.now(),
    updatedAt: h.clock.now(),
    inputTokens: 0,
    outputTokens: 0,
  });
  const pending = await h.store.pendingIngress();
  assert.equal(pending.length, 2);
  assert.deepEqual(pending[0], { ...first, seq: pending[0].seq, status: "queued" });
});

Deno.test("a replayed idempotency key returns the first runId and writes nothing new", async () => {
  using h = await setup();
  const first = msg("hi", { idempotencyKey: "k1" });
  assert.equal((await h.store.admit(first)).admitted, true);
  const before = await snapshot(h.kv);
  h.clock.advance(TTL - 1);
  const replay = await h.store.admit(msg("hi", { idempotencyKey: "k1" }));
  assert.deepEqual(replay, { admitted: false, runId: first.runId });
  assert.deepEqual(await snapshot(h.kv), before);
  assert.equal(await h.store.lookupIdempotency(S, "k1"), first.runId);
  assert.equal(await h.store.lookupIdempotency(S, "unknown"), undefined);
});

Deno.test("idempotency keys are scoped to their session", async () => {
  using h = await setup();
  const a = msg("hi", { idempotencyKey: "same" });
  const b = msg("hi", { idempotencyKey: "same", sessionKey: "agent:main:x:direct:other" });
  assert.equal((await h.store.admit(a)).admitted, true);
  assert.equal((await h.store.admit(b)).admitted, true, "another session's key does not collide");
  assert.equal(await h.store.lookupIdempotency(S, "same"), a.runId);
  assert.equal(await h.store.lookupIdempotency("agent:main:x:direct:other", "same"), b.runId);
});

Deno.test("an expired idempotency record admits again", async () => {
  using h = await setup();
  const first = msg("hi", { idempotencyKey: "k1" });
  await h.store.admit(first);
  // KV's expireIn sweeps late; the store must go by the recorded expiry.
  h.clock.advance(TTL);
  assert.equal(await h.store.lookupIdempotency(S, "k1"), undefined);
  const second = msg("hi", { idempotencyKey: "k1" });
  assert.deepEqual(await h.store.admit(second), { admitted: true, createdSession: false });
  assert.equal(await h.store.lookupIdempotency(S, "k1"), second.runId);
  assert.equal((await h.store.pendingIngress()).length, 2);
});

Deno.test("concurrent admits of the same idempotency key admit exactly one", async () => {
  using h = await setup();
  const messages = Array.from({ length: 10 }, () => msg("same", { idempotencyKey: "dup" }));
  const results = await Promise.all(messages.map((m) => h.store.admit(m)));
  const admitted = results.filter((r) => r.admitted);
  assert.equal(admitted.length, 1);
  const pending = await h.store.pendingIngress();
  assert.equal(pending.length, 1);
  for (const r of results) if (!r.admitted) assert.equal(r.runId, pending[0].runId);
  assert.equal((await h.store.listSessions()).length, 1);
});

Deno.test("concurrent admits to a new session create it once", async () => {
  using h = await setup();
  const results = await Promise.all(Array.from({ length: 10 }, () => h.store.admit(msg("x"))));
  assert.equal(results.filter((r) => r.admitted && r.createdSession).length, 1);
  assert.equal(results.filter((r) => r.admitted).length, 10);
});

Deno.test("beginTurn writes user entries in order and marks ingress running", async () => {
  using h = await setup();
  const a = msg("first");
  const b = msg("second");
  await h.store.admit(a);
  await h.store.admit(b);
  await h.store.beginTurn(S, [a, b]);

  const transcript = await h.store.readTranscript(S);
  assert.deepEqual(
    transcript.map(({ role, text, ts, runId }) => ({ role, text, ts, runId })),
    [
      { role: "user", text: "first", ts: a.acceptedAt, runId: a.runId },
      { role: "user", text: "second", ts: b.acceptedAt, runId: b.runId },
    ],
  );
  assert.ok(transcript[0].id < transcript[1].id);
  assert.deepEqual((await h.store.pendingIngress()).map((r) => r.status), ["running", "running"]);
});

Deno.test("finishTurn clears ingress, adds usage and bumps updatedAt", async () => {
  using h = await setup();
  const a = msg("q");
  await h.store.admit(a);
  await h.store.beginTurn(S, [a]);
  const created = h.clock.now();
  h.clock.advance(5_000);
  await h.store.finishTurn(S, {
    runIds: [a.runId],
    entries: [{ role: "assistant", text: "answer", runId: a.runId }],
    usage: { inputTokens: 12, outputTokens: 34 },
  });
  await h.store.finishTurn(S, {
    runIds: [],
    entries: [],
    usage: { inputTokens: 1, outputTokens: 1 },
  });

  assert.deepEqual(await h.store.pendingIngress(), []);
  const meta = await h.store.getSession(S);
  assert.equal(meta?.inputTokens, 13);
  assert.equal(meta?.outputTokens, 35);
  assert.equal(meta?.createdAt, created);
  assert.equal(meta?.updatedAt, created + 5_000);
  const transcript = await h.store.readTranscript(S);
  assert.deepEqual(transcript.map((e) => `${e.role}:${e.text}`), ["user:q", "assistant:answer"]);
  assert.equal(transcript[1].ts, created + 5_000);
});

Deno.test("a deleted session is not resurrected by a turn still running", async () => {
  using h = await setup();
  const a = msg("q");
  await h.store.admit(a);
  await h.store.beginTurn(S, [a]);
  assert.equal(await h.store.deleteSession(S), true);
  await h.store.append(S, [{ role: "note", text: "late" }]);
  await h.store.finishTurn(S, {
    runIds: [a.runId],
    entries: [{ role: "assistant", text: "late reply" }],
    usage: { inputTokens: 1, outputTokens: 1 },
  });
  assert.equal(await h.store.getSession(S), undefined);
  assert.deepEqual(await h.store.readTranscript(S), []);
  assert.deepEqual(await snapshot(h.kv), []);
});

Deno.test("readTranscript returns the newest entries oldest first", async (t) => {
  using h = await setup();
  await h.store.admit(msg("seed"));
  await h.store.append(S, [
    { role: "user", text: "aaaa" },
    { role: "assistant", text: "bbbb" },
    { role: "user", text: "cccc" },
    { role: "assistant", text: "dddddddddd" },
  ]);
  const texts = async (options?: { limit?: number; maxChars?: number }) =>
    (await h.store.readTranscript(S, options)).map((e) => e.text);

  await t.step("everything without options", async () => {
    assert.deepEqual(await texts(), ["aaaa", "bbbb", "cccc", "dddddddddd"]);
  });
  await t.step("limit keeps the newest", async () => {
    assert.deepEqual(await texts({ limit: 2 }), ["cccc", "dddddddddd"]);
    assert.deepEqual(await texts({ limit: 0 }), []);
  });
  await t.step("maxChars stops before the entry that would exceed it", async () => {
    assert.deepEqual(await texts({ maxChars: 17 }), ["cccc", "dddddddddd"]);
    assert.deepEqual(await texts({ maxChars: 18 }), ["bbbb", "cccc", "dddddddddd"]);
    assert.deepEqual(await texts({ maxChars: 22 }), ["aaaa", "bbbb", "cccc", "dddddddddd"]);
  });
  await t.step("the newest entry is kept even when it alone exceeds maxChars", async () => {
    assert.deepEqual(await texts({ maxChars: 3 }), ["dddddddddd"]);
  });
  await t.step("limit and maxChars together: the tighter wins", async () => {
    assert.deepEqual(await texts({ limit: 3, maxChars: 100 }), ["bbbb", "cccc", "dddddddddd"]);
    assert.deepEqual(await texts({ limit: 3, maxChars: 14 }), ["cccc", "dddddddddd"]);
  });
  await t.step("unknown session reads empty", async () => {
    assert.deepEqual(await h.store.readTranscript("agent:main:other"), []);
  });
});

Deno.test("readTranscript stops listing once its limit is met", async () => {
  using h = await setup();
  await h.store.admit(msg("seed"));
  await h.store.append(S, Array.from({ length: 300 }, (_, i) => ({ role: "user", text: `m${i}` })));
  let rows = 0;
  const counting = new Proxy(h.kv, {
    get(target, prop) {
      if (prop === "list") {
        return async function* (selector: Deno.KvListSelector, options?: Deno.KvListOptions) {
          for await (const row of target.list(selector, options)) {
            rows++;
            yield row;
          }
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const store = new KvSessionStore(counting, { clock: h.clock, idempotencyTtlMs: TTL });
  const last = await store.readTranscript(S, { limit: 5 });
  assert.deepEqual(last.map((e) => e.text), ["m295", "m296", "m297", "m298", "m299"]);
  assert.equal(rows, 5);
});

Deno.test("long texts are split into parts and read back whole", async (t) => {
  using h = await setup();
  await h.store.admit(msg("seed"));
  const cases: Record<string, string> = {
    "200 KB of ASCII": "abcdefghij".repeat(20_000),
    // One character above U+00FF makes V8 store the whole string as UTF-16.
    "ASCII with a euro sign": "x".repeat(60_000) + "€" + "y".repeat(60_000),
    "emoji and CJK": "😀漢字é".repeat(12_000),
  };
  for (const [name, text] of Object.entries(cases)) {
    await t.step(name, async () => {
      await h.store.append(S, [{ role: "assistant", text }]);
      const [entry] = await h.store.readTranscript(S, { limit: 1 });
      assert.equal(entry.text.length, text.length);
      assert.ok(entry.text === text);
    });
  }
  await t.step("parts stay within the part budget", async () => {
    for await (
      const row of h.kv.list<Uint8Array | { text: string | Uint8Array }>({ prefix: ["t"] })
    ) {
      const text = row.value instanceof Uint8Array ? row.value : row.value.text;
      assert.ok(
        typeof text === "string" ? utf8Length(text) <= PART_BYTES : text.length <= PART_BYTES,
      );
    }
    assert.ok(await countKeys(h.kv, ["t"]) > 4);
  });
  await t.step("a long message round-trips through the ingress log", async () => {
    const m = msg(cases["200 KB of ASCII"]);
    await h.store.admit(m);
    const pending = await h.store.pendingIngress();
    const record = pending.find((r) => r.runId === m.runId);
    assert.ok(record?.text === m.text);
    await h.store.finishTurn(S, { runIds: [m.runId], entries: [] });
    assert.equal(await countKeys(h.kv, ["q"]), 1);
  });
});

Deno.test("a 1 MB message is truncated with a visible marker", async () => {
  using h = await setup();
  const text = "z".repeat(1_000_000);
  const m = msg(text);
  await h.store.admit(m);
  await h.store.beginTurn(S, [m]);
  const [entry] = await h.store.readTranscript(S);
  const match = entry.text.match(/\n\[… truncated (\d+) bytes by the gateway\]$/);
  assert.ok(match, "ends with the truncation marker");
  const kept = entry.text.slice(0, match.index);
  assert.ok(text.startsWith(kept));
  assert.equal(kept.length + Number(match[1]), text.length);
  assert.equal(await countKeys(h.kv, ["t"]), MAX_PARTS);
  // The ingress log holds the same truncated text, so a replay writes the same entry.
  assert.equal((await h.store.pendingIngress())[0].text, entry.text);
});

Deno.test("a turn larger than one commit is spread over several", async () => {
  using h = await setup();
  const big = Array.from({ length: 3 }, (_, i) => msg(String(i).repeat(1_000_000)));
  for (const m of big) await h.store.admit(m);
  await h.store.beginTurn(S, big);
  const transcript = await h.store.readTranscript(S);
  assert.deepEqual(transcript.map((e) => e.text[0]), ["0", "1", "2"]);
  assert.deepEqual((await h.store.pendingIngress()).map((r) => r.status), [
    "running",
    "running",
    "running",
  ]);
});

Deno.test("pendingIngress is in acceptance order", async () => {
  using h = await setup();
  // Run ids sort differently from acceptance order.
  const runIds = ["zeta", "alpha", "mu", "beta"];
  for (const runId of runIds) await h.store.admit(msg(runId, { runId }));
  const pending = await h.store.pendingIngress();
  assert.deepEqual(pending.map((r) => r.runId), runIds);
  assert.ok(pending.every((r, i) => i === 0 || pending[i - 1].seq < r.seq));
});

Deno.test("patchSession", async (t) => {
  using h = await setup();
  await t.step("an unknown session is not created without create", async () => {
    assert.equal(await h.store.patchSession(S, { label: "x" }), undefined);
    assert.equal(await h.store.getSession(S), undefined);
  });
  await t.step("create makes the session", async () => {
    const meta = await h.store.patchSession(S, { label: "Main" }, { create: true });
    assert.equal(meta?.label, "Main");
    assert.deepEqual(await h.store.getSession(S), meta);
  });
  await t.step("fields are set, kept when absent, cleared by null; updatedAt bumps", async () => {
    h.clock.advance(10);
    const route = { channel: "telegram", to: "42" };
    const meta = await h.store.patchSession(S, { model: "openai/gpt-x", route });
    assert.equal(meta?.label, "Main");
    assert.equal(meta?.model, "openai/gpt-x");
    assert.deepEqual(meta?.route, route);
    assert.equal(meta?.updatedAt, h.clock.now());
    const cleared = await h.store.patchSession(S, { label: null, route: null });
    assert.equal(cleared && "label" in cleared, false);
    assert.equal(cleared && "route" in cleared, false);
    assert.equal(cleared?.model, "openai/gpt-x");
  });
  await t.step("concurrent patches all land", async () => {
    await Promise.all([
      h.store.patchSession(S, { label: "L" }),
      h.store.patchSession(S, { model: "anthropic/claude" }),
      h.store.finishTurn(S, {
        runIds: [],
        entries: [],
        usage: { inputTokens: 5, outputTokens: 6 },
      }),
    ]);
    const meta = await h.store.getSession(S);
    assert.equal(meta?.label, "L");
    assert.equal(meta?.model, "anthropic/claude");
    assert.equal(meta?.inputTokens, 5);
  });
});

Deno.test("resetSession keeps label and model, clears transcript and counters", async () => {
  using h = await setup();
  assert.equal(await h.store.resetSession(S), false);
  const a = msg("q");
  await h.store.admit(a);
  await h.store.patchSession(S, { label: "Main", model: "openai/gpt-x" });
  await h.store.beginTurn(S, [a]);
  // Enough keys to need several delete commits.
  await h.store.append(
    S,
    Array.from({ length: 1_200 }, (_, i) => ({ role: "note", text: `${i}` })),
  );
  await h.store.finishTurn(S, {
    runIds: [a.runId],
    entries: [{ role: "assistant", text: "x".repeat(100_000) }],
    usage: { inputTokens: 3, outputTokens: 4 },
  });
  h.clock.advance(1_000);

  assert.equal(await h.store.resetSession(S), true);
  const meta = await h.store.getSession(S);
  assert.equal(meta?.label, "Main");
  assert.equal(meta?.model, "openai/gpt-x");
  assert.equal(meta?.inputTokens, 0);
  assert.equal(meta?.outputTokens, 0);
  assert.equal(meta?.updatedAt, h.clock.now());
  assert.deepEqual(await h.store.readTranscript(S), []);
  assert.equal(await countKeys(h.kv, ["t"]), 0);
});

Deno.test("deleteSession removes meta, transcript and the session's ingress", async () => {
  using h = await setup();
  const other = "agent:main:direct:bob";
  assert.equal(await h.store.deleteSession(S), false);
  const a = msg("q");
  const b = msg("later");
  const c = msg("elsewhere", { sessionKey: other });
  for (const m of [a, b, c]) await h.store.admit(m);
  await h.store.beginTurn(S, [a]);
  await h.store.append(S, [{ role: "assistant", text: "y".repeat(120_000) }]);

  assert.equal(await h.store.deleteSession(S), true);
  assert.equal(await h.store.getSession(S), undefined);
  assert.deepEqual(await h.store.readTranscript(S), []);
  assert.deepEqual((await h.store.pendingIngress()).map((r) => r.runId), [c.runId]);
  assert.equal(await countKeys(h.kv, ["t"]), 0);
  assert.equal((await h.store.listSessions()).length, 1);
  assert.equal(await h.store.deleteSession(S), false);
});

Deno.test("listSessions lists the most recently updated first", async () => {
  using h = await setup();
  for (const key of ["agent:main:a", "agent:main:b", "agent:main:c"]) {
    await h.store.patchSession(key, {}, { create: true });
    h.clock.advance(10);
  }
  await h.store.finishTurn("agent:main:a", { runIds: [], entries: [] });
  assert.deepEqual((await h.store.listSessions()).map((s) => s.key), [
    "agent:main:a",
    "agent:main:c",
    "agent:main:b",
  ]);
  assert.deepEqual((await h.store.listSessions({ limit: 2 })).map((s) => s.key), [
    "agent:main:a",
    "agent:main:c",
  ]);
});

Deno.test("a turn's answers are queued in the outbox by the commit that finishes the turn", async () => {
  using h = await setup();
  const { answerEntries } = await import("../src/agent/answers.ts");
  const { ChannelReplies } = await import("../src/channels/replies.ts");
  const { KvOutbox } = await import("../src/store/mod.ts");
  const outbox = new KvOutbox(h.kv, h.clock);
  const adapter = {
    id: "telegram",
    render: (md: string) => [md.toUpperCase()],
    send: () => Promise.resolve({ messageId: "1" }),
  };
  let kicked = 0;
  const replies = new ChannelReplies(new Map([["telegram", adapter]]), outbox, () => kicked++);
  const chat = { channel: "telegram", to: "42" };
  const a = msg("first", { reply: { ...chat, replyTo: "7" } });
  const b = msg("second", { reply: { ...chat, replyTo: "8" } });
  const ws = msg("from a websocket client");
  for (const m of [a, b, ws]) await h.store.admit(m);
  assert.equal((await h.store.pendingIngress())[0].reply?.replyTo, "7", "the target is recorded");
  await h.store.beginTurn(S, [a, b, ws]);
  const entries = answerEntries(replies, [a, b, ws], "the answer");
  assert.equal(entries.length, 1, "one answer per chat; websocket clients get events");
  await h.store.finishTurn(S, {
    runIds: [a.runId, b.runId, ws.runId],
    entries: [{ role: "assistant", text: "the answer" }],
    outbox: entries,
  });
  assert.deepEqual(await h.store.pendingIngress(), []);
  const queued = await outbox.pending();
  assert.equal(queued.length, 1);
  assert.deepEqual(
    { id: queued[0].id, to: queued[0].to, replyTo: queued[0].replyTo, chunks: queued[0].chunks },
    { id: `telegram:reply:${a.runId}`, to: "42", replyTo: "8", chunks: ["THE ANSWER"] },
  );
  assert.equal(queued[0].runId, a.runId);
  assert.equal(kicked, 0, "committing does not kick; the turn does after the commit");
});

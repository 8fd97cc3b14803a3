/**
 * The failover chain and cooldowns, over providers written for the test (the chain sees only the
 * kernel's Provider contract; the SDKs are exercised against the fake servers elsewhere).
 */
import assert from "node:assert/strict";
import {
  type FailureKind,
  GatehouseError,
  type ModelResolver,
  type ModelStreamEvent,
  type Provider,
  ProviderError,
} from "../src/kernel/mod.ts";
import { ACCOUNT_COOLDOWN_MS, CooldownBook } from "../src/providers/cooldown.ts";
import { Failover, type FailoverStatus } from "../src/providers/failover.ts";
import { ModelCatalog } from "../src/providers/catalog.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";

/** A provider whose calls fail with the kinds queued for it, then answer "ok from <id>". */
class ScriptedProvider implements Provider {
  readonly kind = "test";
  calls: string[] = [];
  failures: (FailureKind | { kind: FailureKind; retryAfterMs: number })[] = [];
  constructor(readonly id: string) {}
  async *stream(req: { model: string }): AsyncGenerator<ModelStreamEvent> {
    this.calls.push(req.model);
    const f = this.failures.shift();
    if (f) {
      const kind = typeof f === "string" ? f : f.kind;
      const retryAfterMs = typeof f === "string" ? undefined : f.retryAfterMs;
      throw new ProviderError(kind, `${this.id} says ${kind}`, { retryAfterMs });
    }
    yield { type: "text", delta: `ok from ${this.id}` };
    yield { type: "done", stopReason: "end" };
  }
}

function setup(options: { rounds?: number; maxWaitMs?: number } = {}) {
  const clock = new FakeClock();
  const a = new ScriptedProvider("a");
  const b = new ScriptedProvider("b");
  const providers = new Map<string, Provider>([["a", a], ["b", b]]);
  const models: ModelResolver = {
    resolve(ref) {
      const [id, model] = ref.split("/");
      const p = providers.get(id);
      return p ? { ok: true, provider: p, model } : { ok: false, reason: `no provider ${id}` };
    },
  };
  const cooldowns = new CooldownBook(clock);
  const failover = new Failover({
    models,
    cooldowns,
    clock,
    rounds: options.rounds ?? 1,
    maxWaitMs: options.maxWaitMs ?? 30_000,
  });
  const statuses: FailoverStatus[] = [];
  const run = (plan = failover.plan(undefined, "a/m1", ["b/m2"])) =>
    failover.run(plan, async (choice) => {
      let text = "";
      for await (
        const ev of choice.provider.stream({ model: choice.model, messages: [] }, signal)
      ) {
        if (ev.type === "text") text += ev.delta;
      }
      return text;
    }, { signal, onFailover: (s) => statuses.push(s) });
  const signal = new AbortController().signal;
  return { clock, a, b, cooldowns, failover, statuses, run, models };
}

Deno.test("cooldowns step 30 s, 1 min, 5 min and stay capped; a success clears them", () => {
  const clock = new FakeClock();
  const book = new CooldownBook(clock);
  const t0 = clock.now();
  assert.equal(book.fail("a/m", "rate_limit")!.until - t0, 30_000);
  assert.equal(book.fail("a/m", "server")!.until - t0, 60_000);
  assert.equal(book.fail("a/m", "timeout")!.until - t0, 300_000);
  assert.equal(book.fail("a/m", "network")!.until - t0, 300_000);
  assert.equal(book.active("a/m")?.failures, 4);
  book.succeed("a/m");
  assert.equal(book.active("a/m"), undefined);
  assert.equal(book.fail("a/m", "overloaded")!.until - t0, 30_000, "steps start over");
});

Deno.test("a slow success does not clear a cooldown a later failure set", async () => {
  const clock = new FakeClock();
  const book = new CooldownBook(clock);
  const callStarted = clock.now();
  await clock.advance(500);
  book.fail("a/m", "rate_limit"); // a concurrent call failed while ours was still streaming
  book.succeed("a/m", callStarted);
  assert.ok(book.active("a/m"), "the newer failure stands");
  book.succeed("a/m", clock.now());
  assert.equal(book.active("a/m"), undefined, "a call that started after it clears it");
});

Deno.test("auth and billing cool down 10 min; a longer retry-after wins; request errors start none", () => {
  const clock = new FakeClock();
  const book = new CooldownBook(clock);
  const t0 = clock.now();
  assert.equal(book.fail("a/m", "auth")!.until - t0, ACCOUNT_COOLDOWN_MS);
  assert.equal(book.fail("b/m", "billing")!.until - t0, 600_000);
  assert.equal(book.fail("c/m", "rate_limit", 90_000)!.until - t0, 90_000);
  assert.equal(book.fail("d/m", "rate_limit", 5_000)!.until - t0, 30_000);
  for (const kind of ["bad_request", "aborted", "context_overflow"] as const) {
    assert.equal(book.fail("e/m", kind), undefined, kind);
  }
  assert.deepEqual(book.activeRefs().sort(), ["a/m", "b/m", "c/m", "d/m"]);
});

Deno.test("a cooldown ends when its time is up", async () => {
  const clock = new FakeClock();
  const book = new CooldownBook(clock);
  book.fail("a/m", "rate_limit");
  await clock.advance(29_999);
  assert.ok(book.active("a/m"));
  await clock.advance(1);
  assert.equal(book.active("a/m"), undefined);
});

Deno.test("a failing primary hands the call to the fallback and says so", async () => {
  const s = setup();
  s.a.failures.push("rate_limit");
  const r = await s.run();
  assert.deepEqual(r, { value: "ok from b", ref: "b/m2" });
  assert.equal(s.statuses.length, 1);
  assert.deepEqual(
    { ...s.statuses[0], message: undefined },
    {
      attempt: 1,
      model: "a/m1",
      reason: "rate_limit",
      message: undefined,
      next: "b/m2",
      cooldownMs: 30_000,
    },
  );
});

Deno.test("while the primary cools down later calls start at the fallback; afterwards at the primary", async () => {
  const s = setup();
  s.a.failures.push("server");
  await s.run();
  assert.equal((await s.run()).ref, "b/m2");
  assert.deepEqual(s.a.calls, ["m1"], "the cooling primary was not called again");
  await s.clock.advance(30_000);
  assert.equal((await s.run()).ref, "a/m1");
});

Deno.test("a cooling model is still tried last rather than failing the turn", async () => {
  const s = setup();
  s.a.failures.push("overloaded");
  await s.run(); // a cools down
  s.b.failures.push("overloaded");
  const r = await s.run();
  assert.equal(r.ref, "a/m1");
  assert.deepEqual(s.statuses.map((x) => [x.model, x.next]), [
    ["a/m1", "b/m2"],
    ["b/m2", "a/m1"],
  ]);
});

Deno.test("bad_request, aborted and context_overflow end the walk without failover", async () => {
  for (const kind of ["bad_request", "aborted", "context_overflow"] as const) {
    const s = setup();
    s.a.failures.push(kind);
    await assert.rejects(s.run(), (err) => err instanceof ProviderError && err.kind === kind);
    assert.deepEqual(s.b.calls, [], `${kind} must not reach the fallback`);
    assert.equal(s.cooldowns.active("a/m1"), undefined, `${kind} starts no cooldown`);
  }
});

Deno.test("a session's own model is strict: no fallback, and the error says why", async () => {
  const s = setup();
  s.a.failures.push("rate_limit");
  const plan = s.failover.plan("a/m1", "a/m1", ["b/m2"]);
  assert.deepEqual(plan, { refs: ["a/m1"], strict: true });
  await assert.rejects(s.run(plan), (err) => {
    assert.ok(err instanceof GatehouseError);
    assert.equal(err.code, "PROVIDER_ERROR");
    assert.match(err.message, /model a\/m1 failed \(rate_limit\)/);
    assert.match(err.message, /no fallback was tried because this session's model was picked/);
    assert.match(err.message, /\/model default/);
    return true;
  });
  assert.deepEqual(s.b.calls, []);
});

Deno.test("when every model fails the error names each attempt", async () => {
  const s = setup();
  s.a.failures.push("timeout");
  s.b.failures.push("auth");
  await assert.rejects(s.run(), (err) => {
    assert.ok(err instanceof GatehouseError);
    assert.match(err.message, /every model failed: a\/m1 \(timeout\), b\/m2 \(auth\)/);
    assert.deepEqual((err.options.details as { attempts: unknown }).attempts, [
      { model: "a/m1", kind: "timeout" },
      { model: "b/m2", kind: "auth" },
    ]);
    return true;
  });
  assert.equal(s.statuses.at(-1)?.next, undefined, "the last status says nothing is left");
});

Deno.test("a second pass waits (retry-after, capped) and skips models with account failures", async () => {
  const s = setup({ rounds: 2, maxWaitMs: 10_000 });
  s.a.failures.push({ kind: "rate_limit", retryAfterMs: 4_000 });
  s.b.failures.push("billing");
  const result = s.run();
  // The wait runs on the clock: let the first pass fail, then move time past the wait.
  while (s.statuses.length < 2) await s.clock.advance(0);
  assert.deepEqual(s.statuses[1], {
    ...s.statuses[1],
    model: "b/m2",
    next: "a/m1",
    waitMs: 4_000,
  });
  await s.clock.advance(4_000);
  assert.deepEqual(await result, { value: "ok from a", ref: "a/m1" });
  assert.deepEqual(s.b.calls, ["m2"], "billing benched b for the rest of the walk");
});

Deno.test("a strict model gets one retry per pass after a wait", async () => {
  const s = setup({ rounds: 2 });
  s.a.failures.push("server");
  const result = s.run(s.failover.plan("a/m1", undefined, []));
  while (s.statuses.length < 1) await s.clock.advance(0);
  assert.equal(s.statuses[0].waitMs, 1_000, "no retry-after: the base wait");
  await s.clock.advance(1_000);
  assert.equal((await result).ref, "a/m1");
  assert.deepEqual(s.a.calls, ["m1", "m1"]);
});

Deno.test("an abort during the wait ends the walk at once", async () => {
  const s = setup({ rounds: 2 });
  const ac = new AbortController();
  s.a.failures.push("server");
  const plan = s.failover.plan("a/m1", undefined, []);
  const result = s.failover.run(plan, async (c) => {
    for await (const _ of c.provider.stream({ model: c.model, messages: [] }, ac.signal)) {
      // drain
    }
    return "done";
  }, { signal: ac.signal, onFailover: (x) => s.statuses.push(x) });
  while (s.statuses.length < 1) await s.clock.advance(0);
  ac.abort(new GatehouseError("ABORTED", "stopped"));
  await assert.rejects(result, (err) => err instanceof GatehouseError && err.code === "ABORTED");
  assert.equal(s.clock.pending, 0, "the wait's timer is gone");
});

Deno.test("a chain whose providers are all unusable fails with NO_MODEL and their reasons", async () => {
  const s = setup();
  await assert.rejects(
    s.run(s.failover.plan(undefined, "x/m", ["y/m"])),
    (err) =>
      err instanceof GatehouseError && err.code === "NO_MODEL" &&
      err.message === "no provider x; no provider y",
  );
});

Deno.test("the catalog lists the chain with roles, availability and cooldowns", () => {
  const s = setup();
  const catalog = new ModelCatalog({
    primary: "a/m1",
    fallbacks: ["b/m2", "x/m3"],
    models: s.models,
    cooldowns: s.cooldowns,
    clock: s.clock,
  });
  s.cooldowns.fail("b/m2", "rate_limit");
  s.cooldowns.fail("a/other", "server");
  const list = catalog.list(["a/picked"]);
  assert.deepEqual(list.map((m) => [m.ref, m.role, m.available, m.cooldown?.reason ?? null]), [
    ["a/m1", "primary", true, null],
    ["b/m2", "fallback", true, "rate_limit"],
    ["x/m3", "fallback", false, null],
    ["a/picked", "other", true, null],
    ["a/other", "other", true, "server"],
  ]);
  assert.equal(list[1].cooldown?.remainingMs, 30_000);
  assert.equal(list[2].reason, "no provider x");
  assert.match(catalog.problem("gpt-4")!, /is not "<provider>\/<model>"/);
  assert.equal(catalog.problem("x/m"), "no provider x");
  assert.equal(catalog.problem("a/anything"), undefined);
});

Deno.test("a fallback that refuses the request after the primary failed names both", async () => {
  const s = setup();
  s.a.failures.push("rate_limit");
  s.b.failures.push("bad_request");
  await assert.rejects(s.run(), (err) => {
    assert.ok(err instanceof GatehouseError);
    assert.match(err.message, /every model failed: a\/m1 \(rate_limit\), b\/m2 \(bad_request\)/);
    return true;
  });
});

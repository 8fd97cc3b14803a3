import assert from "node:assert/strict";
import { GatehouseError, type QueueMode, silentLogger } from "../src/kernel/mod.ts";
import { type LaneItem, LaneScheduler, type RunContext } from "../src/lanes/mod.ts";
import { FakeClock, flush } from "./_helpers/fake_clock.ts";

/** A run the test finishes by hand. */
interface Held {
  batch: string[];
  key: string;
  ctx: RunContext<string>;
  finish: () => void;
}

function harness(options: { maxConcurrent?: number; queueCap?: number; debounceMs?: number } = {}) {
  const clock = new FakeClock();
  const held: Held[] = [];
  const log: string[] = [];
  const dropped: string[] = [];
  const abandoned: string[] = [];
  const lanes = new LaneScheduler<string>({
    clock,
    logger: silentLogger,
    timeoutMs: 10_000,
    abortGraceMs: 1_000,
    ...options,
    run: (batch, ctx) =>
      new Promise<void>((resolve) => {
        const names = batch.map((i) => i.payload);
        log.push(`start ${ctx.key} ${names.join("+")}`);
        const h: Held = {
          batch: names,
          key: ctx.key,
          ctx,
          finish: () => {
            log.push(`end ${ctx.key} ${names.join("+")}`);
            resolve();
          },
        };
        held.push(h);
      }),
    onDrop: (key, item, reason) => dropped.push(`${key} ${item.payload} ${reason}`),
    onAbandon: (key, items, reason) =>
      abandoned.push(
        `${key} ${items.map((i) => i.payload).join("+")} ${(reason as GatehouseError).code}`,
      ),
  });
  let n = 0;
  const item = (payload: string, mode: QueueMode = "followup"): LaneItem<string> => ({
    id: `r${++n}`,
    mode,
    payload,
  });
  const running = () => held.filter((h) => !log.includes(`end ${h.key} ${h.batch.join("+")}`));
  return { clock, held, log, dropped, abandoned, lanes, item, running };
}

Deno.test("lane runs one task at a time per session", async () => {
  const { lanes, item, running, log } = harness();
  assert.equal(lanes.submit("a", item("m1")), "started");
  assert.equal(lanes.submit("a", item("m2")), "queued");
  await flush();
  assert.deepEqual(running().map((h) => h.batch), [["m1"]]);
  running()[0].finish();
  await flush();
  assert.deepEqual(running().map((h) => h.batch), [["m2"]]);
  running()[0].finish();
  await flush();
  assert.deepEqual(log, ["start a m1", "end a m1", "start a m2", "end a m2"]);
  assert.equal(lanes.stats().lanes, 0, "idle lanes are deleted");
});

Deno.test("different sessions run in parallel up to the global cap", async () => {
  const { lanes, item, running } = harness({ maxConcurrent: 2 });
  lanes.submit("a", item("a1"));
  lanes.submit("b", item("b1"));
  assert.equal(lanes.submit("c", item("c1")), "queued");
  await flush();
  assert.deepEqual(running().map((h) => h.key), ["a", "b"]);
  assert.equal(lanes.stats().waitingForSlot, 1);
  running()[0].finish();
  await flush();
  assert.deepEqual(running().map((h) => h.key), ["b", "c"]);
  for (const h of running()) h.finish();
  await flush();
  assert.deepEqual(lanes.stats(), { lanes: 0, running: 0, waitingForSlot: 0, queued: 0 });
});

Deno.test("followup queues each message as its own next turn", async () => {
  const { lanes, item, running, log } = harness();
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("m2"));
  lanes.submit("a", item("m3"));
  for (let i = 0; i < 3; i++) {
    await flush();
    running()[0].finish();
  }
  await flush();
  assert.deepEqual(log.filter((l) => l.startsWith("start")), [
    "start a m1",
    "start a m2",
    "start a m3",
  ]);
});

Deno.test("collect waits for the quiet window, then runs queued messages as one turn", async () => {
  const { lanes, item, running, clock } = harness({ debounceMs: 500 });
  lanes.submit("a", item("m1", "collect"));
  lanes.submit("a", item("m2", "collect"));
  await clock.advance(100);
  lanes.submit("a", item("m3", "collect"));
  running()[0].finish();
  await flush();
  assert.equal(running().length, 0, "debounce holds the batch");
  await clock.advance(300);
  lanes.submit("a", item("m4", "collect"));
  await clock.advance(499);
  assert.equal(running().length, 0, "a new message restarts the quiet window");
  await clock.advance(1);
  assert.deepEqual(running().map((h) => h.batch), [["m2", "m3", "m4"]]);
  running()[0].finish();
  await flush();
});

Deno.test("interrupt aborts the running turn and runs the newest with what was queued", async () => {
  const { lanes, item, running } = harness();
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("m2"));
  await flush();
  const first = running()[0];
  assert.equal(lanes.submit("a", item("m3", "interrupt")), "interrupting");
  assert.ok(first.ctx.signal.aborted);
  const reason = first.ctx.signal.reason as GatehouseError;
  assert.equal(reason.code, "ABORTED");
  first.finish();
  await flush();
  assert.deepEqual(running().map((h) => h.batch), [["m2", "m3"]]);
  running()[0].finish();
  await flush();
});

Deno.test("steer delivers into the running turn; untaken steers run as a followup", async () => {
  const { lanes, item, running } = harness();
  lanes.submit("a", item("m1"));
  await flush();
  assert.equal(lanes.submit("a", item("s1", "steer")), "steered");
  const run = running()[0];
  assert.deepEqual(run.ctx.takeSteered().map((i) => i.payload), ["s1"]);
  assert.deepEqual(run.ctx.takeSteered(), [], "taken once");
  assert.equal(lanes.submit("a", item("s2", "steer")), "steered");
  run.finish();
  await flush();
  assert.deepEqual(running().map((h) => h.batch), [["s2"]]);
  running()[0].finish();
  await flush();
});

Deno.test("untaken steers keep their place behind messages accepted before them", async () => {
  const { lanes, item, running, log } = harness();
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("f1"));
  lanes.submit("a", item("s1", "steer"));
  lanes.submit("a", item("f2"));
  for (let i = 0; i < 4; i++) {
    await flush();
    running()[0].finish();
  }
  await flush();
  assert.deepEqual(log.filter((l) => l.startsWith("start")), [
    "start a m1",
    "start a f1",
    "start a s1",
    "start a f2",
  ]);
});

Deno.test("steer on an idle session starts a turn", async () => {
  const { lanes, item, running } = harness();
  assert.equal(lanes.submit("a", item("s1", "steer")), "started");
  await flush();
  running()[0].finish();
  await flush();
});

Deno.test("queue cap drops the oldest queued message and reports it", async () => {
  const { lanes, item, running, dropped } = harness({ queueCap: 2 });
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("m2"));
  lanes.submit("a", item("m3"));
  lanes.submit("a", item("m4"));
  assert.deepEqual(dropped, ["a m2 queue_full"]);
  assert.equal(lanes.depth("a"), 2);
  for (let i = 0; i < 3; i++) {
    await flush();
    running()[0].finish();
  }
  await flush();
});

Deno.test("watchdog aborts a turn that runs too long", async () => {
  const { lanes, item, running, clock } = harness();
  lanes.submit("a", item("m1"));
  await flush();
  const run = running()[0];
  await clock.advance(9_999);
  assert.equal(run.ctx.signal.aborted, false);
  await clock.advance(1);
  assert.equal((run.ctx.signal.reason as GatehouseError).code, "TIMEOUT");
  run.finish();
  await flush();
  assert.equal(lanes.stats().lanes, 0);
});

Deno.test("watchdog frees a stuck lane even when the run ignores the abort", async () => {
  const { lanes, item, running, clock, held, abandoned } = harness();
  lanes.submit("a", item("stuck"));
  lanes.submit("a", item("next"));
  await flush();
  const stuck = running()[0];
  lanes.submit("a", item("steer-in", "steer"));
  stuck.ctx.takeSteered();
  await clock.advance(10_000);
  assert.ok(stuck.ctx.signal.aborted);
  assert.equal(stuck.ctx.current, true, "still current during the grace period");
  await clock.advance(1_000);
  assert.equal(stuck.ctx.current, false, "no longer allowed to write");
  assert.deepEqual(abandoned, ["a stuck+steer-in TIMEOUT"], "its messages are reported unanswered");
  assert.deepEqual(held.map((h) => h.batch[0]), ["stuck", "next"], "the next turn started");
  held[1].finish();
  stuck.finish(); // settling late changes nothing
  await flush();
  assert.deepEqual(lanes.stats(), { lanes: 0, running: 0, waitingForSlot: 0, queued: 0 });
});

Deno.test("abort with clearQueue stops the turn and drops what waits", async () => {
  const { lanes, item, running, dropped } = harness();
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("m2"));
  await flush();
  lanes.submit("a", item("s1", "steer"));
  const r = lanes.abort("a", new GatehouseError("ABORTED", "stop"), { clearQueue: true });
  assert.deepEqual(r, { aborted: true, dropped: 2 });
  assert.deepEqual(dropped, ["a m2 aborted", "a s1 aborted"], "steered items are dropped too");
  running()[0].finish();
  await flush();
  assert.equal(lanes.stats().lanes, 0);
  assert.deepEqual(lanes.abort("zzz", new GatehouseError("ABORTED", "x")), {
    aborted: false,
    dropped: 0,
  });
});

Deno.test("close starts nothing new and whenIdle waits for running turns", async () => {
  const { lanes, item, running } = harness();
  lanes.submit("a", item("m1"));
  lanes.submit("a", item("m2"));
  await flush();
  lanes.close();
  let idle = false;
  const done = lanes.whenIdle().then(() => idle = true);
  await flush();
  assert.equal(idle, false);
  running()[0].finish();
  await done;
  assert.equal(running().length, 0, "m2 stays queued for the ingress log to replay");
});

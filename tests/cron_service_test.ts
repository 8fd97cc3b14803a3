/**
 * The cron service with an injected clock (no wall-clock sleeping): each schedule kind fires when
 * it should, a `tz` job on a DST-change day, overlap protection, both catch-up policies across a
 * restart, the failure limit, `at` jobs deleted after success, and the run history.
 */
import assert from "node:assert/strict";
import type { CronJob, CronRun } from "../src/cron/job.ts";
import { parseDuration, parseSchedule, ScheduleError } from "../src/cron/schedule.ts";
import { CronService } from "../src/cron/service.ts";
import { CronStore } from "../src/cron/store.ts";
import { silentLogger } from "../src/kernel/mod.ts";
import { FakeClock, flush } from "./_helpers/fake_clock.ts";
import { RecordingChannel } from "./_helpers/recording_channel.ts";

const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);

interface Harness {
  kv: Deno.Kv;
  clock: FakeClock;
  store: CronStore;
  service: CronService;
  runs: { job: string; at: number }[];
  delivered: string[];
  notices: string[];
  /** Makes the next runs of a job fail / wait. */
  fail: Set<string>;
  hold: Map<string, Promise<void>>;
  step(ms: number): Promise<void>;
  restart(catchUp: "skip" | "once", atMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function harness(catchUp: "skip" | "once" = "skip"): Promise<Harness> {
  const kv = await Deno.openKv(":memory:");
  const clock = new FakeClock(T0);
  const store = new CronStore(kv, { retainRuns: 5 });
  const h = {
    kv,
    clock,
    store,
    runs: [],
    delivered: [],
    notices: [],
    fail: new Set<string>(),
    hold: new Map<string, Promise<void>>(),
  } as unknown as Harness;
  const make = (policy: "skip" | "once") =>
    new CronService({
      store,
      clock: h.clock,
      logger: silentLogger,
      failureLimit: 3,
      catchUp: policy,
      execute: async (job) => {
        h.runs.push({ job: job.id, at: h.clock.now() });
        await h.hold.get(job.id);
        if (h.fail.has(job.id)) throw new Error("the model is down");
        return { text: `did ${job.id}` };
      },
      deliver: (_job: CronJob, _run: CronRun, text: string) => {
        h.delivered.push(text);
        return Promise.resolve();
      },
      notify: (text) => {
        h.notices.push(text);
        return Promise.resolve();
      },
    });
  h.service = make(catchUp);
  h.step = async (ms) => {
    await h.clock.advance(ms);
    await flush(20);
  };
  h.restart = async (policy, atMs) => {
    h.service.stop();
    await h.service.idle();
    if (atMs !== undefined) h.clock = new FakeClock(atMs);
    h.service = make(policy);
    await h.service.start();
    await flush(20);
  };
  h[Symbol.asyncDispose] = async () => {
    h.service.stop();
    await h.service.idle();
    kv.close();
  };
  await h.service.start();
  return h;
}

function job(id: string, schedule: CronJob["schedule"], extra: Partial<CronJob> = {}) {
  return {
    id,
    schedule,
    payload: { kind: "agent_turn" as const, message: `run ${id}` },
    target: "main",
    delivery: { kind: "none" as const },
    enabled: true,
    origin: "operator" as const,
    createdAt: T0,
    anchor: T0,
    ...extra,
  };
}

Deno.test("durations and schedules are checked with messages that say the fix", () => {
  assert.equal(parseDuration("20m"), 1_200_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.equal(parseDuration("soon"), undefined);
  assert.throws(() => parseSchedule({ kind: "at", at: "tomorrowish" }, T0), ScheduleError);
  assert.throws(
    () => parseSchedule({ kind: "every", every: "0s" }, T0),
    /at least a second: use e\.g\. 30s/,
  );
  assert.throws(() => parseSchedule({ kind: "cron", cron: "* * *" }, T0), /has 3 fields/);
  assert.throws(() => parseSchedule({ kind: "cron", cron: "61 * * * *" }, T0), /minute: 61/);
  assert.throws(
    () => parseSchedule({ kind: "cron", cron: "0 8 * * *", tz: "Mars/Base" }, T0),
    /unknown time zone/,
  );
});

Deno.test("at (relative and absolute), every and cron fire when due; a done at job is deleted", async () => {
  await using h = await harness();
  await h.service.add(job("in20m", { kind: "at", at: "20m" }));
  await h.service.add(job("abs", { kind: "at", at: new Date(T0 + 90 * 60_000).toISOString() }));
  await h.service.add(job("every15", { kind: "every", every: "15m" }));
  await h.service.add(job("hourly", { kind: "cron", cron: "0 * * * *", tz: "UTC" }));
  for (let i = 0; i < 24; i++) await h.step(5 * 60_000); // two hours
  const at = (id: string) => h.runs.filter((r) => r.job === id).map((r) => (r.at - T0) / 60_000);
  assert.deepEqual(at("in20m"), [20]);
  assert.deepEqual(at("abs"), [90]);
  assert.deepEqual(at("every15"), [15, 30, 45, 60, 75, 90, 105, 120]);
  assert.deepEqual(at("hourly"), [60, 120]);
  assert.equal(await h.store.get("in20m"), undefined, "an at job is deleted after success");
  assert.equal((await h.store.runs("in20m")).length, 1, "its run is kept");
  const runs = await h.store.runs("every15");
  assert.equal(runs.length, 5, "history keeps the newest 5");
  assert.equal(runs[0].outcome, "ok");
  assert.equal(runs[0].scheduledFor, T0 + 120 * 60_000);
  assert.ok(h.delivered.includes("did hourly"));
});

Deno.test("a tz job on the day clocks spring forward runs at the first valid local time", () => {
  // Europe/Berlin, 2026-03-29: 02:00 → 03:00 local (01:00 UTC). A 02:30 job runs at 03:00 CEST.
  const s = parseSchedule({ kind: "cron", cron: "30 2 * * *", tz: "Europe/Berlin" }, T0);
  const runs: string[] = [];
  let t = Date.UTC(2026, 2, 27, 12);
  for (let i = 0; i < 3; i++) runs.push(new Date(t = s.next(t)!).toISOString());
  assert.deepEqual(runs, [
    "2026-03-28T01:30:00.000Z", // 02:30 CET
    "2026-03-29T01:00:00.000Z", // 03:00 CEST: 02:30 does not exist that day
    "2026-03-30T00:30:00.000Z", // 02:30 CEST
  ]);
  // Fall back, 2026-10-25: 03:00 → 02:00 local; 02:30 happens twice and runs once.
  const fall: string[] = [];
  t = Date.UTC(2026, 9, 24, 12);
  for (let i = 0; i < 2; i++) fall.push(new Date(t = s.next(t)!).toISOString());
  assert.deepEqual(fall, ["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
});

Deno.test("a job never overlaps itself: a slot during its run is skipped", async () => {
  await using h = await harness();
  let release!: () => void;
  h.hold.set("slow", new Promise<void>((r) => (release = r)));
  await h.service.add(job("slow", { kind: "every", every: "1m" }));
  for (let i = 0; i < 5; i++) await h.step(60_000); // slots at 1..5 min; the first run still goes on
  assert.equal(h.runs.length, 1);
  release();
  h.hold.delete("slow");
  await flush(20);
  await h.step(60_000);
  assert.equal(h.runs.length, 2, "runs again at the next slot after the run ended");
  assert.equal((h.runs[1].at - T0) / 60_000, 6);
});

Deno.test("a slot missed while down is skipped by default, or run once with catch_up = once", async () => {
  for (const policy of ["skip", "once"] as const) {
    await using h = await harness(policy);
    await h.service.add(job("daily", { kind: "cron", cron: "0 13 * * *", tz: "UTC" }));
    // Down from 12:30 to 15:00: the 13:00 slot passes while nothing runs.
    await h.step(30 * 60_000);
    h.service.stop();
    const back = T0 + 3 * 3_600_000;
    await h.restart(policy, back);
    await h.step(1_000);
    const missed = h.runs.filter((r) => r.job === "daily");
    if (policy === "skip") assert.equal(missed.length, 0, "skip: not run");
    else {
      assert.equal(missed.length, 1, "once: run at start-up");
      assert.equal(missed[0].at, back);
      const [run] = await h.store.runs("daily");
      assert.equal(run.trigger, "catch_up");
      assert.equal(run.scheduledFor, T0 + 3_600_000);
    }
    const next = (await h.store.get("daily"))!.nextRunAt!;
    assert.equal(new Date(next).toISOString(), "2026-12-05T13:00:00.000Z");
  }
});

Deno.test("after failure_limit failures in a row the job is disabled and the owner told", async () => {
  await using h = await harness();
  h.fail.add("flaky");
  await h.service.add(job("flaky", { kind: "every", every: "10m" }, { name: "morning summary" }));
  for (let i = 0; i < 6; i++) await h.step(10 * 60_000);
  assert.equal(h.runs.length, 3, "stops after the third failure");
  const stored = (await h.store.get("flaky"))!;
  assert.equal(stored.enabled, false);
  assert.match(stored.disabledReason!, /3 failed runs in a row/);
  assert.equal(h.notices.length, 1);
  assert.match(
    h.notices[0],
    /morning summary was disabled after 3 failed runs.*gatehouse cron enable flaky/,
  );
  const runs = await h.store.runs("flaky");
  assert.ok(runs.every((r) => r.outcome === "error" && r.error === "the model is down"));
  h.fail.delete("flaky");
  await h.service.setEnabled("flaky", true);
  await h.step(10 * 60_000);
  assert.equal(h.runs.length, 4);
  assert.equal((await h.store.get("flaky"))!.failures, 0);
});

Deno.test("a configured job runs as a turn in the gateway and announces its answer to a chat", async () => {
  const { startTestGateway } = await import("./_helpers/in_process.ts");
  const adapter = new RecordingChannel();
  const sent = adapter.sent;
  await using gw = await startTestGateway({
    channels: [adapter],
    config: `[[cron.jobs]]
id = "soon"
at = "1s"
message = "scheduled hello"
target = "isolated"
announce = { channel = "test", to = "chat-1" }
`,
  });
  await adapter.until(1);
  assert.equal(sent.length, 1, "announced once");
  assert.equal(sent[0].to, "chat-1");
  assert.match(sent[0].text, /scheduled hello/);
  const asked = gw.fake.requests.at(-1)!.body.messages as { role: string; content: unknown }[];
  assert.match(String(asked.at(-1)?.content), /scheduled hello/);
  const client = await gw.client();
  const sessions = await client.request<{ sessions: { key: string }[] }>("sessions.list", {});
  assert.ok(sessions.sessions.some((s) => s.key === "cron:soon"), "ran in its own session");
});

Deno.test("a job's own model is used strictly and its tools narrow what the turn is offered", async () => {
  const { startTestGateway } = await import("./_helpers/in_process.ts");
  const adapter = new RecordingChannel();
  const sent = adapter.sent;
  await using gw = await startTestGateway({
    channels: [adapter],
    config: `[[cron.jobs]]
id = "narrow"
at = "1s"
message = "what time is it"
model = "fake/job-model"
tools = ["time_now", "exec"]
target = "isolated"
announce = { channel = "test", to = "c" }
`,
  });
  await adapter.until(1);
  assert.equal(sent.length, 1);
  const body = gw.fake.requests.at(-1)!.body;
  assert.equal(body.model, "job-model");
  const offered = (body.tools as { function: { name: string } }[]).map((t) => t.function.name);
  assert.deepEqual(offered, ["time_now"], "exec is off by the policy (no programs): never widened");
});

/**
 * Failover under a failing primary: do turns still complete, and what does a failing primary add
 * to their latency?
 *
 * Setup. The gateway runs as a real process (least-privilege flags) with two providers, each a
 * fake in its own process: the primary `openai/bench` (`tests/_servers/openai.ts`) fails
 * `--fault-rate` (default 50 %) of the requests it gets, drawn at random (`--seed`) from
 * `--faults` (default rate_limit = 429 with retry-after 1 s, server_error = 500, stall = the role
 * chunk and the text, then silence, cut = the connection dropped mid-stream); the fallback
 * `anthropic/bench` (`tests/_servers/anthropic.ts`) is healthy. Both providers have
 * `timeout_seconds` and `idle_timeout_seconds` of `--timeout-s` / `--idle-timeout-s` (default 1,
 * the least the config takes) so a stall fails after about a second instead of a minute.
 *
 * Method. Two runs of the same size, each on a fresh gateway and fresh fakes, baseline first:
 *   baseline  the same setup with the primary healthy (fault rate 0): every turn is the primary's;
 *   failover  the primary failing.
 * Each is closed-loop: `--sessions` sessions each keep one message in flight (one client
 * connection, `agent.max_concurrent` = `--max-concurrent`, default 20, so no turn waits for a
 * global slot) until `--turns` were sent. Warm-up first, on two sessions of their own pinned to
 * one model each (`sessions.patch` model: strict, no fallback): turns to the fallback and to the
 * primary until each has answered once. The providers import their SDK on the first call (about
 * 250 ms each here), which would otherwise land on the first wave of `--sessions` turns of both
 * runs and make up their p99; and the primary's answer clears the cooldown its warm-up failures
 * started, so the measured run begins with no model cooling. `--cold` skips the warm-up.
 * Per turn the client keeps its latency (chat.send → end event), its end state, `final.model` and
 * its `status` events. Figures:
 *   completed  share of turns that ended `final` (should be 100 %: the fallback is healthy); the
 *              others are counted and the first few listed with their error;
 *   added latency  turn latency minus the baseline's median turn latency, p50 / p99 / max;
 *   served by  share of turns by `final.model`;
 *   primary attempts  one per `status` of kind failover naming the primary (a failed attempt),
 *              plus one per turn the primary answered (these turns make no tool calls, so an answer
 *              is one call).
 *
 * Why the primary serves few turns. A failed model cools down per provider+model, 30 s, then
 * 1 min, then 5 min (the fake's 1 s retry-after is shorter, so the steps win), and later turns
 * skip a cooling model (it is still tried last if every other model fails). At a 50 % failure
 * rate the primary fails within the first turns; from then on turns go straight to the fallback,
 * and a run of 1,000 turns (a few seconds) ends before the first 30 s cooldown does. (The first
 * wave of `--sessions` turns reaches the primary together; a success clears only failures
 * recorded before its own call began, so the first failure of the wave holds.) That is the
 * designed behaviour: the figures to
 * watch are completion and added latency, not the primary's share. For the same reason the
 * added latency of most turns compares the fallback's own path with the primary's (the Anthropic
 * SDK and fake instead of OpenAI's) rather than measuring failover, so the turns are also split
 * by path: answered by the primary at once, failed over inside the turn (pays the failed attempt:
 * a stall costs the idle timeout), or sent straight to the fallback while the primary cools.
 *
 *   deno run -A bench/failover.ts [--turns 1000] [--sessions 20] [--fault-rate 0.5]
 *     [--faults rate_limit,server_error,stall,cut] [--seed 1] [--timeout-s 1] [--idle-timeout-s 1]
 *     [--max-concurrent 20] [--cold] [--limit-s 900]
 */
import { parseArgs } from "node:util";
import {
  assertAlive,
  benchConfig,
  closedLoop,
  deal,
  emitJson,
  hardLimit,
  intFlag,
  type LoadResult,
  median,
  percentile,
  printTable,
  round,
  sessionKeys,
  startFake,
  startGateway,
  TurnDriver,
  type TurnResult,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    turns: { type: "string", default: "1000" },
    sessions: { type: "string", default: "20" },
    "fault-rate": { type: "string", default: "0.5" },
    faults: { type: "string", default: "rate_limit,server_error,stall,cut" },
    seed: { type: "string", default: "1" },
    "timeout-s": { type: "string", default: "1" },
    "idle-timeout-s": { type: "string", default: "1" },
    "max-concurrent": { type: "string", default: "20" },
    cold: { type: "boolean", default: false },
    "limit-s": { type: "string", default: "900" },
  },
});
const turns = Math.max(1, intFlag("turns", values.turns));
const sessions = Math.max(1, intFlag("sessions", values.sessions));
const faultRate = Number(values["fault-rate"]);
if (!(faultRate >= 0 && faultRate <= 1)) {
  throw new Error(`--fault-rate must be from 0 to 1, got ${JSON.stringify(values["fault-rate"])}`);
}
const faults = values.faults.split(",").map((f) => f.trim()).filter(Boolean);
const seed = intFlag("seed", values.seed);
const timeoutSeconds = Math.max(1, intFlag("timeout-s", values["timeout-s"]));
const idleTimeoutSeconds = Math.max(1, intFlag("idle-timeout-s", values["idle-timeout-s"]));
const maxConcurrent = Math.max(1, intFlag("max-concurrent", values["max-concurrent"]));
const limitSeconds = intFlag("limit-s", values["limit-s"]);
const cancelLimit = hardLimit(limitSeconds);

const PRIMARY = "openai/bench";
const FALLBACK = "anthropic/bench";

/** Warm-up turns per model before one answers; past this the fake is not failing at random. */
const MAX_WARMUP_TURNS = 20;

interface RunResult {
  /** Warm-up turns sent per model (the last one answered). */
  warmup: Record<string, number>;
  load: LoadResult;
  /** Every turn that ended (turns that threw, e.g. timed out, are only in `load.errors`). */
  results: TurnResult[];
}

/** One closed-loop run on a fresh gateway whose primary fails `rate` of its requests. */
async function run(label: string, rate: number): Promise<RunResult> {
  await using primary = await startFake({ kind: "openai", faultRate: rate, faults, seed });
  await using fallback = await startFake({ kind: "anthropic" });
  const timeouts = { timeoutSeconds, idleTimeoutSeconds };
  await using gw = await startGateway(benchConfig({
    providers: [
      { id: "openai", kind: "openai", url: primary.url, ...timeouts },
      { id: "anthropic", kind: "anthropic", url: fallback.url, ...timeouts },
    ],
    model: PRIMARY,
    fallbacks: [FALLBACK],
    maxConcurrent,
  }));
  const client = await gw.connect();
  try {
    const driver = new TurnDriver(client);
    const warmup: Record<string, number> = {};
    for (const model of values.cold ? [] : [FALLBACK, PRIMARY]) {
      const sessionKey = `agent:main:bench:direct:${label}-warm-${model.replace("/", "-")}`;
      await client.request("sessions.patch", { sessionKey, model });
      for (let n = 1;; n++) {
        const r = await driver.turn(sessionKey, `warm-up ${n}`);
        if (r.state === "final" && r.model === model) {
          warmup[model] = n;
          break;
        }
        if (n === MAX_WARMUP_TURNS) {
          throw new Error(`warm-up: ${model} did not answer in ${n} turns (last: ${r.state})`);
        }
      }
    }
    const results: TurnResult[] = [];
    const workers = deal(sessionKeys(sessions, label), sessions);
    const load = await closedLoop([driver], workers, {
      turns,
      seconds: limitSeconds,
      onResult: (r) => results.push(r),
    });
    assertAlive(gw);
    return { warmup, load, results };
  } catch (err) {
    // On a shared machine the gateway may be stopped from outside: say so rather than "closed".
    const died = gw.died();
    throw died ? new Error(died, { cause: err }) : err;
  } finally {
    await client.close();
  }
}

const baseline = await run("base", 0);
const failover = await run("fail", faultRate);
cancelLimit();

// ---------------------------------------------------------------------------------------------
// Figures.

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const baseMedian = median(baseline.load.latencies);

/** p50 / p99 / max of `ms` and of `ms` − the baseline median, rounded. */
function latencyOf(ms: number[]) {
  const s = sorted(ms);
  const added = s.map((x) => x - baseMedian);
  return {
    p50Ms: round(percentile(s, 50)),
    p99Ms: round(percentile(s, 99)),
    maxMs: round(s.at(-1) ?? NaN),
    addedP50Ms: round(percentile(added, 50)),
    addedP99Ms: round(percentile(added, 99)),
    addedMaxMs: round(added.at(-1) ?? NaN),
  };
}

const failoversOf = (r: TurnResult) => (r.statuses ?? []).filter((s) => s.kind === "failover");

/** How a completed turn got its answer. */
function pathOf(r: TurnResult): string {
  const failed = failoversOf(r).length > 0;
  if (r.model === PRIMARY && !failed) return "primary at once";
  if (r.model === FALLBACK && failed) return "primary failed → fallback";
  if (r.model === FALLBACK) return "straight to fallback";
  return `other (${r.model ?? "no model"}${failed ? ", after failures" : ""})`;
}

const finals = failover.results.filter((r) => r.state === "final");
const paths = new Map<string, number[]>();
for (const r of finals) {
  const p = pathOf(r);
  paths.set(p, [...paths.get(p) ?? [], r.ms]);
}
const byPath = [...paths].map(([path, ms]) => ({
  path,
  turns: ms.length,
  percent: round((100 * ms.length) / failover.load.turns, 1),
  ...latencyOf(ms),
}));

const servedBy: Record<string, { turns: number; percent: number }> = {};
for (const r of finals) {
  const m = r.model ?? "(none)";
  servedBy[m] ??= { turns: 0, percent: 0 };
  servedBy[m].turns++;
}
for (const s of Object.values(servedBy)) {
  s.percent = round((100 * s.turns) / failover.load.turns, 1);
}

/** Attempts on `ref` seen by the client: failover statuses naming it, plus turns it answered. */
function attemptsOn(ref: string, res: TurnResult[]) {
  const failuresByReason: Record<string, number> = {};
  let failures = 0;
  for (const r of res) {
    for (const s of failoversOf(r)) {
      if (s.model !== ref) continue;
      failures++;
      failuresByReason[s.reason ?? "?"] = (failuresByReason[s.reason ?? "?"] ?? 0) + 1;
    }
  }
  const succeeded = res.filter((r) => r.state === "final" && r.model === ref).length;
  return { attempts: failures + succeeded, failures, succeeded, failuresByReason };
}
const primaryAttempts = attemptsOn(PRIMARY, failover.results);
const fallbackAttempts = attemptsOn(FALLBACK, failover.results);

const summarise = (r: RunResult) => ({
  turns: r.load.turns,
  completed: r.load.turns - r.load.errors,
  completedPercent: round((100 * (r.load.turns - r.load.errors)) / r.load.turns, 2),
  notCompleted: r.load.errors,
  notCompletedSamples: r.load.errorSamples,
  seconds: round(r.load.seconds),
  turnsPerSecond: round(r.load.turnsPerSecond, 1),
  ...latencyOf(r.load.latencies),
});
const base = summarise(baseline);
const fail = summarise(failover);

// ---------------------------------------------------------------------------------------------
// Report.

console.log(
  `failover: ${turns} turns over ${sessions} sessions, closed loop, ` +
    `max_concurrent=${maxConcurrent}; primary ${PRIMARY} (fake, ${
      faultRate * 100
    } % of requests fail: ${faults.join(", ")}; ` +
    `seed ${seed}), fallback ${FALLBACK} (fake, healthy); both providers timeout_seconds = ` +
    `${timeoutSeconds}, idle_timeout_seconds = ${idleTimeoutSeconds}`,
);
const warmText = (w: Record<string, number>) =>
  Object.entries(w).map(([m, n]) => `${m} ${n}`).join(", ") || "none (--cold)";
console.log(
  `warm-up turns until each model answered: baseline ${warmText(baseline.warmup)}; ` +
    `failover ${warmText(failover.warmup)}`,
);
const runRow = (name: string, s: typeof base) => [
  name,
  s.turns,
  `${s.completedPercent} %`,
  s.p50Ms,
  s.p99Ms,
  s.maxMs,
  s.turnsPerSecond,
];
printTable([
  ["run", "turns", "completed", "p50 ms", "p99 ms", "max ms", "turns/s"],
  runRow("baseline (primary healthy)", base),
  runRow("failover (primary failing)", fail),
]);
console.log(
  `\nadded latency = failover turn − baseline median (${round(baseMedian)} ms): ` +
    `p50 ${fail.addedP50Ms} ms, p99 ${fail.addedP99Ms} ms, max ${fail.addedMaxMs} ms`,
);
printTable([
  [
    "path (failover run)",
    "turns",
    "share",
    "p50 ms",
    "p99 ms",
    "added p50",
    "added p99",
    "added max",
  ],
  ...byPath.map((p) => [
    p.path,
    p.turns,
    `${p.percent} %`,
    p.p50Ms,
    p.p99Ms,
    p.addedP50Ms,
    p.addedP99Ms,
    p.addedMaxMs,
  ]),
]);
console.log(
  `\nserved by: ${
    Object.entries(servedBy).map(([m, s]) => `${m} ${s.turns} (${s.percent} %)`).join(", ")
  }`,
);
const reasons = (r: Record<string, number>) =>
  Object.entries(r).map(([k, n]) => `${k} ${n}`).join(", ") || "none";
console.log(
  `primary attempts: ${primaryAttempts.attempts} (succeeded ${primaryAttempts.succeeded}, ` +
    `failed ${primaryAttempts.failures}: ${reasons(primaryAttempts.failuresByReason)})`,
);
console.log(
  `fallback attempts: ${fallbackAttempts.attempts} (failed ${fallbackAttempts.failures}` +
    `${fallbackAttempts.failures ? `: ${reasons(fallbackAttempts.failuresByReason)}` : ""})`,
);
for (const [name, s] of [["baseline", base], ["failover", fail]] as const) {
  if (s.notCompleted === 0) continue;
  console.log(`${name}: ${s.notCompleted} turn(s) did not complete, e.g.:`);
  for (const e of s.notCompletedSamples) console.log(`  ${e}`);
}
emitJson({
  bench: "failover",
  turns,
  sessions,
  maxConcurrent,
  faultRate,
  faults,
  seed,
  cold: values.cold,
  warmup: { baseline: baseline.warmup, failover: failover.warmup },
  timeoutSeconds,
  idleTimeoutSeconds,
  primary: PRIMARY,
  fallback: FALLBACK,
  completedPercent: fail.completedPercent,
  notCompleted: fail.notCompleted,
  notCompletedSamples: fail.notCompletedSamples,
  baselineP50Ms: round(baseMedian),
  addedP50Ms: fail.addedP50Ms,
  addedP99Ms: fail.addedP99Ms,
  addedMaxMs: fail.addedMaxMs,
  servedBy,
  primaryAttempts,
  fallbackAttempts,
  byPath,
  baseline: base,
  failover: fail,
});

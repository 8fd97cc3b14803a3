/**
 * RSS growth over a long run: `--turns` turns (default 50,000) over `--sessions` sessions (default
 * 1,000), closed loop with `--inflight` messages in flight (default 100; each worker cycles through
 * its own share of the sessions, so no session has two in flight), zero-latency fake provider in
 * its own process, `agent.max_concurrent` = `--inflight`.
 *
 * Readings of the gateway's RSS (/proc/<pid>/status): right after ready; "before" = after a
 * warm-up of one turn on each of `--inflight` separate sessions (so the lazily loaded provider SDK
 * and the first-turn code paths are not counted as growth); during the run at every tenth of it;
 * right after the last turn; and every 2 s of `--settle-s` seconds idle (V8 gives pages back only
 * after a while idle, at a moment of its choosing, so one reading soon after the load can land
 * on either side of that). Growth = RSS at the end of the idle window − before,
 * the budget's figure; the peak (VmHWM) is reported too.
 *
 * `--inspect-heap` (a diagnostic; the inspector slows turns a little) starts the gateway with
 * `--inspect=127.0.0.1:<port>` and reads the V8 heap in use after a full GC before and after the
 * run: growth there is retained by the program; RSS growth beyond it is garbage not yet collected,
 * heap V8 keeps committed, and native memory.
 *
 *   deno run -A bench/soak_rss.ts [--turns 50000] [--sessions 1000] [--inflight 100]
 *     [--settle-s 30] [--seconds 1500] [--inspect-heap] [--limit-s 1800]
 */
import { parseArgs } from "node:util";
import {
  assertAlive,
  benchConfig,
  Cdp,
  closedLoop,
  deal,
  emitJson,
  freePort,
  hardLimit,
  intFlag,
  mib,
  percentile,
  printTable,
  round,
  rssOf,
  sessionKeys,
  sleep,
  startFake,
  startGateway,
  TurnDriver,
  v8Heap,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    turns: { type: "string", default: "50000" },
    sessions: { type: "string", default: "1000" },
    inflight: { type: "string", default: "100" },
    "settle-s": { type: "string", default: "30" },
    seconds: { type: "string", default: "1500" },
    "inspect-heap": { type: "boolean", default: false },
    "limit-s": { type: "string", default: "1800" },
  },
});
const turns = Math.max(1, intFlag("turns", values.turns));
const sessions = Math.max(1, intFlag("sessions", values.sessions));
const inflight = Math.max(1, Math.min(sessions, intFlag("inflight", values.inflight)));
const settleS = intFlag("settle-s", values["settle-s"]);
const seconds = Math.max(1, intFlag("seconds", values.seconds));
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

await using fake = await startFake();
const inspectPort = freePort();
await using gw = await startGateway(
  benchConfig({ fakeUrl: fake.url, maxConcurrent: Math.min(256, inflight) }),
  { extraFlags: values["inspect-heap"] ? [`--inspect=127.0.0.1:${inspectPort}`] : [] },
);
const cdp = values["inspect-heap"] ? await Cdp.open(inspectPort) : undefined;
const ready = await rssOf(gw.pid);
const client = await gw.connect();
const driver = new TurnDriver(client);
const warm = sessionKeys(inflight, "warm");
await closedLoop([driver], deal(warm, inflight), { turns: inflight, seconds: 60 });
await sleep(1000);
const before = await rssOf(gw.pid);
const heapBefore = cdp ? await v8Heap(cdp) : undefined;

const samples: [number, number][] = [[0, mib(before.rss)]];
const step = Math.max(1, Math.floor(turns / 10));
const res = await closedLoop([driver], deal(sessionKeys(sessions, "soak"), inflight), {
  turns,
  seconds,
  onTurn: async (done) => {
    if (done % step === 0) samples.push([done, mib((await rssOf(gw.pid)).rss)]);
  },
});
assertAlive(gw);
const end = await rssOf(gw.pid);
const idle: [number, number][] = [];
for (let t = 2; t <= settleS; t += 2) {
  await sleep(2000);
  idle.push([t, mib((await rssOf(gw.pid)).rss)]);
}
const settled = await rssOf(gw.pid);
const heapAfter = cdp ? await v8Heap(cdp) : undefined;
const afterGc = cdp ? await rssOf(gw.pid) : undefined;
cdp?.close();
const { sessions: listed } = await client.request<{ sessions: unknown[] }>("sessions.list", {
  limit: 10_000,
});
await client.close();
cancelLimit();

const growthMiB = round(mib(settled.rss) - mib(before.rss), 1);
console.log(
  `gateway RSS over ${res.turns} turns in ${sessions} sessions (${inflight} in flight), ` +
    `${round(res.seconds, 1)} s, ${round(res.turnsPerSecond, 1)} turns/s, ${res.errors} errors, ` +
    `${listed.length} sessions listed`,
);
printTable([
  ["reading", "MiB"],
  ["after ready", mib(ready.rss)],
  [`before (after ${inflight} warm-up turns)`, mib(before.rss)],
  ["right after the last turn", mib(end.rss)],
  [`after ${settleS} s idle`, mib(settled.rss)],
  ["peak (VmHWM)", mib(settled.peak)],
  ["growth (idle − before)", growthMiB],
]);
if (heapBefore && heapAfter && afterGc) {
  console.log(`V8 heap after a full GC (--inspect-heap)`);
  printTable([
    ["reading", "heap used MiB", "heap committed MiB", "RSS MiB"],
    ["before", mib(heapBefore.used), mib(heapBefore.total), mib(before.rss)],
    ["after the run and idle", mib(heapAfter.used), mib(heapAfter.total), mib(afterGc.rss)],
    ["growth", round(mib(heapAfter.used) - mib(heapBefore.used), 1), "", ""],
  ]);
}
console.log(`during the run [turns, MiB]: ${samples.map(([t, m]) => `${t}:${m}`).join(" ")}`);
console.log(`idle after the run [s, MiB]: ${idle.map(([t, m]) => `${t}:${m}`).join(" ")}`);
if (res.errorSamples.length) console.log(`errors: ${res.errorSamples.join("; ")}`);
emitJson({
  bench: "soak_rss",
  turns: res.turns,
  sessions,
  inflight,
  errors: res.errors,
  seconds: round(res.seconds, 1),
  turnsPerSecond: round(res.turnsPerSecond, 1),
  p50Ms: round(percentile(res.latencies, 50)),
  p99Ms: round(percentile(res.latencies, 99)),
  readyMiB: mib(ready.rss),
  beforeMiB: mib(before.rss),
  endMiB: mib(end.rss),
  settledMiB: mib(settled.rss),
  peakMiB: mib(settled.peak),
  growthMiB,
  ...(heapBefore && heapAfter && afterGc
    ? {
      heapUsedBeforeMiB: mib(heapBefore.used),
      heapUsedAfterMiB: mib(heapAfter.used),
      rssAfterGcMiB: mib(afterGc.rss),
    }
    : {}),
  samples,
  idleSamples: idle,
});

/**
 * Turns per second, closed loop, zero-latency fake provider (its own process): each session keeps
 * exactly one message in flight, the next sent as soon as the previous one's `chat` final
 * arrives. Each case runs `--runs` times on a fresh gateway (fresh KV) and reports the median.
 * Every run first sends one turn per session (creating the sessions and loading the provider SDK),
 * then counts turns until `--turns` were sent or `--seconds` passed, whichever comes first.
 *
 * `agent.max_concurrent` is `--max-concurrent` (default 100, so 100 sessions are never waiting for
 * a global slot; the gateway's own default is 8). All sessions share `--conns` client
 * connections (default 1): the gateway sends every event to every connected client, so one
 * connection per session would measure that N² fan-out rather than turns.
 *
 * The CPU the gateway (and each of its threads), the fake and this client used during the median
 * run is reported too, per turn: on 2 cores, 1,500 turns/s leaves 1.33 ms of CPU per turn for
 * all three processes together, and 0.67 ms for the gateway's one JS thread. `--store memory` runs
 * the gateway on an in-memory KV: a diagnostic that shows what the disk costs, not a figure.
 *
 *   deno run -A bench/throughput.ts [--sessions 1,100] [--turns 10000] [--seconds 20] [--runs 3]
 *     [--max-concurrent 100] [--conns 1] [--store disk|memory] [--limit-s 600]
 */
import { parseArgs } from "node:util";
import {
  assertAlive,
  benchConfig,
  closedLoop,
  cpuRows,
  cpuSnapshot,
  deal,
  emitJson,
  hardLimit,
  intFlag,
  median,
  percentile,
  printTable,
  round,
  sessionKeys,
  startFake,
  startGateway,
  TurnDriver,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sessions: { type: "string", default: "1,100" },
    turns: { type: "string", default: "10000" },
    seconds: { type: "string", default: "20" },
    runs: { type: "string", default: "3" },
    "max-concurrent": { type: "string", default: "100" },
    conns: { type: "string", default: "1" },
    store: { type: "string", default: "disk" },
    "limit-s": { type: "string", default: "600" },
  },
});
const cases = values.sessions.split(",").map((s) => Math.max(1, intFlag("sessions", s.trim())));
const turns = Math.max(1, intFlag("turns", values.turns));
const seconds = Math.max(1, intFlag("seconds", values.seconds));
const runs = Math.max(1, intFlag("runs", values.runs));
const maxConcurrent = Math.max(1, intFlag("max-concurrent", values["max-concurrent"]));
const conns = Math.max(1, intFlag("conns", values.conns));
if (values.store !== "disk" && values.store !== "memory") {
  throw new Error("--store: disk or memory");
}
const storePath = values.store === "memory" ? ":memory:" : undefined;
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

interface CaseResult {
  sessions: number;
  turnsPerSecond: number;
  errors: number;
  turns: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  perRun: number[];
  errorSamples: string[];
  /** CPU rows of the median run: [name, CPU s, % of one core, ms per turn]. */
  cpu: (string | number)[][];
}

await using fake = await startFake();
const results: CaseResult[] = [];
for (const n of cases) {
  const per: {
    tps: number;
    errors: number;
    turns: number;
    seconds: number;
    lat: number[];
    cpu: (string | number)[][];
  }[] = [];
  const errorSamples: string[] = [];
  for (let r = 0; r < runs; r++) {
    await using gw = await startGateway(
      benchConfig({ fakeUrl: fake.url, maxConcurrent, storePath }),
    );
    const clients = await Promise.all(Array.from({ length: conns }, () => gw.connect()));
    const drivers = clients.map((c) => new TurnDriver(c));
    const keys = sessionKeys(n, `tp${r}-`);
    const workers = deal(keys, n);
    await closedLoop(drivers, workers, { turns: n, seconds: 60 }); // warm-up: one turn each
    const cpu0 = await cpuSnapshot(gw.pid, fake.pid);
    const res = await closedLoop(drivers, workers, { turns, seconds });
    assertAlive(gw);
    const cpu1 = await cpuSnapshot(gw.pid, fake.pid);
    per.push({
      tps: res.turnsPerSecond,
      errors: res.errors,
      turns: res.turns,
      seconds: res.seconds,
      lat: res.latencies,
      cpu: cpuRows(cpu0, cpu1, res.turns),
    });
    errorSamples.push(...res.errorSamples.slice(0, 5 - errorSamples.length));
    await Promise.all(clients.map((c) => c.close()));
  }
  const mid = per.map((p, i) => [p.tps, i]).sort((a, b) => a[0] - b[0])[per.length >> 1][1];
  results.push({
    sessions: n,
    turnsPerSecond: round(median(per.map((p) => p.tps)), 1),
    errors: per.reduce((s, p) => s + p.errors, 0),
    turns: per[mid].turns,
    seconds: round(per[mid].seconds, 1),
    p50Ms: round(percentile(per[mid].lat, 50)),
    p99Ms: round(percentile(per[mid].lat, 99)),
    perRun: per.map((p) => round(p.tps, 1)),
    errorSamples,
    cpu: per[mid].cpu,
  });
}
cancelLimit();

console.log(
  `closed-loop turns/s, zero-latency fake, ${values.store} KV, max_concurrent=${maxConcurrent}, ${conns} ` +
    `connection(s), ≤${turns} turns or ≤${seconds} s per run, median of ${runs} run(s)`,
);
printTable([
  ["sessions", "turns/s", "errors", "turns (median run)", "s", "p50 ms", "p99 ms", "per run"],
  ...results.map((r) => [
    r.sessions,
    r.turnsPerSecond,
    r.errors,
    r.turns,
    r.seconds,
    r.p50Ms,
    r.p99Ms,
    r.perRun.join(" "),
  ]),
]);
for (const r of results) {
  console.log(`\nCPU during the median run, ${r.sessions} session(s)`);
  printTable([["process / thread", "CPU s", "of one core", "ms/turn"], ...r.cpu]);
}
for (const r of results) {
  if (r.errorSamples.length) console.log(`errors (${r.sessions}): ${r.errorSamples.join("; ")}`);
}
const at100 = results.find((r) => r.sessions === 100) ?? results.at(-1)!;
emitJson({
  bench: "throughput",
  maxConcurrent,
  conns,
  store: values.store,
  turnsLimit: turns,
  secondsLimit: seconds,
  runs,
  turnsPerSecond: at100.turnsPerSecond,
  sessionsForBudget: at100.sessions,
  errors: results.reduce((n, r) => n + r.errors, 0),
  cases: results,
});

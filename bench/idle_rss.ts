/**
 * Idle RSS: the gateway's resident set right after `/readyz` turns 200 (before any client), and
 * after `--idle-s` seconds idle (one client connects, calls `status`, disconnects; no turns). The
 * provider is configured (the fake runs as its own process) but never called, so its SDK stays
 * unloaded, as on a real idle gateway. Also reports the CPU the gateway used while idle (the
 * design's "idle CPU ≈ 0"), read from /proc/<pid>/stat, and, as a floor, the RSS of the smallest
 * Deno program serving /readyz (`bench/_hello_server.ts`) after the same idle time, and a
 * breakdown of what each start-up import and open adds (`bench/_rss_probe.ts`, one fresh process,
 * readings after a full GC; the probe's own floor differs a little from the hello server's).
 *
 * `--entry dist/gatehouse.mjs` measures that program (the `deno task bundle` output) in place of
 * `main.ts`, run from its own folder under the same flags; the breakdown, which loads the source
 * modules one by one, is then left out.
 *
 *   deno run -A bench/idle_rss.ts [--idle-s 30] [--runs 1] [--sample-s 5] [--limit-s 300]
 *     [--entry dist/gatehouse.mjs]
 */
import { parseArgs } from "node:util";
import {
  benchConfig,
  cpuSecondsOf,
  emitJson,
  freePort,
  hardLimit,
  intFlag,
  median,
  mib,
  onHardStop,
  printTable,
  readyzOk,
  ROOT,
  round,
  rssOf,
  sleep,
  startFake,
  startGateway,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "idle-s": { type: "string", default: "30" },
    runs: { type: "string", default: "1" },
    "sample-s": { type: "string", default: "5" },
    "limit-s": { type: "string", default: "300" },
    entry: { type: "string" },
  },
});
const idleS = intFlag("idle-s", values["idle-s"]);
const runs = Math.max(1, intFlag("runs", values.runs));
const sampleS = Math.max(1, intFlag("sample-s", values["sample-s"]));
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

interface Run {
  readyRss: number;
  idleRss: number;
  peak: number;
  idleCpuPercent: number;
  /** [seconds since ready, RSS MiB] */
  samples: [number, number][];
}

await using fake = await startFake();
const out: Run[] = [];
for (let r = 0; r < runs; r++) {
  await using gw = await startGateway(benchConfig({ fakeUrl: fake.url }), {
    entry: values.entry,
  });
  const t0 = performance.now();
  const ready = await rssOf(gw.pid);
  const client = await gw.connect();
  await client.request("status");
  await client.close();
  const cpu0 = await cpuSecondsOf(gw.pid);
  const c0 = performance.now();
  const samples: [number, number][] = [[0, mib(ready.rss)]];
  while (performance.now() - t0 < idleS * 1000) {
    const left = idleS * 1000 - (performance.now() - t0);
    await sleep(Math.min(sampleS * 1000, left));
    samples.push([round((performance.now() - t0) / 1000, 1), mib((await rssOf(gw.pid)).rss)]);
  }
  const cpuSeconds = (await cpuSecondsOf(gw.pid)) - cpu0;
  const idle = await rssOf(gw.pid);
  out.push({
    readyRss: ready.rss,
    idleRss: idle.rss,
    peak: idle.peak,
    idleCpuPercent: (100 * cpuSeconds) / ((performance.now() - c0) / 1000),
    samples,
  });
}

/** RSS of `bench/_hello_server.ts` after the same idle time: what any Deno server costs here. */
async function floorRss(): Promise<number> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-net=127.0.0.1:${port}`,
      "bench/_hello_server.ts",
      `${port}`,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const remove = onHardStop(() => child.kill("SIGKILL"));
  try {
    const t0 = performance.now();
    while (!(await readyzOk(`http://127.0.0.1:${port}`))) await sleep(20);
    await sleep(Math.max(0, idleS * 1000 - (performance.now() - t0)));
    return (await rssOf(child.pid)).rss;
  } finally {
    child.kill("SIGTERM");
    await child.status;
    remove();
  }
}
const floorMiB = mib(await floorRss());

/** The probe's readings: [step, RSS MiB, V8 heap used MiB], cumulative. */
async function breakdown(): Promise<[string, number, number][]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", "bench/_rss_probe.ts"],
    cwd: ROOT,
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("bench/_rss_probe.ts failed");
  const rows = JSON.parse(new TextDecoder().decode(out.stdout)) as [string, number, number][];
  return rows.map(([step, rss, heap]) => [step, mib(rss), mib(heap)]);
}
const steps = values.entry ? [] : await breakdown();
cancelLimit();

const readyMiB = mib(median(out.map((r) => r.readyRss)));
const idleMiB = mib(median(out.map((r) => r.idleRss)));
const peakMiB = mib(median(out.map((r) => r.peak)));
const cpu = round(median(out.map((r) => r.idleCpuPercent)), 2);
console.log(
  `gateway RSS of ${values.entry ?? "main.ts"} (median of ${runs} run(s); idle ${idleS} s)`,
);
printTable([
  ["reading", "MiB"],
  ["right after /readyz 200", readyMiB],
  [`after ${idleS} s idle`, idleMiB],
  ["peak (VmHWM)", peakMiB],
  ["idle CPU, % of one core", cpu],
  [`floor: Deno.serve hello, after ${idleS} s`, floorMiB],
]);
if (steps.length) {
  console.log(`\nwhere it comes from (bench/_rss_probe.ts: cumulative, after a full GC)`);
  printTable([
    ["step", "RSS MiB", "+MiB", "V8 heap MiB"],
    ...steps.map(([step, rss, heap], i) => [
      step,
      rss,
      i === 0 ? "" : round(rss - steps[i - 1][1], 1),
      heap,
    ]),
  ]);
}
console.log(
  `samples [s, MiB]: ${
    out.map((r) => r.samples.map(([s, m]) => `${s}:${m}`).join(" ")).join(" | ")
  }`,
);
emitJson({
  bench: "idle_rss",
  entry: values.entry ?? "main.ts",
  runs,
  idleSeconds: idleS,
  readyMiB,
  idleMiB,
  peakMiB,
  idleCpuPercent: cpu,
  floorMiB,
  breakdown: steps,
  samples: out.map((r) => r.samples),
});

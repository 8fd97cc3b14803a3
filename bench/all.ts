/**
 * Runs every benchmark in turn (each as its own `deno run -A` subprocess), collects the JSON line
 * each prints last into `bench/results.json`, and prints the figures against the budgets of
 * design.md ("Performance budgets").
 *
 *   deno run -A bench/all.ts [--quick] [--only startup,overhead] [--out bench/results.json]
 *     [--limit-s 5400]
 *
 * `--quick` passes small sizes to every script (a smoke run of a few minutes); its figures are
 * not comparable with the budgets where the budget names a size (50,000 turns, 30 s idle).
 */
import { parseArgs } from "node:util";
import { emitJson, hardLimit, intFlag, onHardStop, printTable, ROOT } from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string", default: "bench/results.json" },
    "limit-s": { type: "string", default: "5400" },
  },
});
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

/** The scripts, in run order, with the flags of a quick run. */
const SCRIPTS: { name: string; quick: string[] }[] = [
  { name: "startup", quick: ["--runs", "3"] },
  { name: "idle_rss", quick: ["--idle-s", "5"] },
  { name: "overhead", quick: ["--turns", "300", "--warmup", "20", "--runs", "1"] },
  { name: "throughput", quick: ["--turns", "2000", "--seconds", "5", "--runs", "1"] },
  { name: "soak_rss", quick: ["--turns", "5000", "--sessions", "100", "--settle-s", "3"] },
  { name: "ws_idle", quick: ["--runs", "1", "--settle-s", "2"] },
  // No budget in design.md: its figures (completion, added latency) go to results.json only.
  { name: "failover", quick: ["--turns", "200", "--sessions", "10"] },
  // No budget either: every Telegram message answered once across SIGKILLs (exits 1 otherwise).
  { name: "telegram_crash", quick: ["--quick"] },
];

const only = values.only?.split(",").map((s) => s.trim());
for (const name of only ?? []) {
  if (!SCRIPTS.some((s) => s.name === name)) {
    throw new Error(`--only: no bench "${name}" (have: ${SCRIPTS.map((s) => s.name).join(", ")})`);
  }
}
const selected = SCRIPTS.filter((s) => !only || only.includes(s.name));

type Json = Record<string, unknown>;

/** Runs one script, echoing its output, and returns its final JSON line. */
async function runScript(name: string, args: string[]): Promise<Json | { error: string }> {
  console.log(`\n== bench/${name}.ts ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `bench/${name}.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // SIGINT reaches the child with us (same process group); on our time limit it must be killed.
  const remove = onHardStop(async () => {
    child.kill("SIGINT");
    await child.status;
  });
  let stdout = "";
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += text;
    await Deno.stdout.write(new TextEncoder().encode(text));
  }
  const status = await child.status;
  remove();
  const line = stdout.trimEnd().split("\n").findLast((l) => l.startsWith('{"bench"'));
  if (!status.success || !line) return { error: `exit code ${status.code}, no result line` };
  return JSON.parse(line) as Json;
}

/** The commit and the state of src/ and tests/: other people change them while benches run. */
async function codeState(): Promise<{ commit: string; dirty: string[] }> {
  const git = async (...args: string[]) =>
    new TextDecoder().decode(
      (await new Deno.Command("git", { args, cwd: ROOT, stderr: "null" }).output()).stdout,
    ).trim();
  return {
    commit: await git("rev-parse", "--short", "HEAD"),
    dirty: (await git("status", "--porcelain", "--", "src", "tests", "main.ts"))
      .split("\n").filter(Boolean),
  };
}
const codeBefore = await codeState();
const results: Record<string, Json | { error: string }> = {};
/** Machine-wide CPU ticks (all cores) and the share the hypervisor took (steal), from /proc/stat. */
async function cpuTicks(): Promise<{ total: number; steal: number }> {
  const f = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
}
/** Steal time during each bench, in % of the machine: CPU this VM wanted and did not get. */
const stealOf: Record<string, number> = {};

/** The code each bench ran against (before and after it), to tell which figures a change split. */
const codeOf: Record<string, { before: string; after: string }> = {};
const label = (c: { commit: string; dirty: string[] }) =>
  c.commit + (c.dirty.length ? `+${c.dirty.length} changed` : "");
for (const s of selected) {
  const before = label(await codeState());
  const t0 = await cpuTicks().catch(() => undefined);
  results[s.name] = await runScript(s.name, values.quick ? s.quick : []);
  const t1 = await cpuTicks().catch(() => undefined);
  if (t0 && t1 && t1.total > t0.total) {
    stealOf[s.name] = Math.round((1000 * (t1.steal - t0.steal)) / (t1.total - t0.total)) / 10;
  }
  codeOf[s.name] = { before, after: label(await codeState()) };
}
const codeAfter = await codeState();
const codeChanged = JSON.stringify(codeBefore) !== JSON.stringify(codeAfter);
cancelLimit();

// ---------------------------------------------------------------------------------------------
// The summary against the budgets.

const num = (bench: string, field: string): number | undefined => {
  const v = (results[bench] as Json | undefined)?.[field];
  return typeof v === "number" ? v : undefined;
};

interface Row {
  figure: string;
  bench: string;
  measured: number | undefined;
  unit: string;
  budget: number;
  /** true: measured must be ≤ budget; false: ≥. */
  atMost: boolean;
  note?: string;
}

const soakTurns = num("soak_rss", "turns");
const ROWS: Row[] = [
  {
    figure: "start → /readyz 200, median",
    bench: "startup",
    measured: num("startup", "medianMs"),
    unit: "ms",
    budget: 150,
    atMost: true,
  },
  {
    figure: `idle RSS after ${num("idle_rss", "idleSeconds") ?? 30} s`,
    bench: "idle_rss",
    measured: num("idle_rss", "idleMiB"),
    unit: "MiB",
    budget: 60,
    atMost: true,
  },
  {
    figure: "overhead per turn, p50",
    bench: "overhead",
    measured: num("overhead", "p50Ms"),
    unit: "ms",
    budget: 2,
    atMost: true,
  },
  {
    figure: "overhead per turn, p99",
    bench: "overhead",
    measured: num("overhead", "p99Ms"),
    unit: "ms",
    budget: 10,
    atMost: true,
  },
  {
    figure: `turns/s, ${num("throughput", "sessionsForBudget") ?? 100} sessions`,
    bench: "throughput",
    measured: num("throughput", "turnsPerSecond"),
    unit: "turns/s",
    budget: 1500,
    atMost: false,
  },
  {
    figure: `RSS growth over ${soakTurns ?? 50_000} turns`,
    bench: "soak_rss",
    measured: num("soak_rss", "growthMiB"),
    unit: "MiB",
    budget: 20,
    atMost: true,
    note: soakTurns !== undefined && soakTurns < 50_000 ? "fewer turns than the budget's" : "",
  },
  {
    figure: `${num("ws_idle", "clients") ?? 1000} idle WebSocket clients, extra`,
    bench: "ws_idle",
    measured: num("ws_idle", "extraMiB"),
    unit: "MiB",
    budget: 30,
    atMost: true,
  },
];

const summary = ROWS.filter((r) => r.bench in results).map((r) => {
  const ok = r.measured === undefined
    ? undefined
    : r.atMost
    ? r.measured <= r.budget
    : r.measured >= r.budget;
  return {
    figure: r.figure,
    measured: r.measured ?? null,
    unit: r.unit,
    budget: `${r.atMost ? "≤" : "≥"} ${r.budget}`,
    verdict: ok === undefined ? "no result" : ok ? "pass" : "MISS",
    note: r.note ?? "",
  };
});

const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
const machine = {
  cpus: navigator.hardwareConcurrency,
  cpuModel: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown",
  memTotalKiB: Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? NaN),
  deno: Deno.version.deno,
  v8: Deno.version.v8,
  os: `${Deno.build.os} ${Deno.build.arch}`,
};
const report = {
  date: new Date().toISOString(),
  quick: values.quick,
  code: { before: codeBefore, after: codeAfter, changedDuringRun: codeChanged, perBench: codeOf },
  stealPercent: stealOf,
  machine,
  summary,
  results,
};
await Deno.writeTextFile(`${ROOT}/${values.out}`, JSON.stringify(report, null, 2) + "\n");

console.log(
  `\n== summary against design.md budgets${values.quick ? " (QUICK run: sizes reduced)" : ""}`,
);
printTable([
  ["figure", "measured", "budget", "verdict", "note"],
  ...summary.map((s) => [
    s.figure,
    s.measured === null ? "-" : `${s.measured} ${s.unit}`,
    `${s.budget} ${s.unit}`,
    s.verdict,
    s.note,
  ]),
]);
for (const [name, r] of Object.entries(results)) {
  if ("error" in r) console.log(`bench/${name}.ts failed: ${r.error}`);
}
console.log(
  `code: ${codeBefore.commit}${
    codeBefore.dirty.length ? ` + ${codeBefore.dirty.length} changed file(s)` : ""
  }`,
);
if (codeChanged) {
  console.log(
    `WARNING: src/ or tests/ changed during the run (now ${codeAfter.commit}); ` +
      `the figures may mix two versions: run again`,
  );
  for (const [name, c] of Object.entries(codeOf)) {
    console.log(
      `  ${name}: ${c.before}${c.after !== c.before ? ` → ${c.after} (changed while it ran)` : ""}`,
    );
  }
}
console.log(
  `CPU steal (hypervisor) per bench, % of the machine: ${
    Object.entries(stealOf).map(([n, v]) => `${n} ${v}`).join(", ")
  }`,
);
console.log(`results written to ${values.out}`);
emitJson({ bench: "all", quick: values.quick, code: codeBefore, codeChanged, summary });

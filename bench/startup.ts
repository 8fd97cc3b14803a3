/**
 * Start → first `/readyz` 200, no channels and no provider. The gateway is spawned here with
 * `Deno.Command` under the least-privilege flags (`flagsFor`, as `gatehouse permissions` prints
 * them), and the clock runs from just before the spawn to the first 200.
 *
 * Three series, each `--runs` long after `--warmup` starts that are not counted:
 *   restart   the same home every run (token and KV file exist): the usual start, and the budget;
 *   fresh     a new home every run (token generated, KV file created);
 *   floor     `bench/_hello_server.ts`, the smallest Deno program answering /readyz: what any
 *             Deno process costs to get there on this machine.
 * The gateway also logs its own `startupMs` (from `startGateway()` entry to ready), so the rest
 * (Deno boot, module graph, CLI and config) can be told apart from the gateway's start proper.
 *
 * `--entry dist/gatehouse.mjs` times that program (the `deno task bundle` output) in place of
 * `main.ts`, run from its own folder under the same flags.
 *
 *   deno run -A bench/startup.ts [--runs 7] [--warmup 1] [--poll-ms 2] [--limit-s 180]
 *     [--entry dist/gatehouse.mjs]
 */
import { parseArgs } from "node:util";
import {
  emitJson,
  flagsFor,
  freePort,
  hardLimit,
  intFlag,
  launchOf,
  median,
  onHardStop,
  printTable,
  ROOT,
  round,
  sleep,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "7" },
    warmup: { type: "string", default: "1" },
    "poll-ms": { type: "string", default: "2" },
    "limit-s": { type: "string", default: "180" },
    entry: { type: "string" },
  },
});
const launch = launchOf(values.entry);
const runs = Math.max(1, intFlag("runs", values.runs));
const warmup = intFlag("warmup", values.warmup);
const pollMs = intFlag("poll-ms", values["poll-ms"]);
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

/** One timed start: spawn → first 200, then SIGTERM → exit. */
interface Start {
  readyMs: number;
  stopMs: number;
  /** The gateway's own `startupMs` log field, when it logged one. */
  inProcessMs?: number;
}

async function timedStart(
  args: string[],
  env: Record<string, string>,
  port: number,
  cwd = ROOT,
) {
  const url = `http://127.0.0.1:${port}/readyz`;
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const kill = () => child.kill("SIGKILL");
  const remove = onHardStop(kill);
  let stderr = "";
  const pump = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) stderr += text;
  })();
  let exited = false;
  child.status.then(() => exited = true);
  let readyMs = NaN;
  while (performance.now() - t0 < 20_000 && !exited) {
    try {
      const res = await fetch(url);
      await res.body?.cancel();
      if (res.status === 200) {
        readyMs = performance.now() - t0;
        break;
      }
    } catch {
      // not listening yet
    }
    if (pollMs > 0) await sleep(pollMs);
  }
  const t1 = performance.now();
  if (!exited) child.kill("SIGTERM");
  await child.status;
  const stopMs = performance.now() - t1;
  await pump;
  remove();
  if (Number.isNaN(readyMs)) throw new Error(`no /readyz 200 within 20 s:\n${stderr}`);
  const line = stderr.split("\n").find((l) => l.includes('"gateway ready"'));
  const inProcessMs = line ? (JSON.parse(line).startupMs as number) : undefined;
  return { readyMs, stopMs, inProcessMs } satisfies Start;
}

/** Writes a config for `port` into `home` and returns the gateway's command line. */
async function gatewayArgs(home: string, port: number): Promise<string[]> {
  const configPath = `${home}/config.toml`;
  // Info level and JSON, for the one "gateway ready" line with startupMs; nothing else is logged.
  await Deno.writeTextFile(
    configPath,
    `[gateway]\nport = ${port}\n[log]\nlevel = "info"\nformat = "json"\n`,
  );
  return [
    "run",
    ...await flagsFor(configPath, home),
    launch.entry,
    "start",
    "--config",
    configPath,
  ];
}

async function series(kind: "restart" | "fresh" | "floor"): Promise<Start[]> {
  const out: Start[] = [];
  const homes: string[] = [];
  const newHome = async () => {
    const h = await Deno.makeTempDir({ prefix: "gatehouse-bench-start-" });
    homes.push(h);
    return h;
  };
  const shared = await newHome();
  try {
    for (let i = 0; i < warmup + runs; i++) {
      const port = freePort();
      let args: string[];
      let env: Record<string, string> = { NO_COLOR: "1" };
      let cwd = ROOT;
      if (kind === "floor") {
        args = [
          "run",
          "--no-prompt",
          `--allow-net=127.0.0.1:${port}`,
          "bench/_hello_server.ts",
          String(port),
        ];
      } else {
        const home = kind === "restart" ? shared : await newHome();
        args = await gatewayArgs(home, port);
        env = { ...env, GATEHOUSE_HOME: home };
        cwd = launch.cwd;
      }
      const s = await timedStart(args, env, port, cwd);
      if (i >= warmup) out.push(s);
      await sleep(100); // let the previous process's exit settle
    }
  } finally {
    for (const h of homes) await Deno.remove(h, { recursive: true }).catch(() => {});
  }
  return out;
}

const results: Record<string, Start[]> = {};
for (const kind of ["restart", "fresh", "floor"] as const) results[kind] = await series(kind);
cancelLimit();

const summary = (xs: Start[]) => {
  const ready = xs.map((s) => s.readyMs);
  const inProc = xs.map((s) => s.inProcessMs).filter((v): v is number => v !== undefined);
  return {
    medianMs: round(median(ready), 1),
    minMs: round(Math.min(...ready), 1),
    maxMs: round(Math.max(...ready), 1),
    inProcessMedianMs: inProc.length ? round(median(inProc), 1) : null,
    stopMedianMs: round(median(xs.map((s) => s.stopMs)), 1),
    runsMs: ready.map((v) => round(v, 1)),
  };
};
const restart = summary(results.restart);
const fresh = summary(results.fresh);
const floor = summary(results.floor);

console.log(
  `start → first /readyz 200 of ${values.entry ?? "main.ts"} ` +
    `(${runs} runs after ${warmup} warm-up, poll ${pollMs} ms)`,
);
printTable([
  ["series", "median ms", "min", "max", "startGateway→ready", "SIGTERM→exit"],
  ...([["restart (budget)", restart], ["fresh home", fresh], ["floor: Deno.serve", floor]] as const)
    .map(([name, s]) => [
      name,
      s.medianMs,
      s.minMs,
      s.maxMs,
      s.inProcessMedianMs ?? "-",
      s.stopMedianMs,
    ]),
]);
emitJson({
  bench: "startup",
  entry: values.entry ?? "main.ts",
  runs,
  warmup,
  pollMs,
  medianMs: restart.medianMs,
  minMs: restart.minMs,
  maxMs: restart.maxMs,
  restart,
  fresh,
  floor,
});

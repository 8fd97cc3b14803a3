/**
 * The store's own ceiling, in this process, without the gateway around it: how many Deno KV
 * commits per second this machine does, and how many turns per second the store part of a turn
 * allows. Not a budget figure: it explains `throughput.ts` and `overhead.ts`.
 *
 *   raw commits   `atomic().check(v).set(k, small).commit()` on a KV file on disk (the store's
 *                 commit shape), one at a time and `--inflight` at a time;
 *   store turns   the real `KvSessionStore` doing what a turn does to it: admit (1 commit),
 *                 beginTurn (1 commit), getSession, readTranscript with the default context
 *                 budget, finishTurn (1 commit); one at a time, `--turns-one` turns each on a new
 *                 session and on one session whose transcript grows (as `overhead.ts` series
 *                 "fresh" and "one"), and `--turns` over `--inflight` sessions at once;
 *   transcript    one `readTranscript` with the default context budget (what every turn does)
 *                 against transcripts of N entries of ~20 characters, median of 30 reads, by the
 *                 store that wrote them and by a new store (a KV list, as after a restart).
 * Each throughput row is the median of `--runs` runs, each on a fresh KV.
 * Both on a file on disk (as `~/.gatehouse/gatehouse.kv.sqlite`) and in `:memory:` (no disk), to
 * tell the cost of durable commits from the cost of Deno KV's machinery.
 *
 *   deno run -A bench/kv_ceiling.ts [--commits 3000] [--turns 3000] [--turns-one 500]
 *     [--inflight 100] [--runs 3] [--limit-s 600]
 */
import { parseArgs } from "node:util";
import { CHARS_PER_TOKEN } from "../src/agent/context.ts";
import { configSchema } from "../src/config/schema.ts";
import type { InboundMessage } from "../src/kernel/mod.ts";
import { systemClock } from "../src/kernel/mod.ts";
import { KvSessionStore } from "../src/store/mod.ts";
import { emitJson, hardLimit, intFlag, median, printTable, round, sessionKeys } from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    commits: { type: "string", default: "3000" },
    turns: { type: "string", default: "3000" },
    "turns-one": { type: "string", default: "500" },
    inflight: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    "limit-s": { type: "string", default: "600" },
  },
});
const commits = Math.max(1, intFlag("commits", values.commits));
const turns = Math.max(1, intFlag("turns", values.turns));
const turnsOne = Math.max(1, intFlag("turns-one", values["turns-one"]));
const inflight = Math.max(1, intFlag("inflight", values.inflight));
const runs = Math.max(1, intFlag("runs", values.runs));
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));
const MAX_CHARS = configSchema.parse({}).agent.context_tokens * CHARS_PER_TOKEN;

/** Runs `total` operations with `parallel` loops; returns operations per second. */
async function rate(
  total: number,
  parallel: number,
  op: (i: number, loop: number) => Promise<void>,
) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async (_, loop) => {
      while (next < total) await op(next++, loop);
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

async function withKv<T>(where: "disk" | "memory", fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "gatehouse-bench-kv-" });
  const kv = await Deno.openKv(where === "disk" ? `${dir}/bench.kv.sqlite` : ":memory:");
  try {
    return await fn(kv);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function rawCommits(kv: Deno.Kv, parallel: number): Promise<number> {
  return rate(commits, parallel, async (i, loop) => {
    const key = ["bench", loop];
    const cur = await kv.get(key);
    const ok = await kv.atomic().check(cur).set(key, { n: i, text: "bench message" }).commit();
    if (!ok.ok) throw new Error("unexpected check failure");
  });
}

/** Store turns: on one growing session, on a new session each turn, or over `inflight` sessions. */
function storeTurns(kv: Deno.Kv, mode: "one" | "fresh" | "many"): Promise<number> {
  const store = new KvSessionStore(kv, { clock: systemClock, idempotencyTtlMs: 86_400_000 });
  const parallel = mode === "many" ? inflight : 1;
  const keys = sessionKeys(parallel, "kv");
  return rate(mode === "many" ? turns : turnsOne, parallel, async (i, loop) => {
    const message: InboundMessage = {
      runId: crypto.randomUUID(),
      sessionKey: mode === "fresh" ? `agent:main:bench:direct:fresh${i}` : keys[loop],
      text: `bench message ${i}`,
      queueMode: "followup",
      acceptedAt: Date.now(),
      source: "bench",
      idempotencyKey: crypto.randomUUID(),
    };
    await store.admit(message);
    await store.beginTurn(message.sessionKey, [message]);
    await store.getSession(message.sessionKey);
    await store.readTranscript(message.sessionKey, { maxChars: MAX_CHARS });
    await store.finishTurn(message.sessionKey, {
      runIds: [message.runId],
      entries: [{ role: "assistant", text: `echo: ${message.text}`, runId: message.runId }],
      usage: { inputTokens: 10, outputTokens: 5 },
    });
  });
}

/**
 * Median ms of one readTranscript (default context budget) for transcripts of `sizes` entries:
 * "warm" by the store that wrote them (as a turn does; whatever the store keeps in memory helps),
 * "cold" by a new store on the same KV (as after a restart: a KV list).
 */
async function transcriptReads(kv: Deno.Kv, sizes: number[]): Promise<[number, number, number][]> {
  const newStore = () =>
    new KvSessionStore(kv, { clock: systemClock, idempotencyTtlMs: 86_400_000 });
  const store = newStore();
  const out: [number, number, number][] = [];
  let have = 0;
  const key = "agent:main:bench:direct:transcript";
  for (const size of sizes) {
    while (have < size) {
      const n = Math.min(500, size - have);
      await store.append(
        key,
        Array.from({ length: n }, (_, i) => ({
          role: (have + i) % 2 ? "assistant" as const : "user" as const,
          text: `bench message ${have + i}`.padEnd(20, "."),
        })),
      );
      have += n;
    }
    const time = async (s: () => KvSessionStore) => {
      const times: number[] = [];
      for (let i = 0; i < 30; i++) {
        const reader = s();
        const t0 = performance.now();
        await reader.readTranscript(key, { maxChars: MAX_CHARS });
        times.push(performance.now() - t0);
      }
      return round(median(times), 2);
    };
    out.push([size, await time(() => store), await time(newStore)]);
  }
  return out;
}

/** The median of `runs` measurements, each on a fresh KV. */
async function med(where: "disk" | "memory", fn: (kv: Deno.Kv) => Promise<number>) {
  const got: number[] = [];
  for (let r = 0; r < runs; r++) got.push(await withKv(where, fn));
  return median(got);
}

const rows: { what: string; where: string; parallel: number; perSecond: number }[] = [];
for (const where of ["disk", "memory"] as const) {
  for (const parallel of [1, inflight]) {
    const perSecond = await med(where, (kv) => rawCommits(kv, parallel));
    rows.push({ what: "raw commits/s", where, parallel, perSecond: round(perSecond, 0) });
  }
  for (const mode of ["fresh", "one", "many"] as const) {
    const perSecond = await med(where, (kv) => storeTurns(kv, mode));
    const what = mode === "fresh"
      ? "store turns/s, a new session each turn"
      : mode === "one"
      ? `store turns/s, one session growing over ${turnsOne} turns`
      : `store turns/s, ${inflight} sessions`;
    rows.push({
      what,
      where,
      parallel: mode === "many" ? inflight : 1,
      perSecond: round(perSecond, 0),
    });
  }
}
const reads = await withKv("disk", async (kv) => {
  await store0(kv);
  return transcriptReads(kv, [10, 100, 1000, 3200, 10_000]);
});
cancelLimit();

/** Creates the session `transcriptReads` appends to (append needs an existing session). */
async function store0(kv: Deno.Kv): Promise<void> {
  const store = new KvSessionStore(kv, { clock: systemClock, idempotencyTtlMs: 86_400_000 });
  await store.patchSession("agent:main:bench:direct:transcript", {}, { create: true });
}

console.log(
  `Deno KV ceilings in one process (${commits} commits, ${turns} store turns per row; ` +
    `a store turn is 3 commits + 4 reads; median of ${runs} runs)`,
);
printTable([
  ["measure", "KV", "in flight", "per second", "ms each (1 in flight)"],
  ...rows.map((r) => [
    r.what,
    r.where,
    r.parallel,
    r.perSecond,
    r.parallel === 1 ? round(1000 / r.perSecond, 2) : "",
  ]),
]);
console.log(
  `\nreadTranscript (maxChars ${MAX_CHARS}) on a disk KV, by transcript length ` +
    `(~20-character entries; ${MAX_CHARS} characters ≈ ${Math.round(MAX_CHARS / 20)} of them)`,
);
printTable([["entries", "warm ms (the writing store)", "cold ms (a new store)"], ...reads]);
const pick = (what: string, where: string, parallel: number) =>
  rows.find((r) => r.what === what && r.where === where && r.parallel === parallel)?.perSecond;
emitJson({
  bench: "kv_ceiling",
  inflight,
  rawCommitsPerSecondDisk: pick("raw commits/s", "disk", inflight),
  storeTurnsPerSecondDisk: pick(`store turns/s, ${inflight} sessions`, "disk", inflight),
  rows,
  readTranscriptMs: reads,
});

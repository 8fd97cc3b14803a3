/**
 * Where the time and memory go under load: not a budget figure, the "why" behind the misses.
 * Runs the `throughput.ts` load (closed loop, `--sessions` sessions, zero-latency fake in its own
 * process) against a gateway started with `--inspect=127.0.0.1:<port>` (the only flag added to the
 * least-privilege set), and reports:
 *
 *   cpu      CPU seconds of each process (gateway, fake, this client) and of each gateway thread,
 *            from /proc, over the measured window: which one saturates the 2 cores;
 *   profile  a V8 CPU profile of the gateway (Chrome DevTools Protocol `Profiler`), self time
 *            summed by source (our src/ files, npm packages, Deno's internal `ext:` modules, GC)
 *            and the top functions; `--save FILE` writes the .cpuprofile for DevTools;
 *   heap     V8 heap used after a forced full GC (`HeapProfiler.collectGarbage`) and RSS, before
 *            and after the load: growth that survives a full GC is retained by the program,
 *            growth of RSS alone is the allocator and V8 keeping pages;
 *   alloc    bytes allocated per turn by owner, from V8's sampling heap profiler over
 *            `--alloc-turns` more turns (0 skips it): what feeds the garbage collector;
 *   objects  with `--objects`, what survives a full GC, counted by constructor from a heap
 *            snapshot taken after the load (slow for large heaps).
 *
 *   deno run -A bench/profile.ts [--sessions 100] [--turns 6000] [--seconds 30] [--conns 1]
 *     [--max-concurrent 100] [--store disk|memory] [--interval-us 200] [--top 25] [--alloc-turns 2000] [--objects]
 *     [--save FILE]
 *     [--limit-s 600]
 */
import { parseArgs } from "node:util";
import {
  assertAlive,
  benchConfig,
  Cdp,
  closedLoop,
  cpuRows,
  cpuSnapshot,
  deal,
  emitJson,
  freePort,
  hardLimit,
  intFlag,
  mib,
  printTable,
  ROOT,
  round,
  rssOf,
  sessionKeys,
  startFake,
  startGateway,
  TurnDriver,
  v8Heap,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sessions: { type: "string", default: "100" },
    turns: { type: "string", default: "6000" },
    seconds: { type: "string", default: "30" },
    conns: { type: "string", default: "1" },
    "max-concurrent": { type: "string", default: "100" },
    store: { type: "string", default: "disk" },
    "interval-us": { type: "string", default: "200" },
    top: { type: "string", default: "25" },
    objects: { type: "boolean", default: false },
    save: { type: "string" },
    "alloc-turns": { type: "string", default: "2000" },
    "limit-s": { type: "string", default: "600" },
  },
});
const sessions = Math.max(1, intFlag("sessions", values.sessions));
const turns = Math.max(1, intFlag("turns", values.turns));
const seconds = Math.max(1, intFlag("seconds", values.seconds));
const conns = Math.max(1, intFlag("conns", values.conns));
const maxConcurrent = Math.max(1, intFlag("max-concurrent", values["max-concurrent"]));
const intervalUs = Math.max(50, intFlag("interval-us", values["interval-us"]));
const top = Math.max(1, intFlag("top", values.top));
const allocTurnsWanted = intFlag("alloc-turns", values["alloc-turns"]);
if (values.store !== "disk" && values.store !== "memory") {
  throw new Error("--store: disk or memory");
}
/** `memory` is a diagnostic: it removes the disk from the turn to show what the disk costs. */
const storePath = values.store === "memory" ? ":memory:" : undefined;
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Which part of the program a script URL belongs to. */
function sourceOf(url: string, fn: string): string {
  if (url === "") return fn.startsWith("(") ? fn : "(native/builtin)";
  const src = url.match(/\/work\/main\/(src\/.+)$/) ??
    url.match(/file:\/\/.*?\/((?:src|tests)\/.+)$/);
  if (src) return src[1];
  const npm = url.match(/node_modules\/\.deno\/([^/]+)\//) ??
    url.match(/npm\/[^/]+\/([^/]+\/[^/]+)/);
  if (npm) return `npm:${npm[1].replace(/@[\d.]+$/, "")}`;
  const ext = url.match(/^ext:([^/]+)/);
  if (ext) return `ext:${ext[1]}`;
  if (url.startsWith("node:")) return url;
  return url.replace(/^file:\/\/\/work\/main\//, "");
}

await using fake = await startFake();
const inspectPort = freePort();
await using gw = await startGateway(benchConfig({ fakeUrl: fake.url, maxConcurrent, storePath }), {
  extraFlags: [`--inspect=127.0.0.1:${inspectPort}`],
});
const cdp = await Cdp.open(inspectPort);
await cdp.send("Profiler.enable");

const clients = await Promise.all(Array.from({ length: conns }, () => gw.connect()));
const drivers = clients.map((c) => new TurnDriver(c));
const workers = deal(sessionKeys(sessions, "prof"), sessions);
await closedLoop(drivers, workers, { turns: sessions, seconds: 60 }); // warm-up: one turn each

const heapNow = async (gc = true) => ({ ...await v8Heap(cdp, gc), rss: (await rssOf(gw.pid)).rss });
const heapBefore = await heapNow();

const cpu0 = await cpuSnapshot(gw.pid, fake.pid);
await cdp.send("Profiler.setSamplingInterval", { interval: intervalUs });
await cdp.send("Profiler.start");
const res = await closedLoop(drivers, workers, { turns, seconds });
assertAlive(gw);
const { profile } = await cdp.send<
  { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } }
>("Profiler.stop");
const cpu1 = await cpuSnapshot(gw.pid, fake.pid);
const heapEnd = await heapNow(false);
const heapAfter = await heapNow();

// Allocation: V8's sampling heap profiler, counting objects later collected too, so the total is
// what a turn allocates (an estimate scaled from the samples), not what it keeps.
interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}
const allocByOwner = new Map<string, number>();
let allocTotal = 0;
let allocArtefact = 0;
let allocTurns = 0;
if (allocTurnsWanted > 0) {
  await cdp.send("HeapProfiler.startSampling", {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const a = await closedLoop(drivers, workers, { turns: allocTurnsWanted, seconds });
  allocTurns = a.turns;
  const { profile: heap } = await cdp.send<{ profile: { head: HeapNode } }>(
    "HeapProfiler.stopSampling",
  );
  const walk = (node: HeapNode, stack: HeapNode["callFrame"][]) => {
    const here = [node.callFrame, ...stack];
    if (node.selfSize > 0) {
      allocTotal += node.selfSize;
      if (here.some((cf) => cf.url.includes("inspector_network_bridge"))) {
        allocArtefact += node.selfSize;
      } else {
        const owner = here.map((f) => sourceOf(f.url, f.functionName))
          .find((s) => s.startsWith("src/") || s.startsWith("npm:")) ??
          `${sourceOf(node.callFrame.url, node.callFrame.functionName)} (from the event loop)`;
        allocByOwner.set(owner, (allocByOwner.get(owner) ?? 0) + node.selfSize);
      }
    }
    for (const c of node.children) walk(c, here);
  };
  walk(heap.head, []);
}

let objects: [string, number, number][] = [];
if (values.objects) objects = await survivingObjects();
await Promise.all(clients.map((c) => c.close()));
cdp.close();
if (values.save) {
  await Deno.writeTextFile(values.save, JSON.stringify(profile));
}
cancelLimit();

// ---------------------------------------------------------------------------------------------
// CPU profile: self time per sample, attributed by node. With an inspector attached, Deno reports
// every fetch and WebSocket frame to it (ext:deno_node/inspector_network_bridge.js): that work
// exists only under the profiler, so samples under it are set apart and left out of the shares.

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const stackOf = (id: number) => {
  const out: ProfileNode["callFrame"][] = [];
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    out.push(byId.get(at)!.callFrame);
  }
  return out;
};
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? intervalUs));
});
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
let artefactUs = 0;
let idleUs = 0;
const bySource = new Map<string, number>();
const byFunction = new Map<string, number>();
const byOwner = new Map<string, number>();
const inclusive = new Map<string, number>();
const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
for (const [id, us] of selfUs) {
  const stack = stackOf(id);
  if (stack.some((cf) => cf.url.includes("inspector_network_bridge"))) {
    artefactUs += us;
    continue;
  }
  const cf = stack[0];
  const source = sourceOf(cf.url, cf.functionName);
  if (source === "(idle)") {
    idleUs += us;
    continue;
  }
  add(bySource, source, us);
  add(
    byFunction,
    `${cf.functionName || "(anonymous)"} ${source}${cf.url ? `:${cf.lineNumber + 1}` : ""}`,
    us,
  );
  // Owner: the nearest frame of ours or of an npm package; runtime work with neither on its stack
  // ran straight from the event loop (a socket read, a KV reply, a timer).
  const owner = stack.map((f) => sourceOf(f.url, f.functionName))
    .find((s) => s.startsWith("src/") || s.startsWith("npm:"));
  add(byOwner, owner ?? (source.startsWith("(") ? source : `${source} (from the event loop)`), us);
  // Inclusive time of our own functions, once per sample for each distinct one on the stack.
  const seen = new Set<string>();
  for (const f of stack) {
    const src = sourceOf(f.url, f.functionName);
    if (!src.startsWith("src/")) continue;
    const name = `${f.functionName || "(anonymous)"} ${src}:${f.lineNumber + 1}`;
    if (!seen.has(name)) add(inclusive, name, us);
    seen.add(name);
  }
}
const busyUs = totalUs - idleUs - artefactUs;
const share = (us: number) => `${round((100 * us) / busyUs, 1)}%`;
const perTurn = (us: number) => round(us / Math.max(1, res.turns), 0);

async function survivingObjects(): Promise<[string, number, number][]> {
  let chunks = "";
  cdp.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks += String(p.chunk));
  await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  const snap = JSON.parse(chunks);
  const meta = snap.snapshot.meta;
  const fields: string[] = meta.node_fields;
  const types: string[] = meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const counts = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    if (type !== "object" && type !== "closure" && type !== "string") continue;
    const name = type === "string" ? "(string)" : snap.strings[snap.nodes[i + iName]];
    const c = counts.get(name) ?? [0, 0];
    c[0]++;
    c[1] += snap.nodes[i + iSize];
    counts.set(name, c);
  }
  return [...counts].map(([n, [c, b]]) => [n, c, b] as [string, number, number])
    .sort((a, b) => b[2] - a[2]).slice(0, top);
}

// ---------------------------------------------------------------------------------------------
// Report.

console.log(
  `load: ${res.turns} turns, ${sessions} sessions, ${conns} connection(s), ` +
    `${round(res.seconds, 1)} s, ${round(res.turnsPerSecond, 1)} turns/s, ${res.errors} errors ` +
    `(the profiler slows the gateway; compare with throughput.ts for the rate)`,
);
console.log("\nCPU over the window (100% = one core; the machine has 2)");
printTable([
  ["process / gateway thread", "CPU s", "of one core", "ms/turn"],
  ...cpuRows(cpu0, cpu1, res.turns),
]);
console.log(
  `\nV8 CPU profile of the gateway's main thread over ${round(totalUs / 1e6, 1)} s: ` +
    `busy ${round(busyUs / 1e6, 2)} s (${round(busyUs / Math.max(1, res.turns), 0)} µs a turn), ` +
    `idle ${round(idleUs / 1e6, 2)} s, profiler artefact (inspector network events) ` +
    `${round(artefactUs / 1e6, 2)} s left out. Shares are of busy time.`,
);
console.log(`\nby owner: the nearest frame of src/ or of an npm package (self time below it)`);
const owners = [...byOwner].sort((a, b) => b[1] - a[1]);
printTable([
  ["owner", "ms", "µs/turn", "share"],
  ...owners.slice(0, top).map(([s, us]) => [s, round(us / 1000, 0), perTurn(us), share(us)]),
]);
console.log(`\nby source file of the running function (self time)`);
const sources = [...bySource].sort((a, b) => b[1] - a[1]);
printTable([
  ["source", "ms", "µs/turn", "share"],
  ...sources.slice(0, top).map(([s, us]) => [s, round(us / 1000, 0), perTurn(us), share(us)]),
]);
console.log(`\ntop ${top} functions by self time`);
const fns = [...byFunction].sort((a, b) => b[1] - a[1]);
printTable([
  ["function", "ms", "µs/turn", "share"],
  ...fns.slice(0, top).map(([f, us]) => [f, round(us / 1000, 0), perTurn(us), share(us)]),
]);
console.log(`\nour src/ functions by inclusive time (callees included)`);
const inc = [...inclusive].sort((a, b) => b[1] - a[1]);
printTable([
  ["function", "ms", "µs/turn", "share"],
  ...inc.slice(0, top).map(([f, us]) => [f, round(us / 1000, 0), perTurn(us), share(us)]),
]);
console.log(`\nheap after a full GC, and RSS`);
printTable([
  ["reading", "V8 heap used MiB", "V8 heap total MiB", "RSS MiB"],
  ["before the load", mib(heapBefore.used), mib(heapBefore.total), mib(heapBefore.rss)],
  ["after the load, before any forced GC", mib(heapEnd.used), mib(heapEnd.total), mib(heapEnd.rss)],
  ["after the load, full GC", mib(heapAfter.used), mib(heapAfter.total), mib(heapAfter.rss)],
]);
if (allocTurns > 0) {
  const kib = (b: number) => round(b / 1024 / allocTurns, 1);
  console.log(
    `\nallocated per turn over ${allocTurns} more turns (sampling heap profiler, objects ` +
      `collected later included): ${kib(allocTotal - allocArtefact)} KiB a turn; ` +
      `inspector artefact ${kib(allocArtefact)} KiB a turn left out`,
  );
  printTable([
    ["owner", "KiB/turn", "share"],
    ...[...allocByOwner].sort((a, b) => b[1] - a[1]).slice(0, top).map(([o, b]) => [
      o,
      kib(b),
      `${round((100 * b) / (allocTotal - allocArtefact), 1)}%`,
    ]),
  ]);
}
if (objects.length) {
  console.log(`\nlargest surviving objects after the load, by constructor`);
  printTable([
    ["constructor", "count", "self KiB"],
    ...objects.map(([n, c, b]) => [n, c, round(b / 1024, 0)]),
  ]);
}
emitJson({
  bench: "profile",
  sessions,
  turns: res.turns,
  turnsPerSecond: round(res.turnsPerSecond, 1),
  cpuSeconds: {
    gateway: round(cpu1.gateway - cpu0.gateway),
    fake: round(cpu1.fake - cpu0.fake),
    client: round(cpu1.client - cpu0.client),
    wall: round(res.seconds),
  },
  mainThread: {
    busyMs: round(busyUs / 1000, 0),
    idleMs: round(idleUs / 1000, 0),
    artefactMs: round(artefactUs / 1000, 0),
    busyUsPerTurn: perTurn(busyUs),
  },
  byOwnerUsPerTurn: Object.fromEntries(owners.slice(0, top).map(([s, us]) => [s, perTurn(us)])),
  heapMiB: {
    beforeUsed: mib(heapBefore.used),
    afterUsed: mib(heapAfter.used),
    beforeRss: mib(heapBefore.rss),
    endUsed: mib(heapEnd.used),
    endTotal: mib(heapEnd.total),
    endRss: mib(heapEnd.rss),
    afterGcRss: mib(heapAfter.rss),
  },
  allocKiBPerTurn: allocTurns > 0
    ? round((allocTotal - allocArtefact) / 1024 / allocTurns, 1)
    : null,
  root: ROOT,
});

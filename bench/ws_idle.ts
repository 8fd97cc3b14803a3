/**
 * The RSS that `--clients` (default 1,000) idle, authenticated WebSocket clients add to the gateway.
 * The sockets are opened from this process (nothing system-wide is raised: the bench and the
 * gateway each hold ~1,000 descriptors), `--batch` handshakes at a time, each a full `connect`
 * with the token, as `GatewayClient` does it. "Before" is read after one client connected and left
 * and `--settle-s` seconds passed; "after" once all clients are connected and `--settle-s` more
 * seconds passed; "closed" after they all disconnected and `--settle-s` passed. No provider.
 * Each run uses a fresh gateway; the median of `--runs` is reported.
 *
 * `--inspect-heap` (a diagnostic) starts the gateway with `--inspect=127.0.0.1:<port>` and also
 * reads the V8 heap in use after a full GC at each point, to tell what the clients cost in
 * JavaScript objects from what they cost outside the heap (sockets, buffers, allocator).
 *
 *   deno run -A bench/ws_idle.ts [--clients 1000] [--batch 50] [--settle-s 5] [--runs 3]
 *     [--inspect-heap] [--limit-s 300]
 */
import { parseArgs } from "node:util";
import {
  benchConfig,
  Cdp,
  emitJson,
  freePort,
  type GatewayClient,
  hardLimit,
  intFlag,
  median,
  mib,
  printTable,
  round,
  rssOf,
  sleep,
  startGateway,
  v8Heap,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "1000" },
    batch: { type: "string", default: "50" },
    "settle-s": { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    "inspect-heap": { type: "boolean", default: false },
    "limit-s": { type: "string", default: "300" },
  },
});
const count = Math.max(1, intFlag("clients", values.clients));
const batch = Math.max(1, intFlag("batch", values.batch));
const settleS = intFlag("settle-s", values["settle-s"]);
const runs = Math.max(1, intFlag("runs", values.runs));
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

interface Run {
  before: number;
  after: number;
  closed: number;
  /** V8 heap used after a full GC, with `--inspect-heap`. */
  heap?: { before: number; after: number; closed: number };
  connectSeconds: number;
  status: { connections: number };
}

const out: Run[] = [];
for (let r = 0; r < runs; r++) {
  const inspectPort = freePort();
  await using gw = await startGateway(benchConfig(), {
    extraFlags: values["inspect-heap"] ? [`--inspect=127.0.0.1:${inspectPort}`] : [],
  });
  const cdp = values["inspect-heap"] ? await Cdp.open(inspectPort) : undefined;
  const heapUsed = async () => cdp ? (await v8Heap(cdp)).used : NaN;
  const probe = await gw.connect();
  await probe.close();
  await sleep(settleS * 1000);
  const heapBefore = await heapUsed();
  const before = await rssOf(gw.pid);

  const clients: GatewayClient[] = [];
  const t0 = performance.now();
  try {
    while (clients.length < count) {
      const n = Math.min(batch, count - clients.length);
      clients.push(...await Promise.all(Array.from({ length: n }, () => gw.connect())));
    }
    const connectSeconds = (performance.now() - t0) / 1000;
    await sleep(settleS * 1000);
    const after = await rssOf(gw.pid);
    const heapAfter = await heapUsed();
    const status = await clients[0].request<{ connections: number }>("status");
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await sleep(settleS * 1000);
    const closed = await rssOf(gw.pid);
    const heap = cdp
      ? { before: heapBefore, after: heapAfter, closed: await heapUsed() }
      : undefined;
    out.push({
      before: before.rss,
      after: after.rss,
      closed: closed.rss,
      connectSeconds,
      status,
      heap,
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    cdp?.close();
  }
}
cancelLimit();

const extra = out.map((r) => r.after - r.before);
const extraMiB = mib(median(extra));
const perClientKiB = round(median(extra) / count / 1024, 1);
console.log(`gateway RSS with ${count} idle authenticated WebSocket clients (median of ${runs})`);
printTable([
  ["reading", "MiB"],
  ["before (idle, 0 clients)", mib(median(out.map((r) => r.before)))],
  [`with ${count} clients`, mib(median(out.map((r) => r.after)))],
  ["extra", extraMiB],
  ["extra per client, KiB", perClientKiB],
  ["after they all closed", mib(median(out.map((r) => r.closed)))],
]);
const heaps = out.flatMap((r) => r.heap ? [r.heap] : []);
if (heaps.length) {
  console.log(`V8 heap in use after a full GC (--inspect-heap)`);
  printTable([
    ["reading", "MiB"],
    ["before", mib(median(heaps.map((h) => h.before)))],
    [`with ${count} clients`, mib(median(heaps.map((h) => h.after)))],
    ["extra in the JS heap", mib(median(heaps.map((h) => h.after - h.before)))],
    ["after they all closed", mib(median(heaps.map((h) => h.closed)))],
  ]);
}
console.log(
  `connections seen by status: ${out.map((r) => r.status.connections).join(", ")}; ` +
    `connect time for ${count}: ${out.map((r) => round(r.connectSeconds, 2)).join(", ")} s; ` +
    `extra per run MiB: ${extra.map(mib).join(", ")}`,
);
emitJson({
  bench: "ws_idle",
  clients: count,
  runs,
  beforeMiB: mib(median(out.map((r) => r.before))),
  afterMiB: mib(median(out.map((r) => r.after))),
  extraMiB,
  perClientKiB,
  closedMiB: mib(median(out.map((r) => r.closed))),
  perRunExtraMiB: extra.map(mib),
  ...(heaps.length ? { heapExtraMiB: mib(median(heaps.map((h) => h.after - h.before))) } : {}),
});

/**
 * Per-turn gateway overhead: (client-measured chat.send → final) minus (provider time).
 *
 * Method. The fake provider runs with zero latency in its own process. Every turn is measured
 * twice, back to back, in alternating order so neither side always goes first:
 *   T  the turn through the gateway: `chat.send` written to the WebSocket → `chat` final received;
 *   D  the same model request sent straight to the fake from this process with the `openai` SDK
 *      (stream, include_usage, the same `tools`, all chunks read): the time a caller pays the
 *      provider without a gateway: HTTP round trip, the fake's work, SDK request building and SSE
 *      parsing.
 * Overhead = T − D, per turn (paired), so machine noise hits both sides alike. What remains is
 * what the gateway adds: WebSocket frames and zod parsing, the KV commits (admit, beginTurn,
 * finishTurn) and reads, the lane, context assembly, the model call's failover chain and stream
 * watchdog, event fan-out. "The same request" is meant literally: the bench keeps the transcript
 * the gateway keeps (user message, `echo: …` reply) and builds the context by the gateway's rule
 * (newest entries within agent.context_tokens × 4 characters, from `src/agent/context.ts` and the
 * config defaults), so D grows with the context exactly as the gateway's own request does. Every
 * gateway request also carries the JSON Schemas of the tools the default config offers
 * (`time_now`, `session_status`, `read`, `write`, `edit`, `list`, `web_fetch`, about 4.3 KB); D
 * sends the same array, built the gateway's way (a `ToolRegistry` of the same built-ins,
 * `specs()` mapped to function tools as `src/providers/openai.ts` does), so serialising and
 * parsing it costs both sides alike. As a
 * check, the prompt tokens the fake reported to the direct calls are summed and compared with the
 * session's `inputTokens` in the gateway (the fake counts message text, not tools).
 *
 * Series: `one` = all turns on one session (the budget's figure; its transcript grows by two
 * entries a turn, and the gateway re-reads up to context_tokens × 4 characters of it every turn);
 * `fresh` = every turn on a new session (context of one message), which isolates the cost that
 * grows with the transcript.
 *
 * The messages are `bench turn <n>` (about 15 characters), or padded to `--message-chars`: the
 * context budget is in characters, so the shorter the messages, the more transcript entries the
 * gateway reads back every turn in series "one".
 *
 *   deno run -A bench/overhead.ts [--turns 2000] [--warmup 100] [--runs 3] [--series one,fresh]
 *     [--message-chars 0] [--limit-s 900]
 */
import OpenAI from "openai";
import { parseArgs } from "node:util";
import { CHARS_PER_TOKEN } from "../src/agent/context.ts";
import { configSchema } from "../src/config/schema.ts";
import { type SessionStore, systemClock } from "../src/kernel/mod.ts";
import { sessionStatusTool, timeNowTool, ToolRegistry, Workspace } from "../src/tools/mod.ts";
import { fsTools } from "../src/tools/fs/mod.ts";
import { webFetchTool } from "../src/tools/web/fetch.ts";
import {
  benchConfig,
  type BenchGateway,
  emitJson,
  hardLimit,
  intFlag,
  median,
  percentile,
  printTable,
  round,
  startFake,
  startGateway,
  TurnDriver,
} from "./_lib.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    turns: { type: "string", default: "2000" },
    warmup: { type: "string", default: "100" },
    runs: { type: "string", default: "3" },
    series: { type: "string", default: "one,fresh" },
    "message-chars": { type: "string", default: "0" },
    "limit-s": { type: "string", default: "900" },
  },
});
const turns = Math.max(1, intFlag("turns", values.turns));
const warmup = intFlag("warmup", values.warmup);
const runs = Math.max(1, intFlag("runs", values.runs));
const messageChars = intFlag("message-chars", values["message-chars"]);
const seriesNames = values.series.split(",").map((s) => s.trim()).filter(Boolean);
for (const s of seriesNames) {
  if (s !== "one" && s !== "fresh") throw new Error(`--series: "${s}" is not one or fresh`);
}
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

const defaults = configSchema.parse({}).agent;
const SYSTEM = defaults.system_prompt;
const MAX_CHARS = defaults.context_tokens * CHARS_PER_TOKEN;
/**
 * The `tools` of every gateway request under the default config (profile coding, no exec
 * programs): the built-ins `src/tools/setup.ts` registers, mapped as `src/providers/openai.ts`
 * maps them. `specs()` reads only names, descriptions and schemas, so the store behind
 * `session_status`, the workspace and the network are never touched here.
 */
const toolDefaults = configSchema.parse({}).tools;
const TOOLS: OpenAI.Chat.ChatCompletionTool[] = new ToolRegistry([
  timeNowTool(systemClock),
  sessionStatusTool({ store: {} as SessionStore, clock: systemClock }),
  ...fsTools({
    workspace: await Workspace.open(await Deno.makeTempDir({ prefix: "bench-ws-" })),
    maxFileBytes: toolDefaults.max_file_bytes,
  }),
  webFetchTool({
    policy: { hosts: [], privateHosts: [] },
    maxBytes: toolDefaults.web_fetch.max_bytes,
    maxChars: toolDefaults.web_fetch.max_chars,
    timeoutMs: toolDefaults.web_fetch.timeout_seconds * 1000,
    maxRedirects: toolDefaults.web_fetch.max_redirects,
  }),
]).specs().map((t) => ({
  type: "function",
  function: { name: t.name, description: t.description, parameters: t.parameters },
}));

interface Entry {
  role: "user" | "assistant";
  text: string;
}

/** The model messages the gateway sends for `entries` (readTranscript + toModelMessages). */
function contextOf(entries: Entry[]): Entry[] {
  const out: Entry[] = [];
  let chars = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const t = entries[i].text;
    if (out.length > 0 && chars + t.length > MAX_CHARS) break;
    out.push(entries[i]);
    chars += t.length;
  }
  out.reverse();
  while (out.length > 0 && out[0].role !== "user") out.shift();
  return out;
}

interface Sample {
  gatewayMs: number;
  directMs: number;
  contextMessages: number;
}

interface RunResult {
  samples: Sample[];
  errors: number;
  /** Prompt tokens the fake reported to the direct calls vs the session's `inputTokens`. */
  directPromptTokens: number;
  gatewayInputTokens: number;
}

await using fake = await startFake();
const openai = new OpenAI({ baseURL: fake.url, apiKey: "not-needed", maxRetries: 0 });

async function direct(context: Entry[]): Promise<{ ms: number; promptTokens: number }> {
  const t0 = performance.now();
  const stream = await openai.chat.completions.create({
    model: "bench",
    messages: [
      { role: "system", content: SYSTEM },
      ...context.map((m) => ({ role: m.role, content: m.text })),
    ],
    stream: true,
    stream_options: { include_usage: true },
    tools: TOOLS,
  });
  let promptTokens = 0;
  for await (const chunk of stream) if (chunk.usage) promptTokens = chunk.usage.prompt_tokens;
  return { ms: performance.now() - t0, promptTokens };
}

async function run(series: string): Promise<RunResult> {
  await using gw = await startGateway(benchConfig({ fakeUrl: fake.url }));
  try {
    return await measure(series, gw);
  } catch (err) {
    // On a shared machine the gateway may be stopped from outside: say so rather than "closed".
    const died = gw.died();
    throw died ? new Error(died, { cause: err }) : err;
  }
}

async function measure(series: string, gw: BenchGateway): Promise<RunResult> {
  const client = await gw.connect();
  const driver = new TurnDriver(client);
  const transcripts = new Map<string, Entry[]>();
  const samples: Sample[] = [];
  let errors = 0;
  let directPromptTokens = 0;
  const oneKey = "agent:main:bench:direct:overhead";
  for (let i = 0; i < warmup + turns; i++) {
    const key = series === "one" ? oneKey : `agent:main:bench:direct:fresh${i}`;
    const entries = transcripts.get(key) ?? [];
    transcripts.set(key, entries);
    const message = `bench turn ${i} `.padEnd(messageChars, "lorem ipsum dolor sit amet ").trim();
    entries.push({ role: "user", text: message });
    const context = contextOf(entries);
    let gatewayMs = NaN;
    let state = "";
    let d = { ms: NaN, promptTokens: 0 };
    const viaGateway = async () => {
      const r = await driver.turn(key, message);
      gatewayMs = r.ms;
      state = r.state;
    };
    const viaDirect = async () => {
      d = await direct(context);
    };
    if (i % 2 === 0) {
      await viaGateway();
      await viaDirect();
    } else {
      await viaDirect();
      await viaGateway();
    }
    entries.push({ role: "assistant", text: `echo: ${message}` });
    directPromptTokens += d.promptTokens;
    if (state !== "final") errors++;
    else if (i >= warmup) {
      samples.push({ gatewayMs, directMs: d.ms, contextMessages: context.length });
    }
  }
  const { sessions } = await client.request<{ sessions: { inputTokens: number }[] }>(
    "sessions.list",
    { limit: 10_000 },
  );
  await client.close();
  return {
    samples,
    errors,
    directPromptTokens,
    gatewayInputTokens: sessions.reduce((n, s) => n + s.inputTokens, 0),
  };
}

const pct = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99) };
};

interface SeriesSummary {
  overhead: { p50: number; p90: number; p99: number };
  gateway: { p50: number; p90: number; p99: number };
  direct: { p50: number; p90: number; p99: number };
  /** Overhead p50 over the first and the last 10 % of the measured turns. */
  firstTenthP50: number;
  lastTenthP50: number;
  /** Overhead p50 of each tenth of the measured turns, in order (median over runs). */
  byTenthP50: number[];
  contextMessagesAtEnd: number;
  errors: number;
  requestsMatch: boolean;
  perRun: { p50: number; p90: number; p99: number }[];
}

const summaries: Record<string, SeriesSummary> = {};
for (const series of seriesNames) {
  const results: RunResult[] = [];
  for (let r = 0; r < runs; r++) results.push(await run(series));
  const per = (f: (s: Sample) => number) => results.map((r) => pct(r.samples.map(f)));
  const med = (xs: { p50: number; p90: number; p99: number }[]) => ({
    p50: round(median(xs.map((x) => x.p50))),
    p90: round(median(xs.map((x) => x.p90))),
    p99: round(median(xs.map((x) => x.p99))),
  });
  const overheadRuns = per((s) => s.gatewayMs - s.directMs);
  const tenth = Math.max(1, Math.floor(turns / 10));
  summaries[series] = {
    overhead: med(overheadRuns),
    gateway: med(per((s) => s.gatewayMs)),
    direct: med(per((s) => s.directMs)),
    firstTenthP50: round(
      median(
        results.map((r) => pct(r.samples.slice(0, tenth).map((s) => s.gatewayMs - s.directMs)).p50),
      ),
    ),
    lastTenthP50: round(
      median(
        results.map((r) => pct(r.samples.slice(-tenth).map((s) => s.gatewayMs - s.directMs)).p50),
      ),
    ),
    byTenthP50: Array.from({ length: 10 }, (_, k) =>
      round(median(results.map((r) =>
        pct(
          r.samples.slice(k * tenth, k === 9 ? undefined : (k + 1) * tenth)
            .map((s) => s.gatewayMs - s.directMs),
        ).p50
      )))),
    contextMessagesAtEnd: results[0].samples.at(-1)?.contextMessages ?? 0,
    errors: results.reduce((n, r) => n + r.errors, 0),
    requestsMatch: results.every((r) => r.directPromptTokens === r.gatewayInputTokens),
    perRun: overheadRuns.map((x) => ({ p50: round(x.p50), p90: round(x.p90), p99: round(x.p99) })),
  };
}
cancelLimit();

console.log(
  `per-turn overhead = (chat.send → final) − (same request straight to the fake), ms; ` +
    `${turns} turns after ${warmup} warm-up, median of ${runs} run(s), ` +
    `messages of ${messageChars ? messageChars : "~15"} characters`,
);
printTable([
  ["series", "measure", "p50", "p90", "p99"],
  ...seriesNames.flatMap((name) => {
    const s = summaries[name];
    return [
      [name, "overhead T−D", s.overhead.p50, s.overhead.p90, s.overhead.p99],
      [name, "T via gateway", s.gateway.p50, s.gateway.p90, s.gateway.p99],
      [name, "D direct SDK", s.direct.p50, s.direct.p90, s.direct.p99],
    ];
  }),
]);
for (const name of seriesNames) {
  const s = summaries[name];
  console.log(
    `${name}: overhead p50 first 10% ${s.firstTenthP50} ms, last 10% ${s.lastTenthP50} ms; ` +
      `context at end ${s.contextMessagesAtEnd} messages; errors ${s.errors}; ` +
      `requests identical (prompt tokens match): ${s.requestsMatch}`,
  );
  console.log(`${name}: overhead p50 by tenth of the turns, ms: ${s.byTenthP50.join(" ")}`);
}
const head = summaries.one ?? summaries[seriesNames[0]];
emitJson({
  bench: "overhead",
  turns,
  warmup,
  runs,
  messageChars,
  series: seriesNames[0] === "one" || summaries.one ? "one" : seriesNames[0],
  p50Ms: head.overhead.p50,
  p90Ms: head.overhead.p90,
  p99Ms: head.overhead.p99,
  errors: head.errors,
  ...summaries,
});

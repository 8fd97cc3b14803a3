/**
 * Crash safety of the Telegram channel: while the gateway is killed with SIGKILL at random moments
 * and restarted, is every Telegram message answered, and none twice?
 *
 * Setup. The gateway runs as a real process under the flags `gatehouse permissions` computes
 * (`tests/_helpers/gateway_process.ts`), polling the fake Bot API server
 * (`tests/_servers/telegram.ts`, `poll_timeout_seconds = 1`) and answering through the fake OpenAI
 * server (`tests/_servers/openai.ts`, which echoes the last user message). Both fakes run in this
 * process, so they outlive every gateway restart and keep what the bot did. `--chats` private
 * chats, each its own user on `allow_from` (`dm_policy = "allowlist"`) and its own session
 * (`session.dm_scope = "per-peer"`; with the default "main" all chats would share one lane). Each
 * model reply waits a random `--min-latency-ms`…`--max-latency-ms` before its first byte and
 * streams its three chunks `--chunk-delay-ms` apart, so turns last about a second and drafts are
 * sent and edited (`stream = true`, the default).
 *
 * Method. `--updates` messages with unique texts (`chat 03 message 017`) are pushed at a steady
 * pace over `--seconds`, each from a chat drawn at random (`--seed`; every chat sends the same
 * number). Meanwhile `--kills` moments are drawn at random between 2 s and 2 s past the last push;
 * at each the gateway gets SIGKILL and is started again right away on the same home with the same
 * flags (a kill that falls due while the previous restart is still starting waits for `/readyz`).
 * After the last kill the bench waits (at most `--drain-s`) until every message has an answer, then
 * `--settle-s` more for late duplicates. Everything is then counted on the fake server, per chat:
 *   model answer  a bot message `echo: <text>`;
 *   notice        `⚠️ Not answered: "<text>": the gateway stopped before this turn finished…`,
 *                 what a turn that was running at a kill gets after the restart (not re-run);
 *   answered      messages with at least one of the two; missing = the others;
 *   duplicated    messages whose text is in more than one bot message (answer twice, answer and
 *                 notice, or a leftover draft holding the whole answer), and sendMessage calls past
 *                 the chat's message count;
 *   stray         bot messages that are neither (e.g. a half-streamed draft the restart could not
 *                 replace), and answers in the wrong chat.
 * Also: per restart the time from the kill to `/readyz` (polled every 50 ms) and to the first
 * answer or notice the new process delivered (its first sendMessage or draft edit in HTML), the
 * updates left unconfirmed on the fake, and the gateway's ERROR and WARN lines other than "turn
 * interrupted by restart". Exits 1 if anything is missing, duplicated or stray.
 *
 * `--aimed N` makes N of the kills (drawn from the seed) wait, at their moment, for the next send
 * Telegram accepts of the `--aim-at` kind and kill in the same tick, before the gateway reads the
 * response: `answers` (an HTML sendMessage or draft edit carrying an answer or notice: the window
 * between Telegram accepting a chunk and its sent marker) or `drafts` (the plain sendMessage that
 * creates a draft: the window before the draft's id is stored). Random kills rarely land in these
 * few-millisecond windows; aimed ones always do, so they show what delivery at least once costs.
 *
 *   deno run -A bench/telegram_crash.ts [--updates 200] [--chats 10] [--kills 20] [--seconds 90]
 *     [--seed 1] [--min-latency-ms 200] [--max-latency-ms 1500] [--chunk-delay-ms 150]
 *     [--aimed 0] [--aim-at answers|drafts] [--drain-s 60] [--settle-s 2] [--quick]
 *     [--limit-s 600]
 *
 * `--quick`: 40 updates from 10 chats over 20 s with 4 kills.
 */
import { parseArgs } from "node:util";
import { echoReply, FakeOpenAI } from "../tests/_servers/openai.ts";
import { FakeTelegram, type RecordedCall } from "../tests/_servers/telegram.ts";
import { seededRandom } from "../tests/_servers/common.ts";
import { GatewayProcess } from "../tests/_helpers/gateway_process.ts";
import {
  emitJson,
  hardLimit,
  intFlag,
  median,
  onHardStop,
  printTable,
  round,
  sleep,
} from "./_lib.ts";
import {
  callsCarrying,
  creatorOf,
  describeCall,
  isAnswerCall,
  isDraftCall,
  isNoticeCall,
  messageIdOf,
  readLedger,
} from "./_telegram_ledger.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    updates: { type: "string" },
    chats: { type: "string", default: "10" },
    kills: { type: "string" },
    seconds: { type: "string" },
    seed: { type: "string", default: "1" },
    "min-latency-ms": { type: "string", default: "200" },
    "max-latency-ms": { type: "string", default: "1500" },
    "chunk-delay-ms": { type: "string", default: "150" },
    "drain-s": { type: "string", default: "60" },
    "settle-s": { type: "string", default: "2" },
    aimed: { type: "string", default: "0" },
    "aim-at": { type: "string", default: "answers" },
    quick: { type: "boolean", default: false },
    "limit-s": { type: "string", default: "600" },
  },
});
const quick = values.quick;
const chats = Math.max(1, intFlag("chats", values.chats));
const updates = Math.max(chats, intFlag("updates", values.updates ?? (quick ? "40" : "200")));
const kills = intFlag("kills", values.kills ?? (quick ? "4" : "20"));
const aimed = Math.min(kills, intFlag("aimed", values.aimed));
const aimAt = values["aim-at"];
if (aimAt !== "answers" && aimAt !== "drafts") {
  throw new Error(`--aim-at must be "answers" or "drafts", got ${JSON.stringify(aimAt)}`);
}
const sendSeconds = Math.max(1, intFlag("seconds", values.seconds ?? (quick ? "20" : "90")));
const seed = intFlag("seed", values.seed);
const minLatency = intFlag("min-latency-ms", values["min-latency-ms"]);
const maxLatency = Math.max(minLatency, intFlag("max-latency-ms", values["max-latency-ms"]));
const chunkDelayMs = intFlag("chunk-delay-ms", values["chunk-delay-ms"]);
const drainSeconds = intFlag("drain-s", values["drain-s"]);
const settleSeconds = intFlag("settle-s", values["settle-s"]);
const cancelLimit = hardLimit(intFlag("limit-s", values["limit-s"]));

const TOKEN = "7000000001:AAbench-crash-token";
/** User (and private chat) id of chat `c` (1-based). */
const userOf = (c: number) => 900_000 + c;
/** Chat `c` of a chat id. */
const chatIndex = (id: number) => id - 900_000;
const chatIds = Array.from({ length: chats }, (_, i) => userOf(i + 1));
const pad = (n: number, width: number) => String(n).padStart(width, "0");
/** Fixed width, so no message's text is a prefix of another's. */
const textOf = (c: number, k: number) => `chat ${pad(c, 2)} message ${pad(k, 3)}`;
/** How long an aimed kill waits for a delivery before it kills anyway. */
const AIM_WAIT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// The plan, all drawn from the seed: who sends when, and when the kills fall.

const schedule = seededRandom(seed);
const senders = Array.from({ length: updates }, (_, i) => (i % chats) + 1);
for (let i = senders.length - 1; i > 0; i--) {
  const j = Math.floor(schedule() * (i + 1));
  [senders[i], senders[j]] = [senders[j], senders[i]];
}
const sentCount = new Map<number, number>();
/** The messages in push order, each with its time offset from the start. */
const plan = senders.map((chat, i) => {
  const k = (sentCount.get(chat) ?? 0) + 1;
  sentCount.set(chat, k);
  return { chat, text: textOf(chat, k), atMs: Math.round((i * sendSeconds * 1000) / updates) };
});
const lastPushMs = plan.at(-1)!.atMs;
const killRandom = seededRandom(seed + 1);
const killAtMs = Array.from({ length: kills }, () => 2_000 + killRandom() * lastPushMs)
  .map(Math.round).sort((a, b) => a - b);
/** Which kills are aimed at a delivery (`--aimed`), drawn from the same seed. */
const aimedKills = new Set(
  Array.from({ length: kills }, (_, i) => ({ i, r: killRandom() })).sort((a, b) => a.r - b.r)
    .slice(0, aimed).map((x) => x.i),
);
const latencyRandom = seededRandom(seed + 2);

// ---------------------------------------------------------------------------------------------
// The fakes (in this process: they outlive the gateway) and the gateway.

/** Provider requests not yet fully answered, by their expected end time (for the kill report). */
const providerEnds: number[] = [];
await using provider = await FakeOpenAI.start({
  chunkDelayMs,
  defaultReply: (body) => {
    const delayMs = Math.round(minLatency + latencyRandom() * (maxLatency - minLatency));
    providerEnds.push(Date.now() + delayMs + 2 * chunkDelayMs);
    return { ...echoReply(body), delayMs };
  },
});
await using telegram = await FakeTelegram.start({ token: TOKEN, maxRecorded: 1_000_000 });

const config = `[log]
level = "info"
[providers.fake]
kind = "openai"
base_url = "${provider.url}"
[agent]
model = "fake/bench"
[session]
dm_scope = "per-peer"
[channels.telegram]
enabled = true
api_root = "${telegram.url}"
poll_timeout_seconds = 1
dm_policy = "allowlist"
allow_from = ${JSON.stringify(chatIds.map(String))}
`;

const logs: string[] = [];
const gp = await GatewayProcess.start({ config, env: { TELEGRAM_BOT_TOKEN: TOKEN } });
onHardStop(() => gp[Symbol.asyncDispose]());

const known = new Set(plan.map((m) => m.text));
/** The chats' bot messages as answers, notices and strays. */
const ledger = () => readLedger(telegram, { chatIds, known });

const answeredNow = () => {
  const { byText } = ledger();
  return plan.filter((m) => byText.has(m.text)).length;
};

// ---------------------------------------------------------------------------------------------
// The run: pushes on one timeline, kills and restarts on another.

interface Restart {
  /** Offset of the kill from the start. */
  atMs: number;
  /** The delivery an aimed kill hit (`--aimed`). */
  aimedAt?: string;
  /** How long the gateway had been ready when it was killed. */
  uptimeMs: number;
  /** Pushed messages without an answer yet, at the kill. */
  unanswered: number;
  /** Model requests still waiting or streaming, at the kill (from the fake's planned ends). */
  providerInFlight: number;
  /** SIGKILL sent → the new process answers `/readyz`. */
  readyMs: number;
  /** Kill → the first answer or notice the new process delivered (undefined: none before the next kill). */
  firstAnswerMs?: number;
  /** When the new process was spawned (epoch ms). */
  spawnedAt: number;
}

const start = Date.now();
const restarts: Restart[] = [];
let readyAt = start;
const pushIds = new Map<string, number>();

const pusher = (async () => {
  for (const m of plan) {
    await sleep(Math.max(0, start + m.atMs - Date.now()));
    pushIds.set(
      m.text,
      telegram.pushMessage({
        from: { id: userOf(m.chat), first_name: `User ${m.chat}` },
        text: m.text,
      }),
    );
  }
})();

/**
 * Waits for the next send Telegram accepts of the `--aim-at` kind and returns it. The fake
 * resolves `until` before it writes its response, so a kill sent right away lands after Telegram
 * took the message and before the gateway heard so (the window of an at-least-once re-send, or of
 * a draft whose id was never stored).
 */
async function nextAimedCall(): Promise<RecordedCall | undefined> {
  const since = telegram.callCount;
  const wanted = aimAt === "drafts" ? isDraftCall : isAnswerCall;
  const find = () => telegram.calls.findLast((c) => c.seq >= since && wanted(c));
  await telegram.until(() => find() !== undefined, AbortSignal.timeout(AIM_WAIT_MS)).catch(
    () => {},
  );
  return find();
}

const killer = (async () => {
  for (const [i, at] of killAtMs.entries()) {
    await sleep(Math.max(0, start + at - Date.now()));
    const aim = aimedKills.has(i) ? await nextAimedCall() : undefined;
    const now = Date.now();
    // The signal goes out now (kill's synchronous part); the figures below are read after it.
    const exited = gp.kill("SIGKILL");
    const pushed = plan.filter((m) => pushIds.has(m.text));
    const { byText } = ledger();
    const killed = {
      atMs: now - start,
      ...(aimedKills.has(i) ? { aimedAt: aim ? describeCall(aim) : "(no delivery in time)" } : {}),
      uptimeMs: now - readyAt,
      unanswered: pushed.filter((m) => !byText.has(m.text)).length,
      providerInFlight: providerEnds.filter((end) => end > now).length,
    };
    await exited;
    logs.push(gp.logs);
    const spawnedAt = Date.now();
    await gp.spawn();
    readyAt = Date.now();
    restarts.push({ ...killed, readyMs: readyAt - now, spawnedAt });
  }
})();

await Promise.all([pusher, killer]);
const lastKillMs = Date.now() - start;

// Drain: every message answered, or the bound.
try {
  await telegram.until(
    () => answeredNow() === plan.length,
    AbortSignal.timeout(drainSeconds * 1000),
  );
} catch {
  // reported below as missing
}
const drainedMs = Date.now() - start;
await sleep(settleSeconds * 1000);
// The last offset is confirmed by the next getUpdates (within poll_timeout_seconds).
await telegram.until(() => telegram.pendingUpdates === 0, AbortSignal.timeout(5_000)).catch(
  () => {},
);
const totalMs = Date.now() - start;
await gp.kill("SIGTERM");
logs.push(gp.logs);
await gp[Symbol.asyncDispose]();
cancelLimit();

// ---------------------------------------------------------------------------------------------
// Figures.

const final = ledger();
const missing = plan.filter((m) => !final.byText.has(m.text)).map((m) => m.text);
/** Which gateway process (0 = the first, n = after the n-th restart) was running at `time`. */
const processAt = (time: number) => restarts.filter((r) => r.spawnedAt <= time).length;
/** When a call came, from which process, and how long before the next kill. */
const timingOf = (c: RecordedCall) => ({
  atMs: c.time - start,
  process: processAt(c.time),
  nextKillAfterMs: restarts.map((r) => start + r.atMs - c.time).find((d) => d >= 0),
});
/** The sends and edits that carried a message's text into its chat, for the duplicate report. */
const sendsOf = (m: (typeof plan)[number]) =>
  callsCarrying(telegram, userOf(m.chat), m.text).map((c) => ({
    ...timingOf(c),
    method: c.method,
    messageId: messageIdOf(c),
    status: c.status,
    html: c.params.parse_mode === "HTML",
    kind: isNoticeCall(c) ? "notice" : "answer",
  }));
const duplicated = plan.flatMap((m) => {
  const t = final.byText.get(m.text);
  return t && t.answers + t.notices > 1
    ? [{
      text: m.text,
      update: pushIds.get(m.text),
      answers: t.answers,
      notices: t.notices,
      sends: sendsOf(m),
    }]
    : [];
});
/** Stray messages with the send that created each and the kill that followed it. */
const strays = final.stray.map((st) => {
  const call = creatorOf(telegram, st.chat, st.messageId);
  return { ...st, chat: chatIndex(st.chat), ...(call ? timingOf(call) : {}) };
});
const misrouted = plan.flatMap((m) => {
  const t = final.byText.get(m.text);
  const wrong = t ? [...t.chats].filter((c) => c !== userOf(m.chat)).map(chatIndex) : [];
  return wrong.length ? [{ text: m.text, chats: wrong }] : [];
});
let modelAnswers = 0;
let notices = 0;
for (const m of plan) {
  const t = final.byText.get(m.text);
  if (t?.answers) modelAnswers++;
  else if (t?.notices) notices++;
}

// Kill → first answer of the process started after it: the first HTML send or edit after spawn.
const answerCalls = telegram.calls.filter(isAnswerCall);
for (const [i, r] of restarts.entries()) {
  const until = restarts[i + 1]?.spawnedAt ?? Infinity;
  const first = answerCalls.find((c) => c.time >= r.spawnedAt && c.time < until);
  if (first) r.firstAnswerMs = first.time - (start + r.atMs);
}
const firstAnswers = restarts.flatMap((r) => r.firstAnswerMs ?? []);
const readies = restarts.map((r) => r.readyMs);

const allLogs = logs.join("\n");
const logCount = (re: RegExp) => allLogs.split("\n").filter((l) => re.test(l)).length;
const interruptedLogged = logCount(/turn interrupted by restart/);
/** ERROR lines, and WARN lines other than the expected "turn interrupted by restart". */
const errorLines = allLogs.split("\n").filter((l) =>
  /^\S+ ERROR /.test(l) || (/^\S+ WARN /.test(l) && !/turn interrupted by restart/.test(l))
);

const failed = missing.length + duplicated.length + final.stray.length + misrouted.length +
    final.extraDeliveries.length > 0;
const result = {
  bench: "telegram_crash",
  updates,
  chats,
  kills,
  aimed,
  aimAt,
  seed,
  quick,
  sendSeconds,
  latencyMs: [minLatency, maxLatency],
  chunkDelayMs,
  answered: plan.length - missing.length,
  modelAnswers,
  interruptedNotices: notices,
  missing: missing.length,
  duplicated: duplicated.length,
  extraDeliveries: final.extraDeliveries.length,
  stray: final.stray.length,
  misrouted: misrouted.length,
  pendingUpdatesAtEnd: telegram.pendingUpdates,
  restarts: restarts.length,
  killsWithTurnsInFlight: restarts.filter((r) => r.providerInFlight > 0).length,
  killsWithUnanswered: restarts.filter((r) => r.unanswered > 0).length,
  interruptedLogged,
  gatewayErrorOrWarnLines: errorLines.length,
  restartReadyMedianMs: round(median(readies)),
  restartReadyMaxMs: Math.max(...readies, 0),
  firstAnswerMedianMs: round(median(firstAnswers)),
  firstAnswerMaxMs: Math.max(...firstAnswers, 0),
  restartsWithoutAnswerBeforeNextKill: restarts.length - firstAnswers.length,
  providerRequests: provider.requestCount,
  telegramCalls: telegram.callCount,
  lastKillSeconds: round(lastKillMs / 1000, 1),
  drainedSeconds: round(drainedMs / 1000, 1),
  totalSeconds: round(totalMs / 1000, 1),
  missingTexts: missing.slice(0, 20),
  duplicatedDetail: duplicated.slice(0, 20),
  strayDetail: strays.slice(0, 20),
  misroutedDetail: misrouted.slice(0, 20),
  extraDeliveriesDetail: final.extraDeliveries,
  perRestart: restarts.map(({ spawnedAt: _, ...r }) => r),
};

console.log(
  `telegram_crash: ${updates} messages from ${chats} private chats over ${sendSeconds} s; ` +
    `${kills} SIGKILLs + restarts (${aimed} aimed at ${aimAt}; seed ${seed}); model latency ${minLatency}–${maxLatency} ms, ` +
    `3 chunks ${chunkDelayMs} ms apart; gateway pid changes ${restarts.length} times`,
);
printTable([
  [
    "restart",
    "at s",
    "uptime ms",
    "unanswered",
    "turns in flight",
    "ready ms",
    "1st answer ms",
    ...(aimed ? ["aimed at"] : []),
  ],
  ...restarts.map((r, i) => [
    i + 1,
    round(r.atMs / 1000, 1),
    r.uptimeMs,
    r.unanswered,
    r.providerInFlight,
    r.readyMs,
    r.firstAnswerMs ?? "-",
    ...(aimed ? [r.aimedAt ?? ""] : []),
  ]),
]);
console.log("");
printTable([
  ["figure", "value"],
  ["messages answered", `${result.answered} of ${updates}`],
  ["  by the model", modelAnswers],
  ["  by an interrupted-turn notice", `${notices} (gateway logged ${interruptedLogged})`],
  ["missing", missing.length],
  ["duplicated (text in > 1 bot message)", duplicated.length],
  ["chats with sendMessage > messages", final.extraDeliveries.length],
  ["stray bot messages / misrouted answers", `${final.stray.length} / ${misrouted.length}`],
  ["updates unconfirmed at the end", telegram.pendingUpdates],
  ["restarts", restarts.length],
  ["  with model turns in flight at the kill", result.killsWithTurnsInFlight],
  [
    "kill → /readyz, median / max",
    `${result.restartReadyMedianMs} / ${result.restartReadyMaxMs} ms`,
  ],
  [
    "kill → first answer, median / max",
    `${result.firstAnswerMedianMs} / ${result.firstAnswerMaxMs} ms`,
  ],
  ["total run time", `${result.totalSeconds} s (last kill at ${result.lastKillSeconds} s)`],
]);
for (const d of duplicated) {
  console.log(
    `DUPLICATED: "${d.text}" (update ${d.update}): ${d.answers} answer(s), ${d.notices} notice(s)`,
  );
  for (const c of d.sends) {
    console.log(
      `  at ${c.atMs} ms, process ${c.process}: ${c.method} ${c.kind}${c.html ? " (HTML)" : ""} ` +
        `message ${c.messageId} → ${c.status}` +
        (c.nextKillAfterMs !== undefined ? `; next kill ${c.nextKillAfterMs} ms later` : ""),
    );
  }
}
for (const s of strays) {
  console.log(
    `STRAY in chat ${s.chat}: message ${s.messageId} ${JSON.stringify(s.text)}` +
      ("atMs" in s
        ? `, sent at ${s.atMs} ms by process ${s.process}; next kill ${s.nextKillAfterMs} ms later`
        : ""),
  );
}
for (const m of misrouted) console.log(`MISROUTED: "${m.text}" answered in chat(s) ${m.chats}`);
for (const e of final.extraDeliveries) {
  console.log(
    `EXTRA DELIVERIES: chat ${chatIndex(e.chat)}: ${e.deliveries} sends, ${e.messages} messages`,
  );
}
if (missing.length) console.log(`MISSING: ${missing.join(", ")}`);
if (errorLines.length) {
  console.log(`gateway ERROR/WARN lines (${errorLines.length}), first 10:`);
  for (const l of errorLines.slice(0, 10)) console.log(`  ${l}`);
}
if (failed) {
  const path = await Deno.makeTempFile({ prefix: "telegram-crash-", suffix: ".log" });
  await Deno.writeTextFile(path, allLogs);
  console.log(`gateway logs of every run written to ${path}`);
}
emitJson(result);
if (failed) Deno.exit(1);

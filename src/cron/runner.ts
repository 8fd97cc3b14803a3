/**
 * How a job runs in the gateway: its session (main, a fresh `cron:<id>` for `isolated`, or the
 * named one), its payload (a scheduled event added to the transcript, or a message run as a turn
 * through the lanes, so it never interleaves with the user's turn in that session), and where its
 * result goes (a chat on a channel, through the outbox).
 */
import {
  type ChatEvent,
  GatehouseError,
  MAIN_SESSION_KEY,
  type Replies,
  sessionKeyFor,
  sessionKeyProblem,
  type SessionStore,
} from "../kernel/mod.ts";
import type { CronJob, CronRun } from "./job.ts";
import { postWebhook, type WebhookDeliveryDeps } from "./webhook.ts";

/** The chat service as cron uses it. */
export interface CronChat {
  send(input: {
    sessionKey: string;
    text: string;
    idempotencyKey: string;
    source: string;
    model?: string;
    tools?: string[];
  }): Promise<{ runId: string }>;
  reset(sessionKey: string): Promise<boolean>;
  abort(sessionKey: string): unknown;
}

/** What running and delivering jobs needs. */
export interface CronRunnerDeps {
  chat: CronChat;
  store: SessionStore;
  /** In-process events (the end of a run's turn). */
  listen: (fn: (event: string, payload: unknown) => void) => () => void;
  replies: Replies;
  timeoutMs: number;
  /** Where `webhook` deliveries may go (web_fetch's SSRF policy); without it they fail. */
  webhook?: WebhookDeliveryDeps;
}

/** The session a job's run uses. */
export function jobSession(job: CronJob): string {
  if (job.target === "main") return MAIN_SESSION_KEY;
  if (job.target === "isolated") return sessionKeyFor({ kind: "cron", jobId: job.id });
  const key = job.target.slice("session:".length);
  const problem = sessionKeyProblem(key);
  if (problem) throw new GatehouseError("INVALID_REQUEST", `target ${job.target}: ${problem}`);
  return key;
}

/** Runs a job's payload; resolves with the text to deliver. */
export async function executeJob(
  deps: CronRunnerDeps,
  job: CronJob,
  runId: string,
): Promise<{ text: string }> {
  const sessionKey = jobSession(job);
  if (job.target === "isolated") await deps.chat.reset(sessionKey);
  const label = job.name ?? job.id;
  const payload = job.payload;
  if (payload.kind === "system_event" && !payload.wake) {
    const text = `[Scheduled event "${label}"] ${payload.text}`;
    await deps.store.patchSession(sessionKey, {}, { create: true });
    await deps.store.append(sessionKey, [{ role: "user", text, runId }]);
    return { text: payload.text };
  }
  const message = payload.kind === "agent_turn"
    ? payload.message
    : `[Scheduled event "${label}"] ${payload.text}`;
  return { text: await runTurn(deps, sessionKey, message, job, runId) };
}

/** Sends a run's result where the job says. */
export async function deliverJob(
  deps: Pick<CronRunnerDeps, "replies" | "webhook">,
  job: CronJob,
  run: CronRun,
  text: string,
): Promise<void> {
  const d = job.delivery;
  if (d.kind === "none") return;
  if (d.kind === "announce") {
    const target = {
      channel: d.channel,
      to: d.to,
      ...(d.threadId ? { threadId: d.threadId } : {}),
    };
    if (!deps.replies.serves(d.channel)) {
      throw new Error(`channel ${d.channel} is not configured, so nothing could be announced`);
    }
    await deps.replies.send(target, text, { id: `cron:${run.runId}`, runId: run.runId });
    return;
  }
  if (!deps.webhook) throw new Error("webhook delivery is not set up in this gateway");
  await postWebhook(deps.webhook, d.url, {
    jobId: job.id,
    runId: run.runId,
    outcome: run.outcome,
    text,
    scheduledFor: run.scheduledFor,
  });
}

/** Runs `message` as a turn and waits for its end (bounded by the run timeout). */
function runTurn(
  deps: CronRunnerDeps,
  sessionKey: string,
  message: string,
  job: CronJob,
  runId: string,
): Promise<string> {
  // Ends are kept from before the send: the turn cannot end before send returns its run id, but
  // this keeps the wait free of that assumption.
  const ended = new Map<string, ChatEvent>();
  let waiting: { runId: string; done: (e: ChatEvent) => void } | undefined;
  const off = deps.listen((event, payload) => {
    if (event !== "chat") return;
    const e = payload as ChatEvent;
    if (e.state !== "final" && e.state !== "error" && e.state !== "aborted") return;
    for (const id of e.runIds ?? [e.runId]) {
      if (waiting?.runId === id) waiting.done(e);
      else ended.set(id, e);
    }
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      deps.chat.abort(sessionKey);
      finish(
        undefined,
        new Error(`the run took longer than ${deps.timeoutMs / 1000} s and was stopped`),
      );
    }, deps.timeoutMs);
    const finish = (e: ChatEvent | undefined, err?: Error) => {
      clearTimeout(timer);
      off();
      if (err) return reject(err);
      if (e!.state === "final") return resolve(e!.message?.text ?? "");
      reject(new Error(e!.error?.message ?? `the turn ended ${e!.state}`));
    };
    deps.chat.send({
      sessionKey,
      text: message,
      idempotencyKey: `cron:${runId}`,
      source: `cron:${job.id}`,
      ...(job.payload.kind === "agent_turn" && job.payload.model
        ? { model: job.payload.model }
        : {}),
      ...(job.payload.kind === "agent_turn" && job.payload.tools
        ? { tools: job.payload.tools }
        : {}),
    }).then(({ runId: turnRunId }) => {
      const early = ended.get(turnRunId);
      if (early) return finish(early);
      waiting = { runId: turnRunId, done: (e) => finish(e) };
    }, (err) => finish(undefined, err instanceof Error ? err : new Error(String(err))));
  });
}

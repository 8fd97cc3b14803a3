/**
 * How updates leave the fake Telegram server, as in the real API: a queue numbered by update_id
 * that getUpdates reads and confirms by offset, filtered by allowed_updates when updates are
 * created, long polls that wait for the next update (one per token: a newer poll ends the waiting
 * one with 409), and a webhook setting that excludes polling.
 */
import { sleep } from "./common.ts";
import {
  type Answer,
  bad,
  fail,
  int,
  ok,
  type Params,
  POLL_CONFLICT,
  type Update,
  WEBHOOK_CONFLICT,
} from "./telegram_api.ts";

/** Update types left out when allowed_updates is empty or was never set. */
const NOT_BY_DEFAULT = new Set(["chat_member", "message_reaction", "message_reaction_count"]);
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** What the queue needs from its server. */
export interface UpdateQueueDeps {
  /** Aborted when the server closes: ends waiting long polls. */
  closing: AbortSignal;
  /** Called when a long poll starts waiting, so tests waiting on `polling` see it. */
  changed: () => void;
}

/** The updates of one bot and the calls that fetch them. */
export class UpdateQueue {
  /** Acts out another instance polling with the same token: every getUpdates gets 409. */
  conflict = false;

  #deps: UpdateQueueDeps;
  /** Unconfirmed updates, oldest first. */
  #queue: Update[] = [];
  #nextId = 1;
  /** Set by allowed_updates; undefined means the default set. */
  #allowed: Set<string> | undefined;
  /** The waiting long poll of each token; aborting it with a reason ends it. */
  #polls = new Map<string, AbortController>();
  #webhook: { url: string; max_connections: number; allowed_updates?: string[] } | undefined;

  constructor(deps: UpdateQueueDeps) {
    this.#deps = deps;
  }

  /** The update_id the next pushed update gets. */
  get nextId(): number {
    return this.#nextId;
  }

  /** Updates not yet confirmed. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Long polls waiting (one per token at most). */
  get polling(): number {
    return this.#polls.size;
  }

  /** Queues an update unless allowed_updates excludes its type; returns its update_id. */
  push(raw: Omit<Update, "update_id"> & { update_id?: number }): number {
    const update_id = raw.update_id ?? this.#nextId;
    this.#nextId = Math.max(this.#nextId, update_id + 1);
    const type = Object.keys(raw).find((k) => k !== "update_id") ?? "";
    // As in the real API, allowed_updates filters updates when they are created.
    if (this.#allowed ? this.#allowed.has(type) : !NOT_BY_DEFAULT.has(type)) {
      this.#queue.push({ ...raw, update_id } as Update);
      // Woken polls answer after the current synchronous run: updates pushed together come together.
      for (const poll of this.#polls.values()) poll.abort("wake");
    }
    return update_id;
  }

  /** Forgets queued updates. */
  clear(): void {
    this.#queue.length = 0;
  }

  async getUpdates(p: Params, token: string): Promise<Answer> {
    if (this.conflict) return fail(409, POLL_CONFLICT);
    if (this.#webhook) return fail(409, WEBHOOK_CONFLICT);
    const offset = int(p.offset) ?? 0;
    const limit = clamp(int(p.limit) ?? 100, 1, 100);
    const timeout = clamp(int(p.timeout) ?? 0, 0, 50);
    if (Array.isArray(p.allowed_updates)) this.#setAllowed(p.allowed_updates);
    this.#confirm(offset);
    if (this.#queue.length || timeout === 0) return ok(this.#queue.slice(0, limit));

    this.#polls.get(token)?.abort(POLL_CONFLICT);
    const poll = new AbortController();
    this.#polls.set(token, poll);
    this.#deps.changed();
    // A client that gives up (bot.stop()) leaves this wait to its timeout, a newer poll or close.
    await sleep(timeout * 1000, [poll.signal, this.#deps.closing]);
    if (this.#polls.get(token) === poll) this.#polls.delete(token);
    const reason = poll.signal.reason;
    if (typeof reason === "string" && reason.startsWith("Conflict")) return fail(409, reason);
    this.#confirm(offset);
    return ok(this.#queue.slice(0, limit));
  }

  /** setWebhook; an empty url is deleteWebhook. */
  setWebhook(p: Params): Answer {
    const url = String(p.url ?? "");
    if (url !== "") {
      if (!URL.canParse(url)) return bad("invalid webhook URL specified");
      if (new URL(url).protocol !== "https:") {
        return bad("bad webhook: An HTTPS URL must be provided for webhook");
      }
    }
    if (p.drop_pending_updates === true || p.drop_pending_updates === "true") this.clear();
    if (url === "") {
      const was = this.#webhook !== undefined;
      this.#webhook = undefined;
      return ok(true, was ? "Webhook was deleted" : "Webhook is already deleted");
    }
    const already = this.#webhook?.url === url;
    for (const poll of this.#polls.values()) {
      poll.abort("Conflict: terminated by setWebhook request");
    }
    const allowed = Array.isArray(p.allowed_updates) ? p.allowed_updates.map(String) : undefined;
    if (allowed) this.#setAllowed(allowed);
    this.#webhook = {
      url,
      max_connections: clamp(int(p.max_connections) ?? 40, 1, 100),
      ...(allowed ? { allowed_updates: allowed } : {}),
    };
    return ok(true, already ? "Webhook is already set" : "Webhook was set");
  }

  webhookInfo(): Answer {
    const hook = this.#webhook;
    return ok({
      url: hook?.url ?? "",
      has_custom_certificate: false,
      pending_update_count: this.#queue.length,
      ...(hook ? { max_connections: hook.max_connections } : {}),
      ...(hook?.allowed_updates ? { allowed_updates: hook.allowed_updates } : {}),
    });
  }

  #setAllowed(list: unknown[]): void {
    this.#allowed = list.length ? new Set(list.map(String)) : undefined;
  }

  /** Forgets updates below `offset`, or all but the last -offset ones: how the real API confirms. */
  #confirm(offset: number): void {
    if (offset > 0) {
      const keep = this.#queue.findIndex((u) => u.update_id >= offset);
      this.#queue.splice(0, keep === -1 ? this.#queue.length : keep);
    } else if (offset < 0) {
      this.#queue.splice(0, Math.max(0, this.#queue.length + offset));
    }
  }
}

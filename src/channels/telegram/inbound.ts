/**
 * What a Telegram update becomes: a private text message from someone allowed in is recorded and
 * run like any other message (idempotency key `telegram:<update_id>`, so a re-delivered update
 * runs once); a stranger under `dm_policy = "pairing"` gets a pairing code and no model call.
 * Group chats and media are not handled yet: groups are ignored, media gets a short reply.
 */
import type { ChatService } from "../../agent/chat_service.ts";
import type { TelegramConfig } from "../../config/schema.ts";
import { type DmScope, type Logger, type Outbox, sessionKeyFor } from "../../kernel/mod.ts";
import type { PairingStore } from "../pairing.ts";

/** The parts of a Bot API update this adapter reads. */
export interface Update {
  update_id: number;
  message?: {
    message_id: number;
    chat: { id: number; type: string };
    from?: {
      id: number;
      is_bot: boolean;
      first_name: string;
      last_name?: string;
      username?: string;
    };
    text?: string;
    caption?: string;
  };
}

/** What handling an update needs. */
export interface InboundDeps {
  config: TelegramConfig;
  dmScope: DmScope;
  chat: ChatService;
  pairing: PairingStore;
  outbox: Outbox;
  kick: () => void;
  /** Markdown → the chunks Telegram gets. */
  render: (markdown: string) => string[];
  logger: Logger;
}

/** Handles one update; throws only when it could not be recorded (the poller then retries it). */
export async function handleUpdate(update: Update, deps: InboundDeps): Promise<void> {
  const m = update.message;
  if (!m?.from || m.from.is_bot) return;
  const log = deps.logger.with({ channel: "telegram", update: update.update_id });
  if (m.chat.type !== "private") {
    log.debug("telegram: group message ignored (groups are not served yet)");
    return;
  }
  const userId = String(m.from.id);
  const reply = (id: string, markdown: string) =>
    replyOnce(deps, `${id}:${update.update_id}`, m.chat.id, markdown);

  const access = await admitted(deps, userId);
  if (access === "ignore") {
    log.info("telegram: message from a sender who is not allowed, ignored", { user: userId });
    return;
  }
  if (access === "pair") {
    const outcome = await deps.pairing.request("telegram", {
      id: userId,
      ...(m.from.username ? { username: m.from.username } : {}),
      name: [m.from.first_name, m.from.last_name].filter(Boolean).join(" "),
    });
    log.info("telegram: pairing code sent to a new sender", { user: userId });
    await reply(
      "pairing",
      "code" in outcome
        ? `Hi! This assistant is private. Ask its owner to approve your code: **${outcome.code}**\n\n` +
          `(gatehouse pairing approve telegram ${outcome.code}, valid for an hour)`
        : "This assistant is private, and too many pairing requests are waiting. Try again in an hour.",
    );
    return;
  }

  const text = m.text ?? m.caption;
  if (!text) {
    await reply("unsupported", "Only text messages are understood here for now.");
    return;
  }
  const sessionKey = sessionKeyFor(
    { kind: "direct", channel: "telegram", peer: userId },
    deps.dmScope,
  );
  await deps.chat.send({
    sessionKey,
    text,
    idempotencyKey: `telegram:${update.update_id}`,
    source: `telegram:${userId}`,
  });
}

/** `ok` to run, `pair` to send a code, `ignore` to drop, per `dm_policy`. */
async function admitted(deps: InboundDeps, userId: string): Promise<"ok" | "pair" | "ignore"> {
  const { dm_policy: policy, allow_from: allow } = deps.config;
  if (policy === "disabled") return "ignore";
  if (policy === "open" || allow.includes(userId)) return "ok";
  if (policy === "allowlist") return "ignore";
  return (await deps.pairing.isApproved("telegram", userId)) ? "ok" : "pair";
}

/** Queues a reply under an id, so a re-delivered update answers once. */
async function replyOnce(
  deps: InboundDeps,
  id: string,
  chatId: number,
  markdown: string,
): Promise<void> {
  await deps.outbox.enqueue({
    id: `telegram:${id}`,
    channel: "telegram",
    to: String(chatId),
    chunks: deps.render(markdown),
  });
  deps.kick();
}

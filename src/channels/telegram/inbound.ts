/**
 * What a Telegram update becomes. A message from someone allowed in is recorded and run like any
 * other message (idempotency key `telegram:<update_id>`, so a re-delivered update runs once) with
 * its chat as the reply target; a stranger under `dm_policy = "pairing"` gets a pairing code and
 * no model call; group messages count only in allowlisted groups and, by default, only when they
 * address the bot (the others are kept as context); button presses go to the approvals.
 */
import type { TelegramConfig } from "../../config/schema.ts";
import {
  type DmScope,
  type Logger,
  type Replies,
  type ReplyTarget,
  sessionKeyFor,
} from "../../kernel/mod.ts";
import type { PairingStore } from "../pairing.ts";
import { addressesBot, type GroupContext, withoutMention } from "./groups.ts";
import type { MediaOutcome } from "./media.ts";
import {
  type BotIdentity,
  displayName,
  type TgCallbackQuery,
  type TgMessage,
  type Update,
} from "./update.ts";

/** The chat service as the adapter uses it. */
export interface ChatSink {
  send(input: {
    sessionKey: string;
    text: string;
    idempotencyKey: string;
    source: string;
    reply: ReplyTarget;
  }): Promise<{ runId: string; duplicate: boolean; lane?: string }>;
}

/** What handling an update needs. */
export interface InboundDeps {
  config: TelegramConfig;
  dmScope: DmScope;
  chat: ChatSink;
  pairing: PairingStore;
  replies: Replies;
  bot: () => Promise<BotIdentity>;
  groups: GroupContext;
  /** Saves a message's photo or document; says what to tell the sender when it cannot. */
  media: (message: TgMessage, updateId: number) => Promise<MediaOutcome>;
  /** A run was accepted for a chat (the draft and typing indicator follow it). */
  accepted: (runId: string, target: ReplyTarget) => void;
  /** An inline button was pressed. */
  pressed: (query: TgCallbackQuery) => Promise<void>;
  logger: Logger;
}

/** Group ids already reported as not allowlisted (one log line each per process). */
const reportedGroups = new Set<string>();

/** Handles one update; throws only when it could not be recorded (the poller then retries it). */
export async function handleUpdate(update: Update, deps: InboundDeps): Promise<void> {
  if (update.callback_query) return await deps.pressed(update.callback_query);
  const m = update.message;
  if (!m?.from || m.from.is_bot) return;
  const log = deps.logger.with({ update: update.update_id });
  const chatId = String(m.chat.id);
  const userId = String(m.from.id);
  const notify = (kind: string, markdown: string, target = { channel: "telegram", to: chatId }) =>
    deps.replies.send(target, markdown, { id: `${kind}:${update.update_id}` });

  let sessionKey: string;
  let target: ReplyTarget;
  let bot: BotIdentity | undefined;
  if (m.chat.type === "private") {
    const access = await admitted(deps, userId);
    if (access === "ignore") {
      log.info("telegram: message from a sender who is not allowed, ignored", { user: userId });
      return;
    }
    if (access === "pair") return await sendPairingCode(deps, m, notify);
    sessionKey = sessionKeyFor({ kind: "direct", channel: "telegram", peer: userId }, deps.dmScope);
    target = { channel: "telegram", to: chatId };
  } else if (m.chat.type === "group" || m.chat.type === "supergroup") {
    if (!deps.config.groups.includes(chatId)) {
      if (!reportedGroups.has(chatId)) {
        reportedGroups.add(chatId);
        log.info(
          `telegram: group ${chatId} (${m.chat.title ?? "untitled"}) is not in ` +
            "channels.telegram.groups; its messages are ignored",
        );
      }
      return;
    }
    const topic = m.is_topic_message && m.message_thread_id !== undefined
      ? String(m.message_thread_id)
      : undefined;
    bot = await deps.bot();
    if (deps.config.require_mention && !addressesBot(m, bot)) {
      await deps.groups.remember(chatId, topic, m);
      return;
    }
    sessionKey = sessionKeyFor({ kind: "group", channel: "telegram", group: chatId, topic });
    target = {
      channel: "telegram",
      to: chatId,
      ...(topic ? { threadId: topic } : {}),
      replyTo: String(m.message_id),
    };
  } else {
    return; // channels and unknown chat kinds
  }

  const media = await deps.media(m, update.update_id);
  if (media.kind === "unsupported" || media.kind === "too_large") {
    return await notify("media", media.reply, target);
  }
  let text = media.kind === "saved" ? media.text : m.text ?? m.caption ?? "";
  if (bot) {
    const command = /^\/[a-z0-9_]+@([A-Za-z0-9_]+)/.exec(text);
    if (command && command[1].toLowerCase() !== bot.username.toLowerCase()) return; // another bot's
    text = withoutMention(text, bot);
    if (text && !text.startsWith("/")) {
      const preamble = await deps.groups.preamble(chatId, target.threadId);
      text = `${preamble}${displayName(m.from)}: ${text}`;
    }
  }
  if (!text.trim()) return await notify("empty", "That message had no text to answer.", target);

  const sent = await deps.chat.send({
    sessionKey,
    text,
    idempotencyKey: `telegram:${update.update_id}`,
    source: `telegram:${userId}`,
    reply: target,
  });
  if (bot) await deps.groups.clear(chatId, target.threadId);
  // Typing and a draft for a message that starts or waits for a run of its own (not for a
  // command, answered already, nor for a message steered into the run in progress).
  if (sent.lane === "started" || sent.lane === "queued" || sent.lane === "interrupting") {
    deps.accepted(sent.runId, target);
  }
}

/** `ok` to run, `pair` to send a code, `ignore` to drop, per `dm_policy`. */
async function admitted(deps: InboundDeps, userId: string): Promise<"ok" | "pair" | "ignore"> {
  const { dm_policy: policy, allow_from: allow } = deps.config;
  if (policy === "disabled") return "ignore";
  if (policy === "open" || allow.includes(userId)) return "ok";
  if (policy === "allowlist") return "ignore";
  return (await deps.pairing.isApproved("telegram", userId)) ? "ok" : "pair";
}

async function sendPairingCode(
  deps: InboundDeps,
  m: TgMessage,
  notify: (kind: string, markdown: string) => Promise<void>,
): Promise<void> {
  const from = m.from!;
  const outcome = await deps.pairing.request("telegram", {
    id: String(from.id),
    ...(from.username ? { username: from.username } : {}),
    name: displayName(from),
  });
  deps.logger.info("telegram: pairing code sent to a new sender", { user: String(from.id) });
  await notify(
    "pairing",
    "code" in outcome
      ? `Hi! This assistant is private. Ask its owner to approve your code: **${outcome.code}**\n\n` +
        `(gatehouse pairing approve telegram ${outcome.code}, valid for an hour)`
      : "This assistant is private, and too many pairing requests are waiting. Try again in an hour.",
  );
}

/**
 * @module
 * The Telegram channel over grammY's `Api`, from the `grammy/web` entry: it needs no env access
 * (measured: the default node entry reads env through `debug` at import, which under restricted
 * `--allow-env` fails or prompts), only net to the Bot API host. Long polling with a durable
 * offset; private chats with pairing; allowlisted groups and forum topics with mention gating;
 * drafts streamed while a run goes on; answers through the outbox; commands registered with
 * setMyCommands; exec approvals as inline buttons for the owner; photos and documents saved into
 * the workspace. Loaded only when `[channels.telegram]` is enabled.
 */
import { CHAT_COMMANDS } from "../../agent/commands.ts";
import type { TelegramConfig } from "../../config/schema.ts";
import type { ApprovalDecision, Clock, DmScope, Logger, Replies } from "../../kernel/mod.ts";
import type { EventHub } from "../../gateway/event_hub.ts";
import type { PairingStore } from "../pairing.ts";
import { TelegramApprovals } from "./approvals.ts";
import type { BotApi } from "./bot_api.ts";
import { Drafts } from "./drafts.ts";
import { GroupContext } from "./groups.ts";
import { type ChatSink, handleUpdate } from "./inbound.ts";
import { type MediaOutcome, saveMedia } from "./media.ts";
import { TELEGRAM_LIVE_KEYS } from "./live_keys.ts";
import { TelegramPoller } from "./poller.ts";
import { TelegramSender } from "./send.ts";
import { registerWebhook, TelegramWebhook, unregisterWebhook, type WebhookApi } from "./webhook.ts";
import type { BotIdentity, Update } from "./update.ts";

/** What the channel needs from the composition root. */
export interface TelegramDeps {
  config: TelegramConfig;
  token: string;
  /** The webhook secret, in webhook mode (checked by the caller to be set). */
  webhookSecret?: string;
  dmScope: DmScope;
  /** The workspace's absolute path (photos and documents are saved there). */
  workspace: string;
  kv: Deno.Kv;
  pairing: PairingStore;
  replies: Replies;
  events: EventHub;
  /** Answers an exec approval (the tools' broker). */
  resolveApproval: (id: string, decision: ApprovalDecision, by: string) => Promise<unknown>;
  clock: Clock;
  logger: Logger;
}

/** A running Telegram channel. */
export interface TelegramChannel {
  sender: TelegramSender;
  /** The HTTP route Telegram posts to, in webhook mode. */
  webhook?: { path: string; handler(req: Request): Promise<Response> };
  /** Starts polling (after the gateway is ready); messages go to `chat`. */
  start(chat: ChatSink): void;
  /** How it is doing, in a few words: "polling", "webhook", "polling: 409 conflict, retrying". */
  state(): string;
  /** Takes the access settings ({@linkcode TELEGRAM_LIVE_KEYS}) of a reloaded config for the next update. */
  reconfigure(config: TelegramConfig): void;
  stop(): Promise<void>;
}

/** Builds the channel; nothing talks to Telegram until `start`. */
export async function createTelegram(deps: TelegramDeps): Promise<TelegramChannel> {
  const { Api } = await import("grammy/web");
  const api = new Api(deps.token, { apiRoot: deps.config.api_root });
  const logger = deps.logger.with({ channel: "telegram" });
  // grammY's typings take AbortSignal from the abort-controller polyfill, which TypeScript does
  // not equate with the platform's; at run time grammy/web uses the platform's own. The options
  // objects are built by this adapter in the Bot API's own field names.
  const botApi: BotApi = {
    sendMessage: (chat, text, other, signal) =>
      api.sendMessage(chat, text, other as never, signal as never),
    editMessageText: (chat, id, text, other, signal) =>
      api.editMessageText(chat, id, text, other as never, signal as never),
    sendChatAction: (chat, action, other) => api.sendChatAction(chat, action, other as never),
    answerCallbackQuery: (id, other) => api.answerCallbackQuery(id, other as never),
  };
  const drafts = new Drafts({
    api: botApi,
    kv: deps.kv,
    clock: deps.clock,
    logger,
    stream: deps.config.stream,
    intervalMs: deps.config.draft_interval_ms,
  });
  const sender = new TelegramSender(botApi, drafts);
  const approvals = new TelegramApprovals({
    api: botApi,
    owner: () => deps.pairing.owner("telegram"),
    resolve: deps.resolveApproval,
    logger,
  });
  const groups = new GroupContext(deps.kv, deps.config.group_context_messages);
  let identity: Promise<BotIdentity> | undefined;
  const bot = () => {
    identity ??= api.getMe().then(
      (me) => ({ id: me.id, username: me.username }),
      (err) => {
        identity = undefined; // asked again with the next update
        throw err;
      },
    );
    return identity;
  };

  let chat: ChatSink | undefined;
  /** The config each update is handled with; its access keys follow config reloads. */
  let config = deps.config;
  const handle = (update: Update) => {
    if (!chat) return Promise.reject(new Error("telegram: not started yet; retry"));
    return handleUpdate(update, {
      config,
      dmScope: deps.dmScope,
      chat,
      pairing: deps.pairing,
      replies: deps.replies,
      bot,
      groups,
      media: (message) =>
        saveMedia(message, {
          api: { getFile: (id, signal) => api.getFile(id, signal as never) },
          apiRoot: deps.config.api_root,
          token: deps.token,
          workspace: deps.workspace,
          maxBytes: Math.floor(deps.config.media_max_mb * 1024 * 1024),
          now: () => deps.clock.now(),
        }).catch((err): MediaOutcome => {
          // Not retried: a file Telegram will not serve would hold up every later update.
          logger.warn("telegram: a file could not be saved", { error: String(err) });
          return {
            kind: "unsupported",
            reply: "Your file could not be fetched from Telegram or saved; please send it again.",
          };
        }),
      accepted: (runId, target) => drafts.accepted(runId, target),
      pressed: (query) => approvals.pressed(query),
      logger,
    });
  };
  const poller = new TelegramPoller({
    api: {
      getUpdates: (other, signal) =>
        api.getUpdates(other as never, signal as never) as Promise<Update[]>,
    },
    kv: deps.kv,
    clock: deps.clock,
    logger,
    timeoutSeconds: deps.config.poll_timeout_seconds,
    handle,
  });
  const webhookApi: WebhookApi = {
    setWebhook: (url, other, signal) => api.setWebhook(url, other as never, signal as never),
    deleteWebhook: (other, signal) => api.deleteWebhook(other, signal as never),
  };
  const webhook = deps.config.mode === "webhook"
    ? await TelegramWebhook.create<Update>({
      secret: deps.webhookSecret ?? "",
      secretSource: `env ${deps.config.webhook_secret_env}`,
      handle,
      logger,
    })
    : undefined;

  let unlisten: (() => void) | undefined;
  return {
    sender,
    ...(webhook ? { webhook } : {}),
    state: () => (webhook ? "webhook" : poller.state()),
    start(service) {
      chat = service;
      unlisten = deps.events.listen((event, payload) => {
        drafts.onEvent(event, payload);
        approvals.onEvent(event, payload);
      });
      api.setMyCommands(
        [{ command: "start", description: "say hello and list the commands" }, ...CHAT_COMMANDS],
      ).catch((err) =>
        logger.warn("telegram: commands not registered (the menu may be stale)", {
          error: String(err),
        })
      );
      if (webhook) {
        registerWebhook(webhookApi, {
          publicUrl: deps.config.webhook_url!,
          secret: deps.webhookSecret!,
          secretSource: `env ${deps.config.webhook_secret_env}`,
        }).then(
          (url) => logger.info("telegram: webhook set", { url: url.replace(/[^/]+$/, "…") }),
          (err) =>
            logger.error("telegram: the webhook could not be set; updates wait at Telegram", {
              error: String(err),
            }),
        );
        return;
      }
      // A webhook left set (by webhook mode earlier) makes every getUpdates fail with 409.
      unregisterWebhook(webhookApi).catch(() => {}).finally(() => poller.start());
      logger.info("telegram: polling for messages", { dmPolicy: deps.config.dm_policy });
    },
    reconfigure(next) {
      const access: Partial<TelegramConfig> = {};
      for (const key of TELEGRAM_LIVE_KEYS) Object.assign(access, { [key]: next[key] });
      config = { ...config, ...access };
    },
    async stop() {
      unlisten?.();
      drafts.stop();
      await webhook?.close();
      await poller.stop();
    },
  };
}

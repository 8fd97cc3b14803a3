/**
 * @module
 * The Telegram channel: long polling over grammY's `Api` (the `grammy/web` entry, which needs no
 * env access; the node entry enumerates env through `debug`), private chats with pairing, replies
 * through the outbox. Loaded only when `[channels.telegram]` is enabled.
 */
import type { ChatService } from "../../agent/chat_service.ts";
import type { TelegramConfig } from "../../config/schema.ts";
import type { Clock, DmScope, Logger, Outbox } from "../../kernel/mod.ts";
import type { EventHub } from "../../gateway/event_hub.ts";
import type { PairingStore } from "../pairing.ts";
import { handleUpdate, type Update } from "./inbound.ts";
import { type PollApi, TelegramPoller } from "./poller.ts";
import { answerRun } from "./replies.ts";
import { type SendApi, TelegramSender } from "./send.ts";

/** What the channel needs from the composition root. */
export interface TelegramDeps {
  config: TelegramConfig;
  token: string;
  dmScope: DmScope;
  kv: Deno.Kv;
  pairing: PairingStore;
  outbox: Outbox;
  kick: () => void;
  events: EventHub;
  clock: Clock;
  logger: Logger;
}

/** A running Telegram channel. */
export interface TelegramChannel {
  sender: TelegramSender;
  /** Starts polling (after the gateway is ready); messages go to `chat`. */
  start(chat: ChatService): void;
  stop(): Promise<void>;
}

/** Builds the channel; nothing talks to Telegram until `start`. */
export async function createTelegram(deps: TelegramDeps): Promise<TelegramChannel> {
  const { Api } = await import("grammy/web");
  const api = new Api(deps.token, { apiRoot: deps.config.api_root });
  // grammY's typings take AbortSignal from the abort-controller polyfill, which TypeScript does
  // not equate with the platform's; at run time grammy/web uses the platform's own.
  const sendApi: SendApi = {
    sendMessage: (chat, text, other, signal) =>
      api.sendMessage(chat, text, other as never, signal as never),
  };
  const pollApi: PollApi = {
    getUpdates: (other, signal) =>
      api.getUpdates(other as never, signal as never) as Promise<Update[]>,
  };
  const logger = deps.logger.with({ channel: "telegram" });
  const sender = new TelegramSender(sendApi);
  const render = (md: string) => sender.render(md);
  let chat: ChatService | undefined;
  const poller = new TelegramPoller({
    api: pollApi,
    kv: deps.kv,
    clock: deps.clock,
    logger,
    timeoutSeconds: deps.config.poll_timeout_seconds,
    handle: (update) =>
      handleUpdate(update, {
        config: deps.config,
        dmScope: deps.dmScope,
        chat: chat!,
        pairing: deps.pairing,
        outbox: deps.outbox,
        kick: deps.kick,
        render,
        logger,
      }),
  });
  let unlisten: (() => void) | undefined;
  return {
    sender,
    start(service) {
      chat = service;
      unlisten = deps.events.listen((event, payload) => {
        if (event !== "chat") return;
        answerRun(payload as Parameters<typeof answerRun>[0], {
          outbox: deps.outbox,
          kick: deps.kick,
          render,
          logger,
        }).catch((err) => logger.error("telegram: reply not queued", { error: String(err) }));
      });
      poller.start();
      logger.info("telegram: polling for messages", { dmPolicy: deps.config.dm_policy });
    },
    async stop() {
      unlisten?.();
      await poller.stop();
    },
  };
}

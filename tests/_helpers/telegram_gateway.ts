/** The gateway as a real process with a fake model provider and the fake Telegram Bot API. */
import type { FakeOpenAI } from "../_servers/openai.ts";
import type { FakeTelegram } from "../_servers/telegram.ts";
import { GatewayProcess } from "./gateway_process.ts";

/** The bot token the fake Telegram server accepts in these tests. */
export const TELEGRAM_TEST_TOKEN = "7000000001:AAtest-token";

/**
 * A config with `[providers.fake]` as the model and Telegram polling the fake server every second.
 * `before` goes ahead of `[channels.telegram]` (other tables); `telegram` are more keys in it.
 */
export function telegramConfig(
  provider: FakeOpenAI,
  telegram: FakeTelegram,
  options: { before?: string; telegram?: string } = {},
): string {
  return `[providers.fake]
kind = "openai"
base_url = "${provider.url}"
[agent]
model = "fake/e2e-model"
${options.before ?? ""}
[channels.telegram]
enabled = true
api_root = "${telegram.url}"
${options.telegram ?? "poll_timeout_seconds = 1"}
`;
}

/** Starts the gateway on {@linkcode telegramConfig}, with the bot token in its env. */
export function startWithTelegram(
  provider: FakeOpenAI,
  telegram: FakeTelegram,
  options: { before?: string; telegram?: string; env?: Record<string, string> } = {},
): Promise<GatewayProcess> {
  return GatewayProcess.start({
    config: telegramConfig(provider, telegram, options),
    env: { TELEGRAM_BOT_TOKEN: TELEGRAM_TEST_TOKEN, ...options.env },
  });
}

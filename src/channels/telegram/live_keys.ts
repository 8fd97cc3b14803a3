/**
 * The `[channels.telegram]` keys a config reload applies without a restart: who may talk to the
 * bot and where. The rest (token, mode, API root, drafts, …) is wired into the running channel.
 * A file of its own so the gateway can name them without loading the channel.
 */
export const TELEGRAM_LIVE_KEYS = ["dm_policy", "allow_from", "groups", "require_mention"] as const;

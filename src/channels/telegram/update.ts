/** The parts of Bot API updates this adapter reads (grammY's full types are not needed here). */

/** A Telegram user. */
export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
}

/** A text entity (mentions, commands). */
export interface TgEntity {
  type: string;
  offset: number;
  length: number;
  user?: TgUser;
}

/** A message. */
export interface TgMessage {
  message_id: number;
  chat: { id: number; type: string; title?: string; is_forum?: boolean };
  from?: TgUser;
  text?: string;
  caption?: string;
  entities?: TgEntity[];
  caption_entities?: TgEntity[];
  message_thread_id?: number;
  is_topic_message?: boolean;
  reply_to_message?: { message_id: number; from?: TgUser };
  photo?: { file_id: string; file_size?: number; width: number; height: number }[];
  document?: { file_id: string; file_name?: string; mime_type?: string; file_size?: number };
  [kind: string]: unknown;
}

/** An inline button press. */
export interface TgCallbackQuery {
  id: string;
  from: TgUser;
  data?: string;
  message?: { message_id: number; chat: { id: number } };
}

/** An update. */
export interface Update {
  update_id: number;
  message?: TgMessage;
  callback_query?: TgCallbackQuery;
}

/** Who the bot is (from getMe). */
export interface BotIdentity {
  id: number;
  username: string;
}

/** A user's display name: first and last name. */
export function displayName(user: TgUser): string {
  return [user.first_name, user.last_name].filter(Boolean).join(" ") ||
    (user.username ? `@${user.username}` : String(user.id));
}

/**
 * The Bot API calls this adapter makes, in the API's own parameter names. `mod.ts` adapts a grammY
 * `Api` to it (grammY's option types are stricter than these records); each part takes the
 * calls it needs with `Pick`, so tests can stand in for exactly those.
 */
export interface BotApi {
  sendMessage(
    chat: string,
    text: string,
    other: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{ message_id: number }>;
  editMessageText(
    chat: string,
    messageId: number,
    text: string,
    other: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<unknown>;
  sendChatAction(chat: string, action: "typing", other: Record<string, unknown>): Promise<unknown>;
  answerCallbackQuery(id: string, other: Record<string, unknown>): Promise<unknown>;
}

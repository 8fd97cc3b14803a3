/**
 * Exec approvals on the owner's phone: each `exec.approval.requested` becomes a message in the
 * Telegram owner's private chat with Allow once / Always / Deny buttons; a press by the owner
 * answers it (the first answer anywhere wins), a press by anyone else is refused, and the message
 * is edited to say how the request ended, whoever answered it.
 */
import type {
  ApprovalDecision,
  ApprovalRequest,
  ApprovalResolution,
  Logger,
} from "../../kernel/mod.ts";
import { escapeHtml } from "./format.ts";
import type { BotApi } from "./bot_api.ts";
import type { TgCallbackQuery } from "./update.ts";

/** The Bot API calls approvals make. */
export type ApprovalApi = Pick<BotApi, "sendMessage" | "editMessageText" | "answerCallbackQuery">;

/** Options of {@linkcode TelegramApprovals}. */
export interface TelegramApprovalsOptions {
  api: ApprovalApi;
  /** The Telegram owner's user id (their private chat has the same id), if paired. */
  owner: () => Promise<string | undefined>;
  resolve: (id: string, decision: ApprovalDecision, by: string) => Promise<unknown>;
  logger: Logger;
}

const DECISIONS: Record<string, ApprovalDecision> = {
  o: "allow-once",
  a: "allow-always",
  d: "deny",
};

const ENDED: Record<ApprovalResolution["decision"], string> = {
  "allow-once": "✅ Allowed once",
  "allow-always": "✅ Always allowed",
  "deny": "❌ Denied",
  "timeout": "⌛ Not answered in time: denied",
  "aborted": "⏹ The turn ended before an answer",
};

/** Approval prompts in Telegram; one per channel. */
export class TelegramApprovals {
  #o: TelegramApprovalsOptions;
  /** Prompts sent, by approval id. */
  #sent = new Map<string, { chat: string; messageId: number; text: string }>();

  constructor(options: TelegramApprovalsOptions) {
    this.#o = options;
  }

  /** Feeds gateway events; sends or closes prompts. */
  onEvent(name: string, payload: unknown): void {
    if (name === "exec.approval.requested") {
      this.#ask(payload as ApprovalRequest).catch((err) =>
        this.#o.logger.warn("telegram: approval prompt not sent", { error: String(err) })
      );
    } else if (name === "exec.approval.resolved") {
      this.#close(payload as ApprovalResolution).catch(() => {});
    }
  }

  /** A button press: only the owner's count. */
  async pressed(query: TgCallbackQuery): Promise<void> {
    const { api, logger } = this.#o;
    const answer = (text: string) =>
      api.answerCallbackQuery(query.id, { text }).catch(() => {}) as Promise<unknown>;
    const m = /^ap:([oad]):(.+)$/.exec(query.data ?? "");
    const decision = m ? DECISIONS[m[1]] : undefined;
    if (!m || !decision) return void await answer("This button is no longer used.");
    const owner = await this.#o.owner();
    if (!owner || String(query.from.id) !== owner) {
      logger.warn("telegram: an approval button was pressed by someone who is not the owner", {
        user: String(query.from.id),
      });
      return void await answer("Only the owner can answer approvals.");
    }
    try {
      await this.#o.resolve(m[2], decision, `telegram:${owner}`);
      await answer(ENDED[decision]);
    } catch (err) {
      await answer(err instanceof Error ? err.message.slice(0, 190) : "Not answered.");
    }
  }

  async #ask(r: ApprovalRequest): Promise<void> {
    const owner = await this.#o.owner();
    if (!owner) return;
    const what = r.argv
      ? `<pre>${escapeHtml(r.argv.join(" "))}</pre>` +
        (r.program ? `\nprogram: <code>${escapeHtml(r.program)}</code>` : "") +
        (r.cwd ? `\nin: <code>${escapeHtml(r.cwd)}</code>` : "")
      : `${escapeHtml(r.summary)}\n<pre>${
        escapeHtml(JSON.stringify(r.args ?? {}, null, 1).slice(0, 1500))
      }</pre>` +
        (r.digest
          ? `\nThe answer covers exactly these arguments (sha256 ${r.digest.slice(0, 12)}…).`
          : "");
    const minutes = Math.max(1, Math.round((r.expiresAt - Date.now()) / 60_000));
    const text = `🔐 <b>${escapeHtml(r.tool)}</b> wants to run (${escapeHtml(r.sessionKey)}):\n` +
      `${what}\nNo answer within ${minutes} min is a deny.`;
    const sent = await this.#o.api.sendMessage(owner, text, {
      parse_mode: "HTML",
      reply_markup: {
        inline_keyboard: [[
          { text: "Allow once", callback_data: `ap:o:${r.id}` },
          { text: "Always", callback_data: `ap:a:${r.id}` },
          { text: "Deny", callback_data: `ap:d:${r.id}` },
        ]],
      },
    });
    this.#sent.set(r.id, { chat: owner, messageId: sent.message_id, text });
  }

  async #close(resolution: ApprovalResolution): Promise<void> {
    const prompt = this.#sent.get(resolution.id);
    if (!prompt) return;
    this.#sent.delete(resolution.id);
    const by = resolution.by ? ` (${escapeHtml(resolution.by)})` : "";
    await this.#o.api.editMessageText(
      prompt.chat,
      prompt.messageId,
      `${prompt.text}\n\n<b>${ENDED[resolution.decision]}</b>${by}`,
      { parse_mode: "HTML" },
    );
  }
}

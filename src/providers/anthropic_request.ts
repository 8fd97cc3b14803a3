/**
 * A provider-neutral {@linkcode ModelRequest} as Anthropic Messages API parameters: strictly
 * alternating roles, tool calls and results as content blocks, thinking when it is safe to ask.
 */
import type { Anthropic } from "@anthropic-ai/sdk";
import type { ModelMessage, ModelRequest, ReasoningBlock } from "../kernel/mod.ts";

/** The output cap when the request sets none: the API requires `max_tokens`. */
export const DEFAULT_MAX_TOKENS = 4096;
/** The smallest extended-thinking budget the API accepts. */
export const MIN_THINKING_TOKENS = 1024;

type Block = Anthropic.ContentBlockParam;
type Message = { role: "user" | "assistant"; content: Block[] };

/** The streaming request for `request`. */
export function toAnthropicParams(request: ModelRequest): Anthropic.MessageCreateParamsStreaming {
  const cap = request.maxTokens ?? DEFAULT_MAX_TOKENS;
  let budget = (request.thinkingTokens ?? 0) >= MIN_THINKING_TOKENS
    ? request.thinkingTokens
    : undefined;
  let messages = toAnthropicMessages(request.messages, budget !== undefined);
  if (budget !== undefined && !loopStartsWithThinking(messages)) {
    // With thinking on, the API rejects a request whose running tool loop began with an
    // assistant message that carries no signed thinking block: another provider made those
    // calls mid-turn, or thinking was off for them. Such a request goes without thinking.
    budget = undefined;
    messages = toAnthropicMessages(request.messages, false);
  }
  return {
    model: request.model,
    // The thinking budget counts against max_tokens, so the answer keeps its own cap on top.
    max_tokens: budget === undefined ? cap : budget + cap,
    messages,
    stream: true,
    ...(request.system ? { system: request.system } : {}),
    ...(request.tools?.length
      ? {
        tools: request.tools.map((t) => ({
          name: t.name,
          description: t.description,
          input_schema: t.parameters as Anthropic.Tool.InputSchema,
        })),
      }
      : {}),
    ...(budget !== undefined ? { thinking: { type: "enabled", budget_tokens: budget } } : {}),
  };
}

/**
 * Whether the tool loop still running at the end of `messages` (assistant tool calls answered by
 * tool results, perhaps several rounds) starts with a thinking block, as the API requires when
 * thinking is on; true when no loop is running. Loops that ended earlier in the conversation do
 * not count (their reasoning is never stored), so one round without thinking costs only the rest
 * of its own turn.
 */
function loopStartsWithThinking(messages: Message[]): boolean {
  const has = (m: Message | undefined, role: Message["role"], type: Block["type"]) =>
    m?.role === role && m.content.some((b) => b.type === type);
  let start = messages.length - 2;
  if (
    !has(messages[start + 1], "user", "tool_result") ||
    !has(messages[start], "assistant", "tool_use")
  ) {
    return true;
  }
  while (
    has(messages[start - 1], "user", "tool_result") &&
    has(messages[start - 2], "assistant", "tool_use")
  ) start -= 2;
  const first = messages[start].content[0]?.type;
  return first === "thinking" || first === "redacted_thinking";
}

/**
 * The messages in the API's shape. Consecutive messages of one role are merged (the API wants
 * user and assistant to alternate; tool results travel in a user message), and empty ones are
 * dropped (it refuses empty content).
 */
function toAnthropicMessages(messages: ModelMessage[], thinking: boolean): Message[] {
  const out: Message[] = [];
  const push = (role: Message["role"], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    switch (m.role) {
      case "user":
        push("user", m.text.trim() ? [{ type: "text", text: m.text }] : []);
        break;
      case "assistant": {
        const blocks: Block[] = [];
        if (thinking) {
          for (const r of m.reasoning ?? []) {
            const block = reasoningBlock(r);
            if (block) blocks.push(block);
          }
        }
        if (m.text.trim()) blocks.push({ type: "text", text: m.text });
        for (const call of m.toolCalls ?? []) {
          blocks.push({
            type: "tool_use",
            id: toolUseId(call.id),
            name: call.name,
            input: toolInput(call.arguments),
          });
        }
        push("assistant", blocks);
        break;
      }
      case "tool":
        push(
          "user",
          m.results.map((r) => ({
            type: "tool_result",
            tool_use_id: toolUseId(r.callId),
            ...(r.content ? { content: r.content } : {}),
            is_error: r.isError,
          })),
        );
        break;
    }
  }
  // A merge can put text ahead of tool results, or thinking after text; the API wants tool
  // results first in a user message and thinking first in an assistant message.
  for (const m of out) m.content.sort((a, b) => leads(b) - leads(a));
  return out;
}

function leads(block: Block): number {
  return block.type === "tool_result" || block.type === "thinking" ||
      block.type === "redacted_thinking"
    ? 1
    : 0;
}

/** A reasoning block the API will take back, or undefined (it needs a signature or the data). */
function reasoningBlock(r: ReasoningBlock): Block | undefined {
  if (r.redacted) return { type: "redacted_thinking", data: r.redacted };
  if (r.signature && r.text !== undefined) {
    return { type: "thinking", thinking: r.text, signature: r.signature };
  }
  return undefined;
}

const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;

/**
 * A tool-call id the API accepts (`^[a-zA-Z0-9_-]+$`). Ids from other providers may hold other
 * characters; they are mapped deterministically, so a call and its result still match, with a
 * hash of the original so two ids differing only in those characters stay apart.
 */
export function toolUseId(id: string): string {
  if (TOOL_USE_ID.test(id)) return id;
  return `${id.replace(/[^a-zA-Z0-9_-]/g, "_")}_${fnv1a(id)}`;
}

/** 32-bit FNV-1a of a string, in hex: short, stable and synchronous. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** The call's arguments as the object `tool_use.input` must be; invalid JSON becomes `{}`. */
function toolInput(args: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(args);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // The model wrote invalid JSON; the tool already reported that in its result.
  }
  return {};
}

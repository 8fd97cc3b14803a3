/**
 * Request validation of the fake Anthropic server: the rules the real Messages API enforces and
 * answers with 400 invalid_request_error, so translation bugs fail tests the way they would fail
 * in production.
 */
import type { MessagesRequestBody } from "./anthropic.ts";
const TOOL_ID = /^[a-zA-Z0-9_-]+$/;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

type Block = Record<string, unknown>;

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The blocks of a message's content; a string is one text block. */
export const blocksOf = (content: unknown): Block[] =>
  typeof content === "string"
    ? [{ type: "text", text: content }]
    : Array.isArray(content)
    ? content.filter(isObject)
    : [];

export const textOf = (content: unknown): string =>
  blocksOf(content).map((b) => (b.type === "text" && typeof b.text === "string" ? b.text : ""))
    .join("");

export const isToolResultsOnly = (content: unknown): boolean =>
  Array.isArray(content) && content.length > 0 &&
  content.every((b) => isObject(b) && b.type === "tool_result");

/** Problems of one `text` block at `at`, or null. */
function textBlockProblem(block: Block, at: string): string | null {
  if (typeof block.text !== "string") return `${at}.text: Input should be a valid string`;
  if (block.text === "") return `${at}.text: text content blocks must be non-empty`;
  if (block.text.trim() === "") {
    return `${at}.text: text content blocks must contain non-whitespace text`;
  }
  return null;
}

/** Problems of one content block of a message with `role`, or null. */
function blockProblem(block: unknown, role: string, at: string): string | null {
  if (!isObject(block)) return `${at}: Input should be a valid dictionary`;
  const only = (r: string) => `${at}: \`${block.type}\` blocks can only be in \`${r}\` messages`;
  switch (block.type) {
    case "text":
      return textBlockProblem(block, at);
    case "image":
    case "document":
      return isObject(block.source) ? null : `${at}.source: Field required`;
    case "tool_use":
      if (role !== "assistant") return only("assistant");
      if (typeof block.id !== "string") return `${at}.id: Field required`;
      if (!TOOL_ID.test(block.id)) {
        return `${at}.id: String should match pattern '${TOOL_ID.source}'`;
      }
      if (typeof block.name !== "string") return `${at}.name: Field required`;
      return isObject(block.input) ? null : `${at}.input: Input should be a valid dictionary`;
    case "tool_result": {
      if (role !== "user") return only("user");
      if (typeof block.tool_use_id !== "string") return `${at}.tool_use_id: Field required`;
      if (!TOOL_ID.test(block.tool_use_id)) {
        return `${at}.tool_use_id: String should match pattern '${TOOL_ID.source}'`;
      }
      if (block.is_error !== undefined && typeof block.is_error !== "boolean") {
        return `${at}.is_error: Input should be a valid boolean`;
      }
      const content = block.content;
      if (content === undefined || typeof content === "string") return null;
      if (!Array.isArray(content)) return `${at}.content: Input should be a valid list`;
      for (const [k, inner] of content.entries()) {
        if (!isObject(inner) || !["text", "image", "document"].includes(String(inner.type))) {
          return `${at}.content.${k}: Input tag '${
            isObject(inner) ? inner.type : inner
          }' found using 'type' does not match any of the expected tags: 'text', 'image', 'document'`;
        }
        const problem = blockProblem(inner, role, `${at}.content.${k}`);
        if (problem) return problem;
      }
      return null;
    }
    case "thinking":
      if (role !== "assistant") return only("assistant");
      if (typeof block.thinking !== "string") return `${at}.thinking: Field required`;
      return typeof block.signature === "string" ? null : `${at}.signature: Field required`;
    case "redacted_thinking":
      if (role !== "assistant") return only("assistant");
      return typeof block.data === "string" ? null : `${at}.data: Field required`;
    default:
      return `${at}: Input tag '${block.type}' found using 'type' does not match any of the ` +
        "expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', " +
        "'redacted_thinking'";
  }
}

/** Problems of `tools`, or null. */
function toolsProblem(tools: unknown): string | null {
  if (!Array.isArray(tools)) return "tools: Input should be a valid list";
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    const at = `tools.${i}`;
    if (!isObject(tool)) return `${at}: Input should be a valid dictionary`;
    if (typeof tool.name !== "string") return `${at}.name: Field required`;
    if (names.has(tool.name)) return `tools: Tool names must be unique. Duplicate: ${tool.name}`;
    names.add(tool.name);
    // Server tools (web search and the like) carry a versioned `type`; only custom tools are checked.
    if (tool.type !== undefined && tool.type !== "custom") continue;
    if (!TOOL_NAME.test(tool.name)) {
      return `${at}.custom.name: String should match pattern '${TOOL_NAME.source}'`;
    }
    if (tool.description !== undefined && typeof tool.description !== "string") {
      return `${at}.custom.description: Input should be a valid string`;
    }
    if (tool.input_schema === undefined) return `${at}.custom.input_schema: Field required`;
    if (!isObject(tool.input_schema)) {
      return `${at}.custom.input_schema: Input should be a valid dictionary`;
    }
    if (tool.input_schema.type !== "object") {
      return `${at}.custom.input_schema.type: Input should be 'object'`;
    }
  }
  return null;
}

/** Problems of `thinking` given `max_tokens`, or null. */
function thinkingProblem(thinking: unknown, maxTokens: number): string | null {
  if (!isObject(thinking)) return "thinking: Input should be a valid dictionary";
  if (thinking.type === "disabled" || thinking.type === "adaptive") return null;
  if (thinking.type !== "enabled") {
    return `thinking: Input tag '${thinking.type}' found using 'type' does not match any of the ` +
      "expected tags: 'enabled', 'disabled', 'adaptive'";
  }
  const budget = thinking.budget_tokens;
  if (budget === undefined) return "thinking.enabled.budget_tokens: Field required";
  if (!Number.isInteger(budget)) {
    return "thinking.enabled.budget_tokens: Input should be a valid integer";
  }
  if ((budget as number) < 1024) {
    return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024";
  }
  if ((budget as number) >= maxTokens) {
    return "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our " +
      "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking";
  }
  return null;
}

/**
 * What the real API would reject in `body`, as its 400 message, or null. Beyond the shapes of
 * fields and blocks: the first message is the user's; only the final assistant message may be
 * empty and it may not end in whitespace; every `tool_use` is answered by a `tool_result` in the
 * next message, which holds its results before any other block; every `tool_result` answers a
 * `tool_use` of the message just before; `tool_use` ids are unique; and with thinking on, the
 * assistant turn of a pending tool loop starts with its thinking block.
 */
export function requestProblem(body: MessagesRequestBody): string | null {
  if (body.model === undefined) return "model: Field required";
  if (typeof body.model !== "string" || body.model === "") {
    return "model: Input should be a valid string";
  }
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined) return "max_tokens: Field required";
  if (!Number.isInteger(maxTokens)) return "max_tokens: Input should be a valid integer";
  if (maxTokens < 1) return "max_tokens: Input should be greater than or equal to 1";
  if (body.system !== undefined && typeof body.system !== "string") {
    if (!Array.isArray(body.system)) return "system: Input should be a valid list";
    for (const [i, block] of body.system.entries()) {
      if (!isObject(block) || block.type !== "text") {
        return `system.${i}: Input should be a text block`;
      }
      const problem = textBlockProblem(block, `system.${i}`);
      if (problem) return problem;
    }
  }
  if (body.tools !== undefined) {
    const problem = toolsProblem(body.tools);
    if (problem) return problem;
  }
  if (body.thinking !== undefined) {
    const problem = thinkingProblem(body.thinking, maxTokens);
    if (problem) return problem;
  }

  const messages = body.messages;
  if (messages.length === 0) return "messages: at least one message is required";
  const seenToolUse = new Set<string>();
  for (const [i, m] of messages.entries()) {
    const at = `messages.${i}`;
    if (!isObject(m)) return `${at}: Input should be a valid dictionary`;
    if (m.role !== "user" && m.role !== "assistant") {
      return `${at}.role: Input should be 'user' or 'assistant'`;
    }
    if (i === 0 && m.role !== "user") return 'messages: first message must use the "user" role';
    const last = i === messages.length - 1;
    const { content } = m;
    if (typeof content !== "string" && !Array.isArray(content)) {
      return `${at}.content: Input should be a valid string or list`;
    }
    if (content.length === 0) {
      if (last && m.role === "assistant") continue;
      return `${at}: all messages must have non-empty content except for the optional final ` +
        "assistant message";
    }
    if (typeof content === "string") {
      if (content.trim() === "" && !(last && m.role === "assistant")) {
        return `${at}.content: text content blocks must contain non-whitespace text`;
      }
    } else {
      for (const [j, block] of content.entries()) {
        const problem = blockProblem(block, m.role, `${at}.content.${j}`);
        if (problem) return problem;
      }
    }
    const blocks = blocksOf(content);
    const tail = blocks.at(-1);
    if (last && m.role === "assistant" && tail?.type === "text" && /\s$/.test(String(tail.text))) {
      return "messages: final assistant content cannot end with trailing whitespace";
    }
    const uses = blocks.filter((b) => b.type === "tool_use").map((b) => b.id as string);
    for (const id of uses) {
      if (seenToolUse.has(id)) return `${at}: \`tool_use\` ids must be unique: ${id}`;
      seenToolUse.add(id);
    }
    if (uses.length) {
      const next = messages[i + 1];
      const answered = new Set(
        next?.role === "user"
          ? blocksOf(next.content).filter((b) => b.type === "tool_result").map((b) => b.tool_use_id)
          : [],
      );
      const missing = uses.filter((id) => !answered.has(id));
      if (missing.length) {
        return `${at}: \`tool_use\` ids were found without \`tool_result\` blocks immediately ` +
          `after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding ` +
          "`tool_result` block in the next message.";
      }
    }

    if (m.role !== "user") continue;
    const previous = messages[i - 1];
    const offered = new Set(
      previous?.role === "assistant"
        ? blocksOf(previous.content).filter((b) => b.type === "tool_use").map((b) => b.id)
        : [],
    );
    let other = false;
    for (const [j, b] of blocks.entries()) {
      if (b.type !== "tool_result") {
        other = true;
        continue;
      }
      if (other) {
        return `${at}.content.${j}: \`tool_result\` blocks must come first in a user message, ` +
          "before any other content";
      }
      if (!offered.has(b.tool_use_id)) {
        return `${at}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ` +
          `${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` ` +
          "block in the previous message.";
      }
    }
  }

  const thinkingType = isObject(body.thinking) ? body.thinking.type : undefined;
  if (thinkingType === "enabled" || thinkingType === "adaptive") return thinkingLoopProblem(body);
  return null;
}

/**
 * With thinking on, a tool loop still running (the last message holds tool results) must have
 * its first assistant message start with a thinking block: the signature proves the model's
 * reasoning is passed back unchanged.
 */
function thinkingLoopProblem(body: MessagesRequestBody): string | null {
  const { messages } = body;
  const hasToolUse = (i: number) =>
    messages[i]?.role === "assistant" &&
    blocksOf(messages[i].content).some((b) => b.type === "tool_use");
  let start = messages.length - 2;
  if (!isToolResultsOnly(messages.at(-1)?.content) || !hasToolUse(start)) return null;
  while (isToolResultsOnly(messages[start - 1]?.content) && hasToolUse(start - 2)) start -= 2;
  const first = blocksOf(messages[start].content)[0];
  if (first?.type === "thinking" || first?.type === "redacted_thinking") return null;
  return `messages.${start}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but ` +
    `found \`${first?.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must ` +
    "start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` " +
    "blocks). We recommend you include thinking blocks from previous turns. To avoid this " +
    "requirement, disable `thinking`.";
}

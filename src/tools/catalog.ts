/** The built-in tools by name and group: what policy and permissions reason about before any is built. */
import type { ToolGroup } from "../kernel/mod.ts";

/** Every built-in tool with its group, in the order they are offered. */
export const BUILTIN_TOOLS: readonly { name: string; group: ToolGroup }[] = [
  { name: "time_now", group: "session" },
  { name: "session_status", group: "session" },
  { name: "read", group: "fs" },
  { name: "write", group: "fs" },
  { name: "edit", group: "fs" },
  { name: "list", group: "fs" },
  { name: "exec", group: "runtime" },
  { name: "web_fetch", group: "web" },
  { name: "message", group: "messaging" },
  { name: "cron", group: "session" },
];

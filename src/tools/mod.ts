/**
 * @module
 * Tools the model may call: the registry and the built-in tools.
 */
export { MAX_RESULT_CHARS, ToolRegistry } from "./registry.ts";
export { timeNowTool } from "./builtin/time_now.ts";
export { sessionStatusTool } from "./builtin/session_status.ts";

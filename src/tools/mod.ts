/**
 * @module
 * Tools the model may call: the registry and the built-in tools.
 */
export { MAX_RESULT_CHARS, type ToolGate, ToolRegistry } from "./registry.ts";
export { ApprovalBroker, type ApprovalOutcome } from "./approvals.ts";
export {
  DEFAULT_MODES,
  type Origin,
  originOf,
  PROFILE_GROUPS,
  type ToolDecision,
  type ToolMode,
  ToolPolicy,
} from "./policy.ts";
export { ToolRunner } from "./runner.ts";
export { OutsideWorkspace, Workspace } from "./workspace.ts";
export { BUILTIN_TOOLS } from "./catalog.ts";
export { timeNowTool } from "./builtin/time_now.ts";
export { sessionStatusTool } from "./builtin/session_status.ts";

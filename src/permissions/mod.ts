/**
 * @module
 * Deno permissions as the outer fence: what a config needs, the flags that grant it, and the
 * start-up check that disables what was not granted.
 */
export {
  ANTHROPIC_SDK_ENV,
  DEFAULT_BASE_URL,
  gatewayNeeds,
  missingNeeds,
  type Need,
  needFlag,
  netHost,
  OWN_ENV,
  toFlags,
} from "./needs.ts";
export { reachableTools, type ToolNeed, toolNeeds } from "./tool_needs.ts";
export {
  binaryNeeds,
  clientNeeds,
  dropClientGrants,
  SSH_PROGRAM,
  sshOnPath,
  TUNNEL_HOST,
} from "./client_needs.ts";

/**
 * @module
 * Deno permissions as the outer fence: what a config needs, the flags that grant it, and the
 * start-up check that disables what was not granted.
 */
export {
  DEFAULT_BASE_URL,
  gatewayNeeds,
  missingNeeds,
  type Need,
  netHost,
  OWN_ENV,
  toFlags,
} from "./needs.ts";

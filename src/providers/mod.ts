/**
 * @module
 * Model providers: the OpenAI adapter over the `openai` SDK and the registry resolving `<provider>/<model>`.
 */
export { createOpenAIProvider, type OpenAIProviderDeps } from "./openai.ts";
export {
  ProviderRegistry,
  type ProviderRegistryDeps,
  type ProviderResolution,
} from "./registry.ts";

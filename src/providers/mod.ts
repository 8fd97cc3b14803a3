/**
 * @module
 * Model providers: the OpenAI adapter over the `openai` SDK, the Anthropic adapter over
 * `@anthropic-ai/sdk`, and the registry resolving `<provider>/<model>`.
 */
export { type AnthropicProviderDeps, createAnthropicProvider } from "./anthropic.ts";
export { DEFAULT_MAX_TOKENS, toolUseId } from "./anthropic_request.ts";
export { createOpenAIProvider, type OpenAIProviderDeps } from "./openai.ts";
export {
  ProviderRegistry,
  type ProviderRegistryDeps,
  type ProviderResolution,
} from "./registry.ts";

/** The provider registry: resolves `<provider>/<model>` refs to configured providers, built on first use. */
import type { ProviderConfig } from "../config/schema.ts";
import type { ModelRequest, ModelStreamEvent, Provider, StreamOptions } from "../kernel/mod.ts";
import type { AnthropicProviderDeps } from "./anthropic.ts";
import type { OpenAIProviderDeps } from "./openai.ts";

/** What every provider needs from the composition root. */
export type ProviderRegistryDeps = OpenAIProviderDeps & AnthropicProviderDeps;

/** The outcome of {@linkcode ProviderRegistry.resolve}: a provider and model, or why not. */
export type ProviderResolution =
  | { ok: true; provider: Provider; model: string }
  | { ok: false; reason: string };

/** The configured providers by id; each is created on its first resolve and then reused. */
export class ProviderRegistry {
  #configs: Map<string, ProviderConfig>;
  #deps: ProviderRegistryDeps;
  #providers = new Map<string, Provider>();

  constructor(providers: Record<string, ProviderConfig>, deps: ProviderRegistryDeps) {
    // A Map, so refs like "constructor/x" or "__proto__/x" never reach Object.prototype.
    this.#configs = new Map(Object.entries(providers));
    this.#deps = deps;
  }

  /** Resolves `ref` = `<provider>/<model>`; the model keeps any further slashes. */
  resolve(ref: string): ProviderResolution {
    const slash = ref.indexOf("/");
    if (slash <= 0 || slash === ref.length - 1) {
      return {
        ok: false,
        reason: `model "${ref}" must be "<provider>/<model>", for example "openai/gpt-4.1-mini"`,
      };
    }
    const id = ref.slice(0, slash);
    const model = ref.slice(slash + 1);
    const cached = this.#providers.get(id);
    if (cached) return { ok: true, provider: cached, model };

    const config = this.#configs.get(id);
    if (!config) {
      const known = this.ids();
      return {
        ok: false,
        reason: `model "${ref}" names provider "${id}", which is not configured: ` +
          `add [providers.${id}] to the config` +
          (known.length ? ` or use one of: ${known.join(", ")}` : " (no providers are configured)"),
      };
    }
    const provider = this.#create(id, config);
    this.#providers.set(id, provider);
    return { ok: true, provider, model };
  }

  /**
   * Takes a new `[providers]` table (config reload): new ids resolve from now on, removed ones no
   * longer do, and a changed provider is built afresh on its next resolve. Calls already streaming
   * finish on the provider they started with. Returns the ids that were added or changed.
   */
  update(providers: Record<string, ProviderConfig>): string[] {
    const next = new Map(Object.entries(providers));
    const changed: string[] = [];
    for (const [id, config] of next) {
      if (JSON.stringify(this.#configs.get(id)) !== JSON.stringify(config)) changed.push(id);
    }
    for (const id of this.#providers.keys()) {
      if (!next.has(id) || changed.includes(id)) this.#providers.delete(id);
    }
    this.#configs = next;
    return changed;
  }

  /** The configured provider ids, in config order. */
  ids(): string[] {
    return [...this.#configs.keys()];
  }

  /**
   * The provider, with its module (and, on its first call, its SDK) loaded only when a turn
   * first streams through it: a configured fallback that is never used costs no start-up time.
   */
  #create(id: string, config: ProviderConfig): Provider {
    const deps = this.#deps;
    let made: Promise<Provider> | undefined;
    const load = (): Promise<Provider> => {
      made ??= (async () => {
        switch (config.kind) {
          case "openai":
            return (await import("./openai.ts")).createOpenAIProvider(id, config, deps);
          case "anthropic":
            return (await import("./anthropic.ts")).createAnthropicProvider(id, config, deps);
          default: {
            const kind: never = config.kind;
            throw new Error(`provider ${id}: unknown kind "${kind}"`);
          }
        }
      })();
      return made;
    };
    return {
      id,
      kind: config.kind,
      async *stream(
        request: ModelRequest,
        signal: AbortSignal,
        options?: StreamOptions,
      ): AsyncGenerator<ModelStreamEvent> {
        yield* (await load()).stream(request, signal, options);
      },
    };
  }
}

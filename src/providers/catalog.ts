/** The models a gateway is configured with, whether each can be used, and its cooldown: `models.list`. */
import type { Clock, ModelResolver } from "../kernel/mod.ts";
import type { CooldownBook } from "./cooldown.ts";

/** One model as `models.list` shows it. */
export interface ModelView {
  ref: string;
  /** `primary` and `fallback` come from `[agent]`; `other` is a model only a session or a cooldown names. */
  role: "primary" | "fallback" | "other";
  provider: string;
  /** Whether the provider is configured and enabled (granted its host and key). */
  available: boolean;
  /** Why not, when it is not available. */
  reason?: string;
  cooldown: { until: number; remainingMs: number; reason: string; failures: number } | null;
}

/** Options of {@linkcode ModelCatalog}. */
export interface ModelCatalogOptions {
  primary?: string;
  fallbacks: string[];
  models: ModelResolver;
  cooldowns: CooldownBook;
  clock: Clock;
}

const REF = /^[a-z0-9_-]+\/\S+$/;

/** What models exist for this gateway and how each is doing. */
export class ModelCatalog {
  #o: ModelCatalogOptions;

  constructor(options: ModelCatalogOptions) {
    this.#o = options;
  }

  /** Takes a new configured chain (config reload). */
  setChain(primary: string | undefined, fallbacks: string[]): void {
    this.#o = { ...this.#o, primary, fallbacks };
  }

  /** The configured chain, in order. */
  chain(): string[] {
    const { primary, fallbacks } = this.#o;
    return primary ? [...new Set([primary, ...fallbacks])] : [];
  }

  /** The chain first, then any other model with a cooldown running (`extra` adds more, e.g. session picks). */
  list(extra: string[] = []): ModelView[] {
    const chain = this.chain();
    const refs = [...new Set([...chain, ...extra, ...this.#o.cooldowns.activeRefs()])];
    return refs.map((ref) => {
      const r = this.#o.models.resolve(ref);
      const cd = this.#o.cooldowns.active(ref);
      return {
        ref,
        role: ref === chain[0] ? "primary" : chain.includes(ref) ? "fallback" : "other",
        provider: ref.slice(0, ref.indexOf("/")),
        available: r.ok,
        ...(r.ok ? {} : { reason: r.reason }),
        cooldown: cd
          ? {
            until: cd.until,
            remainingMs: cd.until - this.#o.clock.now(),
            reason: cd.reason,
            failures: cd.failures,
          }
          : null,
      };
    });
  }

  /** Why `ref` cannot be picked for a session, or undefined when it can. */
  problem(ref: string): string | undefined {
    if (!REF.test(ref)) {
      return `"${ref}" is not "<provider>/<model>", for example "openai/gpt-4.1-mini"`;
    }
    const r = this.#o.models.resolve(ref);
    return r.ok ? undefined : r.reason;
  }
}

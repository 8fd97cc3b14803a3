/**
 * Config reload: read the config again (on SIGHUP, on a saved edit, or when asked), apply what
 * the running parts can take live, name what only a restart applies, and refuse an invalid edit
 * while the gateway keeps running on the last good config. One log line per reload says which.
 */
import { changedKeys, keyUnder, type LoadedConfig } from "../config/mod.ts";
import { ConfigError, type Logger, Tally } from "../kernel/mod.ts";

/** A part of the running gateway that takes some config keys without a restart. */
export interface LivePart {
  /** Its name in the log line: `tools`, `agent`, `providers`, `channels.telegram`. */
  name: string;
  /** The dotted keys it applies; a changed key counts when it is one of them or lies under one. */
  keys: readonly string[];
  /**
   * Applies `next`. Returns restart notes for what it could not apply after all, such as a tool
   * the new config turns on whose Deno permissions were not granted (`tools.exec (permissions)`).
   */
  apply(next: LoadedConfig): string[] | void;
}

/** What started a reload. */
export type ReloadTrigger = "SIGHUP" | "file" | "request";

/** The outcome of one reload. */
export interface ReloadReport {
  /** `applied`: something changed (live, or waiting for a restart); `unchanged`; `rejected`: invalid. */
  outcome: "applied" | "unchanged" | "rejected";
  /** The live parts that took the new config. */
  applied: string[];
  /** Keys (and notes) whose new values only a restart applies, counted from the start-up config. */
  restartNeeded: string[];
  /** Why the edit was rejected. */
  error?: string;
  /** The one line that was logged. */
  line: string;
}

/** Options of {@linkcode ConfigReloader}. */
export interface ConfigReloaderOptions {
  /** The config the gateway started with. */
  initial: LoadedConfig;
  /** Reads and validates the config as `start` did; throws ConfigError for an invalid one. */
  load: () => Promise<LoadedConfig>;
  /** The live parts, applied in this order. */
  parts: LivePart[];
  logger: Logger;
}

/** Reloads the config, one reload at a time; one per gateway. */
export class ConfigReloader {
  /** Reloads by outcome (`/metrics`). */
  readonly reloads = new Tally(["result"] as const);
  #o: ConfigReloaderOptions;
  #current: LoadedConfig;
  #notes = new Map<string, string[]>();
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ConfigReloaderOptions) {
    this.#o = options;
    this.#current = options.initial;
    for (const result of ["applied", "unchanged", "rejected"]) this.reloads.add({ result }, 0);
  }

  /** The last good config: the start-up one, or the last valid edit. */
  get current(): LoadedConfig {
    return this.#current;
  }

  /** What the running gateway does not apply until it restarts: changed keys, then notes. */
  restartNeeded(): string[] {
    const keys = changedKeys(this.#o.initial.config, this.#current.config)
      .filter((k) => !this.#partFor(k));
    return [...new Set([...keys, ...[...this.#notes.values()].flat()])];
  }

  /** Reads the config again and applies it; waits for a reload already running first. Never rejects. */
  reload(trigger: ReloadTrigger): Promise<ReloadReport> {
    const run = this.#chain.then(() => this.#reload(trigger)).catch((err): ReloadReport => {
      const line = `config reload failed: ${(err as Error)?.message ?? err}; still running on ` +
        "the last good config";
      this.#o.logger.error(line, { trigger });
      this.reloads.add({ result: "rejected" });
      return { outcome: "rejected", applied: [], restartNeeded: [], error: line, line };
    });
    this.#chain = run;
    return run;
  }

  /** No reload starts after this; resolves once the one running (if any) is over. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
  }

  async #reload(trigger: ReloadTrigger): Promise<ReloadReport> {
    const log = this.#o.logger;
    const fields = { trigger, path: this.#current.path };
    if (this.#closed) {
      return { outcome: "unchanged", applied: [], restartNeeded: [], line: "gateway stopping" };
    }
    let next: LoadedConfig;
    try {
      next = await this.#o.load();
    } catch (err) {
      const error = err instanceof ConfigError
        ? err.problems.join("; ")
        : String((err as Error)?.message ?? err).split("\n")[0];
      const line = `config edit rejected: ${error}; still running on the last good config`;
      log.error(line, fields);
      this.reloads.add({ result: "rejected" });
      return { outcome: "rejected", applied: [], restartNeeded: this.restartNeeded(), error, line };
    }

    const changed = changedKeys(this.#current.config, next.config);
    const touched = new Set(changed.map((k) => this.#partFor(k)).filter((p) => p !== undefined));
    const applied: string[] = [];
    const failed: string[] = [];
    for (const part of this.#o.parts) {
      if (!touched.has(part)) continue;
      try {
        this.#notes.set(part.name, part.apply(next) ?? []);
        applied.push(part.name);
      } catch (err) {
        // A bug, not a bad edit: the part keeps what it had, and a restart applies the rest.
        this.#notes.set(part.name, [`${part.name} (not applied: ${(err as Error).message})`]);
        failed.push(part.name);
      }
    }
    this.#current = next;
    const restartNeeded = this.restartNeeded();
    const outcome = changed.length ? "applied" : "unchanged";
    this.reloads.add({ result: outcome });

    let line = changed.length === 0
      ? "config reloaded: no changes"
      : `config reloaded: ${
        applied.length ? `applied ${applied.join(", ")}` : "nothing to apply live"
      }`;
    if (restartNeeded.length) {
      line += `; restart ${changed.length ? "" : "still "}needed for ${restartNeeded.join(", ")}`;
    }
    if (next.warnings.length) line += `; warnings: ${next.warnings.join("; ")}`;
    if (restartNeeded.length || failed.length || next.warnings.length) log.warn(line, fields);
    // A save that changed nothing (an editor writing twice, a touch) is not worth a line.
    else if (changed.length || trigger !== "file") log.info(line, fields);
    else log.debug(line, fields);
    return { outcome, applied, restartNeeded, line };
  }

  #partFor(key: string): LivePart | undefined {
    return this.#o.parts.find((p) => p.keys.some((k) => keyUnder(key, k)));
  }
}

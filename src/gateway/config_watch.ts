/**
 * Watches the config file for saved edits. The file itself is watched (a service may be granted
 * read access to the file only, not its folder), or its folder while the file does not exist
 * yet. Editors that save by writing a new file and renaming it over the old one, or by deleting
 * and re-creating it, leave the old watch behind, so the watch is renewed after such an event.
 * Bursts of events (one save is often several writes) are folded into one call after a quiet gap.
 */
import { basename, dirname } from "node:path";
import type { Clock, Logger, TimerId } from "../kernel/mod.ts";

/** Options of {@linkcode watchConfigFile}. */
export interface ConfigWatchOptions {
  /** The config file, absolute. */
  path: string;
  /** Called once per burst of changes. */
  onChange: () => void;
  clock: Clock;
  logger: Logger;
  /** Quiet time after the last event before `onChange`. @default 250 */
  debounceMs?: number;
}

/** A running watch. */
export interface ConfigWatch {
  /** What is watched now: the file, its folder, or nothing (it could not be watched). */
  readonly target: string | undefined;
  close(): Promise<void>;
}

/** Kinds that say the file's content may have changed; `access` (a read, ours too) does not. */
const CHANGES = new Set<Deno.FsEvent["kind"]>(["create", "modify", "rename", "remove"]);

/** Starts watching; never throws (a path that cannot be watched is logged once and left). */
export function watchConfigFile(options: ConfigWatchOptions): ConfigWatch {
  return new Watch(options);
}

class Watch implements ConfigWatch {
  target: string | undefined;
  #o: ConfigWatchOptions;
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> = Promise.resolve();
  #timer: TimerId | undefined;
  #renew = false;
  #closed = false;

  constructor(options: ConfigWatchOptions) {
    this.#o = options;
    this.#open(true);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#watcher?.close();
    await this.#loop;
  }

  #open(first: boolean): void {
    const { path, logger } = this.#o;
    const exists = (() => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    })();
    const target = exists ? path : dirname(path);
    try {
      this.#watcher = Deno.watchFs(target, { recursive: false });
      this.target = target;
    } catch (err) {
      this.#watcher = undefined;
      this.target = undefined;
      const why = err instanceof Deno.errors.NotCapable
        ? `the gateway may not read ${target}`
        : (err as Error).message;
      const line = `config file not watched (${why}): send SIGHUP to reload it after an edit`;
      if (first) logger.info(line, { path });
      else logger.warn(line, { path });
      return;
    }
    const watcher = this.#watcher;
    const name = basename(path);
    this.#loop = (async () => {
      try {
        for await (const event of watcher) {
          if (!CHANGES.has(event.kind)) continue;
          if (target !== path && !event.paths.some((p) => basename(p) === name)) continue;
          if (event.kind === "remove" || event.kind === "rename" || target !== path) {
            this.#renew = true;
          }
          this.#schedule();
        }
      } catch (err) {
        if (!this.#closed) logger.warn("config watch ended", { path, error: String(err) });
      }
    })();
  }

  #schedule(): void {
    const { clock, debounceMs = 250 } = this.#o;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = clock.setTimeout(() => this.#fire(), debounceMs);
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    if (this.#renew) {
      this.#renew = false;
      this.#watcher?.close();
      await this.#loop;
      if (this.#closed) return;
      this.#open(false);
    }
    this.#o.onChange();
  }
}

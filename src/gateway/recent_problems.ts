/**
 * The gateway's recent warnings and errors, kept for `status` (the browser page's status panel
 * shows them): a logger that writes through to the real one and remembers the newest lines.
 */
import type { LogFields, Logger } from "../kernel/mod.ts";

/** One remembered line. */
export interface Problem {
  ts: number;
  level: "warn" | "error";
  msg: string;
  /** The line's `error` field, when it has one. */
  error?: string;
}

/** A bounded list of the newest problems, newest last. */
export class RecentProblems {
  #items: Problem[] = [];
  #max: number;

  constructor(max = 20) {
    this.#max = max;
  }

  /** The newest problems, newest last. */
  list(): Problem[] {
    return [...this.#items];
  }

  /** `base`, with its warnings and errors remembered here. */
  wrap(base: Logger, now: () => number, fields: LogFields = {}): Logger {
    const note = (level: Problem["level"], msg: string, extra?: LogFields) => {
      const error = extra?.error ?? fields.error;
      this.#items.push({
        ts: now(),
        level,
        msg,
        ...(error !== undefined ? { error: String(error) } : {}),
      });
      if (this.#items.length > this.#max) this.#items.shift();
    };
    return {
      debug: (msg, f) => base.debug(msg, f),
      info: (msg, f) => base.info(msg, f),
      warn: (msg, f) => (note("warn", msg, f), base.warn(msg, f)),
      error: (msg, f) => (note("error", msg, f), base.error(msg, f)),
      with: (more) => this.wrap(base.with(more), now, { ...fields, ...more }),
    };
  }
}

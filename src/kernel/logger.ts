/** Structured logging: a message plus fields; `runId` and `sessionKey` ride along on every line of a turn. */

/** Log fields: plain JSON-able values. */
export type LogFields = Record<string, unknown>;

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The logger every part receives from the composition root. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** `text` is `ts LEVEL msg k=v …`; `json` is one object per line. @default "text" */
  format?: "text" | "json";
  /** Where lines go. @default a writer to stderr */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();
const stderrWrite = (line: string) => {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
};

function textValue(v: unknown): string {
  if (typeof v === "string") return /[\s="]/.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v) ?? "undefined";
}

/**
 * One JSON object: `ts`, `level` and `msg` first (fields never overwrite them), errors as their
 * message, and a line that still parses when a field cannot be serialised.
 */
function jsonLine(head: LogFields, fields: LogFields): string {
  const line: LogFields = { ...head };
  for (const [k, v] of Object.entries(fields)) if (!(k in head) && v !== undefined) line[k] = v;
  try {
    return JSON.stringify(
      line,
      (_k, v) => v instanceof Error ? v.message : typeof v === "bigint" ? String(v) : v,
    );
  } catch {
    return JSON.stringify({ ...head, fields: "(not serialisable)" });
  }
}

/** A logger writing lines to stderr (or `write`). */
export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const format = options.format ?? "text";
  const write = options.write ?? stderrWrite;
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    const all = fields ? { ...base, ...fields } : base;
    const ts = new Date().toISOString();
    if (format === "json") {
      write(jsonLine({ ts, level, msg }, all));
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
    for (const [k, v] of Object.entries(all)) if (v !== undefined) line += ` ${k}=${textValue(v)}`;
    write(line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (tests, benches). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with: () => silentLogger,
};

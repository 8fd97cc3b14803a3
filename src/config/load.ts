/** Finds, reads, parses and validates the config file, turning every problem into a sentence that says the fix. */
import { join, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { ConfigError } from "../kernel/errors.ts";
import { type Config, configSchema } from "./schema.ts";
import { absolute, type EnvReader, readEnv, resolveHome } from "./home.ts";
import {
  describeUnknownKey,
  findUnknownKeys,
  formatKeyPath,
  isTable,
  type KeyPath,
} from "./unknown_keys.ts";

/** The resolved config and where everything lives. */
export interface LoadedConfig {
  /** The validated config with every default filled in. */
  config: Config;
  /** The Gatehouse home directory, absolute. */
  home: string;
  /** The config file path used, absolute (whether or not it exists). */
  path: string;
  /** Whether the config file existed; `false` means Gatehouse runs on defaults. */
  found: boolean;
  /** Non-fatal problems: unknown keys, values that look like secrets. */
  warnings: string[];
  /** The KV database: an absolute file path, an http(s) KV Connect URL or `:memory:`. */
  storePath: string;
  /** The generated gateway token file, `<home>/token`. */
  tokenPath: string;
  /** `tools.workspace` resolved against the home (not created, not symlink-resolved). */
  workspacePath: string;
  /** Reserved: never set by this loader. */
  deviceDir?: never;
}

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * The config file from `--config`; relative paths resolve against the working directory.
   * @default {env GATEHOUSE_CONFIG, else `<home>/config.toml`}
   */
  path?: string;
  /** Reads an environment variable (pass `safeEnv` in the CLI, a map lookup in tests). */
  env: EnvReader;
}

/** Finds and loads the config: `--config`, else `GATEHOUSE_CONFIG`, else `<home>/config.toml` (missing = defaults). */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const home = resolveHome(options.env);
  const fromEnv = options.path === undefined ? readEnv(options.env, "GATEHOUSE_CONFIG") : undefined;
  const given = options.path ?? fromEnv;
  const source = options.path !== undefined
    ? "--config"
    : fromEnv !== undefined
    ? "GATEHOUSE_CONFIG"
    : undefined;
  const path = given !== undefined ? absolute(given, "config path") : join(home, "config.toml");

  const text = await readConfigText(path, source);
  const { config, warnings } = parseConfig(text ?? "", path);
  return {
    config,
    home,
    path,
    found: text !== undefined,
    warnings,
    storePath: resolveStorePath(config.store.path, home),
    tokenPath: join(home, "token"),
    workspacePath: resolve(home, config.tools.workspace),
  };
}

/** Parses and validates config TOML. Throws a ConfigError listing every problem; unknown keys are only warnings. */
export function parseConfig(text: string, file: string): { config: Config; warnings: string[] } {
  let raw: Record<string, unknown>;
  try {
    // A byte-order mark from a Windows editor is not a syntax error worth failing over.
    raw = parseToml(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new ConfigError([tomlProblem(err)], file);
  }

  const unknown = findUnknownKeys(configSchema, raw).map(describeUnknownKey);
  const result = configSchema.safeParse(raw, { reportInput: true, error: () => ZOD_DEFAULT });
  if (!result.success) {
    // A misspelt key is often why a value is "missing", so show the unknown keys alongside.
    throw new ConfigError(
      [...firstPerKey(result.error.issues).map(describeIssue), ...unknown],
      file,
    );
  }
  return { config: result.data, warnings: [...unknown, ...secretWarnings(raw)] };
}

/** `store.path` against the home; URLs and `:memory:` pass through. */
function resolveStorePath(storePath: string, home: string): string {
  if (storePath === ":memory:" || /^https?:\/\//i.test(storePath)) return storePath;
  return resolve(home, storePath);
}

/** The file's text, or `undefined` when the default path does not exist. */
async function readConfigText(
  path: string,
  source: "--config" | "GATEHOUSE_CONFIG" | undefined,
): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      if (source === undefined) return undefined;
      throw new ConfigError([
        `config file ${path} not found: check ${source} or create it from config.example.toml`,
      ]);
    }
    if (err instanceof Deno.errors.NotCapable) {
      throw new ConfigError([
        `cannot read ${path}: grant --allow-read=${path} (see \`gatehouse permissions\`)`,
      ]);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError([
        `cannot read ${path}: the operating system denied access: check the file's owner and mode`,
      ]);
    }
    if (err instanceof Deno.errors.IsADirectory) {
      throw new ConfigError([`${path} is a directory: point the config path at a .toml file`]);
    }
    throw new ConfigError([`cannot read ${path}: ${firstLine(errorMessage(err))}`]);
  }
}

function tomlProblem(err: unknown): string {
  const reason = firstLine(errorMessage(err).replace(/^Invalid TOML document:\s*/, ""));
  if (err instanceof TomlError) {
    return `line ${err.line}, column ${err.column}: ${reason}: fix the TOML syntax there`;
  }
  return `${reason}: fix the TOML syntax`;
}

/**
 * Returned by the per-parse error map. Messages written in the schema take precedence over it in
 * zod 4, so an issue carrying anything else has a schema author's message worth keeping.
 */
const ZOD_DEFAULT = "\u0000zod-default";

type Issue = z.core.$ZodIssue;

/** One zod issue as one sentence: key path, the bad value quoted, the fix. */
function describeIssue(issue: Issue): string {
  const where = formatKeyPath(issue.path as KeyPath) || "the file";
  const value = issue.input;
  const missing = value === undefined; // TOML has no null or undefined, so this is an absent key
  const custom = issue.message !== ZOD_DEFAULT ? issue.message : undefined;

  switch (issue.code) {
    case "invalid_type":
      if (missing) return `${where}: missing: set it to ${expectedPhrase(issue.expected)}`;
      return `${where}: expected ${expectedPhrase(issue.expected)}, got ${quote(value)} (${
        typeName(value)
      })`;
    case "invalid_value": {
      const options = issue.values.map((v) => quote(v)).join(", ");
      if (custom) return `${where}: ${missing ? "missing" : quote(value)}: ${custom}`;
      if (missing) return `${where}: missing: set it to ${oneOf(issue.values.length)}${options}`;
      return issue.values.length === 1
        ? `${where}: ${quote(value)} is not ${options}`
        : `${where}: ${quote(value)} is not one of ${options}`;
    }
    case "too_big":
      return custom ? `${where}: ${quote(value)}: ${custom}` : `${where}: ${bound(issue, "big")}`;
    case "too_small":
      return custom ? `${where}: ${quote(value)}: ${custom}` : `${where}: ${bound(issue, "small")}`;
    case "invalid_format":
      if (custom) return `${where}: ${quote(value)} ${custom}`;
      if (issue.format === "url") {
        return `${where}: ${
          quote(value)
        } is not a URL: write it in full, like "https://example.com"`;
      }
      if (issue.format === "regex" && issue.pattern) {
        return `${where}: ${quote(value)} does not match the pattern ${issue.pattern}`;
      }
      return `${where}: ${quote(value)} is not a valid ${issue.format}`;
    case "invalid_key": {
      const reasons = issue.issues.map((i) => i.message === ZOD_DEFAULT ? i.code : i.message);
      const key = issue.path.at(-1);
      return `${where}: the key ${quote(key)} is not allowed here (${
        reasons.join("; ")
      }): rename it`;
    }
    case "unrecognized_keys":
      return `${where}: unknown key${issue.keys.length === 1 ? "" : "s"} ${
        issue.keys.join(", ")
      }: remove ${issue.keys.length === 1 ? "it" : "them"}`;
    case "custom":
      return `${where}: ${custom ?? "is not valid"}`;
    default:
      return `${where}: ${custom ?? `${quote(value)} is not valid (${issue.code})`}`;
  }
}

/**
 * One issue per key: zod runs the schema's `superRefine` even after a field check failed, so a
 * malformed `agent.model` would also get a "names provider" complaint built from the bad value.
 */
function firstPerKey(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = JSON.stringify(issue.path.map(String));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function bound(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall, dir: "big" | "small") {
  const limit = "maximum" in issue ? issue.maximum : issue.minimum;
  const word = dir === "big"
    ? (issue.inclusive === false ? "less than" : "at most")
    : (issue.inclusive === false ? "more than" : "at least");
  const value = issue.input;
  switch (issue.origin) {
    case "string": {
      const len = typeof value === "string" ? value.length : undefined;
      if (dir === "small" && limit === 1) return `must not be empty: set a value or remove the key`;
      return `${dir === "big" ? "is too long" : "is too short"} (${
        len ?? "?"
      } characters; ${word} ${limit})`;
    }
    case "array": {
      const len = Array.isArray(value) ? value.length : "?";
      return `has too ${dir === "big" ? "many" : "few"} items (${len}; ${word} ${limit})`;
    }
    default:
      return `${quote(value)} is too ${dir === "big" ? "large" : "small"} (${word} ${limit})`;
  }
}

function expectedPhrase(expected: string): string {
  switch (expected) {
    case "number":
      return "a number";
    case "int":
      return "a whole number";
    case "string":
      return "a string (in quotes)";
    case "boolean":
      return "true or false";
    case "object":
    case "record":
      return "a table";
    case "array":
      return "an array";
    default:
      return `a value of type ${expected}`;
  }
}

function oneOf(n: number): string {
  return n === 1 ? "" : "one of ";
}

/** The type of a TOML value, in TOML's own words. */
function typeName(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value instanceof Date) return "date";
  if (isTable(value)) return "table";
  return typeof value;
}

/** A value as it would be written in TOML, shortened, with anything secret-looking hidden. */
function quote(value: unknown): string {
  if (typeof value === "string") {
    if (looksLikeSecret(value)) return `"${value.slice(0, 3)}…" (redacted)`;
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return "an array";
  if (isTable(value)) return "a table";
  return String(value);
}

/** Something shaped like an API key: `sk-…`, a GitHub or Slack token, at least 20 characters. */
function looksLikeSecret(value: string): boolean {
  return /(?:^|[^A-Za-z0-9])(?:sk-|sk_|ghp_|xox[abp]-)[A-Za-z0-9_-]{17,}/.test(value);
}

/** Warns about every string that looks like a pasted API key: secrets belong in env vars. */
function secretWarnings(raw: unknown, path: KeyPath = []): string[] {
  if (typeof raw === "string") {
    return looksLikeSecret(raw)
      ? [
        `${
          formatKeyPath(path)
        } looks like it contains a secret; reference secrets by env var name (api_key_env)`,
      ]
      : [];
  }
  if (Array.isArray(raw)) return raw.flatMap((v, i) => secretWarnings(v, [...path, i]));
  if (isTable(raw)) return Object.entries(raw).flatMap(([k, v]) => secretWarnings(v, [...path, k]));
  return [];
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0].trim();
}

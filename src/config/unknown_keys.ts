/**
 * Finds keys a config file sets that the schema does not know, by walking the zod schema
 * beside the raw TOML value. zod strips such keys silently; we turn each into a warning.
 */
import { z } from "zod";

/** A key path: table keys and array indexes from the top of the file. */
export type KeyPath = readonly (string | number)[];

/** One key the schema does not know. */
export interface UnknownKey {
  /** Where it is, ending with the unknown key itself. */
  path: KeyPath;
  /** The keys the schema knows at that level. */
  known: string[];
  /** The nearest known key, when it is close enough to be a likely typo. */
  suggestion?: string;
}

/** Writes a key path the way TOML would: `gateway.port`, `providers."my.id"`, `gateway.allowed_origins[0]`. */
export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part);
      out += out ? `.${key}` : key;
    }
  }
  return out;
}

/** The warning for one unknown key. */
export function describeUnknownKey(unknown: UnknownKey): string {
  const where = formatKeyPath(unknown.path);
  if (unknown.suggestion !== undefined) {
    const fix = formatKeyPath([...unknown.path.slice(0, -1), unknown.suggestion]);
    return `unknown key ${where} (did you mean ${fix}?)`;
  }
  return `unknown key ${where} (known keys here: ${unknown.known.join(", ")})`;
}

/** Every key in `value` that `schema` does not know, in file order. Parts of the wrong type are skipped: validation reports those. */
export function findUnknownKeys(schema: z.ZodType, value: unknown): UnknownKey[] {
  const found: UnknownKey[] = [];
  walk(schema, value, [], found);
  return found;
}

/**
 * The leaf key paths of a schema, dotted; a record's keys show as `*` (`providers.*.kind`).
 * Arrays and scalars are leaves.
 */
export function schemaKeyPaths(schema: z.ZodType): string[] {
  const paths: string[] = [];
  collect(schema, "", paths);
  return paths;
}

function walk(schema: z.ZodType, value: unknown, path: KeyPath, found: UnknownKey[]): void {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) {
    if (!isTable(value)) return;
    const shape = s.shape as Record<string, z.ZodType>;
    const known = Object.keys(shape);
    // A loose or catchall object accepts any key, so nothing is unknown there.
    const catchall = s._zod.def.catchall;
    const open = catchall !== undefined && !(catchall instanceof z.ZodNever);
    for (const [key, child] of Object.entries(value)) {
      if (Object.hasOwn(shape, key)) walk(shape[key], child, [...path, key], found);
      else if (!open) found.push({ path: [...path, key], known, suggestion: nearest(key, known) });
    }
  } else if (s instanceof z.ZodRecord) {
    if (!isTable(value)) return;
    for (const [key, child] of Object.entries(value)) {
      walk(s.valueType as z.ZodType, child, [...path, key], found);
    }
  } else if (s instanceof z.ZodArray) {
    if (!Array.isArray(value)) return;
    value.forEach((item, i) => walk(s.element as z.ZodType, item, [...path, i], found));
  }
}

function collect(schema: z.ZodType, prefix: string, paths: string[]): void {
  const s = unwrap(schema);
  const at = (key: string) => (prefix ? `${prefix}.${key}` : key);
  if (s instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(s.shape as Record<string, z.ZodType>)) {
      collect(child, at(key), paths);
    }
  } else if (s instanceof z.ZodRecord) {
    collect(s.valueType as z.ZodType, at("*"), paths);
  } else if (prefix) {
    paths.push(prefix);
  }
}

/** Peels the wrappers that do not change which keys are accepted. `.superRefine` adds a check to the object itself in zod 4, so it needs no peeling. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  // z.lazy is left alone: following it could recurse forever. Bounded for the same reason.
  for (let i = 0; i < 64; i++) {
    if (
      s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional ||
      s instanceof z.ZodNullable || s instanceof z.ZodNonOptional || s instanceof z.ZodReadonly ||
      s instanceof z.ZodCatch
    ) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      // The input side is what the file is written against.
      s = s.in as z.ZodType;
    } else {
      return s;
    }
  }
  return s;
}

/** A TOML table (smol-toml builds them with a null prototype), not an array or a date. */
export function isTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** The known key nearest to `key`, if the distance is small for its length, else one it is a prefix of. */
function nearest(key: string, known: string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(key.length / 2)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (bestDistance <= limit) return best;
  // A key written without its unit suffix (`timeout` for `timeout_seconds`) is far in edits but obvious.
  if (key.length < 3) return undefined;
  return known.find((candidate) => candidate.toLowerCase().startsWith(key.toLowerCase()));
}

/** Optimal string alignment distance: Levenshtein plus adjacent swaps, so `prot` is one edit from `port`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => {
    const row = new Array<number>(cols).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j < cols; j++) d[0][j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[rows - 1][cols - 1];
}

/** Which keys of the config changed: what a reload compares to decide what to apply and what waits for a restart. */

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * The dotted key paths whose values differ between two parsed configs, in the order the keys
 * appear: tables are compared key by key (a table added or removed is one path, such as
 * `providers.local`), anything else, arrays included, as a whole value.
 */
export function changedKeys(before: unknown, after: unknown, path: string[] = []): string[] {
  if (isTable(before) && isTable(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) => changedKeys(before[k], after[k], [...path, k]));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [path.join(".")];
}

/** Whether `key` is `prefix` or lies under it (`tools.modes.exec` is under `tools.modes`). */
export function keyUnder(key: string, prefix: string): boolean {
  return key === prefix || key.startsWith(`${prefix}.`);
}

/** Counts by label values (the `/metrics` counters): bounded, so labels fed by user input cannot grow it without end. */

/** One counted series. */
export interface TallyEntry<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/** Label value that collects the series past the cap. */
export const TALLY_OVERFLOW = "other";

/**
 * A set of counters keyed by label values. Past `maxSeries` distinct label sets, new ones count
 * under {@linkcode TALLY_OVERFLOW} in every label (a session may pick any model name, and each
 * would otherwise be kept for the life of the process).
 */
export class Tally<L extends string> {
  #counts = new Map<string, number>();

  /** @param maxSeries distinct label sets kept before new ones are folded together. @default 200 */
  constructor(readonly labels: readonly L[], readonly maxSeries = 200) {}

  /** Adds `n` (default 1) to the series `values`. */
  add(values: Record<L, string>, n = 1): void {
    let key = this.#key(values);
    if (!this.#counts.has(key) && this.#counts.size >= this.maxSeries) {
      key = JSON.stringify(this.labels.map(() => TALLY_OVERFLOW));
    }
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + n);
  }

  /** The count of one series (0 when never counted). */
  get(values: Record<L, string>): number {
    return this.#counts.get(this.#key(values)) ?? 0;
  }

  /** Every series counted so far, in first-counted order. */
  entries(): TallyEntry<L>[] {
    return [...this.#counts].map(([key, value]) => {
      const parts = JSON.parse(key) as string[];
      const labels = {} as Record<L, string>;
      this.labels.forEach((l, i) => labels[l] = parts[i]);
      return { labels, value };
    });
  }

  #key(values: Record<L, string>): string {
    return JSON.stringify(this.labels.map((l) => values[l]));
  }
}

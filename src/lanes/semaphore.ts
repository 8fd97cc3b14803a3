/** A counting semaphore with a FIFO wait list: the global cap on turns running at once. */

/** Grants at most `limit` holders at a time, in request order. */
export class Semaphore {
  #free: number;
  #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {
    this.#free = limit;
  }

  /** Holders right now. */
  get active(): number {
    return this.limit - this.#free;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Calls `grant` as soon as a slot is free (synchronously when one is free now). */
  acquire(grant: () => void): void {
    if (this.#free > 0) {
      this.#free--;
      grant();
    } else {
      this.#waiters.push(grant);
    }
  }

  /** Gives a slot back; hands it straight to the oldest waiter if any. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

/** A manual clock for tests: timers fire only when the test advances time. */
import type { Clock, TimerId } from "../../src/kernel/mod.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Implements Clock over a number the test moves. */
export class FakeClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #next = 1;

  constructor(start = Date.UTC(2026, 10, 22, 12)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id as unknown as TimerId;
  }

  clearTimeout(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== (id as unknown as number));
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward, firing due timers in order and letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    while (true) {
      await flush();
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const due = this.#timers[0];
      if (!due || due.at > end) break;
      this.#timers.shift();
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
    await flush();
  }
}

/** Lets pending promise callbacks run (a macrotask turn, no waiting on time). */
export async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 0));
}

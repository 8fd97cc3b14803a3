/**
 * A write-through cache of the newest transcript entries of recently active sessions, so a turn
 * builds its context without listing KV. Bounded: least recently used sessions are evicted once the
 * cached text passes a total budget. Only correct because this process is the store's one writer.
 */
import type { TranscriptEntry } from "../kernel/mod.ts";

/** A session's cached tail, oldest first. `complete` means it holds the whole transcript. */
interface Tail {
  entries: TranscriptEntry[];
  chars: number;
  complete: boolean;
}

/** Options of {@linkcode TranscriptCache}. */
export interface TranscriptCacheOptions {
  /** Text kept per session (UTF-16 units); older entries fall off. @default 131_072 */
  maxCharsPerSession?: number;
  /** Entries kept per session (enough to cover a context budget of short messages). @default 10_000 */
  maxEntriesPerSession?: number;
  /** Text kept across all sessions; least recently used sessions are evicted past it. @default 4_194_304 */
  maxCharsTotal?: number;
  /** Entries kept across all sessions (each costs ~100 bytes beyond its text). @default 50_000 */
  maxEntriesTotal?: number;
}

/** The newest entries per session, least recently used evicted first. */
export class TranscriptCache {
  #tails = new Map<string, Tail>();
  #total = 0;
  #totalEntries = 0;
  #maxChars: number;
  #maxEntries: number;
  #maxTotal: number;
  #maxTotalEntries: number;

  constructor(options: TranscriptCacheOptions = {}) {
    this.#maxChars = options.maxCharsPerSession ?? 131_072;
    this.#maxEntries = options.maxEntriesPerSession ?? 10_000;
    this.#maxTotal = options.maxCharsTotal ?? 4_194_304;
    this.#maxTotalEntries = options.maxEntriesTotal ?? 50_000;
  }

  /** Sessions cached now. */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * The newest entries within `limit` and `maxChars` (the newest always included), oldest first,
   * or undefined when the cache cannot answer for sure.
   */
  read(session: string, limit: number, maxChars: number): TranscriptEntry[] | undefined {
    const tail = this.#tails.get(session);
    if (!tail) return undefined;
    this.#touch(session, tail);
    const { entries } = tail;
    let chars = 0;
    let i = entries.length;
    let full = false; // the limit or the budget is reached: older entries do not matter
    while (i > 0 && !full) {
      const next = entries[i - 1];
      if (i < entries.length && chars + next.text.length > maxChars) full = true;
      else {
        chars += next.text.length;
        i--;
        full = entries.length - i >= limit;
      }
    }
    if (full || tail.complete) return entries.slice(i);
    return undefined;
  }

  /** Stores what a KV read returned; `complete` when the read reached the transcript's start. */
  fill(session: string, entries: TranscriptEntry[], complete: boolean): void {
    this.drop(session);
    const tail: Tail = { entries: [...entries], chars: 0, complete };
    for (const e of entries) tail.chars += e.text.length;
    this.#tails.set(session, tail);
    this.#total += tail.chars;
    this.#totalEntries += tail.entries.length;
    this.#trim(tail);
    this.#evict();
  }

  /** Adds entries just committed; a session not cached stays uncached. */
  append(session: string, entries: TranscriptEntry[]): void {
    const tail = this.#tails.get(session);
    if (!tail) return;
    for (const e of entries) {
      tail.entries.push(e);
      tail.chars += e.text.length;
      this.#total += e.text.length;
    }
    this.#totalEntries += entries.length;
    this.#touch(session, tail);
    this.#trim(tail);
    this.#evict();
  }

  /** Forgets a session (reset, delete, or a write the cache cannot mirror). */
  drop(session: string): void {
    const tail = this.#tails.get(session);
    if (!tail) return;
    this.#total -= tail.chars;
    this.#totalEntries -= tail.entries.length;
    this.#tails.delete(session);
  }

  #touch(session: string, tail: Tail): void {
    this.#tails.delete(session);
    this.#tails.set(session, tail);
  }

  #trim(tail: Tail): void {
    while (
      tail.entries.length > 1 &&
      (tail.chars > this.#maxChars || tail.entries.length > this.#maxEntries)
    ) {
      const gone = tail.entries.shift()!;
      tail.chars -= gone.text.length;
      this.#total -= gone.text.length;
      this.#totalEntries--;
      tail.complete = false;
    }
  }

  #evict(): void {
    for (const [session] of this.#tails) {
      const within = this.#total <= this.#maxTotal && this.#totalEntries <= this.#maxTotalEntries;
      if (within || this.#tails.size <= 1) break;
      this.drop(session);
    }
  }
}

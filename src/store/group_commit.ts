/**
 * Group commit: atomic operations that arrive while a commit is in flight are merged into one KV
 * transaction, so many sessions' writes share one SQLite commit. Operations merged together never
 * touch each other's keys (no key written twice, no checked key written by another), so applying
 * them at once equals applying them one after another. If the merged commit fails a check, each
 * operation is committed on its own, so every caller gets its own answer.
 */

/** One write or delete. */
export interface KvWrite {
  key: Deno.KvKey;
  /** Upper estimate of the bytes it adds to a commit. */
  bytes: number;
  delete?: true;
  value?: unknown;
  expireIn?: number;
}

interface Pending {
  checks: Deno.AtomicCheck[];
  writes: KvWrite[];
  bytes: number;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

/** Limits of one Deno KV atomic commit (kept under the documented maximums). */
export interface CommitLimits {
  maxChecks: number;
  maxMutations: number;
  maxBytes: number;
}

const keyId = (key: Deno.KvKey) => JSON.stringify(key);

/** Serialises commits to one KV and merges those that queue up behind each other. */
export class GroupCommitter {
  #queue: Pending[] = [];
  #flushing = false;

  constructor(readonly kv: Deno.Kv, readonly limits: CommitLimits) {}

  /** Commits `writes` if every check holds; resolves false when a check failed. */
  commit(checks: Deno.AtomicCheck[], writes: KvWrite[]): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const bytes = writes.reduce((n, w) => n + w.bytes, 0);
      this.#queue.push({ checks, writes, bytes, resolve, reject });
      if (!this.#flushing) this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#take();
        if (batch.length === 1) {
          await this.#one(batch[0]);
          continue;
        }
        let ok = false;
        try {
          ok = await this.#apply(batch.flatMap((p) => p.checks), batch.flatMap((p) => p.writes));
        } catch {
          ok = false; // answered one by one below, each with its own error if any
        }
        if (ok) { for (const p of batch) p.resolve(true); }
        else for (const p of batch) await this.#one(p);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** The longest prefix of the queue that fits one commit without two operations sharing a key. */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const written = new Set<string>();
    const checked = new Set<string>();
    let checks = 0, mutations = 0, bytes = 0;
    for (const p of this.#queue) {
      const { maxChecks, maxMutations, maxBytes } = this.limits;
      if (
        batch.length > 0 &&
        (checks + p.checks.length > maxChecks || mutations + p.writes.length > maxMutations ||
          bytes + p.bytes > maxBytes)
      ) break;
      const writes = p.writes.map((w) => keyId(w.key));
      const reads = p.checks.map((c) => keyId(c.key));
      if (
        writes.some((k) => written.has(k) || checked.has(k)) || reads.some((k) => written.has(k))
      ) {
        break;
      }
      for (const k of writes) written.add(k);
      for (const k of reads) checked.add(k);
      checks += p.checks.length;
      mutations += p.writes.length;
      bytes += p.bytes;
      batch.push(p);
    }
    this.#queue.splice(0, batch.length);
    return batch;
  }

  async #one(p: Pending): Promise<void> {
    try {
      p.resolve(await this.#apply(p.checks, p.writes));
    } catch (err) {
      p.reject(err);
    }
  }

  async #apply(checks: Deno.AtomicCheck[], writes: KvWrite[]): Promise<boolean> {
    const op = this.kv.atomic();
    for (const c of checks) op.check(c);
    for (const w of writes) {
      if (w.delete) op.delete(w.key);
      else if (w.expireIn !== undefined) op.set(w.key, w.value, { expireIn: w.expireIn });
      else op.set(w.key, w.value);
    }
    return (await op.commit()).ok;
  }
}

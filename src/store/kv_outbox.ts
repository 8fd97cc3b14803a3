/**
 * The outbox over Deno KV: a message is recorded (head plus one key per chunk) before anything is
 * sent, and each delivered chunk is marked, so a restart resumes a multi-chunk reply at the first
 * chunk not yet delivered. Delivery is at least once: a crash between a send and its mark sends
 * that one chunk again.
 */
import type { Clock, Outbox, OutboxEntry, OutboxInput } from "../kernel/mod.ts";
import { OUTBOX, outboxChunkKey, outboxChunksPrefix, outboxIdKey, outboxKey } from "./keys.ts";

/** How long a delivered message's id is remembered, so the same id is not queued again. */
const DELIVERED_TTL_MS = 7 * 86_400_000;

type Head = Omit<OutboxEntry, "chunks"> & { seq: string; count: number };

let lastSeq = 0;

/** Sortable, unique sequence strings: the clock, bumped on ties (shared by every writer). */
function nextSeq(clock: Clock): string {
  const now = Math.max(clock.now(), lastSeq + 1);
  lastSeq = now;
  return now.toString(36).padStart(10, "0") + crypto.randomUUID().slice(0, 8);
}

/**
 * The KV records that queue `entry` (its id, head and chunks), for a writer that commits them
 * together with other state, as the session store does with a turn's answer.
 */
export function outboxRecords(
  entry: OutboxInput,
  clock: Clock,
): { key: Deno.KvKey; value: unknown }[] {
  const seq = nextSeq(clock);
  const { chunks, ...fields } = entry;
  const head: Head = {
    ...fields,
    seq,
    count: chunks.length,
    sent: 0,
    attempts: 0,
    notBefore: 0,
    createdAt: clock.now(),
  };
  return [
    { key: outboxIdKey(entry.id), value: seq },
    { key: outboxKey(seq), value: head },
    ...chunks.map((c, i) => ({ key: outboxChunkKey(seq, i), value: c })),
  ];
}

/** The outbox in KV. */
export class KvOutbox implements Outbox {
  #kv: Deno.Kv;
  #clock: Clock;

  constructor(kv: Deno.Kv, clock: Clock) {
    this.#kv = kv;
    this.#clock = clock;
  }

  async enqueue(entry: OutboxInput): Promise<void> {
    const op = this.#kv.atomic().check({ key: outboxIdKey(entry.id), versionstamp: null });
    for (const r of outboxRecords(entry, this.#clock)) op.set(r.key, r.value);
    await op.commit(); // a failed check means the id was queued already: nothing to do
  }

  async pending(): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for await (const row of this.#kv.list<Head>({ prefix: OUTBOX })) {
      const { seq, count: _count, ...head } = row.value;
      const chunks: string[] = [];
      for await (const c of this.#kv.list<string>({ prefix: outboxChunksPrefix(seq) })) {
        chunks.push(c.value);
      }
      out.push({ ...head, chunks });
    }
    return out;
  }

  async markSent(id: string, index: number): Promise<void> {
    const head = await this.#head(id);
    if (!head || index < head.value.sent) return;
    const sent = index + 1;
    if (sent < head.value.count) {
      await this.#kv.set(head.key, { ...head.value, sent, attempts: 0, notBefore: 0 });
      return;
    }
    await this.#remove(head.value, { keepId: true });
  }

  async retryLater(id: string, notBefore: number): Promise<void> {
    const head = await this.#head(id);
    if (!head) return;
    await this.#kv.set(head.key, {
      ...head.value,
      attempts: head.value.attempts + 1,
      notBefore,
    });
  }

  async drop(id: string): Promise<void> {
    const head = await this.#head(id);
    if (head) await this.#remove(head.value, { keepId: true });
  }

  async #head(id: string): Promise<Deno.KvEntry<Head> | undefined> {
    const seq = (await this.#kv.get<string>(outboxIdKey(id))).value;
    if (seq === null) return undefined;
    const head = await this.#kv.get<Head>(outboxKey(seq));
    return head.value === null ? undefined : head as Deno.KvEntry<Head>;
  }

  async #remove(head: Head, options: { keepId: boolean }): Promise<void> {
    const op = this.#kv.atomic().delete(outboxKey(head.seq));
    for (let i = 0; i < head.count; i++) op.delete(outboxChunkKey(head.seq, i));
    if (options.keepId) {
      op.set(outboxIdKey(head.id), head.seq, { expireIn: DELIVERED_TTL_MS });
    } else op.delete(outboxIdKey(head.id));
    await op.commit();
  }
}

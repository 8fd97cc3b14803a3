/**
 * The SessionStore over Deno KV: session metadata, transcripts split into parts that fit a value,
 * idempotency records and the durable ingress log. Related writes go in one atomic commit guarded
 * by a versionstamp check, retried when a concurrent writer got there first.
 */
import {
  type AdmitResult,
  type Clock,
  GatehouseError,
  type InboundMessage,
  type IngressRecord,
  type NewEntry,
  type OutboxInput,
  type SessionMeta,
  type SessionPatch,
  type SessionStore,
  type TranscriptEntry,
} from "../kernel/mod.ts";
import {
  entryKey,
  idemKey,
  INGRESS,
  ingressKey,
  ingressPartKey,
  keyBytes,
  sessionKey as metaKey,
  SESSIONS,
  transcriptPrefix,
} from "./keys.ts";
import { outboxRecords } from "./kv_outbox.ts";
import { joinText, MAX_STRING_UNITS, splitText } from "./split.ts";
import { GroupCommitter, type KvWrite } from "./group_commit.ts";
import { TranscriptCache, type TranscriptCacheOptions } from "./transcript_cache.ts";

/** Options of {@linkcode KvSessionStore}. */
export interface KvSessionStoreOptions {
  /** Source of `now` for timestamps, entry ids and idempotency expiry. */
  clock: Clock;
  /** How long an idempotency key keeps returning its first run id. */
  idempotencyTtlMs: number;
  /** Bounds of the in-memory cache of recent transcript entries. @default TranscriptCache's */
  cache?: TranscriptCacheOptions;
}

/** A text as stored: a string when short, else its first UTF-8 part (see split.ts). */
type StoredText = string | Uint8Array;

/** Part 0 of a transcript entry; parts 1… are `Uint8Array`s. */
interface StoredEntry extends Omit<TranscriptEntry, "id" | "text"> {
  text: StoredText;
  /** Number of parts, when more than one. */
  parts?: number;
}

/** An ingress head; parts 1… of a long text are `Uint8Array`s under `ingressPartKey`. */
interface StoredIngress extends Omit<IngressRecord, "text"> {
  text: StoredText;
  parts?: number;
}

interface IdemRecord {
  runId: string;
  sessionKey: string;
  /** Checked on read: KV's `expireIn` only sweeps now and then. */
  expiresAt: number;
}

/** One write or delete, with an upper estimate of what it costs in a commit. */
type Mutation = KvWrite;

// Deno KV allows 1000 mutations and 800 KiB per atomic commit, and 10 keys per getMany.
const MAX_MUTATIONS = 1000;
const MAX_CHECKS = 100;
const MAX_COMMIT_BYTES = 760 * 1024;
const MAX_GET_MANY = 10;
/** Transcript keys listed (values included) per round when deleting a transcript. */
const DELETE_ROUND = 500;
/** Commits retried after a failed versionstamp check before giving up. */
const MAX_ATTEMPTS = 8;

/** An upper estimate of a value's serialized size. */
function valueBytes(value: unknown): number {
  if (typeof value === "string") return 2 * value.length + 8;
  if (value instanceof Uint8Array) return value.byteLength + 16;
  if (value === null || typeof value !== "object") return 10;
  let bytes = 8;
  for (const [k, v] of Object.entries(value)) bytes += 2 * k.length + 4 + valueBytes(v);
  return bytes;
}

/** A text cut for storage: a short one whole, a long one in UTF-8 parts. */
function storeText(text: string): { first: StoredText; rest: Uint8Array[] } {
  if (text.length <= MAX_STRING_UNITS) return { first: text, rest: [] };
  const { parts } = splitText(text);
  return { first: parts[0], rest: parts.slice(1) };
}

/** The text of a stored head and its further parts (`rest[i]` is part i + 1). */
function loadText(first: StoredText, rest: Uint8Array[]): string {
  return typeof first === "string" ? first : joinText([first, ...rest]);
}

function put(key: Deno.KvKey, value: unknown, expireIn?: number): Mutation {
  const m: Mutation = { key, value, bytes: keyBytes(key) + valueBytes(value) };
  if (expireIn !== undefined) m.expireIn = expireIn;
  return m;
}

function del(key: Deno.KvKey): Mutation {
  return { key, delete: true, bytes: keyBytes(key) + 16 };
}

/** Deletes of an ingress head and its text parts. */
function ingressDeletes(record: StoredIngress): Mutation[] {
  const out = [del(ingressKey(record.runId))];
  for (let part = 1; part < (record.parts ?? 1); part++) {
    out.push(del(ingressPartKey(record.runId, part)));
  }
  return out;
}

function conflict(what: string, session: string): GatehouseError {
  const message = `store: ${what} for session ${JSON.stringify(session)} kept conflicting ` +
    `with concurrent writes after ${MAX_ATTEMPTS} attempts; retry the request`;
  return new GatehouseError("UNAVAILABLE", message, { retryable: true });
}

/** {@linkcode SessionStore} over a `Deno.Kv` the caller opened (and closes). */
export class KvSessionStore implements SessionStore {
  #kv: Deno.Kv;
  #clock: Clock;
  #ttlMs: number;
  #lastId = 0;
  #cache: TranscriptCache;
  #group: GroupCommitter;

  constructor(kv: Deno.Kv, options: KvSessionStoreOptions) {
    this.#kv = kv;
    this.#cache = new TranscriptCache(options.cache);
    this.#group = new GroupCommitter(kv, {
      maxChecks: MAX_CHECKS,
      maxMutations: MAX_MUTATIONS,
      maxBytes: MAX_COMMIT_BYTES,
    });
    this.#clock = options.clock;
    this.#ttlMs = options.idempotencyTtlMs;
  }

  /** Monotonic ids (microsecond-scaled clock, bumped on ties) for entries and ingress order. */
  #nextId(): number {
    const id = Math.max(Math.floor(this.#clock.now()) * 1000, this.#lastId + 1);
    this.#lastId = id;
    return id;
  }

  async admit(message: InboundMessage): Promise<AdmitResult> {
    const idem = message.idempotencyKey;
    const keys = idem === undefined
      ? [metaKey(message.sessionKey)]
      : [metaKey(message.sessionKey), idemKey(message.sessionKey, idem)];
    const { first, rest } = storeText(message.text);
    const head: StoredIngress = {
      runId: message.runId,
      sessionKey: message.sessionKey,
      text: first,
      queueMode: message.queueMode,
      acceptedAt: message.acceptedAt,
      source: message.source,
      seq: this.#nextId(),
      status: "queued",
    };
    if (idem !== undefined) head.idempotencyKey = idem;
    if (message.reply) head.reply = message.reply;
    if (message.model) head.model = message.model;
    if (message.tools) head.tools = message.tools;
    if (rest.length > 0) head.parts = rest.length + 1;

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const [meta, record] = await this.#getAll(keys);
      const live = record?.value as IdemRecord | null | undefined;
      const now = this.#clock.now();
      if (live && live.expiresAt > now) return { admitted: false, runId: live.runId };

      // The session's versionstamp is checked even when it exists, so a concurrent delete makes us
      // re-read and recreate it rather than leave an ingress entry for a session that is gone.
      const checks: Deno.AtomicCheck[] = [meta];
      const unit = [put(ingressKey(message.runId), head)];
      rest.forEach((p, i) => unit.push(put(ingressPartKey(message.runId, i + 1), p)));
      if (record) {
        checks.push(record);
        const value: IdemRecord = {
          runId: message.runId,
          sessionKey: message.sessionKey,
          expiresAt: now + this.#ttlMs,
        };
        unit.push(put(record.key, value, this.#ttlMs));
      }
      const created = meta.value === null;
      if (created) {
        const fresh: SessionMeta = {
          key: message.sessionKey,
          createdAt: now,
          updatedAt: now,
          inputTokens: 0,
          outputTokens: 0,
        };
        unit.push(put(meta.key, fresh));
      }
      if (await this.#commit(checks, [unit])) return { admitted: true, createdSession: created };
    }
    throw conflict("admit", message.sessionKey);
  }

  async lookupIdempotency(sessionKey: string, idempotencyKey: string): Promise<string | undefined> {
    const { value } = await this.#kv.get<IdemRecord>(idemKey(sessionKey, idempotencyKey));
    return value && value.expiresAt > this.#clock.now() ? value.runId : undefined;
  }

  async pendingIngress(): Promise<IngressRecord[]> {
    const out: IngressRecord[] = [];
    let head: StoredIngress | undefined;
    let extra: Uint8Array[] = [];
    const finish = () => {
      if (!head) return;
      const { parts: _, text, ...record } = head;
      out.push({ ...record, text: loadText(text, extra) });
    };
    // Heads sort before their parts: ["q", runId] < ["q", runId, 1].
    for await (const row of this.#kv.list<StoredIngress | Uint8Array>({ prefix: INGRESS })) {
      if (row.key.length === 2) {
        finish();
        head = row.value as StoredIngress;
        extra = [];
      } else if (head && row.key[1] === head.runId) {
        extra[(row.key[2] as number) - 1] = row.value as Uint8Array;
      }
    }
    finish();
    return out.sort((a, b) => a.seq - b.seq);
  }

  async beginTurn(
    sessionKey: string,
    messages: InboundMessage[],
  ): Promise<SessionMeta | undefined> {
    if (messages.length === 0) return await this.getSession(sessionKey);
    // Ids are fixed before the retry loop, so a retry rewrites the same keys.
    const made = messages.map((m): TranscriptEntry => ({
      id: this.#nextId(),
      role: "user",
      text: m.text,
      ts: m.acceptedAt,
      runId: m.runId,
    }));
    const units = made.map((e) => this.#entryWrites(sessionKey, e.id, e));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const [meta, ...heads] = await this.#getAll([
        metaKey(sessionKey),
        ...messages.map((m) => ingressKey(m.runId)),
      ]);
      if (meta.value === null) return undefined; // deleted: do not resurrect its transcript
      const writes = units.map((unit, i) => {
        const head = heads[i].value as StoredIngress | null;
        return head ? [...unit, put(heads[i].key, { ...head, status: "running" })] : unit;
      });
      if (await this.#commit([meta], writes)) {
        this.#cached(sessionKey, made);
        return meta.value as SessionMeta;
      }
    }
    throw conflict("beginTurn", sessionKey);
  }

  async append(sessionKey: string, entries: NewEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const made = this.#made(entries);
    const units = made.map((e) => this.#entryWrites(sessionKey, e.id, e));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = await this.#kv.get(metaKey(sessionKey));
      if (meta.value === null) return; // deleted: do not resurrect its transcript
      if (await this.#commit([meta], units)) return this.#cached(sessionKey, made);
    }
    throw conflict("append", sessionKey);
  }

  async finishTurn(
    sessionKey: string,
    turn: {
      runIds: string[];
      entries: NewEntry[];
      usage?: { inputTokens: number; outputTokens: number };
      outbox?: OutboxInput[];
    },
  ): Promise<void> {
    const made = this.#made(turn.entries);
    const units = made.map((e) => this.#entryWrites(sessionKey, e.id, e));
    const answers = (turn.outbox ?? []).flatMap((entry) =>
      outboxRecords(entry, this.#clock).map((r) => put(r.key, r.value))
    );
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const [meta, ...heads] = await this.#getAll([
        metaKey(sessionKey),
        ...turn.runIds.map(ingressKey),
      ]);
      const clears = heads.flatMap((h) => h.value ? ingressDeletes(h.value as StoredIngress) : []);
      const current = meta.value as SessionMeta | null;
      if (current === null) {
        // Deleted meanwhile: do not recreate it, only finish the ingress entries.
        if (clears.length + answers.length > 0) await this.#commit([], [[...clears, ...answers]]);
        return;
      }
      const next: SessionMeta = {
        ...current,
        updatedAt: this.#clock.now(),
        inputTokens: current.inputTokens + (turn.usage?.inputTokens ?? 0),
        outputTokens: current.outputTokens + (turn.usage?.outputTokens ?? 0),
      };
      // The meta write changes its versionstamp, so it goes last, in the last commit.
      if (await this.#commit([meta], [...units, [...clears, ...answers, put(meta.key, next)]])) {
        return this.#cached(sessionKey, made);
      }
    }
    throw conflict("finishTurn", sessionKey);
  }

  async readTranscript(
    sessionKey: string,
    options: { limit?: number; maxChars?: number } = {},
  ): Promise<TranscriptEntry[]> {
    const limit = options.limit ?? Infinity;
    const maxChars = options.maxChars ?? Infinity;
    if (limit <= 0) return [];
    const hit = this.#cache.read(sessionKey, limit, maxChars);
    if (hit) return hit;
    const out: TranscriptEntry[] = [];
    let complete = true;
    let chars = 0;
    // Newest first: an entry's parts arrive last part first, part 0 (with its fields) last.
    let partsOf = -1;
    let parts: Uint8Array[] = [];
    const batchSize = Number.isFinite(limit) ? Math.min(Math.ceil(limit), 500) : 100;
    const rows = this.#kv.list<StoredEntry | Uint8Array>(
      { prefix: transcriptPrefix(sessionKey) },
      { reverse: true, batchSize },
    );
    for await (const row of rows) {
      const id = row.key[2] as number;
      const part = row.key[3] as number;
      if (id !== partsOf) {
        partsOf = id;
        parts = [];
      }
      if (part > 0) {
        parts[part - 1] = row.value as Uint8Array;
        continue;
      }
      const head = row.value as StoredEntry;
      const count = (head.parts ?? 1) - 1;
      const rest: Uint8Array[] = [];
      for (let p = 0; p < count && parts[p] !== undefined; p++) rest.push(parts[p]);
      if (rest.length !== count) continue; // a part is missing: a delete was cut short
      const text = loadText(head.text, rest);
      if (out.length > 0 && chars + text.length > maxChars) {
        complete = false;
        break;
      }
      const { text: _stored, parts: _parts, ...fields } = head;
      out.push({ id, ...fields, text });
      chars += text.length;
      if (out.length >= limit) {
        complete = false;
        break;
      }
    }
    out.reverse();
    this.#cache.fill(sessionKey, out, complete);
    return [...out];
  }

  async getSession(sessionKey: string): Promise<SessionMeta | undefined> {
    return (await this.#kv.get<SessionMeta>(metaKey(sessionKey))).value ?? undefined;
  }

  async listSessions(options: { limit?: number } = {}): Promise<SessionMeta[]> {
    const all: SessionMeta[] = [];
    for await (const row of this.#kv.list<SessionMeta>({ prefix: SESSIONS })) all.push(row.value);
    all.sort((a, b) => b.updatedAt - a.updatedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return options.limit === undefined ? all : all.slice(0, Math.max(0, options.limit));
  }

  async patchSession(
    sessionKey: string,
    patch: SessionPatch,
    options: { create?: boolean } = {},
  ): Promise<SessionMeta | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = await this.#kv.get<SessionMeta>(metaKey(sessionKey));
      if (meta.value === null && !options.create) return undefined;
      const now = this.#clock.now();
      const next: SessionMeta = meta.value
        ? { ...meta.value, updatedAt: now }
        : { key: sessionKey, createdAt: now, updatedAt: now, inputTokens: 0, outputTokens: 0 };
      if (patch.label === null) delete next.label;
      else if (patch.label !== undefined) next.label = patch.label;
      if (patch.model === null) delete next.model;
      else if (patch.model !== undefined) next.model = patch.model;
      if (patch.route === null) delete next.route;
      else if (patch.route !== undefined) next.route = { ...patch.route };
      if (await this.#commit([meta], [[put(meta.key, next)]])) return next;
    }
    throw conflict("patchSession", sessionKey);
  }

  async resetSession(sessionKey: string): Promise<boolean> {
    if ((await this.#kv.get(metaKey(sessionKey))).value === null) return false;
    this.#cache.drop(sessionKey);
    await this.#deleteAll(transcriptPrefix(sessionKey));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = await this.#kv.get<SessionMeta>(metaKey(sessionKey));
      if (meta.value === null) return false; // deleted meanwhile
      const next: SessionMeta = {
        ...meta.value,
        updatedAt: this.#clock.now(),
        inputTokens: 0,
        outputTokens: 0,
      };
      if (await this.#commit([meta], [[put(meta.key, next)]])) {
        this.#cache.drop(sessionKey); // a read during the reset may have cached what was going
        return true;
      }
    }
    throw conflict("resetSession", sessionKey);
  }

  async deleteSession(sessionKey: string): Promise<boolean> {
    if ((await this.#kv.get(metaKey(sessionKey))).value === null) return false;
    // Transcript first, meta last: a delete cut short by a crash leaves the session listed, and
    // deleting it again finishes the job.
    this.#cache.drop(sessionKey);
    await this.#deleteAll(transcriptPrefix(sessionKey));
    for (let attempt = 0;; attempt++) {
      if (attempt === MAX_ATTEMPTS) throw conflict("deleteSession", sessionKey);
      const meta = await this.#kv.get(metaKey(sessionKey));
      if (meta.value === null) break; // a concurrent delete won
      const clears: Mutation[] = [];
      for await (const row of this.#kv.list<StoredIngress>({ prefix: INGRESS })) {
        if (row.key.length === 2 && row.value.sessionKey === sessionKey) {
          clears.push(...ingressDeletes(row.value));
        }
      }
      if (await this.#commit([meta], [[del(meta.key), ...clears]])) break;
    }
    // Entries appended while the transcript was being deleted (appends stop once meta is gone).
    await this.#deleteAll(transcriptPrefix(sessionKey));
    this.#cache.drop(sessionKey);
    return true;
  }

  /** New entries with their ids and timestamp. */
  #made(entries: NewEntry[]): TranscriptEntry[] {
    const ts = this.#clock.now();
    return entries.map((e) => ({ ...e, id: this.#nextId(), ts }));
  }

  /** Mirrors committed entries into the cache; long texts (stored split, maybe cut) drop it instead. */
  #cached(sessionKey: string, entries: TranscriptEntry[]): void {
    if (entries.some((e) => e.text.length > MAX_STRING_UNITS)) this.#cache.drop(sessionKey);
    else this.#cache.append(sessionKey, entries);
  }

  /** The writes of one transcript entry: part 0 with the fields, then the rest of a long text. */
  #entryWrites(
    session: string,
    id: number,
    entry: Omit<TranscriptEntry, "id">,
  ): Mutation[] {
    const { first, rest } = storeText(entry.text);
    const { id: _id, ...fields } = entry as TranscriptEntry;
    const head: StoredEntry = { ...fields, text: first };
    if (rest.length > 0) head.parts = rest.length + 1;
    const out = [put(entryKey(session, id, 0), head)];
    rest.forEach((p, i) => out.push(put(entryKey(session, id, i + 1), p)));
    return out;
  }

  async #getAll(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<unknown>[]> {
    if (keys.length <= MAX_GET_MANY) return await this.#kv.getMany(keys);
    const out: Deno.KvEntryMaybe<unknown>[] = [];
    for (let i = 0; i < keys.length; i += MAX_GET_MANY) {
      out.push(...await this.#kv.getMany(keys.slice(i, i + MAX_GET_MANY)));
    }
    return out;
  }

  /**
   * Commits `units` (groups of mutations kept in one commit where they fit) with `checks`. Writes
   * too large for one atomic are spread over several in order, each with the same checks; the
   * last unit lands in the last commit. False when a check failed (nothing after it was written).
   */
  async #commit(checks: Deno.AtomicCheck[], units: Mutation[][]): Promise<boolean> {
    const batches: Mutation[][] = [];
    let batch: Mutation[] = [];
    let bytes = 0;
    const fits = (count: number, size: number) =>
      batch.length === 0 ||
      (batch.length + count <= MAX_MUTATIONS && bytes + size <= MAX_COMMIT_BYTES);
    for (const unit of units) {
      if (!fits(unit.length, unit.reduce((n, m) => n + m.bytes, 0))) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      for (const m of unit) {
        if (!fits(1, m.bytes)) {
          batches.push(batch);
          batch = [];
          bytes = 0;
        }
        batch.push(m);
        bytes += m.bytes;
      }
    }
    batches.push(batch);
    for (const mutations of batches) {
      if (!(await this.#group.commit(checks, mutations))) return false;
    }
    return true;
  }

  /** Deletes every key under `prefix`, in rounds of commits within KV's limits. */
  async #deleteAll(prefix: Deno.KvKey): Promise<void> {
    while (true) {
      const keys: Deno.KvKey[] = [];
      for await (const row of this.#kv.list({ prefix }, { limit: DELETE_ROUND })) {
        keys.push(row.key);
      }
      if (keys.length > 0) await this.#commit([], [keys.map(del)]);
      if (keys.length < DELETE_ROUND) return;
    }
  }
}

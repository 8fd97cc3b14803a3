/**
 * Pairing: how a stranger on a channel becomes a user. An unknown sender gets an 8-character code
 * (valid one hour; at most three pending per channel, so strangers cannot flood the list) and no
 * model call is made; the operator approves the code (`gatehouse pairing approve <channel> <code>`
 * or `channels.pairing.approve`). The first user approved on a channel becomes its owner.
 */
import { type Clock, GatehouseError } from "../kernel/mod.ts";
import {
  CHANNEL_OWNERS,
  channelOwnerKey,
  pairedUserKey,
  pairedUsersPrefix,
  pairingCodeKey,
  pairingCodesPrefix,
} from "../store/keys.ts";

/** How long a code is valid. */
export const CODE_TTL_MS = 3_600_000;
/** Pending codes kept per channel. */
export const MAX_PENDING = 3;
/** Code letters: no 0/O, 1/I/L, so a code read aloud or typed survives. */
const ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/** Who asked. */
export interface PairingUser {
  id: string;
  username?: string;
  name?: string;
}

/** A pending code. */
export interface PairingRequest extends PairingUser {
  channel: string;
  code: string;
  createdAt: number;
  expiresAt: number;
}

/** An approved user. */
export interface PairedUser extends PairingUser {
  channel: string;
  approvedAt: number;
  /** Who approved (`ws:<conn>`, `cli`). */
  approvedBy: string;
  owner: boolean;
}

/** The outcome of a request for a code. */
export type CodeOutcome =
  | { code: string; expiresAt: number; reused: boolean }
  | { full: true };

/** Pairing records in KV. */
export class PairingStore {
  #kv: Deno.Kv;
  #clock: Clock;
  /** Owners by channel, mirrored in memory for the tool policy's synchronous checks. */
  #owners = new Map<string, string>();

  private constructor(kv: Deno.Kv, clock: Clock) {
    this.#kv = kv;
    this.#clock = clock;
  }

  /** Opens the store and loads the channels' owners. */
  static async open(kv: Deno.Kv, clock: Clock): Promise<PairingStore> {
    const store = new PairingStore(kv, clock);
    for await (const r of kv.list<string>({ prefix: CHANNEL_OWNERS })) {
      store.#owners.set(r.key[1] as string, r.value);
    }
    return store;
  }

  /** Whether `userId` owns `channel` (synchronous: from memory). */
  isOwner(channel: string, userId: string): boolean {
    return this.#owners.get(channel) === userId;
  }

  /** Whether `userId` may talk to the gateway on `channel`. */
  async isApproved(channel: string, userId: string): Promise<boolean> {
    return (await this.#kv.get(pairedUserKey(channel, userId))).value !== null;
  }

  /** The owner of a channel: the first user approved on it. */
  async owner(channel: string): Promise<string | undefined> {
    return (await this.#kv.get<string>(channelOwnerKey(channel))).value ?? undefined;
  }

  /** A code for `user`: their pending one again, a new one, or `full` when three are pending. */
  async request(channel: string, user: PairingUser): Promise<CodeOutcome> {
    const now = this.#clock.now();
    const pending = await this.#pending(channel);
    const mine = pending.find((p) => p.id === user.id);
    if (mine) return { code: mine.code, expiresAt: mine.expiresAt, reused: true };
    if (pending.length >= MAX_PENDING) return { full: true };
    const code = newCode();
    const request: PairingRequest = {
      ...user,
      channel,
      code,
      createdAt: now,
      expiresAt: now + CODE_TTL_MS,
    };
    await this.#kv.set(pairingCodeKey(channel, code), request, { expireIn: CODE_TTL_MS });
    return { code, expiresAt: request.expiresAt, reused: false };
  }

  /**
   * Approves a pending code: its user may talk to the gateway from now on, and becomes the
   * channel's owner if it has none. An unknown or expired code is NOT_FOUND.
   */
  async approve(channel: string, code: string, by: string): Promise<PairedUser> {
    const key = pairingCodeKey(channel, code.trim().toUpperCase());
    const entry = await this.#kv.get<PairingRequest>(key);
    const request = entry.value;
    if (!request || request.expiresAt <= this.#clock.now()) {
      throw new GatehouseError(
        "NOT_FOUND",
        `no pending ${channel} pairing code ${JSON.stringify(code)}: it was approved already, ` +
          "expired (codes last an hour) or mistyped; `gatehouse pairing list` shows the pending ones",
      );
    }
    const ownerKey = channelOwnerKey(channel);
    const owner = await this.#kv.get<string>(ownerKey);
    const user: PairedUser = {
      id: request.id,
      ...(request.username ? { username: request.username } : {}),
      ...(request.name ? { name: request.name } : {}),
      channel,
      approvedAt: this.#clock.now(),
      approvedBy: by,
      owner: owner.value === null || owner.value === request.id,
    };
    const op = this.#kv.atomic().check(entry).check(owner).delete(key)
      .set(pairedUserKey(channel, request.id), user);
    if (owner.value === null) op.set(ownerKey, request.id);
    const done = await op.commit();
    if (done.ok && user.owner) this.#owners.set(channel, request.id);
    if (!done.ok) {
      throw new GatehouseError("UNAVAILABLE", "the pairing changed meanwhile; approve again", {
        retryable: true,
      });
    }
    return user;
  }

  /** Removes an approved user (the owner too: the next approval makes a new owner). */
  async revoke(channel: string, userId: string): Promise<boolean> {
    const key = pairedUserKey(channel, userId);
    if ((await this.#kv.get(key)).value === null) return false;
    const op = this.#kv.atomic().delete(key);
    const wasOwner = (await this.owner(channel)) === userId;
    if (wasOwner) op.delete(channelOwnerKey(channel));
    const done = await op.commit();
    if (done.ok && wasOwner) this.#owners.delete(channel);
    return true;
  }

  /** Pending codes and approved users (of one channel, when given). */
  async list(channel?: string): Promise<{ pending: PairingRequest[]; approved: PairedUser[] }> {
    const now = this.#clock.now();
    const pending: PairingRequest[] = [];
    for await (const r of this.#kv.list<PairingRequest>({ prefix: pairingCodesPrefix(channel) })) {
      if (r.value.expiresAt > now) pending.push(r.value);
    }
    const approved: PairedUser[] = [];
    for await (const r of this.#kv.list<PairedUser>({ prefix: pairedUsersPrefix(channel) })) {
      // Ownership as it is now (the owner may have been revoked and another approved since).
      approved.push({ ...r.value, owner: this.#owners.get(r.value.channel) === r.value.id });
    }
    pending.sort((a, b) => a.createdAt - b.createdAt);
    return { pending, approved };
  }

  async #pending(channel: string): Promise<PairingRequest[]> {
    return (await this.list(channel)).pending;
  }
}

/** Eight letters from the alphabet, uniformly (bytes past the last whole multiple are drawn again). */
function newCode(): string {
  const limit = 256 - (256 % ALPHABET.length);
  let code = "";
  while (code.length < 8) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b < limit && code.length < 8) code += ALPHABET[b % ALPHABET.length];
    }
  }
  return code;
}

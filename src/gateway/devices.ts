/**
 * Paired devices and their pairing requests, in KV. A device is paired automatically when it
 * presents the gateway token from a loopback peer; otherwise it files a request (8-character id,
 * ten minutes, at most 16 waiting) that an operator approves or rejects. A paired device holds one
 * token, stored as its SHA-256 only; rotating or revoking it ends the device's open sockets at once.
 */
import {
  type Clock,
  type DevicePairRequest,
  type EventSink,
  GatehouseError,
} from "../kernel/mod.ts";
import {
  DEVICE_REQUESTS,
  deviceKey,
  deviceRejectedKey,
  deviceRequestKey,
  deviceRequestOfKey,
  DEVICES,
} from "../store/keys.ts";
import { sha256Hex, toBase64Url } from "./device_auth.ts";
import { secretsEqual } from "./token.ts";

/** How long a pairing request waits, and how long a rejection is remembered. */
export const REQUEST_TTL_MS = 600_000;
/** Requests waiting at once, so strangers cannot flood the operator's list. */
export const MAX_PENDING_REQUESTS = 16;
const ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/** What a device says about itself in `connect`. */
export type DeviceClient = DevicePairRequest["client"];

/** A paired device as stored. */
export interface DeviceRecord {
  deviceId: string;
  publicKey: string;
  scopes: string[];
  client: DeviceClient;
  pairedAt: number;
  /** `auto (loopback)` or the source of the connection that approved. */
  pairedBy: string;
  /** SHA-256 (hex) of the current token; absent until the device collects one. */
  tokenHash?: string;
  tokenIssuedAt?: number;
}

/** A paired device as the protocol shows it (no token hash). */
export interface DeviceView {
  deviceId: string;
  publicKey: string;
  scopes: string[];
  client: DeviceClient;
  pairedAt: number;
  pairedBy: string;
  tokenIssuedAt: number | null;
}

/** Why a device's sockets are being closed. */
export type DeviceEnd = "device token rotated" | "device revoked";

/** Options of {@linkcode DeviceStore}. */
export interface DeviceStoreOptions {
  kv: Deno.Kv;
  clock: Clock;
  events: EventSink;
  /** Closes the open sockets of a device whose token ended; returns how many. */
  endSockets(deviceId: string, reason: DeviceEnd): number;
}

/** Devices, requests and tokens. */
export class DeviceStore {
  #kv: Deno.Kv;
  #clock: Clock;
  #events: EventSink;
  #endSockets: DeviceStoreOptions["endSockets"];
  /** Bumped when a device's token ends, so a connect checked before that cannot finish after it. */
  #epochs = new Map<string, number>();

  constructor(options: DeviceStoreOptions) {
    this.#kv = options.kv;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#endSockets = options.endSockets;
  }

  /** The device's token epoch: compare before and after an await to see that it did not end. */
  epoch(deviceId: string): number {
    return this.#epochs.get(deviceId) ?? 0;
  }

  /** A paired device. */
  async get(deviceId: string): Promise<DeviceRecord | undefined> {
    return (await this.#kv.get<DeviceRecord>(deviceKey(deviceId))).value ?? undefined;
  }

  /** Whether `token` is the current token of `record` (constant time). */
  async tokenMatches(record: DeviceRecord, token: string): Promise<boolean> {
    if (!record.tokenHash) return false;
    return await secretsEqual(await sha256Hex(token), record.tokenHash);
  }

  /** Pairs a device without asking (the gateway token from a loopback peer). */
  async pairAuto(
    device: { deviceId: string; publicKey: string; client: DeviceClient },
    scopes: string[],
  ): Promise<DeviceRecord> {
    const record: DeviceRecord = {
      ...device,
      scopes,
      pairedAt: this.#clock.now(),
      pairedBy: "auto (loopback)",
    };
    const pending = await this.#kv.get<string>(deviceRequestOfKey(device.deviceId));
    const op = this.#kv.atomic().check({ key: deviceKey(device.deviceId), versionstamp: null })
      .set(deviceKey(device.deviceId), record).delete(deviceRejectedKey(device.deviceId));
    if (pending.value) {
      op.delete(deviceRequestKey(pending.value)).delete(deviceRequestOfKey(device.deviceId));
    }
    if (!(await op.commit()).ok) throw changed();
    return record;
  }

  /**
   * Gives a paired device a new token and returns it (shown once; only its hash is kept). Fails
   * with UNAVAILABLE when the record changed meanwhile (another connect collected it).
   */
  async issueToken(deviceId: string): Promise<string> {
    const entry = await this.#kv.get<DeviceRecord>(deviceKey(deviceId));
    if (!entry.value) throw changed();
    const token = `gd_${toBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
    const record: DeviceRecord = {
      ...entry.value,
      tokenHash: await sha256Hex(token),
      tokenIssuedAt: this.#clock.now(),
    };
    if (!(await this.#kv.atomic().check(entry).set(deviceKey(deviceId), record).commit()).ok) {
      throw changed();
    }
    return token;
  }

  /** How long an operator's rejection of this device still holds, in ms (0: not rejected). */
  async rejectedFor(deviceId: string): Promise<number> {
    const until = (await this.#kv.get<number>(deviceRejectedKey(deviceId))).value;
    return until === null ? 0 : Math.max(0, until - this.#clock.now());
  }

  /**
   * The pending request of a device: its existing one, or a new one (announced with
   * `device.pair.requested`). UNAVAILABLE when too many wait.
   */
  async request(
    device: { deviceId: string; publicKey: string; client: DeviceClient },
    scopes: string[],
    source: string,
  ): Promise<DevicePairRequest> {
    const now = this.#clock.now();
    const mineId = (await this.#kv.get<string>(deviceRequestOfKey(device.deviceId))).value;
    if (mineId) {
      const mine = (await this.#kv.get<DevicePairRequest>(deviceRequestKey(mineId))).value;
      if (mine && mine.expiresAt > now) return mine;
    }
    if ((await this.pending()).length >= MAX_PENDING_REQUESTS) {
      throw new GatehouseError(
        "UNAVAILABLE",
        `${MAX_PENDING_REQUESTS} device pairing requests already wait: an operator should answer ` +
          "them (`gatehouse pairing list`), or retry in 10 minutes",
        { retryable: true, retryAfterMs: REQUEST_TTL_MS },
      );
    }
    const request: DevicePairRequest = {
      requestId: newRequestId(),
      ...device,
      scopes,
      source,
      createdAt: now,
      expiresAt: now + REQUEST_TTL_MS,
    };
    const ok = await this.#kv.atomic()
      .check({ key: deviceRequestKey(request.requestId), versionstamp: null })
      .set(deviceRequestKey(request.requestId), request, { expireIn: REQUEST_TTL_MS })
      .set(deviceRequestOfKey(device.deviceId), request.requestId, { expireIn: REQUEST_TTL_MS })
      .commit();
    if (!ok.ok) throw changed();
    this.#events.publish("device.pair.requested", request);
    return request;
  }

  /** Requests that have not expired, oldest first. */
  async pending(): Promise<DevicePairRequest[]> {
    const now = this.#clock.now();
    const out: DevicePairRequest[] = [];
    for await (const r of this.#kv.list<DevicePairRequest>({ prefix: DEVICE_REQUESTS })) {
      if (r.value.expiresAt > now) out.push(r.value);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Paired devices, in id order. */
  async devices(): Promise<DeviceView[]> {
    const out: DeviceView[] = [];
    for await (const r of this.#kv.list<DeviceRecord>({ prefix: DEVICES })) out.push(view(r.value));
    return out;
  }

  /**
   * Approves a request: the device is paired with `scopes` (default: those it asked for) and
   * collects its token on its next connect. `allowed` are the approver's own scopes: nobody
   * grants what they do not hold.
   */
  async approve(
    requestId: string,
    options: { scopes?: string[]; by: string; allowed: ReadonlySet<string> },
  ): Promise<DeviceView> {
    const { entry, request } = await this.#pendingRequest(requestId);
    const scopes = [...new Set(options.scopes ?? request.scopes)];
    const missing = scopes.find((s) => !options.allowed.has(s));
    if (missing) {
      throw new GatehouseError(
        "FORBIDDEN",
        `approving with ${missing} needs that scope, which this connection was not granted: ` +
          "approve with fewer scopes (params.scopes), or as an operator who holds it",
        { details: { missingScope: missing } },
      );
    }
    const record: DeviceRecord = {
      deviceId: request.deviceId,
      publicKey: request.publicKey,
      scopes,
      client: request.client,
      pairedAt: this.#clock.now(),
      pairedBy: options.by,
    };
    const done = await this.#kv.atomic().check(entry)
      .delete(entry.key).delete(deviceRequestOfKey(request.deviceId))
      .delete(deviceRejectedKey(request.deviceId))
      .set(deviceKey(request.deviceId), record).commit();
    if (!done.ok) throw changed();
    this.#events.publish("device.pair.resolved", {
      requestId: request.requestId,
      deviceId: request.deviceId,
      decision: "approved",
      by: options.by,
    });
    return view(record);
  }

  /** Rejects a request; the device's connects are refused for ten minutes. */
  async reject(requestId: string, by: string): Promise<DevicePairRequest> {
    const { entry, request } = await this.#pendingRequest(requestId);
    const until = this.#clock.now() + REQUEST_TTL_MS;
    const done = await this.#kv.atomic().check(entry)
      .delete(entry.key).delete(deviceRequestOfKey(request.deviceId))
      .set(deviceRejectedKey(request.deviceId), until, { expireIn: REQUEST_TTL_MS }).commit();
    if (!done.ok) throw changed();
    this.#events.publish("device.pair.resolved", {
      requestId: request.requestId,
      deviceId: request.deviceId,
      decision: "rejected",
      by,
    });
    return request;
  }

  /**
   * Ends a device's token at once: `rotate` keeps it paired (it collects a new token on its next
   * signed connect), `revoke` unpairs it. Either closes its open sockets; returns how many.
   */
  async end(deviceId: string, how: "rotate" | "revoke"): Promise<number> {
    const entry = await this.#kv.get<DeviceRecord>(deviceKey(deviceId));
    if (!entry.value) {
      throw new GatehouseError(
        "NOT_FOUND",
        `no paired device ${JSON.stringify(deviceId)}: device.pair.list shows them`,
      );
    }
    // Bump first: a connect of this device that is between its checks and hello-ok fails too.
    this.#epochs.set(deviceId, this.epoch(deviceId) + 1);
    const op = this.#kv.atomic().check(entry);
    if (how === "revoke") op.delete(entry.key);
    else {
      const { tokenHash: _h, tokenIssuedAt: _t, ...rest } = entry.value;
      op.set(entry.key, rest);
    }
    if (!(await op.commit()).ok) throw changed();
    return this.#endSockets(deviceId, how === "revoke" ? "device revoked" : "device token rotated");
  }

  async #pendingRequest(requestId: string) {
    const id = requestId.trim().toUpperCase();
    const entry = await this.#kv.get<DevicePairRequest>(deviceRequestKey(id));
    const request = entry.value;
    if (!request || request.expiresAt <= this.#clock.now()) {
      throw new GatehouseError(
        "NOT_FOUND",
        `no pending device pairing request ${JSON.stringify(requestId)}: it was answered ` +
          "already, expired (requests last 10 minutes) or mistyped; `gatehouse pairing list` " +
          "shows the pending ones",
      );
    }
    return { entry, request };
  }
}

function view(r: DeviceRecord): DeviceView {
  return {
    deviceId: r.deviceId,
    publicKey: r.publicKey,
    scopes: r.scopes,
    client: r.client,
    pairedAt: r.pairedAt,
    pairedBy: r.pairedBy,
    tokenIssuedAt: r.tokenIssuedAt ?? null,
  };
}

const changed = () =>
  new GatehouseError("UNAVAILABLE", "the device's pairing changed meanwhile; try again", {
    retryable: true,
  });

/** Eight letters from the alphabet, uniformly. */
function newRequestId(): string {
  const limit = 256 - (256 % ALPHABET.length);
  let id = "";
  while (id.length < 8) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b < limit && id.length < 8) id += ALPHABET[b % ALPHABET.length];
    }
  }
  return id;
}

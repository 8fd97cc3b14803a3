/**
 * Device identity on the wire: the id of a public key, the payload a device signs in `connect`,
 * and the checks of that signature (nonce, clock skew, id, Ed25519). Shared by the gateway, which
 * verifies, and the CLI, which signs. WebCrypto only.
 */
import type { Clock } from "../kernel/mod.ts";

/** How far `device.signedAt` may be from the gateway's clock, either way. */
export const SIGNED_AT_SKEW_MS = 120_000;

/** The `device` object of `connect` params, as parsed. */
export interface DeviceProof {
  id: string;
  publicKey: string;
  signature: string;
  signedAt: number;
  nonce: string;
}

/** Why a device was refused; `details.reason` of the `AUTH_FAILED` error. */
export type DeviceRefusal =
  | "device-nonce"
  | "device-signed-at"
  | "device-id"
  | "device-key"
  | "device-signature"
  | "device-token";

/** A verified device, or why not. */
export type DeviceCheck =
  | { ok: true; id: string; publicKey: string }
  | { ok: false; reason: DeviceRefusal; message: string };

const encoder = new TextEncoder();

/** Bytes as base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** base64url (padding optional) to bytes, or undefined when it is not base64url. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return undefined;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/").replace(/=+$/, ""));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** Lower-case hex of some bytes. */
export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A device id: the SHA-256 of its raw 32-byte public key, in hex. */
export async function deviceIdOf(rawPublicKey: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", rawPublicKey));
}

/** SHA-256 of a string, in hex (device tokens are stored as this). */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * The text a device signs: six lines, the declared scopes deduplicated and sorted (`*` when the
 * client declared none), so that no field of the grant can be changed without breaking it.
 */
export function connectPayload(
  p: {
    nonce: string;
    signedAt: number;
    role: string;
    scopes?: readonly string[];
    deviceId: string;
  },
): string {
  const scopes = p.scopes ? [...new Set(p.scopes)].sort().join(",") : "*";
  return ["gatehouse-connect-v1", p.nonce, String(p.signedAt), p.role, scopes, p.deviceId].join(
    "\n",
  );
}

/**
 * Nonces already used, remembered for twice the skew window: a signed `connect` replayed on
 * another socket is refused even if it was signed over that socket's nonce somehow.
 */
export class NonceBook {
  #used = new Map<string, number>();
  #clock: Clock;
  #ttlMs: number;

  constructor(clock: Clock, ttlMs = 2 * SIGNED_AT_SKEW_MS) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** Marks `nonce` used; false when it already was. */
  use(nonce: string): boolean {
    const now = this.#clock.now();
    // Entries are added in time order, so the stale ones are at the front.
    for (const [n, until] of this.#used) {
      if (until > now) break;
      this.#used.delete(n);
    }
    if (this.#used.has(nonce)) return false;
    this.#used.set(nonce, now + this.#ttlMs);
    return true;
  }
}

/**
 * Verifies a device's proof for one socket: the nonce is the socket's challenge and unused, the
 * time is within the skew, the id is the hash of the key, and the signature verifies.
 */
export async function verifyDevice(
  device: DeviceProof,
  expect: {
    nonce: string;
    role: string;
    scopes?: readonly string[];
    clock: Clock;
    nonces: NonceBook;
  },
): Promise<DeviceCheck> {
  if (device.nonce !== expect.nonce || !expect.nonces.use(device.nonce)) {
    return {
      ok: false,
      reason: "device-nonce",
      message:
        "device.nonce is not this connection's challenge nonce, or it was used already: sign the nonce of the connect.challenge just received",
    };
  }
  const skew = device.signedAt - expect.clock.now();
  if (Math.abs(skew) > SIGNED_AT_SKEW_MS) {
    return {
      ok: false,
      reason: "device-signed-at",
      message: `device.signedAt is ${Math.round(Math.abs(skew) / 1000)} s ${
        skew < 0 ? "behind" : "ahead of"
      } the gateway's clock (at most ${
        SIGNED_AT_SKEW_MS / 1000
      } s allowed): check this machine's clock`,
    };
  }
  const raw = fromBase64Url(device.publicKey);
  if (!raw || raw.length !== 32 || device.id !== await deviceIdOf(raw)) {
    return {
      ok: false,
      reason: "device-id",
      message:
        "device.id is not the SHA-256 (hex) of device.publicKey (32 raw Ed25519 bytes, base64url)",
    };
  }
  const signature = fromBase64Url(device.signature);
  let valid = false;
  if (signature && signature.length === 64) {
    try {
      const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, [
        "verify",
      ]);
      valid = await crypto.subtle.verify(
        { name: "Ed25519" },
        key,
        signature,
        encoder.encode(connectPayload({
          nonce: device.nonce,
          signedAt: device.signedAt,
          role: expect.role,
          scopes: expect.scopes,
          deviceId: device.id,
        })),
      );
    } catch {
      valid = false;
    }
  }
  if (!valid) {
    return {
      ok: false,
      reason: "device-signature",
      message:
        "device.signature does not verify: sign gatehouse-connect-v1, nonce, signedAt, role, scopes and id as docs/protocol.md (Devices) says",
    };
  }
  return { ok: true, id: device.id, publicKey: device.publicKey };
}

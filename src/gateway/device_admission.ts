/**
 * Who gets in with a verified device, in token mode (docs/protocol.md, Devices): the decision as
 * data. Scopes of a device come from its record, never from what it declares; the gateway token
 * keeps its own meaning (the operator), and pairs a new device only from a loopback peer.
 */
import { GatehouseError } from "../kernel/mod.ts";
import type { DeviceClient, DeviceRecord, DeviceStore } from "./devices.ts";
import { type Scope, SCOPES } from "./protocol.ts";

/** What the connection knows when it asks. */
export interface DeviceAdmissionInput {
  deviceId: string;
  publicKey: string;
  client: DeviceClient;
  /** The `scopes` of `connect`, when sent. */
  declared?: Scope[];
  /** The gateway token was sent and is right. */
  gatewayToken: boolean;
  /** What the gateway token grants this connection (every scope, or the declared ones). */
  gatewayScopes: Scope[];
  /** `auth.deviceToken`, when sent. */
  deviceToken?: string;
  /** The peer address. */
  source: string;
  /** The peer is loopback. */
  local: boolean;
}

/** The decision. `authFailure` says whether it counts towards the lockout. */
export type DeviceAdmission =
  | { admit: true; scopes: Scope[]; deviceToken?: string; epoch: number }
  | { admit: false; error: GatehouseError; close: string; authFailure: boolean };

const refuse = (error: GatehouseError, close: string, authFailure: boolean): DeviceAdmission => ({
  admit: false,
  error,
  close,
  authFailure,
});

/** Decides for a device whose signature was verified. */
export async function admitDevice(
  devices: DeviceStore,
  input: DeviceAdmissionInput,
): Promise<DeviceAdmission> {
  const epoch = devices.epoch(input.deviceId);
  const record = await devices.get(input.deviceId);
  if (record && record.publicKey !== input.publicKey) {
    // The id is the hash of the key, so this means a forged or corrupted record: refuse.
    return refuse(
      new GatehouseError(
        "AUTH_FAILED",
        `device ${short(input.deviceId)} is paired with another public key`,
        { details: { reason: "device-key" } },
      ),
      "auth failed",
      true,
    );
  }
  let byDeviceToken = false;
  if (input.deviceToken !== undefined) {
    if (!record || !(await devices.tokenMatches(record, input.deviceToken))) {
      return refuse(
        new GatehouseError(
          "AUTH_FAILED",
          `auth.deviceToken is not the current token of device ${short(input.deviceId)} ` +
            "(revoked, rotated or another device's): connect without it to see what to do next",
          { details: { reason: "device-token" } },
        ),
        "auth failed",
        true,
      );
    }
    byDeviceToken = true;
  }
  if (record) {
    // The gateway token is the operator's; a device token or key alone gets the record's scopes.
    const scopes = input.gatewayToken ? input.gatewayScopes : narrow(record, input.declared);
    if (byDeviceToken || input.gatewayToken) {
      return record.tokenHash
        ? { admit: true, scopes, epoch }
        : { admit: true, scopes, epoch, deviceToken: await devices.issueToken(record.deviceId) };
    }
    if (!record.tokenHash) {
      // Approved by an operator (or rotated): the key alone collects the new token, once.
      return {
        admit: true,
        scopes,
        epoch,
        deviceToken: await devices.issueToken(record.deviceId),
      };
    }
    return refuse(
      new GatehouseError(
        "AUTH_REQUIRED",
        `device ${short(input.deviceId)} is paired: send its auth.deviceToken (lost it? an ` +
          "operator can run device.token.rotate, then connect again to collect a new one)",
      ),
      "auth failed",
      true,
    );
  }
  if (input.gatewayToken && input.local) {
    const paired = await devices.pairAuto(input, input.gatewayScopes);
    return {
      admit: true,
      scopes: input.gatewayScopes,
      epoch,
      deviceToken: await devices.issueToken(paired.deviceId),
    };
  }
  const rejectedMs = await devices.rejectedFor(input.deviceId);
  if (rejectedMs > 0) {
    return refuse(
      new GatehouseError(
        "PAIRING_REQUIRED",
        `device ${short(input.deviceId)} was rejected by an operator: ask them to expect it, ` +
          `then connect again after ${
            Math.ceil(rejectedMs / 60_000)
          } min to file a new pairing request`,
        { details: { deviceId: input.deviceId, rejected: true }, retryAfterMs: rejectedMs },
      ),
      "pairing required",
      false,
    );
  }
  const request = await devices.request(input, input.declared ?? [...SCOPES], input.source);
  const approveCommand = `gatehouse pairing approve ${request.requestId}`;
  return refuse(
    new GatehouseError(
      "PAIRING_REQUIRED",
      `device ${short(input.deviceId)} is not paired yet: pairing request ${request.requestId} ` +
        `waits for an operator; on the gateway host run \`${approveCommand}\` (or approve it on ` +
        "the page), then connect again",
      {
        details: {
          deviceId: input.deviceId,
          requestId: request.requestId,
          approveCommand,
          expiresAt: request.expiresAt,
        },
      },
    ),
    "pairing required",
    false,
  );
}

/** The record's scopes, narrowed to the declared ones when the client declared any. */
function narrow(record: DeviceRecord, declared?: Scope[]): Scope[] {
  const recorded = record.scopes.filter((s): s is Scope =>
    (SCOPES as readonly string[]).includes(s)
  );
  return declared ? recorded.filter((s) => declared.includes(s)) : recorded;
}

const short = (id: string) => `${id.slice(0, 8)}…`;

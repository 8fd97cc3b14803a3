/**
 * `gatehouse pairing`: who may talk to the gateway on each channel, and which devices may drive
 * it; approve or reject a stranger's code or a device's request, revoke or rotate what was given.
 */
import type { PairedUser, PairingRequest } from "../channels/pairing.ts";
import type { DeviceView } from "../gateway/devices.ts";
import type { DevicePairRequest } from "../kernel/mod.ts";
import type { GatewayClient } from "./client.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

type DeviceList = { pending: DevicePairRequest[]; devices: DeviceView[] };

export const pairing: Command = {
  name: "pairing",
  summary: "list pairing requests, users and devices; approve, reject or revoke one",
  usage: `gatehouse pairing [list [CHANNEL|devices]] [--json]
gatehouse pairing approve REQUEST_ID [--scopes S1,S2]   a device's pairing request
gatehouse pairing reject REQUEST_ID
gatehouse pairing revoke DEVICE_ID                      unpair a device (its sockets close)
gatehouse pairing rotate DEVICE_ID                      end a device's token; it collects a new one
gatehouse pairing approve CHANNEL CODE                  a stranger's code on a channel
gatehouse pairing revoke CHANNEL USER_ID

A stranger who writes to the gateway on a channel (dm_policy = "pairing") gets an 8-character
code, valid one hour, and no answer from the model. Approving the code lets them talk to it; the
first user approved on a channel becomes its owner.

A device (a CLI install, a browser) that connects from another machine without being paired gets
PAIRING_REQUIRED and an 8-character request id, valid ten minutes. Approving it pairs the device
with the scopes it asked for (or --scopes); it collects its own token on its next connect. A
device id may be shortened to a unique prefix of at least 8 characters.
${TARGET_USAGE}`,
  async run(args, env) {
    const { values, positionals } = parse(args, {
      ...TARGET_OPTIONS,
      json: { type: "boolean" },
      scopes: { type: "string" },
    });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const [action = "list", ...rest] = positionals;
    const device = rest.length === 1;
    if (action === "approve" || action === "revoke") {
      if (rest.length !== 1 && rest.length !== 2) {
        throw new UsageError(
          `${action} needs ${action === "approve" ? "REQUEST_ID" : "DEVICE_ID"}, or CHANNEL ${
            action === "approve" ? "CODE" : "USER_ID"
          }`,
        );
      }
    } else if (action === "reject" || action === "rotate") {
      if (rest.length !== 1) {
        throw new UsageError(`${action} needs ${action === "reject" ? "REQUEST_ID" : "DEVICE_ID"}`);
      }
    } else if (action === "list") {
      if (rest.length > 1) throw new UsageError("list takes at most a CHANNEL (or devices)");
    } else {
      throw new UsageError(
        `unknown action ${JSON.stringify(action)}: use list, approve, reject, revoke or rotate`,
      );
    }
    if (values.scopes !== undefined && !(action === "approve" && device)) {
      throw new UsageError("--scopes goes only with approve REQUEST_ID (a device)");
    }
    const client = await connectTarget(values as TargetFlags, env);
    try {
      if (action === "approve" && device) {
        const scopes = typeof values.scopes === "string"
          ? values.scopes.split(",").map((s) => s.trim()).filter(Boolean)
          : undefined;
        const r = await client.request<{ device: DeviceView }>("device.pair.approve", {
          requestId: rest[0],
          ...(scopes ? { scopes } : {}),
        });
        console.log(
          `approved device ${r.device.deviceId.slice(0, 12)} (${describeClient(r.device)}) ` +
            `with ${r.device.scopes.join(", ") || "no scopes"}; it collects its token when it ` +
            "connects again",
        );
        return 0;
      }
      if (action === "approve") {
        const { user } = await client.request<{ user: PairedUser }>("channels.pairing.approve", {
          channel: rest[0],
          code: rest[1],
        });
        console.log(
          `approved ${rest[0]} user ${user.id}${user.username ? ` (@${user.username})` : ""}${
            user.owner ? "; they own this channel" : ""
          }`,
        );
        return 0;
      }
      if (action === "reject") {
        const r = await client.request<{ deviceId: string }>("device.pair.reject", {
          requestId: rest[0],
        });
        console.log(
          `rejected the pairing request of device ${
            r.deviceId.slice(0, 12)
          }; it may ask again in 10 minutes`,
        );
        return 0;
      }
      if (action === "rotate" || (action === "revoke" && device)) {
        const deviceId = await resolveDeviceId(client, rest[0]);
        const r = await client.request<{ closed: number }>(
          action === "rotate" ? "device.token.rotate" : "device.token.revoke",
          { deviceId },
        );
        const sockets = `${r.closed} open connection${r.closed === 1 ? "" : "s"} closed`;
        console.log(
          action === "rotate"
            ? `rotated the token of device ${
              deviceId.slice(0, 12)
            } (${sockets}); it collects a new one when it connects again`
            : `revoked device ${deviceId.slice(0, 12)} (${sockets}); it must be paired again`,
        );
        return 0;
      }
      if (action === "revoke") {
        await client.request("channels.pairing.revoke", { channel: rest[0], userId: rest[1] });
        console.log(`revoked ${rest[0]} user ${rest[1]}`);
        return 0;
      }
      const only = rest[0];
      const channels = only === "devices"
        ? { pending: [], approved: [] }
        : await client.request<{ pending: PairingRequest[]; approved: PairedUser[] }>(
          "channels.pairing.list",
          only ? { channel: only } : {},
        );
      const devices: DeviceList = only && only !== "devices"
        ? { pending: [], devices: [] }
        : await client.request<DeviceList>("device.pair.list");
      if (values.json) {
        console.log(JSON.stringify({ ...channels, devices }, null, 2));
        return 0;
      }
      const now = Date.now();
      const rows = [["CHANNEL", "USER", "NAME", "STATE"]];
      for (const p of channels.pending) {
        const left = Math.max(0, Math.round((p.expiresAt - now) / 60_000));
        rows.push([
          p.channel,
          p.id,
          p.username ?? p.name ?? "-",
          `code ${p.code} (${left} min left)`,
        ]);
      }
      for (const u of channels.approved) {
        rows.push([u.channel, u.id, u.username ?? u.name ?? "-", u.owner ? "owner" : "approved"]);
      }
      for (const r of devices.pending) {
        const left = Math.max(0, Math.round((r.expiresAt - now) / 60_000));
        rows.push([
          "device",
          r.deviceId.slice(0, 12),
          `${describeClient(r)} from ${r.source}`,
          `request ${r.requestId} (${left} min left; asks ${
            r.scopes.join(",") || "no scopes"
          }): gatehouse pairing approve ${r.requestId}`,
        ]);
      }
      for (const d of devices.devices) {
        rows.push([
          "device",
          d.deviceId.slice(0, 12),
          describeClient(d),
          `paired (${d.scopes.join(",") || "no scopes"})${
            d.tokenIssuedAt === null ? ", token not collected yet" : ""
          }`,
        ]);
      }
      console.log(
        rows.length > 1 ? alignedTable(rows) : "no pairing requests, paired users or devices",
      );
      return 0;
    } finally {
      await client.close();
    }
  },
};

function describeClient(d: { client: DevicePairRequest["client"] }): string {
  const c = d.client;
  return `${c.displayName ?? c.id} ${c.platform}/${c.mode}`;
}

/** A full device id from a unique prefix (≥ 8 hex digits) of a paired device's id. */
async function resolveDeviceId(client: GatewayClient, given: string): Promise<string> {
  const id = given.trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(id)) return id;
  if (!/^[0-9a-f]{8,63}$/.test(id)) {
    throw new UsageError(
      `${JSON.stringify(given)} is not a device id: give at least its first 8 hex digits ` +
        "(`gatehouse pairing list` shows them)",
    );
  }
  const { devices } = await client.request<DeviceList>("device.pair.list");
  const matches = devices.filter((d) => d.deviceId.startsWith(id));
  if (matches.length !== 1) {
    throw new UsageError(
      matches.length === 0
        ? `no paired device starts with ${id}: \`gatehouse pairing list devices\` shows them`
        : `${matches.length} devices start with ${id}: give more of the id`,
    );
  }
  return matches[0].deviceId;
}

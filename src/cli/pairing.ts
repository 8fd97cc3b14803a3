/** `gatehouse pairing`: who may talk to the gateway on each channel; approve a stranger's code. */
import type { PairedUser, PairingRequest } from "../channels/pairing.ts";
import { type Command, parse, UsageError } from "./command.ts";
import { alignedTable } from "./table.ts";
import { connectTarget, TARGET_OPTIONS, TARGET_USAGE, type TargetFlags } from "./target.ts";

export const pairing: Command = {
  name: "pairing",
  summary: "list pairing codes and users; approve or revoke one",
  usage: `gatehouse pairing [list [CHANNEL]] [--json]
gatehouse pairing approve CHANNEL CODE
gatehouse pairing revoke CHANNEL USER_ID

A stranger who writes to the gateway on a channel (dm_policy = "pairing") gets an 8-character
code, valid one hour, and no answer from the model. Approving the code lets them talk to it; the
first user approved on a channel becomes its owner.
${TARGET_USAGE}`,
  async run(args, env) {
    const { values, positionals } = parse(args, { ...TARGET_OPTIONS, json: { type: "boolean" } });
    if (values.help) {
      console.log(this.usage);
      return 0;
    }
    const [action = "list", ...rest] = positionals;
    const need = (n: number, what: string) => {
      if (rest.length !== n) throw new UsageError(`${action} needs ${what}`);
    };
    if (action === "approve") need(2, "CHANNEL CODE");
    else if (action === "revoke") need(2, "CHANNEL USER_ID");
    else if (action === "list") {
      if (rest.length > 1) throw new UsageError("list takes at most a CHANNEL");
    } else {throw new UsageError(
        `unknown action ${JSON.stringify(action)}: use list, approve or revoke`,
      );}
    const client = await connectTarget(values as TargetFlags, env);
    try {
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
      if (action === "revoke") {
        await client.request("channels.pairing.revoke", { channel: rest[0], userId: rest[1] });
        console.log(`revoked ${rest[0]} user ${rest[1]}`);
        return 0;
      }
      const r = await client.request<{ pending: PairingRequest[]; approved: PairedUser[] }>(
        "channels.pairing.list",
        rest[0] ? { channel: rest[0] } : {},
      );
      if (values.json) {
        console.log(JSON.stringify(r, null, 2));
        return 0;
      }
      const rows = [["CHANNEL", "USER", "NAME", "STATE"]];
      for (const p of r.pending) {
        const left = Math.max(0, Math.round((p.expiresAt - Date.now()) / 60_000));
        rows.push([
          p.channel,
          p.id,
          p.username ?? p.name ?? "-",
          `code ${p.code} (${left} min left)`,
        ]);
      }
      for (const u of r.approved) {
        rows.push([u.channel, u.id, u.username ?? u.name ?? "-", u.owner ? "owner" : "approved"]);
      }
      console.log(rows.length > 1 ? alignedTable(rows) : "no pairing codes and no paired users");
      return 0;
    } finally {
      await client.close();
    }
  },
};

/**
 * The CLI's device: its key file (0600), the device token it keeps for a `--url` gateway, and
 * `gatehouse pairing` listing, approving and rejecting device requests next to Telegram codes.
 */
import assert from "node:assert/strict";
import { ClientError, GatewayClient } from "../src/cli/client.ts";
import { DeviceIdentity, DeviceTokens, loadDeviceIdentity } from "../src/cli/device_identity.ts";
import { pairing } from "../src/cli/pairing.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

/** Runs `gatehouse pairing …` in process; returns what it printed. */
async function runPairing(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.join(" "));
  try {
    const code = await pairing.run(args, (name) => env[name]);
    return { code, out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("the CLI's device key is made once, kept with mode 0600, and read back", async () => {
  const home = await Deno.makeTempDir({ prefix: "gatehouse-device-" });
  try {
    const a = await loadDeviceIdentity(home);
    assert.ok(a);
    assert.match(a.id, /^[0-9a-f]{64}$/);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${home}/device.json`)).mode! & 0o777, 0o600);
    }
    const b = await loadDeviceIdentity(home);
    assert.equal(b?.id, a.id);
    assert.equal(b?.publicKey, a.publicKey);
    // The key read back signs what the first one would verify with.
    const text = await Deno.readTextFile(`${home}/device.json`);
    const c = await DeviceIdentity.parse(text);
    assert.equal(c.id, a.id);
    const tokens = new DeviceTokens(home);
    assert.equal(await tokens.get("ws://x/ws"), undefined);
    assert.ok(await tokens.set("ws://x/ws", "gd_abc"));
    assert.equal(await tokens.get("ws://x/ws"), "gd_abc");
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${home}/device-token`)).mode! & 0o777, 0o600);
    }
    // A key file whose id does not match its key is not used.
    const forged = JSON.parse(text);
    forged.id = "0".repeat(64);
    await assert.rejects(DeviceIdentity.parse(JSON.stringify(forged)), /does not match/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("gatehouse pairing lists, approves and rejects device requests beside channel codes", async (t) => {
  let local = true;
  await using gw = await startTestGateway({ isLocalPeer: () => local });
  const cliHome = await Deno.makeTempDir({ prefix: "gatehouse-cli-" });
  const env = { GATEHOUSE_HOME: cliHome, GATEHOUSE_TOKEN: gw.token };
  const url = ["--url", gw.wsUrl];

  await t.step("through a tunnel (loopback) the CLI is paired and keeps its token", async () => {
    const r = await runPairing(["list", ...url], env);
    assert.equal(r.code, 0);
    assert.match(r.out, /device .* paired \(operator\.read,/);
    const kept = await new DeviceTokens(cliHome).get(gw.wsUrl);
    assert.match(kept ?? "", /^gd_/);
  });

  local = false;
  const phone = (await DeviceIdentity.generate()).identity;
  const ask = async () => {
    const err = await GatewayClient.connect(gw.wsUrl, {
      device: phone,
      scopes: ["operator.read", "operator.write"],
    }).catch((e) => e);
    assert.ok(err instanceof ClientError && err.code === "PAIRING_REQUIRED", String(err));
    return (err.details as { requestId: string }).requestId;
  };

  await t.step("a remote device's request shows with the command that approves it", async () => {
    const requestId = await ask();
    const r = await runPairing(["list", ...url], env);
    assert.equal(r.code, 0);
    assert.ok(r.out.includes(`gatehouse pairing approve ${requestId}`), r.out);
    assert.ok(r.out.includes(phone.id.slice(0, 12)), r.out);
    const json = await runPairing(["list", "--json", ...url], env);
    const parsed = JSON.parse(json.out);
    assert.deepEqual(parsed.pending, []);
    assert.equal(parsed.devices.pending[0].requestId, requestId);
  });

  await t.step("reject REQUEST_ID refuses the device for a while", async () => {
    const requestId = await ask();
    const rejected = await runPairing(["reject", requestId, ...url], env);
    assert.equal(rejected.code, 0);
    assert.match(rejected.out, /rejected the pairing request/);
    const err = await GatewayClient.connect(gw.wsUrl, { device: phone }).catch((e) => e);
    assert.equal((err.details as { rejected?: boolean }).rejected, true);
  });

  await t.step("approve REQUEST_ID pairs a device; the device then connects", async () => {
    const other = (await DeviceIdentity.generate()).identity;
    const err = await GatewayClient.connect(gw.wsUrl, { device: other }).catch((e) => e);
    const requestId = (err.details as { requestId: string }).requestId;
    const approved = await runPairing(
      ["approve", requestId, "--scopes", "operator.read", ...url],
      env,
    );
    assert.equal(approved.code, 0, approved.out);
    assert.match(approved.out, /approved device .* with operator\.read/);
    const c = await GatewayClient.connect(gw.wsUrl, { device: other });
    assert.deepEqual((c.hello.auth as { scopes: string[] }).scopes, ["operator.read"]);
    await c.close();
    const revoked = await runPairing(["revoke", other.id.slice(0, 10), ...url], env);
    assert.equal(revoked.code, 0, revoked.out);
    assert.match(revoked.out, /revoked device/);
  });

  await t.step("a rotated kept token is forgotten and replaced on the next run", async () => {
    const tokens = new DeviceTokens(cliHome);
    const before = await tokens.get(gw.wsUrl);
    const cli = await loadDeviceIdentity(cliHome);
    const op = await gw.client();
    await op.request("device.token.rotate", { deviceId: cli!.id });
    await op.close();
    const r = await runPairing(["list", ...url], env);
    assert.equal(r.code, 0);
    const after = await tokens.get(gw.wsUrl);
    assert.match(after ?? "", /^gd_/);
    assert.notEqual(after, before);
  });

  await t.step("approve telegram CODE still means a channel code", async () => {
    const err = await runPairing(["approve", "telegram", "ABCDEFGH", ...url], env).catch((e) => e);
    assert.ok(err instanceof ClientError, String(err));
    assert.equal(err.code, "NOT_FOUND");
    assert.match(err.message, /no pending telegram pairing code/);
  });

  await Deno.remove(cliHome, { recursive: true });
});

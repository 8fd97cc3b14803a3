/**
 * Device identity and pairing, attacked: forged, stale and replayed signatures, a swapped key, a
 * device claiming scopes it was not given, and tokens that must die at once when revoked.
 */
import assert from "node:assert/strict";
import { ClientError, GatewayClient } from "../../src/cli/client.ts";
import { DeviceIdentity } from "../../src/cli/device_identity.ts";
import {
  connectPayload,
  NonceBook,
  SIGNED_AT_SKEW_MS,
  verifyDevice,
} from "../../src/gateway/device_auth.ts";
import { FakeClock } from "../_helpers/fake_clock.ts";
import { startTestGateway } from "../_helpers/in_process.ts";
import { connectFrame, RawSocket } from "../_helpers/raw_socket.ts";

type ErrorBody = { code: string; message: string; details?: Record<string, unknown> };
const errOf = (frame: Record<string, unknown>) => frame.error as ErrorBody;
const helloAuth = (c: GatewayClient) =>
  c.hello.auth as { scopes: string[]; deviceId?: string; deviceToken?: string };

const newDevice = async () => (await DeviceIdentity.generate()).identity;

/** Opens a raw socket, reads its challenge, and sends `connect` built from the nonce. */
async function rawConnect(
  url: string,
  build: (nonce: string) => Promise<Record<string, unknown>> | Record<string, unknown>,
): Promise<
  { res: Record<string, unknown>; closed: Promise<{ code: number; reason: string }>; s: RawSocket }
> {
  const s = new RawSocket(url);
  const challenge = await s.next();
  const nonce = (challenge.payload as { nonce: string }).nonce;
  s.send(await build(nonce));
  const res = await s.next();
  return { res, closed: s.closed, s };
}

async function connectError(
  url: string,
  options: Parameters<typeof GatewayClient.connect>[1],
): Promise<ClientError> {
  const err = await GatewayClient.connect(url, options).then(
    (c) => {
      c.close();
      throw new Error("connect should have been refused");
    },
    (e) => e,
  );
  assert.ok(err instanceof ClientError, String(err));
  return err;
}

Deno.test("a device with the gateway token from loopback is paired at once and gets its own token", async (t) => {
  await using gw = await startTestGateway();
  const device = await newDevice();
  const first = await GatewayClient.connect(gw.wsUrl, {
    token: gw.token,
    device,
    scopes: ["operator.read", "operator.write"],
  });
  const auth = helloAuth(first);
  assert.equal(auth.deviceId, device.id);
  assert.match(auth.deviceToken ?? "", /^gd_[A-Za-z0-9_-]{43}$/);
  await first.close();

  await t.step("the device token and key alone connect, with the recorded scopes", async () => {
    const c = await GatewayClient.connect(gw.wsUrl, { device, deviceToken: auth.deviceToken });
    assert.deepEqual(helloAuth(c).scopes.sort(), ["operator.read", "operator.write"]);
    assert.equal(helloAuth(c).deviceToken, undefined, "a token is shown once");
    await c.request("sessions.list");
    await c.close();
  });

  await t.step("declaring operator.admin does not grant it", async () => {
    const c = await GatewayClient.connect(gw.wsUrl, {
      device,
      deviceToken: auth.deviceToken,
      scopes: ["operator.read", "operator.admin", "operator.pairing"],
    });
    assert.deepEqual(helloAuth(c).scopes, ["operator.read"]);
    const err = await c.request("sessions.reset", { sessionKey: "agent:main:main" }).catch((e) =>
      e
    );
    assert.equal(err.code, "FORBIDDEN");
    assert.deepEqual(err.details, { missingScope: "operator.admin" });
    const pair = await c.request("device.pair.list").catch((e) => e);
    assert.equal(pair.code, "FORBIDDEN");
    await c.close();
  });

  await t.step("the key without its token is told to send the token", async () => {
    const err = await connectError(gw.wsUrl, { device });
    assert.equal(err.code, "AUTH_REQUIRED");
    assert.match(err.message, /send its auth\.deviceToken/);
  });

  await t.step("the token with another device's key is refused", async () => {
    const err = await connectError(gw.wsUrl, {
      device: await newDevice(),
      deviceToken: auth.deviceToken,
    });
    assert.equal(err.code, "AUTH_FAILED");
    assert.deepEqual(err.details, { reason: "device-token" });
  });

  await t.step("device.pair.list shows the device, without its token", async () => {
    const op = await gw.client();
    const list = await op.request<{ devices: Record<string, unknown>[] }>("device.pair.list");
    assert.equal(list.devices.length, 1);
    assert.equal(list.devices[0].deviceId, device.id);
    assert.equal(list.devices[0].pairedBy, "auto (loopback)");
    assert.ok(!JSON.stringify(list).includes(auth.deviceToken!));
  });
});

Deno.test("forged, stale, replayed and key-swapped device proofs are refused", async (t) => {
  await using gw = await startTestGateway();
  const device = await newDevice();
  const paired = await GatewayClient.connect(gw.wsUrl, { token: gw.token, device });
  const deviceToken = helloAuth(paired).deviceToken!;
  await paired.close();
  const frame = (device: unknown) => connectFrame(undefined, { auth: { deviceToken }, device });
  const refusedWith = async (
    res: Record<string, unknown>,
    closed: Promise<{ code: number; reason: string }>,
    reason: string,
  ) => {
    assert.equal(res.ok, false, JSON.stringify(res));
    assert.equal(errOf(res).code, "AUTH_FAILED");
    assert.deepEqual(errOf(res).details, { reason });
    assert.deepEqual(await closed, { code: 1008, reason: "auth failed" });
  };

  await t.step("a wrong signature", async () => {
    const impostor = await newDevice();
    const { res, closed } = await rawConnect(gw.wsUrl, async (nonce) => {
      const proof = await impostor.proof(nonce);
      // The paired device's id and key, signed by another key.
      return frame({ ...proof, id: device.id, publicKey: device.publicKey });
    });
    await refusedWith(res, closed, "device-signature");
  });

  await t.step("a signature over other scopes than those declared", async () => {
    const { res, closed } = await rawConnect(gw.wsUrl, async (nonce) =>
      connectFrame(undefined, {
        auth: { deviceToken },
        scopes: ["operator.read", "operator.admin"],
        device: await device.proof(nonce, { scopes: ["operator.read"] }),
      }));
    await refusedWith(res, closed, "device-signature");
  });

  await t.step("a stale signedAt", async () => {
    const { res, closed } = await rawConnect(
      gw.wsUrl,
      async (nonce) =>
        frame(await device.proof(nonce, { signedAt: Date.now() - SIGNED_AT_SKEW_MS - 5_000 })),
    );
    await refusedWith(res, closed, "device-signed-at");
  });

  await t.step("a signedAt from the future", async () => {
    const { res, closed } = await rawConnect(
      gw.wsUrl,
      async (nonce) =>
        frame(await device.proof(nonce, { signedAt: Date.now() + SIGNED_AT_SKEW_MS + 5_000 })),
    );
    await refusedWith(res, closed, "device-signed-at");
  });

  await t.step("a reused nonce: a captured connect replayed on another socket", async () => {
    let captured: Record<string, unknown> | undefined;
    const first = await rawConnect(gw.wsUrl, async (nonce) => {
      captured = frame(await device.proof(nonce));
      return captured;
    });
    assert.equal(first.res.ok, true, JSON.stringify(first.res));
    const replay = await rawConnect(gw.wsUrl, () => captured!);
    await refusedWith(replay.res, replay.closed, "device-nonce");
    await first.s[Symbol.asyncDispose]();
  });

  await t.step("a nonce that is not this socket's challenge", async () => {
    const { res, closed } = await rawConnect(
      gw.wsUrl,
      async () => frame(await device.proof(crypto.randomUUID())),
    );
    await refusedWith(res, closed, "device-nonce");
  });

  await t.step("a changed public key for a known device id", async () => {
    const other = await newDevice();
    const { res, closed } = await rawConnect(gw.wsUrl, async (nonce) => {
      // Signed correctly by the other key, but under the paired device's id.
      const proof = await other.proof(nonce);
      const payload = connectPayload({
        nonce,
        signedAt: proof.signedAt,
        role: "operator",
        deviceId: device.id,
      });
      return frame({ ...proof, id: device.id, signature: await other.sign(payload) });
    });
    await refusedWith(res, closed, "device-id");
  });

  await t.step("even with the right gateway token, a bad proof is refused", async () => {
    const { res, closed } = await rawConnect(
      gw.wsUrl,
      async (nonce) =>
        connectFrame(gw.token, {
          device: await device.proof(nonce, { signedAt: Date.now() - 10 * 60_000 }),
        }),
    );
    await refusedWith(res, closed, "device-signed-at");
  });
});

Deno.test("the signature window is ±120 s of the gateway's clock, and each nonce is used once", async () => {
  const clock = new FakeClock();
  const nonces = new NonceBook(clock);
  const device = await newDevice();
  const check = async (nonce: string, signedAt: number) =>
    await verifyDevice(await device.proof(nonce, { signedAt }), {
      nonce,
      role: "operator",
      clock,
      nonces,
    });
  const now = clock.now();
  assert.equal((await check("n1", now - 120_000)).ok, true);
  assert.equal((await check("n2", now + 120_000)).ok, true);
  assert.deepEqual(
    [(await check("n3", now - 120_001)) as { reason?: string }].map((r) => r.reason),
    ["device-signed-at"],
  );
  assert.equal(((await check("n1", now)) as { reason?: string }).reason, "device-nonce");
  // A used nonce is remembered for twice the window, then forgotten.
  await clock.advance(2 * SIGNED_AT_SKEW_MS + 1);
  assert.equal((await check("n1", clock.now())).ok, true);
});

Deno.test("a revoked device token stops working at once, on open sockets too", async (t) => {
  await using gw = await startTestGateway();
  const op = await gw.client();
  const device = await newDevice();
  const first = await GatewayClient.connect(gw.wsUrl, { token: gw.token, device });
  const deviceToken = helloAuth(first).deviceToken!;
  await first.close();

  await t.step("rotate: the open socket is closed and the old token refused", async () => {
    const open = await GatewayClient.connect(gw.wsUrl, { device, deviceToken });
    await open.request("health");
    const r = await op.request<{ closed: number }>("device.token.rotate", { deviceId: device.id });
    assert.equal(r.closed, 1);
    assert.deepEqual(await open.closed, { code: 1008, reason: "device token rotated" });
    const err = await open.request("health").catch((e) => e);
    assert.equal(err.code, "CLOSED");
    const refused = await connectError(gw.wsUrl, { device, deviceToken });
    assert.deepEqual(refused.details, { reason: "device-token" });
  });

  let rotated = "";
  await t.step("after a rotate, the key collects a new token once", async () => {
    const c = await GatewayClient.connect(gw.wsUrl, { device });
    rotated = helloAuth(c).deviceToken!;
    assert.ok(rotated && rotated !== deviceToken);
    await c.close();
  });

  await t.step("revoke: open sockets close, and the token is refused from then on", async () => {
    const a = await GatewayClient.connect(gw.wsUrl, { device, deviceToken: rotated });
    const b = await GatewayClient.connect(gw.wsUrl, { device, deviceToken: rotated });
    const events: string[] = [];
    a.onEvent((e) => events.push(e.event));
    const r = await op.request<{ closed: number }>("device.token.revoke", { deviceId: device.id });
    assert.equal(r.closed, 2);
    assert.deepEqual(await a.closed, { code: 1008, reason: "device revoked" });
    assert.deepEqual(await b.closed, { code: 1008, reason: "device revoked" });
    // Nothing reached the revoked sockets after the revoke.
    await op.request("sessions.patch", { sessionKey: "agent:main:main", label: "x" });
    assert.deepEqual(events, []);
    const refused = await connectError(gw.wsUrl, { device, deviceToken: rotated });
    assert.equal(refused.code, "AUTH_FAILED");
    const list = await op.request<{ devices: unknown[] }>("device.pair.list");
    assert.deepEqual(list.devices, []);
  });

  await t.step("an unknown device id is NOT_FOUND", async () => {
    const err = await op.request("device.token.revoke", { deviceId: "0".repeat(64) }).catch((
      e,
    ) => e);
    assert.equal(err.code, "NOT_FOUND");
  });
});

Deno.test("a device from a remote peer must be approved by an operator", async (t) => {
  await using gw = await startTestGateway({ isLocalPeer: () => false });
  const op = await gw.client();
  const requested: Record<string, unknown>[] = [];
  const resolved: Record<string, unknown>[] = [];
  op.onEvent((e) => {
    if (e.event === "device.pair.requested") requested.push(e.payload);
    if (e.event === "device.pair.resolved") resolved.push(e.payload);
  });
  const reader = await gw.client({ scopes: ["operator.read"] });
  const readerEvents: string[] = [];
  reader.onEvent((e) => readerEvents.push(e.event));
  const device = await newDevice();
  let requestId = "";

  await t.step(
    "even with the gateway token it gets PAIRING_REQUIRED, saying what to do",
    async () => {
      const err = await connectError(gw.wsUrl, {
        token: gw.token,
        device,
        scopes: ["operator.read", "operator.write"],
      });
      assert.equal(err.code, "PAIRING_REQUIRED");
      const d = err.details as { requestId: string; approveCommand: string; deviceId: string };
      requestId = d.requestId;
      assert.match(requestId, /^[A-HJ-NP-Z2-9]{8}$/);
      assert.equal(d.approveCommand, `gatehouse pairing approve ${requestId}`);
      assert.equal(d.deviceId, device.id);
      assert.ok(err.message.includes(`gatehouse pairing approve ${requestId}`), err.message);
    },
  );

  await t.step("the operator is told; readers without operator.pairing are not", async () => {
    await op.request("health"); // events before this response have arrived
    assert.equal(requested.length, 1);
    assert.equal(requested[0].requestId, requestId);
    assert.deepEqual(requested[0].scopes, ["operator.read", "operator.write"]);
    await reader.request("health");
    assert.ok(!readerEvents.includes("device.pair.requested"));
  });

  await t.step("connecting again reuses the same request", async () => {
    const err = await connectError(gw.wsUrl, { device });
    assert.equal((err.details as { requestId: string }).requestId, requestId);
    const list = await op.request<{ pending: unknown[] }>("device.pair.list");
    assert.equal(list.pending.length, 1);
  });

  await t.step("an approver cannot grant a scope it does not hold", async () => {
    const limited = await gw.client({ scopes: ["operator.pairing", "operator.read"] });
    const err = await limited.request("device.pair.approve", {
      requestId,
      scopes: ["operator.admin"],
    }).catch((e) => e);
    assert.equal(err.code, "FORBIDDEN");
    assert.deepEqual(err.details, { missingScope: "operator.admin" });
  });

  await t.step("approved, the device collects its token and gets what was approved", async () => {
    const r = await op.request<{ device: { scopes: string[] } }>("device.pair.approve", {
      requestId: requestId.toLowerCase(),
      scopes: ["operator.read"],
    });
    assert.deepEqual(r.device.scopes, ["operator.read"]);
    assert.deepEqual(
      resolved.map((e) => [e.requestId, e.deviceId, e.decision]),
      [[requestId, device.id, "approved"]],
    );
    const c = await GatewayClient.connect(gw.wsUrl, { device, scopes: ["operator.admin"] });
    assert.deepEqual(
      helloAuth(c).scopes,
      [],
      "declared admin is not granted; read was not declared",
    );
    const token = helloAuth(c).deviceToken!;
    assert.ok(token);
    await c.close();
    const again = await GatewayClient.connect(gw.wsUrl, { device, deviceToken: token });
    assert.deepEqual(helloAuth(again).scopes, ["operator.read"]);
    await again.close();
    const answered = await op.request("device.pair.approve", { requestId }).catch((e) => e);
    assert.equal(answered.code, "NOT_FOUND");
  });

  await t.step("a rejected device is told so, and files no new request meanwhile", async () => {
    const stranger = await newDevice();
    const first = await connectError(gw.wsUrl, { device: stranger });
    const id = (first.details as { requestId: string }).requestId;
    await op.request("device.pair.reject", { requestId: id });
    const err = await connectError(gw.wsUrl, { device: stranger });
    assert.equal(err.code, "PAIRING_REQUIRED");
    assert.equal((err.details as { rejected?: boolean }).rejected, true);
    assert.match(err.message, /rejected/);
    const list = await op.request<{ pending: unknown[] }>("device.pair.list");
    assert.deepEqual(list.pending, []);
  });

  await t.step("no token and no device is still AUTH_REQUIRED", async () => {
    const err = await connectError(gw.wsUrl, {});
    assert.equal(err.code, "AUTH_REQUIRED");
  });
});

Deno.test("without the gateway token, a loopback device is not paired automatically", async () => {
  await using gw = await startTestGateway();
  const err = await connectError(gw.wsUrl, { device: await newDevice() });
  assert.equal(err.code, "PAIRING_REQUIRED");
});

Deno.test("strangers cannot flood the pairing list: at most 16 requests wait", async () => {
  await using gw = await startTestGateway({ isLocalPeer: () => false });
  for (let i = 0; i < 16; i++) {
    const err = await connectError(gw.wsUrl, { device: await newDevice() });
    assert.equal(err.code, "PAIRING_REQUIRED");
  }
  const err = await connectError(gw.wsUrl, { device: await newDevice() });
  assert.equal(err.code, "UNAVAILABLE");
  assert.match(err.message, /16 device pairing requests already wait/);
  const op = await gw.client();
  const list = await op.request<{ pending: unknown[] }>("device.pair.list");
  assert.equal(list.pending.length, 16);
});

/** Pairing: codes for strangers, approval by the operator, the first approved user owns the channel. */
import assert from "node:assert/strict";
import { CODE_TTL_MS, MAX_PENDING, PairingStore } from "../src/channels/pairing.ts";
import { FakeClock } from "./_helpers/fake_clock.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

async function store() {
  const kv = await Deno.openKv(":memory:");
  const clock = new FakeClock();
  return { kv, clock, pairing: await PairingStore.open(kv, clock), close: () => kv.close() };
}

Deno.test("a stranger gets one 8-character code, again on asking again; at most three wait", async () => {
  const s = await store();
  try {
    const first = await s.pairing.request("telegram", { id: "1", username: "ann" });
    assert.ok("code" in first);
    assert.match(first.code, /^[A-HJKMNP-Z2-9]{8}$/);
    assert.equal(first.expiresAt, s.clock.now() + CODE_TTL_MS);
    const again = await s.pairing.request("telegram", { id: "1" });
    assert.deepEqual(again, { ...first, reused: true });
    for (let i = 2; i <= MAX_PENDING; i++) await s.pairing.request("telegram", { id: String(i) });
    assert.deepEqual(await s.pairing.request("telegram", { id: "99" }), { full: true });
    assert.ok("code" in await s.pairing.request("other", { id: "99" }), "per channel");
  } finally {
    s.close();
  }
});

Deno.test("approving a code admits its user; the first one owns the channel; codes expire", async () => {
  const s = await store();
  try {
    const a = await s.pairing.request("telegram", { id: "10", name: "Ann" });
    const b = await s.pairing.request("telegram", { id: "20" });
    assert.ok("code" in a && "code" in b);
    const ann = await s.pairing.approve("telegram", a.code.toLowerCase(), "cli");
    assert.equal(ann.owner, true);
    assert.equal(await s.pairing.owner("telegram"), "10");
    assert.ok(s.pairing.isOwner("telegram", "10"));
    assert.ok(await s.pairing.isApproved("telegram", "10"));
    await assert.rejects(s.pairing.approve("telegram", a.code, "cli"), /already, expired/);
    await s.clock.advance(CODE_TTL_MS);
    await assert.rejects(
      s.pairing.approve("telegram", b.code, "cli"),
      (e: Error & { code?: string }) => e.code === "NOT_FOUND",
    );
    const c = await s.pairing.request("telegram", { id: "20" });
    assert.ok("code" in c && !c.reused, "an expired code is replaced");
    assert.equal((await s.pairing.approve("telegram", c.code, "cli")).owner, false);
    assert.ok(await s.pairing.revoke("telegram", "10"));
    assert.equal(s.pairing.isOwner("telegram", "10"), false);
    assert.equal(await s.pairing.owner("telegram"), undefined);
  } finally {
    s.close();
  }
});

Deno.test("pairing over the protocol needs operator.pairing", async () => {
  await using gw = await startTestGateway();
  const operator = await gw.client();
  const reader = await gw.client({ scopes: ["operator.read"] });
  const listed = await operator.request<{ pending: unknown[]; approved: unknown[] }>(
    "channels.pairing.list",
    {},
  );
  assert.deepEqual(listed, { pending: [], approved: [] });
  await assert.rejects(
    reader.request("channels.pairing.approve", { channel: "telegram", code: "ABCDEFGH" }),
    (e: Error & { code?: string }) => e.code === "FORBIDDEN",
  );
  await assert.rejects(
    operator.request("channels.pairing.approve", { channel: "telegram", code: "ABCDEFGH" }),
    (e: Error & { code?: string }) => e.code === "NOT_FOUND",
  );
});

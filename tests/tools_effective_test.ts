/**
 * `tools.effective` and `status` report what a turn actually gets: the origin is computed as the
 * turn computes it (the session key when it names channel and peer, else the message's source),
 * and the policy applies.
 */
import assert from "node:assert/strict";
import type { ToolDecision } from "../src/tools/mod.ts";
import { EventLog } from "./_helpers/events.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

const CONFIG = `
[tools]
deny = ["edit"]
[[tools.overrides]]
channel = "ws"
deny = ["web_fetch"]
[[tools.overrides]]
channel = "telegram"
deny = ["group:fs"]
`;

interface Effective {
  origin: { channel?: string; sender?: string };
  tools: ToolDecision[];
}

const on = (e: Effective) => e.tools.filter((d) => d.enabled).map((d) => d.name);

Deno.test("tools.effective shows what a turn sent from the same client is offered", async () => {
  await using gw = await startTestGateway({ config: CONFIG });
  const c = await gw.client();
  const log = new EventLog(c);
  const effective = await c.request<Effective>("tools.effective", {
    sessionKey: "agent:main:main",
  });
  assert.deepEqual(effective.origin, { channel: "ws" });
  const webFetch = effective.tools.find((d) => d.name === "web_fetch")!;
  assert.equal(webFetch.enabled, false);
  assert.equal(webFetch.reason, "tools.overrides[0].deny");

  gw.fake.script({ text: "hi" });
  const { runId } = await c.request<{ runId: string }>("chat.send", {
    sessionKey: "agent:main:main",
    message: "hello",
    idempotencyKey: crypto.randomUUID(),
  });
  assert.equal((await log.end(runId)).state, "final");
  const offered = (gw.fake.requests.at(-1)!.body.tools as { function: { name: string } }[])
    .map((t) => t.function.name);
  assert.deepEqual(on(effective), offered);
});

Deno.test("tools.effective asks as another sender would, but a key naming its peer decides", async () => {
  await using gw = await startTestGateway({ config: CONFIG });
  const c = await gw.client();
  const asTelegram = await c.request<Effective>("tools.effective", {
    sessionKey: "agent:main:main",
    channel: "telegram",
    sender: "42",
  });
  assert.deepEqual(asTelegram.origin, { channel: "telegram", sender: "42" });
  assert.deepEqual(on(asTelegram), ["time_now", "session_status", "web_fetch"]);

  // A turn in this session always has the key's channel and peer, whoever asks.
  const keyed = await c.request<Effective>("tools.effective", {
    sessionKey: "agent:main:telegram:direct:7",
    channel: "ws",
  });
  assert.deepEqual(keyed.origin, { channel: "telegram", sender: "7" });
  assert.deepEqual(on(keyed), on(asTelegram));
});

Deno.test("status lists the tools the policy gives the main session", async () => {
  await using gw = await startTestGateway({ config: CONFIG });
  const c = await gw.client();
  const status = await c.request<{ tools: string[] }>("status", {});
  const effective = await c.request<Effective>("tools.effective", {
    sessionKey: "agent:main:main",
  });
  assert.deepEqual(status.tools, on(effective));
  assert.deepEqual(status.tools, ["time_now", "session_status", "read", "write", "list", "cron"]);
});

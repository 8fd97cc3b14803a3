import assert from "node:assert/strict";
import type { GatewayClient } from "../src/cli/client.ts";
import { EventLog } from "./_helpers/events.ts";
import { startTestGateway } from "./_helpers/in_process.ts";

async function turn(c: GatewayClient, log: EventLog, message: string) {
  const { runId } = await c.request<{ runId: string }>("chat.send", {
    sessionKey: "agent:main:main",
    message,
    idempotencyKey: crypto.randomUUID(),
  });
  return await log.end(runId);
}

Deno.test("context sent to the model stays within agent.context_tokens, newest first kept", async () => {
  // 256 tokens ≈ 1,024 characters of transcript.
  await using gw = await startTestGateway({ config: "[agent]\ncontext_tokens = 256\n" });
  const c = await gw.client();
  const log = new EventLog(c);
  for (let i = 0; i < 6; i++) await turn(c, log, `${i}:${"x".repeat(200)}`);
  const last = gw.fake.requests.at(-1)!.body as { messages: { role: string; content: string }[] };
  const context = last.messages.filter((m) => m.role !== "system");
  const chars = context.reduce((n, m) => n + m.content.length, 0);
  assert.ok(chars <= 1024, `sent ${chars} characters`);
  assert.equal(
    context.at(-1)!.content,
    `5:${"x".repeat(200)}`,
    "the newest message is always sent",
  );
  assert.equal(context[0].role, "user", "context opens with the user");
  assert.ok(context.length < 11, "older turns were left out");
});

import assert from "node:assert/strict";
import {
  isSessionKey,
  MAIN_SESSION_KEY,
  sessionKeyFor,
  sessionKeyProblem,
} from "../src/kernel/mod.ts";

Deno.test("session keys follow the dm scope", () => {
  const dm = { kind: "direct", channel: "telegram", peer: "12345" } as const;
  assert.equal(sessionKeyFor(dm, "main"), MAIN_SESSION_KEY);
  assert.equal(sessionKeyFor(dm, "per-peer"), "agent:main:direct:12345");
  assert.equal(sessionKeyFor(dm, "per-channel-peer"), "agent:main:telegram:direct:12345");
  assert.equal(
    sessionKeyFor({ kind: "direct", channel: "Telegram", peer: "Ana" }, "per-channel-peer"),
    "agent:main:telegram:direct:ana",
  );
});

Deno.test("groups, threads and topics get their own sessions", () => {
  assert.equal(
    sessionKeyFor({ kind: "group", channel: "telegram", group: "-100123" }),
    "agent:main:telegram:group:-100123",
  );
  assert.equal(
    sessionKeyFor({ kind: "group", channel: "telegram", group: "-100123", topic: "7" }),
    "agent:main:telegram:group:-100123:topic:7",
  );
  assert.equal(
    sessionKeyFor({ kind: "group", channel: "slack", group: "c1", thread: "t9" }),
    "agent:main:slack:group:c1:thread:t9",
  );
  assert.equal(sessionKeyFor({ kind: "cron", jobId: "daily" }), "cron:daily");
  assert.equal(sessionKeyFor({ kind: "hook", id: "abc" }), "hook:abc");
});

Deno.test("every built key parses, and bad keys are explained", () => {
  for (
    const key of [
      MAIN_SESSION_KEY,
      "agent:main:direct:1",
      "agent:main:telegram:direct:1",
      "agent:main:telegram:group:-5:topic:2",
      "cron:x",
      "hook:y",
    ]
  ) assert.ok(isSessionKey(key), key);
  for (
    const bad of [
      "",
      "main",
      "agent:main",
      "agent:main:Telegram:direct:1",
      "agent:main:x:dm:1",
      "cron:",
      "a b",
    ]
  ) {
    assert.equal(isSessionKey(bad), false, bad);
    assert.match(sessionKeyProblem(bad)!, /is not valid: use agent:main:main/);
  }
  assert.throws(
    () => sessionKeyFor({ kind: "direct", channel: "tg", peer: "a:b" }, "per-peer"),
    /peer "a:b"/,
  );
});

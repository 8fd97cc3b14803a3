/**
 * Telegram webhook mode: the secret header gates every request, an update is confirmed (200) only
 * once it is recorded, re-deliveries are answered without handling again, malformed and oversize
 * bodies are refused with a 4xx so Telegram does not retry them, a failed recording is a 500 so it
 * does; setWebhook and deleteWebhook through a real grammY `Api` against the fake Bot API server.
 */
import assert from "node:assert/strict";
import { Api } from "grammy/web";
import { Hono } from "hono";
import { ConfigError, createLogger } from "../src/kernel/mod.ts";
import {
  registerWebhook,
  SECRET_HEADER,
  TelegramWebhook,
  type TelegramWebhookOptions,
  unregisterWebhook,
  type WebhookApi,
  webhookPath,
  webhookUrl,
} from "../src/channels/telegram/webhook.ts";
import { FakeTelegram, WEBHOOK_CONFLICT } from "./_servers/telegram.ts";

const SECRET = "s3cret_token-0123456789abcdef";
const TOKEN = "7000000001:AAwebhook-test";

interface Update {
  update_id: number;
  message?: { text?: string };
}

/** A webhook whose `handle` records the updates it was given, with the lines it logged. */
async function setup(options: Partial<TelegramWebhookOptions<Update>> = {}) {
  const handled: Update[] = [];
  const lines: string[] = [];
  const webhook = await TelegramWebhook.create<Update>({
    secret: SECRET,
    handle: (update) => {
      handled.push(update);
      return Promise.resolve();
    },
    logger: createLogger({ level: "debug", write: (line) => lines.push(line) }),
    ...options,
  });
  return { webhook, handled, lines };
}

/** A request as Telegram sends it; `init` overrides its parts. */
function delivery(
  path: string,
  body: BodyInit | null,
  init: { secret?: string | null; method?: string; type?: string; headers?: HeadersInit } = {},
): Request {
  const headers = new Headers(init.headers);
  const secret = init.secret === undefined ? SECRET : init.secret;
  if (secret !== null) headers.set(SECRET_HEADER, secret);
  headers.set("content-type", init.type ?? "application/json");
  return new Request(`http://127.0.0.1:8787${path}`, {
    method: init.method ?? "POST",
    headers,
    body,
  });
}

const update = (id: number, text = "hi") =>
  JSON.stringify({
    update_id: id,
    message: { message_id: id, date: 1, chat: { id: 1, type: "private" }, text },
  });

Deno.test("webhookPath derives /telegram/<32 hex> from the secret without revealing it", async () => {
  const path = await webhookPath(SECRET);
  assert.match(path, /^\/telegram\/[0-9a-f]{32}$/);
  assert.equal(await webhookPath(SECRET), path);
  assert.notEqual(await webhookPath(SECRET + "x"), path);
  assert.ok(!path.includes(SECRET));
});

Deno.test("a secret Telegram would refuse is a config error that names its env var and the fix", async (t) => {
  for (
    const [name, secret, what] of [
      ["empty", "", /is empty/],
      ["too long", "a".repeat(257), /is 257 characters long/],
      ["a space", "has space", /characters other than/],
      ["non-ASCII", "geheimnis-ä", /characters other than/],
    ] as const
  ) {
    await t.step(name, async () => {
      await assert.rejects(
        webhookPath(secret, "TELEGRAM_WEBHOOK_SECRET"),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, /TELEGRAM_WEBHOOK_SECRET/);
          assert.match(err.message, what);
          assert.match(err.message, /1-256 characters of A-Z a-z 0-9 _ -/);
          return true;
        },
      );
    });
  }
  await t.step("256 characters of the allowed set pass", async () => {
    assert.match(await webhookPath("aZ0_-".repeat(51) + "x"), /^\/telegram\//);
  });
});

Deno.test("webhookUrl appends the path to an https base and refuses anything else", async () => {
  const path = await webhookPath(SECRET);
  assert.equal(
    await webhookUrl("https://bot.example.com", SECRET),
    `https://bot.example.com${path}`,
  );
  assert.equal(
    await webhookUrl("https://bot.example.com/", SECRET),
    `https://bot.example.com${path}`,
  );
  assert.equal(
    await webhookUrl("https://example.com:8443/gh/", SECRET),
    `https://example.com:8443/gh${path}`,
  );
  for (const bad of ["http://bot.example.com", "bot.example.com", "https://x.com/?a=1"]) {
    await assert.rejects(webhookUrl(bad, SECRET), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /https/);
      assert.ok(err.message.includes(JSON.stringify(bad)), err.message);
      return true;
    });
  }
});

Deno.test("a request without the right secret is 401, not handled, and logged once per streak", async () => {
  const { webhook, handled, lines } = await setup();
  const missing = await webhook.handler(delivery(webhook.path, update(1), { secret: null }));
  assert.equal(missing.status, 401);
  assert.deepEqual(await missing.json(), { error: "unauthorized" });

  const wrongSecret = "guess_" + SECRET;
  const wrong = await webhook.handler(delivery(webhook.path, update(2), { secret: wrongSecret }));
  assert.equal(wrong.status, 401);
  const body = await wrong.text();
  assert.ok(!body.includes(wrongSecret) && !body.includes(SECRET), body);
  await webhook.handler(delivery(webhook.path, update(3), { secret: "" })).then((r) =>
    r.body?.cancel()
  );

  assert.equal(handled.length, 0);
  const refusals = lines.filter((l) => l.includes("webhook request refused"));
  assert.equal(refusals.length, 1, lines.join("\n"));
  assert.match(refusals[0], /missing X-Telegram-Bot-Api-Secret-Token/);
  assert.ok(!lines.some((l) => l.includes(wrongSecret) || l.includes(SECRET)), lines.join("\n"));

  const ok = await webhook.handler(delivery(webhook.path, update(4)));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.ok(lines.some((l) => /secret accepted again refused=3/.test(l)), lines.join("\n"));

  // A new streak logs again.
  await webhook.handler(delivery(webhook.path, update(5), { secret: "nope" }))
    .then((r) => r.body?.cancel());
  assert.equal(lines.filter((l) => l.includes("webhook request refused")).length, 2);
  assert.deepEqual(handled.map((u) => u.update_id), [4]);
});

Deno.test("an update is handled once and confirmed only after handle resolved", async () => {
  const gate = Promise.withResolvers<void>();
  const called = Promise.withResolvers<Update>();
  const { webhook } = await setup({
    handle: async (u) => {
      called.resolve(u);
      await gate.promise;
    },
  });
  let answered = false;
  const answer = webhook.handler(delivery(webhook.path, update(10, "hello")));
  answer.then(() => answered = true);
  const got = await called.promise;
  assert.equal(got.update_id, 10);
  assert.equal(got.message?.text, "hello");
  // Let every pending continuation run: with handle unresolved, the answer must still wait.
  for (let i = 0; i < 50; i++) await null;
  assert.equal(answered, false);
  gate.resolve();
  const res = await answer;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
});

Deno.test("a re-delivered update_id is answered 200 without handling it again", async (t) => {
  await t.step("after the first was recorded", async () => {
    const { webhook, handled } = await setup();
    for (let i = 0; i < 3; i++) {
      const res = await webhook.handler(delivery(webhook.path, update(20)));
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.equal(handled.length, 1);
  });

  await t.step("while the first is still being recorded", async () => {
    const gate = Promise.withResolvers<void>();
    let calls = 0;
    const { webhook } = await setup({
      handle: async () => {
        calls++;
        await gate.promise;
      },
    });
    const first = webhook.handler(delivery(webhook.path, update(21)));
    const second = webhook.handler(delivery(webhook.path, update(21)));
    gate.resolve();
    const answers = await Promise.all([first, second]);
    assert.deepEqual(answers.map((r) => r.status), [200, 200]);
    await Promise.all(answers.map((r) => r.body?.cancel()));
    assert.equal(calls, 1);
  });

  await t.step("only the most recent ids are remembered", async () => {
    const { webhook, handled } = await setup({ rememberIds: 2 });
    for (const id of [30, 31, 32, 31, 30]) {
      await webhook.handler(delivery(webhook.path, update(id))).then((r) => r.body?.cancel());
    }
    // 30 fell out when 32 came; the downstream idempotency key catches such a late repeat.
    assert.deepEqual(handled.map((u) => u.update_id), [30, 31, 32, 30]);
  });
});

Deno.test("a recording that fails is a 500, so Telegram retries, and the retry is handled", async () => {
  let fail = true;
  const { webhook, handled, lines } = await setup({
    handle: (u) => {
      if (fail) throw new Error("kv unavailable");
      handled.push(u);
      return Promise.resolve();
    },
  });
  const res = await webhook.handler(delivery(webhook.path, update(40)));
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: "not recorded; retry" });
  assert.ok(lines.some((l) => /could not be recorded.*update=40.*kv unavailable/.test(l)));
  fail = false;
  const retry = await webhook.handler(delivery(webhook.path, update(40)));
  assert.equal(retry.status, 200);
  await retry.body?.cancel();
  assert.deepEqual(handled.map((u) => u.update_id), [40]);
});

Deno.test("malformed requests get a 4xx and are not handled", async (t) => {
  const { webhook, handled } = await setup({ maxBodyBytes: 1024 });
  const cases: [string, Request, number][] = [
    ["bad JSON", delivery(webhook.path, "{not json"), 400],
    ["no update_id", delivery(webhook.path, '{"message":{}}'), 400],
    ["a string update_id", delivery(webhook.path, '{"update_id":"5"}'), 400],
    ["a JSON array", delivery(webhook.path, "[1,2]"), 400],
    ["an empty body", delivery(webhook.path, null), 400],
    ["oversize", delivery(webhook.path, update(50, "x".repeat(2000))), 413],
    [
      "oversize by its content-length",
      delivery(webhook.path, update(54), { headers: { "content-length": "999999" } }),
      413,
    ],
    [
      "oversize, streamed without a length",
      delivery(webhook.path, ReadableStream.from([new Uint8Array(800), new Uint8Array(800)])),
      413,
    ],
    ["not JSON content", delivery(webhook.path, update(51), { type: "text/plain" }), 415],
    ["not POST", delivery(webhook.path, null, { method: "GET" }), 405],
    ["another path", delivery("/telegram/0123456789abcdef0123456789abcdef", update(52)), 404],
  ];
  for (const [name, req, status] of cases) {
    await t.step(`${name} → ${status}`, async () => {
      const res = await webhook.handler(req);
      assert.equal(res.status, status);
      assert.equal(typeof (await res.json()).error, "string");
    });
  }
  assert.equal(handled.length, 0);
  const fine = await webhook.handler(delivery(webhook.path, update(53, "y".repeat(800))));
  assert.equal(fine.status, 200);
  await fine.body?.cancel();
  assert.equal(handled.length, 1);
});

Deno.test("close waits for updates in hand and answers later ones 503", async () => {
  const gate = Promise.withResolvers<void>();
  const called = Promise.withResolvers<void>();
  let recorded = 0;
  const { webhook } = await setup({
    handle: async () => {
      called.resolve();
      await gate.promise;
      recorded++;
    },
  });
  const inHand = webhook.handler(delivery(webhook.path, update(60)));
  await called.promise;
  const closed = webhook.close();
  const later = await webhook.handler(delivery(webhook.path, update(61)));
  assert.equal(later.status, 503);
  await later.body?.cancel();
  gate.resolve();
  await closed;
  assert.equal(recorded, 1);
  const res = await inHand;
  assert.equal(res.status, 200);
  await res.body?.cancel();
});

/** grammY's `Api` as {@linkcode WebhookApi}; its AbortSignal type is the polyfill's. */
function webhookApi(api: Api): WebhookApi {
  return {
    setWebhook: (url, other, signal) => api.setWebhook(url, other as never, signal as never),
    deleteWebhook: (other, signal) => api.deleteWebhook(other, signal as never),
  };
}

Deno.test("registerWebhook sets the webhook with the secret; unregisterWebhook lets polling resume", async () => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  const api = new Api(TOKEN, { apiRoot: fake.url });
  const pending = fake.pushMessage({ from: { id: 5, first_name: "Ann" }, text: "sent meanwhile" });

  const url = await registerWebhook(webhookApi(api), {
    publicUrl: "https://bot.example.com",
    secret: SECRET,
  });
  assert.equal(url, `https://bot.example.com${await webhookPath(SECRET)}`);
  const set = fake.calls.find((c) => c.method === "setWebhook");
  assert.deepEqual(set?.params, {
    url,
    secret_token: SECRET,
    allowed_updates: ["message", "callback_query"],
    drop_pending_updates: false,
  });
  assert.equal(set?.status, 200);
  assert.equal((await api.getWebhookInfo()).url, url);
  await assert.rejects(api.getUpdates(), (err: Error) => err.message.includes(WEBHOOK_CONFLICT));

  await unregisterWebhook(webhookApi(api));
  const deleted = fake.calls.find((c) => c.method === "deleteWebhook");
  assert.deepEqual(deleted?.params, { drop_pending_updates: false });
  assert.equal((await api.getWebhookInfo()).url, "");
  const updates = await api.getUpdates({ timeout: 0 });
  assert.deepEqual(updates.map((u) => u.update_id), [pending]);
});

Deno.test("registerWebhook refuses an http URL before calling Telegram", async () => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  const api = new Api(TOKEN, { apiRoot: fake.url });
  await assert.rejects(
    registerWebhook(webhookApi(api), { publicUrl: "http://bot.example.com", secret: SECRET }),
    ConfigError,
  );
  assert.equal(fake.callCount, 0);
});

Deno.test("mounted on a Hono app, the webhook answers at its path only", async () => {
  const { webhook, handled } = await setup();
  const app = new Hono();
  app.post(webhook.path, (c) => webhook.handler(c.req.raw));
  const res = await app.request(webhook.path, {
    method: "POST",
    headers: { [SECRET_HEADER]: SECRET, "content-type": "application/json" },
    body: update(70),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.deepEqual(handled.map((u) => u.update_id), [70]);
  const elsewhere = await app.request("/telegram/other", { method: "POST", body: update(71) });
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
});

/**
 * The browser page end to end, in headless Chromium (Debian's, driven by playwright-core) against
 * the gateway as a real process under the flags `gatehouse permissions` computes, with the fake
 * OpenAI and Telegram servers: the page is served with strict headers and no token; a fragment
 * token connects and leaves the address bar; a reply streams in; an exec call is approved from
 * the page; sessions switch; a Telegram pairing code is approved; the browser signs its connects as
 * a device (paired from loopback, then the device token alone), and another browser's pairing
 * request is approved and revoked on the page; `?token=` is ignored with a
 * warning; the page works through a forwarded port (the SSH tunnel's path); and a page from another
 * origin cannot open the gateway's WebSocket. A screenshot of the
 * chat view is saved under artifacts/. One browser for the whole file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { FakeOpenAI } from "./_servers/openai.ts";
import { FakeTelegram } from "./_servers/telegram.ts";
import { dashboardUrl } from "../src/cli/dashboard.ts";
import { findChromium, launchChromium } from "./_helpers/browser.ts";
import { GatewayProcess, ROOT } from "./_helpers/gateway_process.ts";

const CHROMIUM = findChromium();
const BOT_TOKEN = "7000000002:AAwebchat-test";
const STRANGER = { id: 5151, first_name: "Bea", username: "bea" };
/** Where CI keeps test artifacts (git-ignored). */
const ARTIFACTS = join(ROOT, "artifacts");

/** A page's requests, to check that nothing leaves for another origin or carries the token. */
function recordRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("websocket", (ws) => urls.push(ws.url()));
  return urls;
}

Deno.test({
  name: "the browser page: fragment token, streamed chat, approvals, sessions, pairing, origin",
  ignore: CHROMIUM === undefined,
  // playwright-core keeps its own timers and pipes to the browser for the life of the process.
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  await using fake = await FakeOpenAI.start({ chunkDelayMs: 40 });
  await using telegram = await FakeTelegram.start({ token: BOT_TOKEN });
  await using gp = await GatewayProcess.start({
    config: `[providers.fake]\nkind = "openai"\nbase_url = "${fake.url}"\n` +
      `[agent]\nmodel = "fake/web-model"\n` +
      `[tools.exec]\nprograms = ["echo"]\n` +
      `[channels.telegram]\nenabled = true\napi_root = "${telegram.url}"\n` +
      `poll_timeout_seconds = 1\n`,
    env: { TELEGRAM_BOT_TOKEN: BOT_TOKEN },
  });
  const token = await gp.token();
  await using browser = await launchChromium(CHROMIUM!);

  await t.step("the page loads without a token, with strict headers", async () => {
    for (const path of ["/", "/app.js", "/app.css"]) {
      const res = await fetch(`${gp.httpUrl}${path}`);
      const body = await res.text();
      assert.equal(res.status, 200, path);
      const file = path === "/" ? "index.html" : path.slice(1);
      assert.equal(
        body,
        await Deno.readTextFile(join(ROOT, "web", file)),
        `${path} is web/${file}`,
      );
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /connect-src 'self'/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
    }
  });

  const context = await browser.newContext({ viewport: { width: 420, height: 860 } });
  const page = await context.newPage();
  const requests = recordRequests(page);
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  await t.step(
    "the address `gatehouse dashboard` prints connects, and the token leaves the address bar",
    async () => {
      const printed = await gp.cli(["dashboard"]);
      assert.equal(printed.code, 0, printed.stderr);
      assert.equal(printed.stdout.trim(), `${gp.httpUrl}/#token=${encodeURIComponent(token)}`);
      await page.goto(printed.stdout.trim());
      await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
      assert.equal(page.url(), `${gp.httpUrl}/`);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("gatehouse.token")), token);
      assert.match(await page.textContent("#conn") ?? "", /connected/);
    },
  );

  await t.step("a message gets a reply that streams in", async () => {
    fake.script({ chunks: ["Hello ", "from ", "the ", "fake ", "model."] });
    // Every text the reply bubble shows, as the page updates it.
    // (Page code is given as text, since this file is type-checked without the DOM library;
    // `evaluate` runs it through the DevTools protocol, which the page's CSP does not block.)
    await page.evaluate(`{
      const seen = [];
      globalThis.seen = seen;
      new MutationObserver(() => {
        const last = document.querySelector("#chat-log .msg.assistant:last-of-type");
        const text = last?.textContent ?? "";
        if (text && seen.at(-1) !== text) seen.push(text);
      }).observe(document.getElementById("chat-log"), {
        childList: true,
        subtree: true,
        characterData: true,
      });
    }`);
    await page.fill("#message", "hi from the browser");
    await page.click("#send");
    await page.waitForSelector('#chat-log .msg.assistant[data-state="final"]', {
      timeout: 10_000,
    });
    const seen = await page.evaluate<string[]>("globalThis.seen");
    assert.equal(seen.at(-1), "Hello from the fake model.");
    assert.ok(seen.length >= 3, `the reply grew piece by piece: ${JSON.stringify(seen)}`);
    assert.equal(fake.requests.at(-1)!.body.messages.at(-1)!.content, "hi from the browser");
  });

  await t.step("an exec call waits until it is allowed on the page", async () => {
    fake.script(
      {
        text: "Let me run it.",
        toolCalls: [{
          id: "call-1",
          name: "exec",
          arguments: JSON.stringify({ argv: ["echo", "approved in the browser"] }),
        }],
      },
      { text: "It printed the words." },
    );
    await page.fill("#message", "run echo please");
    await page.click("#send");
    await page.waitForSelector("#approval-count:not([hidden])", { timeout: 10_000 });
    await page.click('#tabs button[data-tab="approvals"]');
    const command = await page.textContent("#approval-list pre.command");
    assert.equal(command, 'echo "approved in the browser"');
    await page.click('#approval-list button:has-text("Allow once")');
    await page.click('#tabs button[data-tab="chat"]');
    await page.waitForSelector(
      '#chat-log .msg.assistant[data-state="final"]:has-text("It printed the words.")',
      { timeout: 10_000 },
    );
    const tool = await page.textContent("#chat-log details.tool:last-of-type");
    assert.match(tool ?? "", /tool exec done/);
    assert.match(tool ?? "", /approved in the browser/);
    assert.equal(await page.isHidden("#approval-count"), true);
    // The text before the tool call stays above its block, shown once.
    const texts = await page.locator("#chat-log .msg.assistant").allTextContents();
    assert.deepEqual(texts.slice(-2), ["Let me run it.", "It printed the words."]);
  });

  await t.step("a screenshot of the chat view is saved", async () => {
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, "webchat-chat.png");
    await page.screenshot({ path, fullPage: true });
    assert.ok((await Deno.stat(path)).size > 1000);
  });

  await t.step("a new session, then back to the main one with its history", async () => {
    await page.click('#tabs button[data-tab="sessions"]');
    await page.fill("#new-session-name", "Side Project");
    await page.click('#new-session button[type="submit"]');
    await page.waitForSelector('#current-session:text-is("agent:main:direct:side-project")');
    assert.equal(await page.locator("#chat-log .msg").count(), 0);
    fake.script({ text: "side answer" });
    await page.fill("#message", "side question");
    await page.click("#send");
    await page.waitForSelector(
      '#chat-log .msg.assistant[data-state="final"]:has-text("side answer")',
    );

    await page.click('#tabs button[data-tab="sessions"]');
    await page.fill("#session-search", "main:main");
    assert.equal(await page.locator("#session-list > li").count(), 1);
    await page.click('#session-list li[data-key="agent:main:main"] button:has-text("Open")');
    await page.waitForSelector('#current-session:text-is("agent:main:main")');
    await page.waitForSelector('#chat-log .msg.assistant:has-text("It printed the words.")');
    assert.equal(await page.locator('#chat-log .msg:has-text("side answer")').count(), 0);
  });

  await t.step("a Telegram pairing code is approved on the page", async () => {
    telegram.pushMessage({ from: STRANGER, text: "hello bot" });
    await telegram.until(
      () => telegram.sent(STRANGER.id).length === 1,
      AbortSignal.timeout(10_000),
    );
    const code = /\b([A-HJKMNP-Z2-9]{8})\b/.exec(telegram.sent(STRANGER.id)[0])?.[1];
    assert.ok(code);
    await page.click('#tabs button[data-tab="pairing"]');
    await page.waitForSelector(`#pairing-pending li[data-code="${code}"]`);
    await page.click(`#pairing-pending li[data-code="${code}"] button:has-text("Approve")`);
    await page.waitForSelector(`#pairing-approved li[data-user="${STRANGER.id}"]`);
    assert.match(
      await page.textContent(`#pairing-approved li[data-user="${STRANGER.id}"]`) ?? "",
      /owner/,
    );
    const listed = await gp.cli(["pairing", "list"]);
    assert.match(listed.stdout, /5151/);
  });

  await t.step(
    "the browser is a device: paired from loopback with the token, key non-extractable",
    async () => {
      const deviceId = await page.getAttribute("body", "data-device-id");
      assert.match(deviceId ?? "", /^[0-9a-f]{64}$/);
      // IndexedDB holds the key (not extractable: script can sign with it but never read it) and the
      // device token the gateway issued at the auto-pairing.
      const stored = await page.evaluate<{ extractable: boolean; id: string; token: string }>(`
      new Promise((resolve, reject) => {
        const open = indexedDB.open("gatehouse", 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const kv = open.result.transaction("kv").objectStore("kv");
          const device = kv.get("device");
          const token = kv.get("deviceToken");
          token.onsuccess = () => resolve({
            extractable: device.result.privateKey.extractable,
            id: device.result.id,
            token: token.result,
          });
        };
      })`);
      assert.equal(stored.id, deviceId);
      assert.equal(stored.extractable, false);
      assert.match(stored.token, /^gd_/);
      await page.click('#tabs button[data-tab="pairing"]');
      await page.waitForSelector(`#device-list li[data-device="${deviceId}"]`);
      assert.match(
        await page.textContent(`#device-list li[data-device="${deviceId}"]`) ?? "",
        /this browser.*auto \(loopback\)/s,
      );
    },
  );

  await t.step("a new tab of the same browser connects with the device token alone", async () => {
    const again = await context.newPage();
    const urls = recordRequests(again);
    await again.goto(`${gp.httpUrl}/`);
    await again.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
    assert.equal(await again.evaluate("sessionStorage.getItem('gatehouse.token')"), null);
    assert.ok(!urls.some((u) => u.includes(token)));
    await again.close();
  });

  await t.step(
    "another browser asks to be paired; approved on the page, it connects; revoked, it is out at once",
    async () => {
      const other = await browser.newContext();
      try {
        const b = await other.newPage();
        await b.goto(`${gp.httpUrl}/`);
        await b.click("#ask-pairing");
        await b.waitForSelector("#pairing-required");
        const notice = await b.textContent("#pairing-required") ?? "";
        const requestId = /request ([A-HJKMNP-Z2-9]{8}) waits/.exec(notice)?.[1];
        assert.ok(requestId, notice);
        assert.match(notice, new RegExp(`gatehouse pairing approve ${requestId}`));

        page.on("dialog", (d) => d.accept());
        await page.click("#pairing-refresh");
        await page.waitForSelector(`#device-pending li[data-request="${requestId}"]`);
        await page.click(
          `#device-pending li[data-request="${requestId}"] button:has-text("Approve")`,
        );
        // The waiting page retries on its own and collects its device token.
        await b.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
        const otherId = await b.getAttribute("body", "data-device-id");
        assert.match(otherId ?? "", /^[0-9a-f]{64}$/);

        await page.click("#pairing-refresh");
        await page.click(`#device-list li[data-device="${otherId}"] button:has-text("Revoke")`);
        // Its open socket is closed at once; reconnecting, it is a new device again.
        await b.waitForSelector("#pairing-required", { timeout: 10_000 });
        assert.match(await b.textContent("#conn") ?? "", /waiting for pairing/);
      } finally {
        await other.close();
      }
    },
  );

  await t.step("the status panel shows the gateway, models and lanes", async () => {
    await page.click('#tabs button[data-tab="status"]');
    await page.waitForSelector("#status-view table");
    const text = await page.textContent("#status-view") ?? "";
    assert.match(text, /uptime/);
    assert.match(text, /fake\/web-model \(primary\)ready/);
    assert.match(text, /provider fake/);
    assert.match(text, /channel webchatserved at \//);
    assert.match(text, /channel telegrampolling/);
    assert.match(text, /Recent problems \(gateway log\)/);
  });

  await t.step("the page talked only to its own origin and never put the token in a URL", () => {
    assert.ok(requests.length > 0);
    for (const url of requests) {
      assert.ok(
        url.startsWith(`${gp.httpUrl}/`) || url.startsWith(`ws://127.0.0.1:${gp.port}/ws`),
        url,
      );
      assert.ok(!url.includes(token), url);
    }
    assert.deepEqual(pageErrors, []);
  });
  await context.close();

  await t.step("?token= in the query string is ignored, with a warning", async () => {
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      const urls = recordRequests(p);
      await p.goto(`${gp.httpUrl}/?token=${encodeURIComponent(token)}`);
      await p.waitForSelector("#query-token");
      assert.match(await p.textContent("#query-token") ?? "", /ignored/);
      assert.match(await p.textContent("#no-token") ?? "", /gatehouse dashboard/);
      assert.equal(p.url(), `${gp.httpUrl}/`);
      assert.equal(await p.evaluate(() => sessionStorage.getItem("gatehouse.token")), null);
      assert.ok(!urls.some((u) => u.startsWith("ws:")), `no socket opened: ${urls.join(" ")}`);
    } finally {
      await ctx.close();
    }
  });

  await t.step("without a token the page says how to get one", async () => {
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      await p.goto(`${gp.httpUrl}/`);
      assert.match(await p.textContent("#no-token") ?? "", /gatehouse dashboard/);
    } finally {
      await ctx.close();
    }
  });

  await t.step(
    "through a forwarded port (as ssh -L gives) the page connects at 127.0.0.1",
    async () => {
      // A TCP forward on another local port, like `ssh -N -L 28789:127.0.0.1:18789`.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const pipes: Promise<unknown>[] = [];
      const accepting = (async () => {
        for await (const inbound of listener) {
          const outbound = await Deno.connect({ hostname: "127.0.0.1", port: gp.port });
          pipes.push(
            inbound.readable.pipeTo(outbound.writable).catch(() => {}),
            outbound.readable.pipeTo(inbound.writable).catch(() => {}),
          );
        }
      })();
      const ctx = await browser.newContext();
      try {
        const p = await ctx.newPage();
        const forwarded = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
        await p.goto(`${forwarded}/#token=${encodeURIComponent(token)}`);
        await p.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
        assert.equal(p.url(), `${forwarded}/`);
        assert.match(await p.textContent("#conn") ?? "", /connected/);
      } finally {
        await ctx.close();
        listener.close();
        await accepting.catch(() => {});
        await Promise.all(pipes);
      }
    },
  );

  await t.step("a page from another origin cannot open the gateway's WebSocket", async () => {
    const html = `<!doctype html><script>
      const ws = new WebSocket("ws://127.0.0.1:${gp.port}/ws");
      const show = (text) => document.body.append(Object.assign(document.createElement("p"), { id: "result", textContent: text }));
      ws.onopen = () => show("opened");
      ws.onclose = (e) => show("closed " + e.code);
    </script>`;
    await using evil = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response(html, { headers: { "content-type": "text/html" } }),
    );
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      await p.goto(`http://localhost:${evil.addr.port}/`);
      await p.waitForSelector("#result", { timeout: 10_000 });
      assert.equal(await p.textContent("#result"), "closed 1006");
      assert.match(gp.logs, /websocket refused: origin not allowed/);
    } finally {
      await ctx.close();
    }
  });
});

Deno.test("gatehouse dashboard prints the page's address with the token in the fragment only", async (t) => {
  await t.step("ws and wss gateway URLs map to the http and https page", () => {
    assert.equal(
      dashboardUrl("ws://127.0.0.1:18789/ws", "a b/c"),
      "http://127.0.0.1:18789/#token=a%20b%2Fc",
    );
    assert.equal(dashboardUrl("wss://gw.example:443/ws", "t"), "https://gw.example/#token=t");
  });

  const run = async (args: string[], env: Record<string, string>) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", "main.ts", "dashboard", ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };

  await t.step(
    "for a gateway through a tunnel (--url) the token comes from GATEHOUSE_TOKEN, not argv",
    async () => {
      const r = await run(["--url", "ws://127.0.0.1:18789/ws"], { GATEHOUSE_TOKEN: "tok-123" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "http://127.0.0.1:18789/#token=tok-123\n");
    },
  );

  await t.step("--token and a token in --url are refused", async () => {
    const flag = await run(["--token", "x"], {});
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--token is not accepted/);
    const inUrl = await run(["--url", "ws://127.0.0.1:18789/#token=x"], { GATEHOUSE_TOKEN: "t" });
    assert.equal(inUrl.code, 1);
    assert.match(inUrl.stderr, /must not carry credentials/);
  });
});

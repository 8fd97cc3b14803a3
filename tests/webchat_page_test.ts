/**
 * The browser page's files as the HTTP app serves them, without sockets (`app.request()`): each is
 * the embedded copy of web/, with the strict headers, and needs no token; the HTML runs no inline
 * script and loads nothing from another host. The page in a real browser is tests/webchat_test.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { WEB_ASSETS } from "../src/channels/webchat/mod.ts";
import { createApp } from "../src/gateway/app.ts";
import { silentLogger } from "../src/kernel/mod.ts";
import { ROOT } from "./_helpers/gateway_process.ts";

function app() {
  return createApp({
    isReady: () => true,
    upgrade: () => new Response("no sockets here", { status: 500 }),
    logger: silentLogger,
  });
}

const FILES: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/app.css": "app.css",
};

Deno.test("the page's files are served from the program with strict headers and no token", async (t) => {
  await t.step("each path is its web/ file, byte for byte, with its content type", async () => {
    assert.deepEqual([...WEB_ASSETS.keys()].sort(), Object.keys(FILES).sort());
    for (const [path, file] of Object.entries(FILES)) {
      const res = await app().request(path);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), await Deno.readTextFile(join(ROOT, "web", file)), path);
      const type = res.headers.get("content-type") ?? "";
      assert.match(
        type,
        path === "/" ? /^text\/html/ : path.endsWith(".js") ? /^text\/javascript/ : /^text\/css/,
      );
    }
  });

  await t.step("every file carries the CSP and the other security headers", async () => {
    for (const path of Object.keys(FILES)) {
      const res = await app().request(path);
      await res.body?.cancel();
      const csp = res.headers.get("content-security-policy") ?? "";
      for (
        const directive of [
          "default-src 'self'",
          "script-src 'self'",
          "connect-src 'self'",
          "object-src 'none'",
          "base-uri 'none'",
          "frame-ancestors 'none'",
        ]
      ) {
        assert.ok(csp.split("; ").includes(directive), `${path}: ${directive} in ${csp}`);
      }
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
    }
  });

  await t.step("HEAD answers with the headers and no body; other paths are 404 JSON", async () => {
    const head = await app().request("/", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    assert.equal(head.headers.get("x-frame-options"), "DENY");
    const missing = await app().request("/index.html");
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /no route GET \/index.html/);
  });

  await t.step(
    "the HTML has no inline script or handler, and nothing comes from another host",
    async () => {
      const html = await Deno.readTextFile(join(ROOT, "web", "index.html"));
      for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /\bsrc="\/[\w.]+"/);
      assert.doesNotMatch(html, /<script\b[^>]*>\s*[^<\s]/, "a script tag with a body");
      assert.doesNotMatch(html, /\son[a-z]+=/i, "an inline event handler");
      for (const file of Object.values(FILES)) {
        const text = await Deno.readTextFile(join(ROOT, "web", file));
        assert.doesNotMatch(
          text,
          /(src|href)=["']?(https?:)?\/\//i,
          `${file} loads from another host`,
        );
        assert.doesNotMatch(
          text,
          /@import|url\(\s*["']?https?:/i,
          `${file} pulls a remote stylesheet`,
        );
      }
    },
  );
});

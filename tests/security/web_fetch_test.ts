/**
 * web_fetch against loopback servers, through the tool registry: every spelling of a loopback,
 * private or metadata address is refused before any connection (the servers see nothing), each
 * redirect hop passes the same guard, and the caps (redirects, bytes, time, characters) come back
 * as results the model can read. Then the address classifier, the guard and the HTML reader alone.
 */
import assert from "node:assert/strict";
import type { ToolResult } from "../../src/kernel/mod.ts";
import { ToolRegistry } from "../../src/tools/registry.ts";
import {
  USER_AGENT,
  type WebFetchDeps,
  webFetchNeeds,
  webFetchTool,
} from "../../src/tools/web/fetch.ts";
import { checkUrl, type Resolver } from "../../src/tools/web/guard.ts";
import { blockedReason, formatAddress, parseHostAddress } from "../../src/tools/web/addresses.ts";
import { htmlToText } from "../../src/tools/web/html_text.ts";

type Handler = (req: Request, url: URL, closing: AbortSignal) => Response | Promise<Response>;

/** A site on 127.0.0.1 that records every request it gets. */
class Site {
  readonly requests: { path: string; headers: Headers }[] = [];
  readonly port: number;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #closing = new AbortController();

  constructor(handler: Handler) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => {
        const url = new URL(req.url);
        this.requests.push({ path: url.pathname + url.search, headers: req.headers });
        return handler(req, url, this.#closing.signal);
      },
    );
    this.port = this.#server.addr.port;
  }

  /** `127.0.0.1:<port>`, as private_hosts names it. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  url(path = "/"): string {
    return `http://${this.host}${path}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closing.abort();
    await this.#server.shutdown();
  }
}

const PAGE = `<!doctype html>
<html><head><title>Gatehouse &amp; friends</title>
<style>body { color: red }</style><script>var secret = "do not show";</script></head>
<body><!-- a comment -->
<h1>Welcome</h1>
<p>Read the <a href="/docs">docs</a> first.</p>
<ul><li>one</li><li>two</li></ul>
<noscript>enable scripts</noscript>
</body></html>`;

const html = (body: string, status = 200) =>
  new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8" } });

/** Fails loudly: no test may reach a real name server. */
const NO_DNS: Resolver = (host) => Promise.reject(new Error(`no DNS in tests (asked for ${host})`));

/** A resolver from a table, recording what it was asked. */
function fakeDns(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = (host: string) => {
    asked.push(host);
    const found = table[host];
    return found ? Promise.resolve(found) : Promise.reject(new Error(`NXDOMAIN ${host}`));
  };
  return Object.assign(resolve, { asked });
}

/** The real fetch, counted, so a refusal can be shown to have made no request at all. */
function countingFetch(): typeof fetch & { calls: string[] } {
  const calls: string[] = [];
  const spy = (input: string | URL | Request, init?: RequestInit) => {
    calls.push(String(input instanceof Request ? input.url : input));
    return fetch(input, init);
  };
  return Object.assign(spy, { calls });
}

function registry(deps: Partial<WebFetchDeps> = {}): ToolRegistry {
  return new ToolRegistry([
    webFetchTool({
      policy: { hosts: [], privateHosts: [] },
      maxBytes: 64 * 1024,
      maxChars: 50_000,
      timeoutMs: 5_000,
      maxRedirects: 5,
      resolve: NO_DNS,
      ...deps,
    }),
  ]);
}

function call(
  reg: ToolRegistry,
  args: { url: string; max_chars?: number },
  signal = new AbortController().signal,
): Promise<ToolResult> {
  return reg.run(
    { id: "call_1", name: "web_fetch", arguments: JSON.stringify(args) },
    { sessionKey: "agent:main:main", runId: "run_1", model: "fake/model", signal },
  );
}

Deno.test("web_fetch refuses loopback, private and metadata addresses in every spelling, before connecting", async (t) => {
  await using site = new Site(() => html(PAGE));
  const p = site.port;
  const cases: [string, RegExp][] = [
    [`http://127.0.0.1:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address \(127\.0\.0\.0\/8\)/],
    [`http://[::1]:${p}/`, /"\[::1\]:\d+" is a loopback address \(::1\/128\)/],
    [`http://169.254.169.254/latest/meta-data/`, /is a cloud metadata address/],
    [`http://[fd00:ec2::254]/latest/meta-data/`, /is a cloud metadata address \(AWS\)/],
    [`http://100.100.100.200/latest/meta-data/`, /is a cloud metadata address \(Alibaba/],
    [`http://2130706433:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://0x7f000001:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://0x7f.0x0.0x0.0x1:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://0177.0.0.1:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://017700000001:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://127.1:${p}/`, /"127\.0\.0\.1:\d+" is a loopback address/],
    [`http://0.0.0.0:${p}/`, /is an unspecified address \(0\.0\.0\.0\/8\)/],
    [`http://0:${p}/`, /is an unspecified address/],
    [`http://[::]:${p}/`, /is an unspecified address \(::\/128\)/],
    [`http://[::ffff:127.0.0.1]:${p}/`, /loopback address .* inside an IPv4-mapped IPv6 address/],
    [`http://[::ffff:7f00:1]:${p}/`, /loopback address .* inside an IPv4-mapped IPv6 address/],
    [`http://[::ffff:169.254.169.254]/`, /cloud metadata address .* IPv4-mapped/],
    [`http://[64:ff9b::7f00:1]:${p}/`, /loopback address .* inside an NAT64 IPv6 address/],
    [`http://10.0.0.1/`, /is a private network address \(10\.0\.0\.0\/8\)/],
    [`http://172.20.1.1/`, /is a private network address \(172\.16\.0\.0\/12\)/],
    [`http://192.168.1.1/`, /is a private network address \(192\.168\.0\.0\/16\)/],
    [`http://100.64.0.1/`, /is a carrier-grade NAT address/],
    [`http://[fe80::1]/`, /is a link-local address/],
    [`http://[fc00::1]/`, /is a private network address \(unique local\)/],
    [`http://localhost:${p}/`, /"localhost:\d+" resolves to 127\.0\.0\.1, which is a loopback/],
    [`http://LOCALHOST.:${p}/`, /resolves to 127\.0\.0\.1, which is a loopback/],
    [`http://api.localhost:${p}/`, /resolves to 127\.0\.0\.1, which is a loopback/],
    [`http://evil.test:${p}/`, /"evil\.test:\d+" resolves to 127\.0\.0\.1, which is a loopback/],
    [`http://rebind.test/`, /resolves to 10\.0\.0\.7, which is a private network address/],
    [`http://user:pw@example.com/`, /with a user name or password are not fetched/],
    [`http://user@example.com/`, /with a user name or password are not fetched/],
    [`file:///etc/passwd`, /only http and https URLs are fetched, not file: URLs/],
    [`ftp://example.com/x`, /only http and https URLs are fetched, not ftp: URLs/],
    [`not a url`, /is not a valid URL: give an absolute http\(s\) URL/],
  ];
  for (const [url, reason] of cases) {
    await t.step(url, async () => {
      const dns = fakeDns({
        "evil.test": ["127.0.0.1"],
        "rebind.test": ["93.184.216.34", "10.0.0.7"],
      });
      const spy = countingFetch();
      const res = await call(registry({ resolve: dns, fetch: spy }), { url });
      assert.equal(res.isError, true, res.content);
      assert.match(res.content, reason);
      assert.deepEqual(spy.calls, [], "no request may be made");
      assert.equal(site.requests.length, 0, "the server saw a request");
      assert.ok(!/pw@/.test(res.content), "credentials are not echoed");
      if (/^(?:not|file|ftp)|@/.test(url)) return;
      assert.match(
        res.content,
        /An operator can allow this host by adding ".+" to tools\.web_fetch\.private_hosts/,
      );
      if (/localhost/i.test(url)) assert.deepEqual(dns.asked, [], "localhost is not looked up");
    });
  }
});

Deno.test("a private host allowlisted with its port does not open the rest of loopback", async () => {
  await using site = new Site(() => html(PAGE));
  await using other = new Site(() => html("<p>other</p>"));
  const reg = registry({ policy: { hosts: [], privateHosts: [site.host] } });

  const ok = await call(reg, { url: site.url("/") });
  assert.equal(ok.isError, false, ok.content);
  const refused = await call(reg, { url: other.url("/") });
  assert.equal(refused.isError, true);
  assert.match(
    refused.content,
    new RegExp(`adding "${other.host}" to tools\\.web_fetch\\.private_hosts`),
  );
  assert.equal(other.requests.length, 0);
});

Deno.test("a redirect from an allowlisted private host to another loopback address is refused on that hop", async (t) => {
  await using secret = new Site(() => new Response("the crown jewels"));
  await using hop = new Site((_req, url) => {
    const to: Record<string, string> = {
      "/to-loopback": secret.url("/admin"),
      "/to-metadata": "http://169.254.169.254/latest/meta-data/iam/",
      "/to-name": "http://intranet.test/",
      "/to-file": "file:///etc/passwd",
      "/to-localhost": `http://localhost:${secret.port}/admin`,
    };
    return new Response(null, { status: 302, headers: { location: to[url.pathname] } });
  });
  const dns = fakeDns({ "intranet.test": ["192.168.10.20"] });
  const reg = registry({ policy: { hosts: [], privateHosts: [hop.host] }, resolve: dns });
  const cases: [string, RegExp][] = [
    [
      "/to-loopback",
      /redirected to http:\/\/127\.0\.0\.1:\d+\/admin, which is refused: .* loopback/,
    ],
    [
      "/to-metadata",
      /redirected to http:\/\/169\.254\.169\.254\/.*, which is refused: .* cloud metadata/,
    ],
    [
      "/to-name",
      /"intranet\.test" resolves to 192\.168\.10\.20, which is a private network address/,
    ],
    ["/to-file", /redirected to file:\/\/\/etc\/passwd, which is refused: only http and https/],
    ["/to-localhost", /which is refused: .* loopback/],
  ];
  for (const [path, reason] of cases) {
    await t.step(path, async () => {
      const before = hop.requests.length;
      const res = await call(reg, { url: hop.url(path) });
      assert.equal(res.isError, true, res.content);
      assert.match(res.content, reason);
      assert.equal(hop.requests.length, before + 1, "the allowlisted host is asked once");
    });
  }
  assert.equal(secret.requests.length, 0, "the redirect target got no request");
});

Deno.test("an allowlisted loopback page comes back as text: title first, no script, links and list items", async () => {
  await using site = new Site((_req, url) => url.pathname === "/page" ? html(PAGE) : html("", 404));
  const res = await call(registry({ policy: { hosts: [], privateHosts: [site.host] } }), {
    url: site.url("/page#section"),
  });
  assert.equal(res.isError, false, res.content);
  assert.equal(
    res.content,
    [
      `URL: ${site.url("/page")}`,
      "Status: 200",
      "",
      "Gatehouse & friends",
      "",
      "# Welcome",
      "",
      `Read the docs (${site.url("/docs")}) first.`,
      "",
      "- one",
      "- two",
    ].join("\n"),
  );
  const headers = site.requests[0].headers;
  assert.equal(headers.get("user-agent"), USER_AGENT);
  assert.equal(headers.get("cookie"), null);
  assert.equal(headers.get("authorization"), null);
});

Deno.test("redirects within allowed hosts are followed, relative and absolute, and the final URL is shown", async () => {
  await using b = new Site(() =>
    new Response('{"ok":true}', { headers: { "content-type": "application/json" } })
  );
  await using a = new Site((_req, url) => {
    if (url.pathname === "/start") {
      return new Response(null, { status: 301, headers: { location: "next?x=1" } });
    }
    if (url.pathname === "/next") {
      return new Response(null, { status: 303, headers: { location: b.url("/data") } });
    }
    return html("", 404);
  });
  const res = await call(registry({ policy: { hosts: [], privateHosts: [a.host, b.host] } }), {
    url: a.url("/start"),
  });
  assert.equal(res.isError, false, res.content);
  assert.equal(res.content, `URL: ${b.url("/data")}\nStatus: 200\n\n{"ok":true}`);
  assert.deepEqual(a.requests.map((r) => r.path), ["/start", "/next?x=1"]);
  assert.deepEqual(b.requests.map((r) => r.path), ["/data"]);
});

Deno.test("more redirects than max_redirects is an error naming the limit", async () => {
  await using site = new Site((_req, url) => {
    const n = Number(url.pathname.slice(1));
    return new Response(null, { status: 302, headers: { location: `/${n + 1}` } });
  });
  const res = await call(
    registry({ policy: { hosts: [], privateHosts: [site.host] }, maxRedirects: 2 }),
    { url: site.url("/0") },
  );
  assert.equal(res.isError, true);
  assert.match(
    res.content,
    /too many redirects: .* more than 2 times \(tools\.web_fetch\.max_redirects\), the last one to http:\/\/127\.0\.0\.1:\d+\/3/,
  );
  assert.deepEqual(site.requests.map((r) => r.path), ["/0", "/1", "/2"]);
});

Deno.test("a body over max_bytes is read only up to the cap and marked as cut", async (t) => {
  let cancelled = false;
  await using site = new Site((_req, url) => {
    if (url.pathname === "/big") {
      return new Response("x".repeat(100_000), { headers: { "content-type": "text/plain" } });
    }
    // An endless body: only a streaming reader that stops at the cap can answer.
    const chunk = new TextEncoder().encode("y".repeat(1000));
    return new Response(
      new ReadableStream<Uint8Array>({
        pull: (c) => c.enqueue(chunk),
        cancel: () => void (cancelled = true),
      }),
      { headers: { "content-type": "text/plain" } },
    );
  });
  const reg = registry({ policy: { hosts: [], privateHosts: [site.host] }, maxBytes: 2048 });
  for (const path of ["/big", "/endless"]) {
    await t.step(path, async () => {
      const res = await call(reg, { url: site.url(path) });
      assert.equal(res.isError, false, res.content);
      const text = res.content.split("\n\n")[1];
      assert.equal(text.length, 2048);
      assert.match(
        res.content,
        /\[… the response is longer than 2048 bytes \(tools\.web_fetch\.max_bytes\): only the first 2048 were read\]$/,
      );
    });
  }
  await t.step("the endless body was cancelled", async () => {
    for (let i = 0; i < 50 && !cancelled; i++) await new Promise((r) => setTimeout(r, 0));
    assert.equal(cancelled, true);
  });
});

Deno.test("a server slower than the time cap is an error that names the limit", async () => {
  await using site = new Site(async (_req, _url, closing) => {
    await new Promise<void>((resolve) => {
      closing.addEventListener("abort", () => resolve(), { once: true });
    });
    return new Response("too late");
  });
  const res = await call(
    registry({ policy: { hosts: [], privateHosts: [site.host] }, timeoutMs: 100 }),
    { url: site.url("/slow") },
  );
  assert.equal(res.isError, true);
  assert.match(
    res.content,
    /took longer than 0\.1 s \(tools\.web_fetch\.timeout_seconds\) and was stopped/,
  );
});

Deno.test("a name lookup that never answers is stopped by the time cap too", async () => {
  const res = await call(
    registry({ resolve: () => new Promise<string[]>(() => {}), timeoutMs: 50 }),
    { url: "http://slow-dns.test/" },
  );
  assert.equal(res.isError, true);
  assert.match(res.content, /http:\/\/slow-dns\.test\/ took longer than 0\.05 s/);
});

Deno.test("a stopped turn stops the fetch", async () => {
  const stop = new AbortController();
  await using site = new Site(async (_req, _url, closing) => {
    stop.abort();
    await new Promise<void>((resolve) => {
      closing.addEventListener("abort", () => resolve(), { once: true });
    });
    return new Response("too late");
  });
  const res = await call(
    registry({ policy: { hosts: [], privateHosts: [site.host] } }),
    { url: site.url("/") },
    stop.signal,
  );
  assert.equal(res.isError, true);
  assert.match(res.content, /the tool was stopped/);
});

Deno.test("a status other than 2xx is a result that says the status, with the body", async () => {
  await using site = new Site(() =>
    new Response("no such page", { status: 404, headers: { "content-type": "text/plain" } })
  );
  const res = await call(registry({ policy: { hosts: [], privateHosts: [site.host] } }), {
    url: site.url("/missing"),
  });
  assert.equal(res.isError, true);
  assert.equal(res.content, `URL: ${site.url("/missing")}\nStatus: 404\n\nno such page`);
});

Deno.test("binary content is described, not dumped", async (t) => {
  const png = new Uint8Array(3000).map((_, i) => (i * 7) % 256);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00]);
  await using site = new Site((_req, url) =>
    url.pathname === "/image"
      ? new Response(png, { headers: { "content-type": "image/png" } })
      : new Response(png) // no content type: sniffed
  );
  const reg = registry({ policy: { hosts: [], privateHosts: [site.host] } });
  await t.step("typed", async () => {
    const res = await call(reg, { url: site.url("/image") });
    assert.equal(res.isError, false);
    assert.equal(
      res.content,
      `URL: ${site.url("/image")}\nStatus: 200\n\nbinary content (image/png, 3000 bytes) not shown`,
    );
  });
  await t.step("untyped", async () => {
    const res = await call(reg, { url: site.url("/blob") });
    assert.match(res.content, /binary content \(unknown type, 3000 bytes\) not shown$/);
  });
});

Deno.test("text is capped at max_chars (the smaller of the argument and the config) with a marker", async () => {
  await using site = new Site(() =>
    new Response("a".repeat(5000), { headers: { "content-type": "text/plain" } })
  );
  const policy = { hosts: [], privateHosts: [site.host] };
  const asked = await call(registry({ policy }), { url: site.url("/"), max_chars: 100 });
  assert.match(asked.content, /\n\na{100}\n\n\[… 4900 more characters cut \(max_chars 100\)\]$/);
  const capped = await call(registry({ policy, maxChars: 300 }), {
    url: site.url("/"),
    max_chars: 100_000,
  });
  assert.match(capped.content, /\n\na{300}\n\n\[… 4700 more characters cut \(max_chars 300\)\]$/);
});

Deno.test("a hosts list restricts web_fetch to those hosts", async (t) => {
  await using site = new Site(() => html(PAGE));
  await using other = new Site(() => html(PAGE));
  const dns = fakeDns({ "other.test": ["93.184.216.35"] });
  const reg = registry({ policy: { hosts: [site.host], privateHosts: [site.host] }, resolve: dns });
  await t.step("a listed host is fetched", async () => {
    const res = await call(reg, { url: site.url("/") });
    assert.equal(res.isError, false, res.content);
  });
  await t.step("an unlisted host is refused without a lookup", async () => {
    for (const url of [other.url("/"), "http://other.test/"]) {
      const res = await call(reg, { url });
      assert.equal(res.isError, true);
      assert.match(
        res.content,
        /is not in tools\.web_fetch\.hosts \(127\.0\.0\.1:\d+\): fetch one of those hosts/,
      );
    }
    assert.deepEqual(dns.asked, []);
    assert.equal(other.requests.length, 0);
  });
});

Deno.test("a listed public host is looked up, checked and fetched with plain headers", async () => {
  const seen: { url: string; init?: RequestInit }[] = [];
  const fakeFetch = (input: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(input), init });
    return Promise.resolve(html("<title>Docs</title><p>Hello from docs.</p>"));
  };
  const dns = fakeDns({
    "docs.test": ["93.184.216.34", "2606:2800:220:1::1"],
    "split.test": ["93.184.216.34", "fd12::1"],
  });
  const reg = registry({
    policy: { hosts: ["docs.test", "split.test"], privateHosts: [] },
    resolve: dns,
    fetch: fakeFetch,
  });
  const res = await call(reg, { url: "https://Docs.Test/guide" });
  assert.equal(
    res.content,
    "URL: https://docs.test/guide\nStatus: 200\n\nDocs\n\nHello from docs.",
  );
  assert.equal(seen.length, 1);
  assert.equal(seen[0].init?.redirect, "manual");
  assert.equal(seen[0].init?.method, "GET");
  assert.deepEqual(seen[0].init?.headers && Object.keys(seen[0].init.headers).sort(), [
    "accept",
    "user-agent",
  ]);

  const split = await call(reg, { url: "https://split.test/" });
  assert.equal(split.isError, true);
  assert.match(
    split.content,
    /"split\.test" resolves to fd12::1, which is a private network address \(unique local\)/,
  );
  assert.equal(seen.length, 1);
});

Deno.test("webFetchNeeds: any public host needs all of net; a hosts list needs just those", () => {
  assert.deepEqual(webFetchNeeds({ hosts: [], privateHosts: ["127.0.0.1:8080"] }), { net: "all" });
  assert.deepEqual(
    webFetchNeeds({
      hosts: ["docs.test:8443", "API.test", "127.0.0.1:8080", "intranet.test:81"],
      privateHosts: ["[::1]:9000", "intranet.test:81"],
    }),
    { net: ["docs.test", "api.test", "127.0.0.1:8080", "intranet.test:81", "[::1]:9000"] },
  );
});

// ---------------------------------------------------------------------------------------------
// The parts alone.

Deno.test("parseHostAddress reads every spelling fetch accepts, as the URL parser does", async (t) => {
  const v4: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["0X7F.0.0.1", "127.0.0.1"],
    ["0x7f.0x0.0x0.0x1", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["017700000001", "127.0.0.1"],
    ["0177.1", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["127.0.0.1.", "127.0.0.1"],
    ["0", "0.0.0.0"],
    ["0x", "0.0.0.0"],
    ["169.254.43518", "169.254.169.254"],
    ["0xa9fea9fe", "169.254.169.254"],
    ["4294967295", "255.255.255.255"],
  ];
  await t.step("IPv4", () => {
    for (const [text, canonical] of v4) {
      const ip = parseHostAddress(text);
      assert.equal(ip && formatAddress(ip), canonical, text);
      assert.equal(new URL(`http://${text}/`).hostname, canonical, `URL parser on ${text}`);
    }
  });
  const v6: [string, string][] = [
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1"],
    ["::FFFF:7F00:1", "::ffff:127.0.0.1"],
    ["[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254"],
    ["fe80::1%eth0", "fe80::1"],
    ["[fe80::1%25eth0]", "fe80::1"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  await t.step("IPv6", () => {
    for (const [text, canonical] of v6) {
      const ip = parseHostAddress(text);
      assert.equal(ip && formatAddress(ip), canonical, text);
    }
  });
  await t.step("names and malformed hosts are not addresses", () => {
    for (
      const text of [
        "example.com",
        "localhost",
        "",
        "256.0.0.1",
        "1.2.3.4.5",
        "08.0.0.1",
        "0x1g.0.0.1",
        "4294967296",
        "127.0.0.1a",
        "::1::2",
        "1:2:3:4:5:6:7:8:9",
        "12345::",
        "::ffff:127.0.0.01",
        "[::1",
      ]
    ) {
      assert.equal(parseHostAddress(text), undefined, text);
    }
  });
});

Deno.test("blockedReason names each non-public range and lets public addresses through", async (t) => {
  const blocked: [string, RegExp][] = [
    ["0.0.0.0", /unspecified address \(0\.0\.0\.0\/8\)/],
    ["0.1.2.3", /unspecified/],
    ["127.0.0.1", /loopback address \(127\.0\.0\.0\/8\)/],
    ["127.255.255.254", /loopback/],
    ["10.1.2.3", /private network address \(10\.0\.0\.0\/8\)/],
    ["172.16.0.1", /private network address \(172\.16\.0\.0\/12\)/],
    ["172.31.255.255", /172\.16\.0\.0\/12/],
    ["192.168.0.1", /private network address \(192\.168\.0\.0\/16\)/],
    ["169.254.0.1", /link-local address \(169\.254\.0\.0\/16\)/],
    ["169.254.169.254", /cloud metadata address/],
    ["100.100.100.200", /cloud metadata address \(Alibaba Cloud\)/],
    ["100.64.0.1", /carrier-grade NAT address \(100\.64\.0\.0\/10\)/],
    ["100.127.255.255", /carrier-grade NAT/],
    ["198.18.0.1", /benchmarking address \(198\.18\.0\.0\/15\)/],
    ["198.19.255.255", /benchmarking/],
    ["192.0.2.1", /documentation address/],
    ["198.51.100.1", /documentation address/],
    ["203.0.113.1", /documentation address/],
    ["192.0.0.8", /IETF protocol assignment/],
    ["224.0.0.1", /multicast address \(224\.0\.0\.0\/4\)/],
    ["239.255.255.250", /multicast/],
    ["240.0.0.1", /reserved address \(240\.0\.0\.0\/4\)/],
    ["255.255.255.255", /broadcast address/],
    ["::", /unspecified address \(::\/128\)/],
    ["::1", /loopback address \(::1\/128\)/],
    ["fc00::1", /private network address \(unique local\) \(fc00::\/7\)/],
    ["fd12:3456::1", /unique local/],
    ["fe80::1", /link-local address \(fe80::\/10\)/],
    ["febf::1", /link-local/],
    ["fec0::1", /site-local/],
    ["fd00:ec2::254", /cloud metadata address \(AWS\)/],
    ["ff02::1", /multicast address \(ff00::\/8\)/],
    ["::ffff:127.0.0.1", /loopback address \(127\.0\.0\.0\/8\) inside an IPv4-mapped IPv6 address/],
    ["::ffff:10.0.0.1", /private network address .* IPv4-mapped/],
    ["::ffff:0:127.0.0.1", /loopback .* IPv4-translated/],
    ["::127.0.0.1", /loopback .* IPv4-compatible/],
    ["::8.8.8.8", /deprecated IPv4-compatible address/],
    ["64:ff9b::10.0.0.1", /private network address .* NAT64/],
    ["64:ff9b:1::1", /local-use NAT64/],
    ["2002:7f00:1::", /loopback .* 6to4/],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", /loopback .* Teredo \(client\)/],
    ["2001:db8::1", /documentation address \(2001:db8::\/32\)/],
    ["100::1", /discard-only/],
    ["4000::1", /reserved address \(outside 2000::\/3\)/],
    ["example.com", /not an IP address/],
  ];
  await t.step("blocked", () => {
    for (const [ip, reason] of blocked) assert.match(blockedReason(ip) ?? "(allowed)", reason, ip);
  });
  await t.step("public", () => {
    for (
      const ip of [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "198.20.0.1",
        "169.255.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:81c::200e",
        "64:ff9b::8.8.8.8",
        "::ffff:8.8.8.8",
        "2002:808:808::",
      ]
    ) {
      assert.equal(blockedReason(ip), undefined, ip);
    }
  });
});

Deno.test("checkUrl decides as data and looks up only names that need it", async () => {
  const dns = fakeDns({ "public.test": ["93.184.216.34"] });
  const policy = { hosts: [], privateHosts: ["intranet.test"] };
  const ok = await checkUrl("http://public.test:8080/x", policy, dns);
  assert.equal(ok.allow, true);
  assert.deepEqual(ok.allow && ok.addresses, ["93.184.216.34"]);
  const literal = await checkUrl("http://2130706433/", policy, dns);
  assert.equal(literal.allow, false);
  const listed = await checkUrl("http://intranet.test:9999/", policy, dns);
  assert.equal(listed.allow, true, "a private host without a port is allowed on any port");
  const missing = await checkUrl("http://nowhere.test/", policy, dns);
  assert.deepEqual(missing, {
    allow: false,
    reason: 'could not look up "nowhere.test": NXDOMAIN nowhere.test',
  });
  assert.deepEqual(dns.asked, ["public.test", "nowhere.test"]);
});

Deno.test("htmlToText decodes entities, keeps <pre>, drops hidden elements and skips long or odd links", () => {
  const text = htmlToText(
    `<title>T</title><svg><text>drawing</text></svg><template><p>later</p></template>
     <p>caf&eacute; &#8364;5 &#x1F600; &lt;b&gt; &unknown; a&nbsp;b</p>
     <pre>  keep
    this</pre><p><a href="javascript:alert(1)">js</a> <a href="#top">top</a>
     <a href="https://example.com/${"x".repeat(300)}">long</a> <a href="mailto:a@b.c">mail</a></p>
     <table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>`,
  );
  assert.equal(
    text,
    "T\n\ncafé €5 😀 <b> &unknown; a b\n\n  keep\n    this\n\njs top long mail\n\nk v\na 1",
  );
});

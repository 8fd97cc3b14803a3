/**
 * The browser page, embedded in the program: text imports are part of the module graph, so the
 * same files are served when running from source, from the `deno bundle` output (inlined as
 * strings) and from a `deno compile` executable, with no file read at run time.
 */
import indexHtml from "../../../web/index.html" with { type: "text" };
import appJs from "../../../web/app.js" with { type: "text" };
import appCss from "../../../web/app.css" with { type: "text" };

/** A file of the page: its body and content type. */
export interface WebAsset {
  body: string;
  type: string;
}

/** The page's files by URL path. */
export const WEB_ASSETS: ReadonlyMap<string, WebAsset> = new Map([
  ["/", { body: indexHtml, type: "text/html; charset=utf-8" }],
  ["/app.js", { body: appJs, type: "text/javascript; charset=utf-8" }],
  ["/app.css", { body: appCss, type: "text/css; charset=utf-8" }],
]);

/**
 * Headers on every file of the page. Scripts and styles come only from this origin (no inline
 * script, no CDN); the socket only to this origin (`'self'` covers ws: to the same host in CSP 3);
 * the page cannot be framed and sends no Referer, so no address ever leaves with a request.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-cache",
};

/** The response for a page path, or `undefined` when the path is not a file of the page. */
export function pageResponse(path: string, method = "GET"): Response | undefined {
  const asset = WEB_ASSETS.get(path);
  if (!asset) return undefined;
  return new Response(method === "HEAD" ? null : asset.body, {
    headers: { ...PAGE_HEADERS, "content-type": asset.type },
  });
}

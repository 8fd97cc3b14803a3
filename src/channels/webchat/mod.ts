/**
 * @module
 * The browser page (WebChat and control): embedded files and the headers they are served with.
 * The page is a client of the WebSocket protocol like any other; it holds no secret.
 */
export { PAGE_HEADERS, pageResponse, WEB_ASSETS, type WebAsset } from "./assets.ts";

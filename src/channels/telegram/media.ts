/**
 * Media in Telegram messages. A photo or a document is downloaded into the workspace under
 * `inbox/telegram/<UTC date>/` and referenced in the message text, so the model's tools can use
 * it; other kinds (voice, stickers, locations, …) get a short reply. What happened comes back as
 * data ({@linkcode MediaOutcome}); only a failure to reach Telegram or to write throws.
 *
 * Deno permissions: read and write inside the workspace (its real path is resolved and every
 * folder checked to lie inside it), and net to the Bot API host of `apiRoot` (getFile and the
 * download). Nothing else: no env, no other paths.
 */
import { basename, dirname, join } from "node:path";
import { looksBinary, SNIFF_BYTES } from "../../tools/fs/read.ts";
import { Workspace } from "../../tools/workspace.ts";

/** Where saved files go, relative to the workspace; one folder per UTC day below it. */
export const INBOX_FOLDER = "inbox/telegram";

/** The one Bot API call this module makes; a grammY `Api` fits once its signal type is cast. */
export interface FileApi {
  getFile(
    fileId: string,
    signal?: AbortSignal,
  ): Promise<{ file_id: string; file_size?: number; file_path?: string }>;
}

/** One size of a photo, as the Bot API sends it. */
export interface PhotoSizeLike {
  file_id: string;
  width: number;
  height: number;
  file_size?: number;
}

/** A document, as the Bot API sends it; `file_name` and `mime_type` are the sender's, untrusted. */
export interface DocumentLike {
  file_id: string;
  file_name?: string;
  mime_type?: string;
  file_size?: number;
}

/** Kinds that are not saved, each with what the reply calls it, in the order they are checked. */
const UNSUPPORTED = {
  voice: "Voice messages",
  video_note: "Video messages",
  audio: "Audio files",
  video: "Videos",
  // An animation also carries `document` (for old clients), so it is checked before documents.
  animation: "GIFs",
  sticker: "Stickers",
  live_photo: "Live photos",
  paid_media: "Paid media posts",
  story: "Stories",
  // A venue also carries `location`.
  venue: "Venues",
  location: "Locations",
  contact: "Contacts",
  poll: "Polls",
  checklist: "Checklists",
  dice: "Dice",
  game: "Games",
  invoice: "Invoices",
  giveaway: "Giveaways",
} as const;

/** A kind of message {@linkcode saveMedia} answers with a reply instead of saving. */
export type UnsupportedKind = keyof typeof UNSUPPORTED;

/** The parts of a Bot API message this module reads; grammY's `Message` fits. */
export interface TelegramMessageLike extends Partial<Record<UnsupportedKind, unknown>> {
  message_id: number;
  chat?: { id: number };
  text?: string;
  caption?: string;
  photo?: readonly PhotoSizeLike[];
  document?: DocumentLike;
}

/** What {@linkcode saveMedia} did with a message. */
export type MediaOutcome =
  /** No media: a plain text (or service) message, for the caller to handle as before. */
  | { kind: "none" }
  /** Saved: `text` is the caption or text plus a line naming `path` (workspace-relative). */
  | { kind: "saved"; text: string; path: string }
  /** Over `maxBytes`: nothing was written; `reply` tells the sender. */
  | { kind: "too_large"; reply: string }
  /** A kind that is not saved; `reply` names it. */
  | { kind: "unsupported"; reply: string };

/** What {@linkcode saveMedia} needs. */
export interface MediaDeps {
  api: FileApi;
  /** The Bot API root files are downloaded from (grammY's default is https://api.telegram.org). */
  apiRoot: string;
  /** The bot token; it is part of the file URL and never appears in an error message. */
  token: string;
  /** The workspace's absolute path. */
  workspace: string;
  /** The largest file saved, in bytes; the Bot API itself serves at most 20 MB. */
  maxBytes: number;
  /** Milliseconds since the epoch; picks the dated folder. */
  now: () => number;
  /** Cancels getFile and the download; the partial file is removed. */
  signal?: AbortSignal;
}

/** A file to fetch: one photo size or the document. */
interface Candidate {
  file_id: string;
  file_size?: number;
}

/**
 * Saves the photo or document of `message` into the workspace, or says why not. Throws when
 * getFile fails, the download fails (network or HTTP status), or the path would leave the
 * workspace; the abort reason when `signal` aborts.
 */
export async function saveMedia(
  message: TelegramMessageLike,
  deps: MediaDeps,
): Promise<MediaOutcome> {
  if (message.photo?.length) {
    // Largest first; the caps below skip the sizes that do not fit.
    const sizes = [...message.photo].sort((a, b) =>
      b.width * b.height - a.width * a.height || (b.file_size ?? 0) - (a.file_size ?? 0)
    );
    return await saveFirstFitting(message, "photo", sizes, "photo.jpg", "image/jpeg", deps);
  }
  for (const [kind, name] of Object.entries(UNSUPPORTED)) {
    if (message[kind as UnsupportedKind] !== undefined) {
      return {
        kind: "unsupported",
        reply: `${name} are not supported here yet; send text, a photo or a document.`,
      };
    }
  }
  const doc = message.document;
  if (doc) {
    const mime = safeMime(doc.mime_type);
    const name = safeFileName(doc.file_name ?? "", mime);
    return await saveFirstFitting(message, "document", [doc], name, mime, deps);
  }
  return { kind: "none" };
}

/** Downloads the first candidate that fits under the cap; `too_large` when none does. */
async function saveFirstFitting(
  message: TelegramMessageLike,
  what: "photo" | "document",
  candidates: readonly Candidate[],
  name: string,
  mime: string | undefined,
  deps: MediaDeps,
): Promise<MediaOutcome> {
  let knownSize: number | undefined;
  for (const candidate of candidates) {
    if (candidate.file_size !== undefined && candidate.file_size > deps.maxBytes) {
      knownSize = candidate.file_size;
      continue;
    }
    const file = await fileInfo(candidate.file_id, deps);
    if ("tooBig" in file) {
      knownSize = file.size ?? knownSize;
      continue;
    }
    const ws = await Workspace.open(deps.workspace);
    const date = new Date(deps.now()).toISOString().slice(0, 10);
    const rel = `${INBOX_FOLDER}/${date}/${await uniquePrefix(message)}-${name}`;
    // Resolves the folder's real path, checks it lies in the workspace, creates what is missing.
    const real = await ws.forWrite(rel);
    const saved = await download(file.path, real, deps);
    if (!saved) return tooLarge(what, undefined, deps.maxBytes);
    const path = ws.display(real);
    const about = [formatSize(saved.size), ...(mime ? [mime] : [])].join(", ");
    const hint = saved.binary
      ? "a binary file, which the read tool cannot show"
      : "read it with the read tool";
    const line = `[${what} saved to ${path} (${about}); ${hint}]`;
    const said = message.caption ?? message.text ?? "";
    return { kind: "saved", text: said ? `${said}\n\n${line}` : line, path };
  }
  return tooLarge(what, knownSize, deps.maxBytes);
}

/** The refusal, with the size when one was known. */
function tooLarge(what: string, size: number | undefined, max: number): MediaOutcome {
  const why = size === undefined
    ? `it is over the ${formatSize(max)} limit`
    : `${formatSize(size)}; the limit is ${formatSize(max)}`;
  return {
    kind: "too_large",
    reply: `That ${what} is too large to save (${why}). Send a smaller one.`,
  };
}

/** getFile's answer: where to download from, or that the file is over the cap. */
async function fileInfo(
  fileId: string,
  deps: MediaDeps,
): Promise<{ path: string } | { tooBig: true; size?: number }> {
  let file: Awaited<ReturnType<FileApi["getFile"]>>;
  try {
    file = await deps.api.getFile(fileId, deps.signal);
  } catch (err) {
    if (deps.signal?.aborted) throw deps.signal.reason;
    const message = err instanceof Error ? err.message : String(err);
    // The Bot API refuses getFile for files over its own 20 MB download limit.
    if (/file is too big/i.test(message)) return { tooBig: true };
    throw new Error(`telegram: getFile for file_id "${fileId}" failed: ${message}`, {
      cause: err,
    });
  }
  if (file.file_size !== undefined && file.file_size > deps.maxBytes) {
    return { tooBig: true, size: file.file_size };
  }
  if (!file.file_path) {
    throw new Error(
      `telegram: getFile for file_id "${fileId}" returned no file_path, so it cannot be downloaded`,
    );
  }
  return { path: file.file_path };
}

/**
 * Streams the file at `filePath` into `real` through a temporary file in the same folder, so
 * nothing half-written or over the cap is ever left under the final name. Returns undefined,
 * with nothing left on disk, when the body passes `maxBytes` (at most that much is written).
 */
async function download(
  filePath: string,
  real: string,
  deps: MediaDeps,
): Promise<{ size: number; binary: boolean } | undefined> {
  const res = await fetchFile(filePath, deps);
  const declared = Number(res.headers.get("content-length") ?? NaN);
  // A null body (never for a 200 in practice) is an empty file.
  const body = res.body ?? ReadableStream.from<Uint8Array>([]);
  if (declared > deps.maxBytes) {
    await body.cancel();
    return undefined;
  }
  const tmp = join(
    dirname(real),
    `.${basename(real).slice(0, 64)}.${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  let file: Deno.FsFile;
  try {
    // createNew (O_EXCL) never follows a symlink planted under the temporary name.
    file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  } catch (err) {
    await body.cancel();
    throw err;
  }
  const reader = body.getReader();
  const head = new Uint8Array(SNIFF_BYTES);
  let size = 0;
  let kept = false;
  try {
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (size < SNIFF_BYTES) head.set(value.subarray(0, SNIFF_BYTES - size), size);
        size += value.length;
        // The body may not say its length, or say a wrong one: the count decides.
        if (size > deps.maxBytes) {
          await reader.cancel();
          return undefined;
        }
        let written = 0;
        while (written < value.length) written += await file.write(value.subarray(written));
      }
      await Deno.chmod(tmp, 0o600); // umask may have narrowed it further
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, real);
    kept = true;
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (deps.signal?.aborted) throw deps.signal.reason;
    throw err instanceof Error && err.message.includes(deps.token) ? redacted(err, deps) : err;
  } finally {
    if (!kept) await Deno.remove(tmp).catch(() => {});
  }
  const sample = head.subarray(0, Math.min(size, SNIFF_BYTES));
  return { size, binary: looksBinary(sample, size <= SNIFF_BYTES) };
}

/** GETs `<apiRoot>/file/bot<token>/<file_path>`; throws on network errors and HTTP errors. */
async function fetchFile(filePath: string, deps: MediaDeps): Promise<Response> {
  const segments = filePath.split("/");
  // URL parsing would resolve `.` and `..` (even escaped) and fetch some other path on the host.
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new Error(
      `telegram: getFile returned the file_path "${filePath}", which is not a plain relative path`,
    );
  }
  const root = deps.apiRoot.replace(/\/+$/, "");
  const url = `${root}/file/bot${deps.token}/${segments.map(encodeURIComponent).join("/")}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: deps.signal });
  } catch (err) {
    if (deps.signal?.aborted) throw deps.signal.reason;
    throw redacted(err, deps, filePath);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(
      `telegram: downloading "${filePath}" failed: HTTP ${res.status} ${res.statusText}`.trimEnd(),
    );
  }
  return res;
}

/**
 * A network error whose message may quote the file URL, bot token included: the token is
 * replaced, and the original is not kept as `cause` so no log can print it.
 */
function redacted(err: unknown, deps: MediaDeps, filePath?: string): Error {
  const message = (err instanceof Error ? err.message : String(err))
    .replaceAll(deps.token, "<token>");
  const what = filePath === undefined ? "saving a file" : `downloading "${filePath}"`;
  return new Error(`telegram: ${what} failed: ${message}`);
}

/**
 * A per-message prefix, so files of different messages never share a name: the message id, for
 * order, and a hash of chat and message id, as message ids repeat across private chats. A
 * re-delivered update gets the same name and replaces its own earlier copy.
 */
async function uniquePrefix(message: TelegramMessageLike): Promise<string> {
  const key = new TextEncoder().encode(`${message.chat?.id ?? ""}:${message.message_id}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", key));
  const hex = [...digest.subarray(0, 3)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${message.message_id}-${hex}`;
}

const MAX_NAME_CHARS = 100;
const MAX_NAME_BYTES = 200;
const EXTENSIONS: Record<string, string> = {
  "application/pdf": ".pdf",
  "application/json": ".json",
  "application/zip": ".zip",
  "text/plain": ".txt",
  "text/markdown": ".md",
  "text/csv": ".csv",
  "image/jpeg": ".jpg",
  "image/png": ".png",
};

/**
 * The sender's file name made safe to write: its last path component, without control or
 * format characters (bidi overrides included), characters other systems forbid, or leading
 * dots; at most 100 characters (and 200 UTF-8 bytes), keeping the extension.
 */
function safeFileName(raw: string, mime: string | undefined): string {
  const last = raw.split(/[/\\]/).pop() ?? "";
  let name = last.normalize("NFC")
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, "")
    .replace(/[<>:"|?*]/g, "_")
    .replace(/\s+/g, " ")
    .replace(/^[.\s]+/, "")
    .replace(/[.\s]+$/, "");
  if (!name) name = `document${(mime && EXTENSIONS[mime]) ?? ""}`;
  const ext = /\.[\p{L}\p{N}_-]{1,16}$/u.exec(name)?.[0] ?? "";
  const stem = [...name.slice(0, name.length - ext.length)];
  const encoder = new TextEncoder();
  const fits = (s: string) =>
    [...s].length <= MAX_NAME_CHARS && encoder.encode(s).length <= MAX_NAME_BYTES;
  while (stem.length > 1 && !fits(stem.join("") + ext)) stem.pop();
  return (stem.join("").trimEnd() || "document") + ext;
}

/** The sender's MIME type when it looks like one, else undefined (it ends up in the text). */
function safeMime(mime: string | undefined): string | undefined {
  return mime && /^[\w.+-]{1,64}\/[\w.+-]{1,64}$/.test(mime) ? mime.toLowerCase() : undefined;
}

/** 123 bytes, 45 KB, 2.5 MB, 20 MB (binary units, as file sizes are usually shown). */
function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, "")} MB`;
}

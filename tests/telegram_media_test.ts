/**
 * Telegram media: photos and documents land in the workspace through the real grammY client
 * (getFile) and a real download from the fake Bot API, under the size cap; other kinds get a reply.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { Api } from "grammy/web";
import {
  type FileApi,
  type MediaDeps,
  type MediaOutcome,
  saveMedia,
  type TelegramMessageLike,
} from "../src/channels/telegram/media.ts";
import { FakeTelegram } from "./_servers/telegram.ts";

const TOKEN = "123456:MEDIA-TEST-TOKEN";
const ALICE = { id: 42, first_name: "Alice" };
const NOW = Date.UTC(2026, 11, 4, 9, 30);
const DAY = "inbox/telegram/2026-12-04";
const CAP = 10_000;

/** JPEG-looking bytes: binary, as far as the read tool is concerned. */
const jpeg = (size: number, fill = 0) => {
  const b = new Uint8Array(size).fill(fill);
  b.set([0xff, 0xd8, 0xff, 0xe0].slice(0, size));
  return b;
};
const text = (s: string) => new TextEncoder().encode(s);

/** A temporary folder holding the workspace, so writes outside it would be seen too. */
async function tempWorkspace() {
  const parent = await Deno.realPath(await Deno.makeTempDir({ prefix: "gatehouse_media_" }));
  const path = join(parent, "workspace");
  await Deno.mkdir(path);
  return {
    parent,
    path,
    [Symbol.asyncDispose]: () => Deno.remove(parent, { recursive: true }),
  };
}

/** Files (not folders) under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/** getFile through a real grammY `Api` aimed at the fake. */
function grammyFiles(fake: FakeTelegram): FileApi {
  const api = new Api(TOKEN, { apiRoot: fake.url });
  // grammY types its signal with the abort-controller polyfill; at run time it is the platform's.
  return { getFile: (id, signal) => api.getFile(id, signal as never) };
}

function depsFor(fake: FakeTelegram, workspace: string, more: Partial<MediaDeps> = {}): MediaDeps {
  return {
    api: grammyFiles(fake),
    apiRoot: fake.url,
    token: TOKEN,
    workspace,
    maxBytes: CAP,
    now: () => NOW,
    ...more,
  };
}

/** The calls to `method` the fake answered since `seq`. */
const callsSince = (fake: FakeTelegram, seq: number, method: string) =>
  fake.calls.filter((c) => c.seq >= seq && c.method === method);

function saved(outcome: MediaOutcome): { text: string; path: string } {
  assert.equal(outcome.kind, "saved", `expected a saved file, got ${JSON.stringify(outcome)}`);
  return outcome as { text: string; path: string };
}

function reply(outcome: MediaOutcome, kind: "too_large" | "unsupported"): string {
  assert.equal(outcome.kind, kind, `expected ${kind}, got ${JSON.stringify(outcome)}`);
  return (outcome as { reply: string }).reply;
}

/** A document message from Alice whose bytes the fake serves under a plain file_path. */
function document(
  fake: FakeTelegram,
  messageId: number,
  fileName: string | undefined,
  bytes: Uint8Array,
  options: { chatId?: number; mimeType?: string; withSize?: boolean } = {},
): TelegramMessageLike {
  const fileId = `doc-${options.chatId ?? ALICE.id}-${messageId}`;
  fake.addFile(fileId, bytes, `documents/file_${fileId}`);
  return {
    message_id: messageId,
    chat: { id: options.chatId ?? ALICE.id },
    document: {
      file_id: fileId,
      ...(fileName === undefined ? {} : { file_name: fileName }),
      mime_type: options.mimeType ?? "text/plain",
      ...(options.withSize ?? true ? { file_size: bytes.length } : {}),
    },
  };
}

/** A server that streams `a`s forever without a length, as a file URL that lies would. */
function endlessFiles(onChunk: (n: number) => void = () => {}) {
  let cancelled!: () => void;
  const wasCancelled = new Promise<void>((resolve) => (cancelled = resolve));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        onChunk(++n);
        controller.enqueue(new Uint8Array(4096).fill(0x61));
      },
      cancel: () => cancelled(),
    });
    return new Response(body);
  });
  const api: FileApi = {
    getFile: (id) => Promise.resolve({ file_id: id, file_path: "documents/endless.txt" }),
  };
  return { url: `http://127.0.0.1:${server.addr.port}`, server, api, wasCancelled };
}

Deno.test("a photo is saved as its largest size within the cap and named in the text", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  const small = jpeg(300, 1);
  const medium = jpeg(3000, 2);
  const large = jpeg(30_000, 3);
  fake.addFile("p-s", small, "photos/file_s.jpg");
  fake.addFile("p-m", medium, "photos/file_m.jpg");
  fake.addFile("p-l", large, "photos/file_l.jpg");
  const sizes = [
    { file_id: "p-s", width: 90, height: 90, file_size: small.length },
    { file_id: "p-l", width: 1280, height: 1280, file_size: large.length },
    { file_id: "p-m", width: 320, height: 320, file_size: medium.length },
  ];

  await t.step("sizes over the cap are skipped before any call", async () => {
    const since = fake.callCount;
    const out = saved(
      await saveMedia(
        { message_id: 7, chat: { id: ALICE.id }, caption: "look", photo: sizes },
        depsFor(fake, ws.path),
      ),
    );
    assert.match(out.path, new RegExp(`^${DAY}/7-[0-9a-f]{6}-photo\\.jpg$`));
    assert.equal(
      out.text,
      `look\n\n[photo saved to ${out.path} (3 KB, image/jpeg); ` +
        "a binary file, which the read tool cannot show]",
    );
    assert.deepEqual(await Deno.readFile(join(ws.path, out.path)), medium);
    assert.equal((await Deno.stat(join(ws.path, out.path))).mode! & 0o777, 0o600);
    assert.deepEqual(callsSince(fake, since, "getFile").map((c) => c.params.file_id), ["p-m"]);
    assert.equal(callsSince(fake, since, "file").length, 1);
  });

  await t.step("without sizes in the message, getFile's size decides", async () => {
    const since = fake.callCount;
    const unsized = sizes.map(({ file_size: _, ...rest }) => rest);
    const out = saved(
      await saveMedia({ message_id: 8, photo: unsized }, depsFor(fake, ws.path)),
    );
    assert.deepEqual(await Deno.readFile(join(ws.path, out.path)), medium);
    assert.ok(out.text.startsWith("[photo saved to "), "no caption, just the line");
    assert.deepEqual(callsSince(fake, since, "getFile").map((c) => c.params.file_id), [
      "p-l",
      "p-m",
    ]);
    assert.deepEqual(callsSince(fake, since, "file").map((c) => c.params.file_path), [
      "photos/file_m.jpg",
    ]);
  });

  await t.step("a photo pushed through the fake is saved with its caption", async () => {
    fake.pushMessage({ from: ALICE, text: "my cat", photo: { bytes: jpeg(500, 4) } });
    const message: TelegramMessageLike = fake.messages(ALICE.id).at(-1)!.message;
    const out = saved(await saveMedia(message, depsFor(fake, ws.path)));
    assert.ok(out.text.startsWith(`my cat\n\n[photo saved to ${DAY}/`), out.text);
    assert.deepEqual(await Deno.readFile(join(ws.path, out.path)), jpeg(500, 4));
  });

  assert.deepEqual(await filesUnder(ws.parent), [
    ...(await filesUnder(join(ws.path, DAY))).map((f) => `workspace/${DAY}/${f}`),
  ]);
});

Deno.test("document names from the sender are made safe and stay inside the workspace", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  let id = 100;

  const cases: [string, string | undefined, (name: string) => void][] = [
    ["a path climbing out", "../../etc/passwd", (n) => assert.equal(n, "passwd")],
    ["Windows separators", "..\\..\\boot.ini", (n) => assert.equal(n, "boot.ini")],
    ["a dotfile", ".bashrc", (n) => assert.equal(n, "bashrc")],
    ["only dots", "...", (n) => assert.equal(n, "document.txt")],
    ["no name at all", undefined, (n) => assert.equal(n, "document.txt")],
    ["control and bidi characters", "in\u0000voi\nce\u202Etxt.exe", (n) => {
      assert.equal(n, "invoicetxt.exe");
    }],
    ["characters other systems forbid", 'a<b>:c"d|e?f*.txt', (n) => {
      assert.equal(n, "a_b__c_d_e_f_.txt");
    }],
    ["a very long name", `${"a".repeat(300)}.txt`, (n) => {
      assert.equal(n.length, 100);
      assert.ok(n.endsWith("a.txt"));
    }],
    ["a very long multi-byte name", `${"ü".repeat(150)}.pdf`, (n) => {
      assert.ok(new TextEncoder().encode(n).length <= 200, n);
      assert.ok(n.endsWith("ü.pdf"));
    }],
  ];
  for (const [what, fileName, check] of cases) {
    await t.step(what, async () => {
      const messageId = ++id;
      const body = text(`contents of ${what}\n`);
      const out = saved(
        await saveMedia(document(fake, messageId, fileName, body), depsFor(fake, ws.path)),
      );
      const match = new RegExp(`^${DAY}/${messageId}-[0-9a-f]{6}-([^/]+)$`).exec(out.path);
      assert.ok(match, `${out.path} is a file directly in the day's folder`);
      check(match[1]);
      assert.deepEqual(await Deno.readFile(join(ws.path, out.path)), body);
      assert.ok(
        out.text.endsWith(`(${body.length} bytes, text/plain); read it with the read tool]`),
        out.text,
      );
    });
  }

  await t.step("nothing was written outside the day's folder", async () => {
    const files = await filesUnder(ws.parent);
    assert.equal(files.length, cases.length);
    for (const f of files) assert.ok(f.startsWith(`workspace/${DAY}/`), f);
  });

  await t.step("an inbox symlinked out of the workspace is refused", async () => {
    const outside = join(ws.parent, "outside");
    await Deno.mkdir(outside);
    await Deno.remove(join(ws.path, "inbox"), { recursive: true });
    await Deno.symlink(outside, join(ws.path, "inbox"));
    await assert.rejects(
      saveMedia(document(fake, ++id, "x.txt", text("x")), depsFor(fake, ws.path)),
      (err: Error) => err.name === "OutsideWorkspace",
    );
    assert.deepEqual(await filesUnder(outside), []);
  });
});

Deno.test("files over the cap are refused and nothing is written", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  const big = text("x".repeat(20_000));

  await t.step("the size in the message refuses it before any call", async () => {
    const since = fake.callCount;
    const out = await saveMedia(document(fake, 1, "big.txt", big), depsFor(fake, ws.path));
    assert.equal(
      reply(out, "too_large"),
      "That document is too large to save (20 KB; the limit is 10 KB). Send a smaller one.",
    );
    assert.equal(fake.callCount, since);
  });

  await t.step("without a size in the message, getFile's size refuses it", async () => {
    const since = fake.callCount;
    const message = document(fake, 2, "big.txt", big, { withSize: false });
    const out = await saveMedia(message, depsFor(fake, ws.path));
    assert.match(reply(out, "too_large"), /\(20 KB; the limit is 10 KB\)/);
    assert.equal(callsSince(fake, since, "getFile").length, 1);
    assert.equal(callsSince(fake, since, "file").length, 0);
  });

  await t.step("when getFile understates the size, the download is refused", async () => {
    const since = fake.callCount;
    const grammy = grammyFiles(fake);
    const lying: FileApi = {
      getFile: async (id, signal) => ({ ...(await grammy.getFile(id, signal)), file_size: 10 }),
    };
    const message = document(fake, 3, "big.txt", big, { withSize: false });
    const out = await saveMedia(message, depsFor(fake, ws.path, { api: lying }));
    assert.equal(
      reply(out, "too_large"),
      "That document is too large to save (it is over the 10 KB limit). Send a smaller one.",
    );
    assert.equal(callsSince(fake, since, "file").length, 1);
  });

  await t.step("a body with no length is cut once it passes the cap", async () => {
    const endless = endlessFiles();
    await using _server = endless.server;
    const out = await saveMedia(
      { message_id: 4, document: { file_id: "endless", file_name: "endless.txt" } },
      depsFor(fake, ws.path, { api: endless.api, apiRoot: endless.url }),
    );
    assert.equal(out.kind, "too_large");
    // The download was given up (an endless body would otherwise never end).
    await endless.wasCancelled;
  });

  await t.step("a photo whose every size is over the cap is refused", async () => {
    const since = fake.callCount;
    const out = await saveMedia(
      {
        message_id: 5,
        photo: [
          { file_id: "a", width: 90, height: 90, file_size: 12_000 },
          { file_id: "b", width: 800, height: 800, file_size: 90_000 },
        ],
      },
      depsFor(fake, ws.path),
    );
    assert.match(reply(out, "too_large"), /^That photo is too large to save \(12 KB;/);
    assert.equal(fake.callCount, since);
  });

  assert.deepEqual(await filesUnder(ws.parent), []);
});

Deno.test("other kinds of message get a reply naming the kind", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  const file = { file_id: "f", file_unique_id: "u-f" };
  const kinds: [string, Partial<TelegramMessageLike>, string][] = [
    ["voice", { voice: { ...file, duration: 3 } }, "Voice messages"],
    ["audio", { audio: { ...file, duration: 200 } }, "Audio files"],
    ["video", { video: { ...file, width: 1, height: 1, duration: 1 } }, "Videos"],
    ["video_note", { video_note: { ...file, length: 1, duration: 1 } }, "Video messages"],
    ["sticker", { sticker: { ...file, type: "regular" } }, "Stickers"],
    // Animations also carry `document` for old clients; they are not saved as documents.
    ["animation", { animation: file, document: { file_id: "f" } }, "GIFs"],
    ["location", { location: { latitude: 1, longitude: 2 } }, "Locations"],
    ["venue", { venue: { title: "x" }, location: { latitude: 1, longitude: 2 } }, "Venues"],
    ["contact", { contact: { phone_number: "1", first_name: "A" } }, "Contacts"],
    ["poll", { poll: { id: "1", question: "?" } }, "Polls"],
    ["dice", { dice: { emoji: "🎲", value: 3 } }, "Dice"],
  ];
  const since = fake.callCount;
  for (const [kind, fields, name] of kinds) {
    await t.step(kind, async () => {
      const out = await saveMedia({ message_id: 1, ...fields }, depsFor(fake, ws.path));
      assert.equal(
        reply(out, "unsupported"),
        `${name} are not supported here yet; send text, a photo or a document.`,
      );
    });
  }
  await t.step("a plain text message has no media", async () => {
    const out = await saveMedia({ message_id: 2, text: "hi" }, depsFor(fake, ws.path));
    assert.deepEqual(out, { kind: "none" });
  });
  assert.equal(fake.callCount, since, "no call to Telegram");
  assert.deepEqual(await filesUnder(ws.parent), []);
});

Deno.test("documents with the same name never overwrite each other", async () => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  const deps = depsFor(fake, ws.path);
  const first = document(fake, 10, "report.pdf", text("first"));
  const a = saved(await saveMedia(first, deps));
  const b = saved(await saveMedia(document(fake, 11, "report.pdf", text("second")), deps));
  // Private chats number their messages on their own, so ids repeat across chats.
  const other = document(fake, 10, "report.pdf", text("other chat"), { chatId: 43 });
  const c = saved(await saveMedia(other, deps));
  assert.equal(new Set([a.path, b.path, c.path]).size, 3);
  for (const p of [a.path, b.path, c.path]) assert.ok(p.endsWith("-report.pdf"), p);
  assert.equal(await Deno.readTextFile(join(ws.path, a.path)), "first");
  assert.equal(await Deno.readTextFile(join(ws.path, b.path)), "second");
  assert.equal(await Deno.readTextFile(join(ws.path, c.path)), "other chat");

  // A re-delivered update saves under the same name: one copy, not two.
  const again = saved(await saveMedia(first, deps));
  assert.equal(again.path, a.path);
  assert.equal((await filesUnder(ws.path)).length, 3);
});

Deno.test("failures to fetch a file throw a clear error that never shows the token", async (t) => {
  await using fake = await FakeTelegram.start({ token: TOKEN });
  await using ws = await tempWorkspace();
  const withPath = (file_path: string): FileApi => ({
    getFile: (id) => Promise.resolve({ file_id: id, file_path }),
  });
  const message: TelegramMessageLike = {
    message_id: 1,
    document: { file_id: "nope", file_name: "a.txt" },
  };
  const rejection = async (deps: MediaDeps): Promise<Error> => {
    try {
      await saveMedia(message, deps);
    } catch (err) {
      assert.ok(err instanceof Error);
      assert.ok(!err.message.includes(TOKEN), `the token leaked: ${err.message}`);
      return err;
    }
    assert.fail("saveMedia did not throw");
  };

  await t.step("getFile refused", async () => {
    const err = await rejection(depsFor(fake, ws.path));
    assert.match(err.message, /^telegram: getFile for file_id "nope" failed: .*invalid file_id/);
  });

  await t.step("the file URL answers 404", async () => {
    const err = await rejection(depsFor(fake, ws.path, { api: withPath("documents/gone.txt") }));
    assert.equal(
      err.message,
      'telegram: downloading "documents/gone.txt" failed: HTTP 404 Not Found',
    );
  });

  await t.step("the host cannot be reached", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closed = `http://127.0.0.1:${listener.addr.port}`;
    listener.close();
    const err = await rejection(
      depsFor(fake, ws.path, { api: withPath("documents/a.txt"), apiRoot: closed }),
    );
    assert.match(err.message, /^telegram: downloading "documents\/a\.txt" failed: /);
  });

  await t.step("a file_path that would climb out of the file URL", async () => {
    const err = await rejection(depsFor(fake, ws.path, { api: withPath("documents/../../x") }));
    assert.match(err.message, /not a plain relative path/);
  });

  await t.step("an aborted download rejects with the reason and leaves nothing", async () => {
    const abort = new AbortController();
    const endless = endlessFiles((n) => n === 2 && abort.abort(new Error("stopping")));
    await using _server = endless.server;
    await assert.rejects(
      saveMedia(message, {
        ...depsFor(fake, ws.path, { api: endless.api, apiRoot: endless.url }),
        maxBytes: 1_000_000,
        signal: abort.signal,
      }),
      { message: "stopping" },
    );
  });

  assert.deepEqual(await filesUnder(ws.parent), []);
});

/** `write`: creates or replaces a file in the workspace, atomically. */
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import type { PreparedCall, Tool, ToolContext } from "../../kernel/mod.ts";
import type { FsToolDeps } from "./mod.ts";

const params = z.object({
  path: z.string().min(1).describe("file path, relative to the workspace"),
  content: z.string().describe("the whole new content of the file"),
}).strict();

/**
 * Writes `bytes` to `realPath` through a temporary file in the same folder, renamed over it, so
 * readers see the old file or the new one, never half of one. `realPath` must already be checked
 * (its folder is a real path inside the workspace). Keeps the replaced file's permission bits.
 */
export async function writeAtomic(
  realPath: string,
  bytes: Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const tmp = join(
    dirname(realPath),
    `.${basename(realPath).slice(0, 64)}.${crypto.randomUUID().slice(0, 8)}.tmp`,
  );
  // createNew (O_EXCL) never follows a symlink planted under the temporary name.
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode });
  try {
    try {
      let done = 0;
      while (done < bytes.length) done += await file.write(bytes.subarray(done));
      if (options.mode !== undefined) await Deno.chmod(tmp, options.mode); // umask narrowed it
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, realPath);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** The path a call acts on: what `prepare` resolved (and an approval bound), else the argument. */
export function boundPath(path: string, ctx: ToolContext): string {
  const bound = ctx.prepared?.args?.path;
  return typeof bound === "string" ? bound : path;
}

/** Refuses a write over anything but a regular file; returns the replaced file's mode. */
export async function replaceableMode(real: string, path: string): Promise<number | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(real);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (info.isDirectory) throw new Error(`${path} is a folder; give a file path inside it`);
  if (!info.isFile) throw new Error(`${path} is not a regular file, so it cannot be replaced`);
  return info.mode === null ? undefined : info.mode & 0o7777;
}

/** Creates the tool over `deps.workspace`. */
export function writeTool({ workspace, maxFileBytes }: FsToolDeps): Tool<typeof params> {
  const tooBig = (size: number) =>
    new Error(
      `content is ${size} bytes, over the ${maxFileBytes}-byte limit: write a smaller file`,
    );
  return {
    name: "write",
    description: "Creates or replaces a file in the workspace with the given content " +
      `(at most ${maxFileBytes} bytes), creating missing folders. To change part of an ` +
      "existing file, prefer edit.",
    params,
    group: "fs",
    async prepare({ path, content }): Promise<PreparedCall> {
      const size = new TextEncoder().encode(content).length;
      if (size > maxFileBytes) throw tooBig(size);
      const shown = workspace.display(await workspace.forWrite(path, { createFolders: false }));
      return { summary: `write ${shown} (${size} bytes)`, args: { path: shown } };
    },
    async run({ path, content }, ctx) {
      const bytes = new TextEncoder().encode(content);
      if (bytes.length > maxFileBytes) throw tooBig(bytes.length);
      const target = boundPath(path, ctx);
      const real = await workspace.forWrite(target);
      const mode = await replaceableMode(real, target);
      ctx.signal.throwIfAborted();
      await writeAtomic(real, bytes, { mode });
      return `wrote ${bytes.length} bytes to ${workspace.display(real)}`;
    },
  };
}

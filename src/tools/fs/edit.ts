/** `edit`: replaces an exact piece of text in a workspace file, atomically. */
import { z } from "zod";
import type { PreparedCall, Tool } from "../../kernel/mod.ts";
import type { FsToolDeps } from "./mod.ts";
import { looksBinary, SNIFF_BYTES } from "./read.ts";
import { boundPath, replaceableMode, writeAtomic } from "./write.ts";

const params = z.object({
  path: z.string().min(1).describe("file path, relative to the workspace"),
  old: z.string().min(1).describe("the exact text to replace, as it is in the file"),
  new: z.string().describe("the text to put in its place"),
  all: z.boolean().optional().describe("replace every occurrence; by default old must occur once"),
}).strict();

/** Creates the tool over `deps.workspace`. */
export function editTool({ workspace, maxFileBytes }: FsToolDeps): Tool<typeof params> {
  const encoder = new TextEncoder();
  return {
    name: "edit",
    description: "Replaces exact text in a workspace file: old must match the file exactly " +
      "(spaces and line breaks included, without the line numbers read adds) and occur once, " +
      "unless all is true. Read the file first.",
    params,
    group: "fs",
    async prepare({ path, old, new: replacement, all }): Promise<PreparedCall> {
      const shown = workspace.display(await workspace.existing(path));
      const what = `${encoder.encode(old).length} bytes with ${
        encoder.encode(replacement).length
      } bytes${all ? ", every occurrence" : ""}`;
      return { summary: `edit ${shown} (replace ${what})`, args: { path: shown } };
    },
    async run({ path, old, new: replacement, all }, ctx) {
      if (old === replacement) throw new Error(`old and new are the same: nothing to change`);
      const target = boundPath(path, ctx);
      const real = await workspace.existing(target);
      const info = await Deno.stat(real);
      if (info.isDirectory) throw new Error(`${target} is a folder; edit works on files`);
      const mode = await replaceableMode(real, target);
      if (info.size > maxFileBytes) {
        throw new Error(
          `${target} is ${info.size} bytes, over the ${maxFileBytes}-byte limit for edit`,
        );
      }
      const bytes = await Deno.readFile(real, { signal: ctx.signal });
      if (looksBinary(bytes.subarray(0, SNIFF_BYTES), bytes.length <= SNIFF_BYTES)) {
        throw new Error(`${target} is a binary file (${bytes.length} bytes); edit works on text`);
      }
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch {
        throw new Error(`${target} is not valid UTF-8 text, so edit cannot change it safely`);
      }
      const parts = text.split(old);
      const count = parts.length - 1;
      const shown = workspace.display(real);
      if (count === 0) {
        throw new Error(
          `not found: old does not occur in ${shown}. Read the file first and copy the exact ` +
            `text, with its spaces, tabs and line breaks (without read's line numbers)`,
        );
      }
      if (count > 1 && !all) {
        throw new Error(
          `old occurs ${count} times in ${shown}: add surrounding lines so it matches once, ` +
            `or set all: true to replace every occurrence`,
        );
      }
      // split/join, not String.replace: `$&` and friends in the new text stay literal.
      const out = encoder.encode(parts.join(replacement));
      if (out.length > maxFileBytes) {
        throw new Error(
          `the edited file would be ${out.length} bytes, over the ${maxFileBytes}-byte limit`,
        );
      }
      ctx.signal.throwIfAborted();
      await writeAtomic(real, out, { mode });
      return `replaced ${count} occurrence${count === 1 ? "" : "s"} in ${shown}`;
    },
  };
}

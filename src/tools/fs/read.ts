/** `read`: the text of a file in the workspace, whole or a range of lines, with line numbers. */
import { z } from "zod";
import type { Tool } from "../../kernel/mod.ts";
import type { FsToolDeps } from "./mod.ts";

/** How much of a file's start decides whether it is text. */
export const SNIFF_BYTES = 8192;

const CHUNK = 64 * 1024;

const params = z.object({
  path: z.string().min(1).describe("file path, relative to the workspace"),
  offset: z.number().int().min(1).optional().describe("first line to show (1-based)"),
  limit: z.number().int().min(1).optional().describe("how many lines to show"),
}).strict();

/** Whether the first bytes of a file look binary: a NUL byte, or not UTF-8. */
export function looksBinary(head: Uint8Array, wholeFile: boolean): boolean {
  if (head.includes(0)) return true;
  try {
    // `stream` tolerates a character cut by the end of the sample.
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: !wholeFile });
    return false;
  } catch {
    return true;
  }
}

/** Creates the tool over `deps.workspace`. */
export function readTool({ workspace, maxFileBytes }: FsToolDeps): Tool<typeof params> {
  return {
    name: "read",
    description: "Reads a text file in the workspace. Each line comes back as its number, a tab, " +
      "then the text (the number and tab are not part of the file). Use offset and limit (in " +
      `lines) for part of a file; files over ${maxFileBytes} bytes can only be read in parts.`,
    params,
    group: "fs",
    async run({ path, offset, limit }, ctx) {
      const real = await workspace.existing(path);
      const info = await Deno.stat(real);
      if (info.isDirectory) throw new Error(`${path} is a folder: use list to see what it holds`);
      if (!info.isFile) throw new Error(`${path} is not a regular file, so it cannot be read`);
      const ranged = offset !== undefined || limit !== undefined;
      const file = await Deno.open(real, { read: true });
      try {
        const buf = new Uint8Array(CHUNK);
        // Fill the sample first: reads may return less than asked.
        let filled = 0;
        let eof = false;
        while (filled < SNIFF_BYTES) {
          const n = await file.read(buf.subarray(filled));
          if (n === null) {
            eof = true;
            break;
          }
          filled += n;
        }
        const sample = buf.subarray(0, Math.min(filled, SNIFF_BYTES));
        if (looksBinary(sample, eof && filled <= SNIFF_BYTES)) {
          return `binary file, ${info.size} bytes (not shown)`;
        }
        if (!ranged && info.size > maxFileBytes) {
          throw new Error(
            `${path} is ${info.size} bytes, over the ${maxFileBytes}-byte limit: ` +
              `read it in parts with offset and limit (lines), e.g. offset 1, limit 200`,
          );
        }
        if (filled === 0) return "(empty file)";
        return await readLines(
          async () => {
            if (filled > 0) {
              const first = buf.slice(0, filled);
              filled = 0;
              return first;
            }
            if (eof) return null;
            ctx.signal.throwIfAborted();
            const n = await file.read(buf);
            return n === null ? null : buf.subarray(0, n);
          },
          { path, start: offset ?? 1, count: limit, budget: maxFileBytes },
        );
      } finally {
        file.close();
      }
    },
  };
}

/**
 * Numbers and collects the lines `start .. start+count-1` from `next` chunks, reading no further
 * than needed. Lines before `start` are only counted, so a huge file costs no memory to skip.
 */
async function readLines(
  next: () => Promise<Uint8Array | null>,
  o: { path: string; start: number; count?: number; budget: number },
): Promise<string> {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const end = o.count === undefined ? Infinity : o.start + o.count; // first line not shown
  const out: string[] = [];
  let used = 0;
  let line = 1;
  let current = ""; // the line being read, kept only when it is shown
  let footer = "";
  const finish = (): string => {
    const text = out.join("\n");
    return footer ? `${text}\n${footer}` : text;
  };
  // Adds a shown line; false when the output budget is spent.
  const emit = (text: string): boolean => {
    if (used + text.length > o.budget) {
      if (out.length === 0) {
        out.push(`${line}\t${text.slice(0, o.budget)}`);
        footer = `[line ${line} is cut at ${o.budget} characters; continue with offset=${
          line + 1
        }]`;
      } else {
        footer = `[output limit reached; continue with offset=${line}]`;
      }
      return false;
    }
    used += text.length + 1;
    out.push(`${line}\t${text}`);
    return true;
  };
  let chunk: Uint8Array | null;
  while ((chunk = await next()) !== null) {
    const text = decoder.decode(chunk, { stream: true });
    let i = 0;
    while (i < text.length) {
      const nl = text.indexOf("\n", i);
      const stop = nl === -1 ? text.length : nl;
      if (line >= o.start) {
        current += text.slice(i, stop);
        // A line longer than the whole budget is cut without waiting for its end.
        if (current.length > o.budget) {
          emit(current);
          return finish();
        }
      }
      if (nl === -1) break;
      if (line >= o.start && !emit(current)) return finish();
      current = "";
      line++;
      i = nl + 1;
      if (line >= end) {
        if (i < text.length || (await next()) !== null) {
          footer = `[more lines follow; continue with offset=${line}]`;
        }
        return finish();
      }
    }
  }
  current += line >= o.start ? decoder.decode() : "";
  const last = current.length > 0 ? line : line - 1; // the last line may lack its newline
  if (o.start > Math.max(last, 1)) {
    throw new Error(`offset ${o.start} is past the end of ${o.path}, which has ${last} lines`);
  }
  if (current.length > 0) emit(current);
  return finish();
}

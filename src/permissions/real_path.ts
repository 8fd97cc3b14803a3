/**
 * Real paths for grants. Deno checks a path permission against the path it is handed, without
 * following symlinks, while the tools work on real paths; so a grant for a symlinked folder must
 * name its real path too.
 */
import { basename, dirname, join } from "node:path";

/**
 * The real path `path` has, or will have once created: its deepest existing ancestor with every
 * symlink followed, joined with the missing rest. `path` itself when nothing on the way can be
 * read (the grant by name is then all there is to give).
 */
export function realPathOf(path: string): string {
  const missing: string[] = [];
  let at = path;
  while (true) {
    try {
      return join(Deno.realPathSync(at), ...missing);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) return path;
      const up = dirname(at);
      if (up === at) return path;
      missing.unshift(basename(at));
      at = up;
    }
  }
}

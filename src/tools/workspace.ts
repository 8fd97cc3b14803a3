/**
 * The workspace: the one folder file tools and `exec` may touch. Deno checks permission paths by
 * name, so a symlink inside an allowed folder could reach outside it; every path is therefore
 * resolved to its real path (symlinks followed) and must lie under the workspace's real path
 * before anything is read or written.
 */
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/** A path the workspace refuses; the message says why and is shown to the model. */
export class OutsideWorkspace extends Error {
  override name = "OutsideWorkspace";
}

/** Options of {@linkcode Workspace.open}. */
export interface WorkspaceOptions {
  /**
   * Test-only: skip the real-path check, so a test can show that Deno's runtime permissions still
   * refuse what this check would have. Never set from config.
   */
  unsafeSkipConfinement?: boolean;
}

/** Options of {@linkcode Workspace.forWrite}. */
export interface ForWriteOptions {
  /**
   * Create the missing folders on the way to the file. Off for a dry run (an approval's
   * `prepare`), which must not change the disk.
   * @default true
   */
  createFolders?: boolean;
}

/** A confined folder; paths given to it are relative to it (absolute ones must lie inside it). */
export class Workspace {
  /** The workspace's real path. */
  readonly root: string;
  readonly #skip: boolean;

  private constructor(root: string, options: WorkspaceOptions) {
    this.root = root;
    this.#skip = options.unsafeSkipConfinement ?? false;
  }

  /** Creates the folder if needed and pins its real path. */
  static async open(path: string, options: WorkspaceOptions = {}): Promise<Workspace> {
    await Deno.mkdir(path, { recursive: true });
    return new Workspace(await Deno.realPath(path), options);
  }

  /**
   * {@linkcode Workspace.open}, synchronously: for the set-up step, which must know before the
   * gateway serves whether the tools that need a workspace can be offered at all.
   */
  static openSync(path: string, options: WorkspaceOptions = {}): Workspace {
    Deno.mkdirSync(path, { recursive: true });
    return new Workspace(Deno.realPathSync(path), options);
  }

  /** `path` as the model gave it, made absolute against the workspace (not yet checked). */
  #absolute(path: string): string {
    return isAbsolute(path) ? resolve(path) : resolve(this.root, path);
  }

  /** Whether a real path lies under the workspace (or is it). */
  contains(realPath: string): boolean {
    const rel = relative(this.root, realPath);
    return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
  }

  /** The path relative to the workspace, for messages (`.` for the root). */
  display(realPath: string): string {
    const rel = relative(this.root, realPath);
    return rel === "" ? "." : rel.split(sep).join("/");
  }

  /**
   * The real path of an existing file or folder inside the workspace. Throws
   * {@linkcode OutsideWorkspace} when it resolves outside (through `..`, an absolute path or a
   * symlink) and `Deno.errors.NotFound` when it does not exist.
   */
  async existing(path: string): Promise<string> {
    const abs = this.#absolute(path);
    if (this.#skip) return abs;
    this.#lexical(path, abs);
    let real: string;
    try {
      real = await Deno.realPath(abs);
    } catch (err) {
      // The OS message quotes the absolute path; say it in the model's terms instead.
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        throw new Deno.errors.NotFound(
          `${path} does not exist (paths are relative to the workspace)`,
          { cause: err },
        );
      }
      throw err;
    }
    if (!this.contains(real)) {
      throw new OutsideWorkspace(
        `${path} resolves outside the workspace (through a symlink); only files under the workspace can be used`,
      );
    }
    return real;
  }

  /**
   * Where a write to `path` lands: the real path of its folder (which must exist inside the
   * workspace, or is created there) joined with its name. A name that is an existing symlink is
   * followed and must stay inside too; a dangling symlink is refused.
   */
  async forWrite(path: string, options: ForWriteOptions = {}): Promise<string> {
    const create = options.createFolders ?? true;
    const abs = this.#absolute(path);
    if (this.#skip) {
      if (create) await Deno.mkdir(dirname(abs), { recursive: true });
      return abs;
    }
    this.#lexical(path, abs);
    if (abs === this.root) {
      throw new OutsideWorkspace(`${path} is the workspace itself, not a file`);
    }
    // The deepest existing ancestor decides where new folders would be created.
    let parent = dirname(abs);
    const missing: string[] = [];
    while (true) {
      try {
        parent = await Deno.realPath(parent);
        break;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw this.#notFolder(path, err);
        // A dangling symlink on the way would have mkdir follow it (or fail): refuse it by name.
        if ((await Deno.lstat(parent).catch(() => undefined))?.isSymlink) {
          throw new OutsideWorkspace(
            `${path} goes through a symlink to a missing target (${
              this.display(parent)
            }); use a real folder`,
          );
        }
        missing.unshift(basename(parent));
        parent = dirname(parent);
      }
    }
    if (!this.contains(parent)) {
      throw new OutsideWorkspace(`${path} is outside the workspace (through a symlink)`);
    }
    const folder = join(parent, ...missing);
    if (missing.length && create) await Deno.mkdir(folder, { recursive: true });
    const target = join(folder, basename(abs));
    if (missing.length && !create) return target;
    let real: string;
    try {
      real = await Deno.realPath(target);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw this.#notFolder(path, err);
      // A dangling symlink would be followed by the write: refuse it.
      if ((await Deno.lstat(target).catch(() => undefined))?.isSymlink) {
        throw new OutsideWorkspace(`${path} is a symlink to a missing target; write a real file`);
      }
      return target;
    }
    if (!this.contains(real)) {
      throw new OutsideWorkspace(`${path} is a symlink that points outside the workspace`);
    }
    return real;
  }

  /** A file where a folder is needed reads as ENOTDIR; say which path is wrong. */
  #notFolder(path: string, err: unknown): unknown {
    return err instanceof Deno.errors.NotADirectory
      ? new Error(`${path} goes through a file as if it were a folder; check the path`, {
        cause: err,
      })
      : err;
  }

  /** Refuses paths that leave the workspace by name, before touching the disk. */
  #lexical(path: string, abs: string): void {
    if (path.includes("\0")) throw new OutsideWorkspace(`the path contains a NUL character`);
    if (!this.contains(abs)) {
      throw new OutsideWorkspace(
        isAbsolute(path)
          ? `${path} is outside the workspace (${this.root}); use a path inside it`
          : `${path} leaves the workspace; use a path inside it`,
      );
    }
  }
}

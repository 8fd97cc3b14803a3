/**
 * This CLI install's device identity: an Ed25519 key pair (WebCrypto) kept in `<home>/device.json`
 * with mode 0600, made on first use; and the device tokens gateways gave it, kept per gateway URL
 * in `<home>/device-token` (0600). Both are optional: without permission to read or write the
 * home, the CLI connects without a device, as before.
 */
import { join } from "node:path";
import {
  connectPayload,
  deviceIdOf,
  type DeviceProof,
  fromBase64Url,
  toBase64Url,
} from "../gateway/device_auth.ts";

const encoder = new TextEncoder();

/** A device key pair that signs `connect`. */
export class DeviceIdentity {
  readonly id: string;
  readonly publicKey: string;
  #privateKey: CryptoKey;

  private constructor(id: string, publicKey: string, privateKey: CryptoKey) {
    this.id = id;
    this.publicKey = publicKey;
    this.#privateKey = privateKey;
  }

  /** A new key pair; `pkcs8` is the private key to store (base64url). */
  static async generate(): Promise<{ identity: DeviceIdentity; pkcs8: string }> {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const pkcs8 = toBase64Url(
      new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
    );
    return {
      identity: new DeviceIdentity(await deviceIdOf(raw), toBase64Url(raw), pair.privateKey),
      pkcs8,
    };
  }

  /** The identity stored in a `device.json` text; throws when it is not one. */
  static async parse(text: string): Promise<DeviceIdentity> {
    const data = JSON.parse(text) as { id?: unknown; publicKey?: unknown; privateKey?: unknown };
    const raw = typeof data.publicKey === "string" ? fromBase64Url(data.publicKey) : undefined;
    const pkcs8 = typeof data.privateKey === "string" ? fromBase64Url(data.privateKey) : undefined;
    if (!raw || raw.length !== 32 || !pkcs8) throw new Error("not a device key file");
    const id = await deviceIdOf(raw);
    if (data.id !== id) throw new Error("device id does not match its public key");
    const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, [
      "sign",
    ]);
    return new DeviceIdentity(id, toBase64Url(raw), key);
  }

  /** Signs any text; base64url. */
  async sign(text: string): Promise<string> {
    return toBase64Url(
      new Uint8Array(
        await crypto.subtle.sign({ name: "Ed25519" }, this.#privateKey, encoder.encode(text)),
      ),
    );
  }

  /** The `device` of a `connect` answering the challenge `nonce`. */
  async proof(
    nonce: string,
    options: { role?: string; scopes?: readonly string[]; signedAt?: number } = {},
  ): Promise<DeviceProof> {
    const signedAt = options.signedAt ?? Date.now();
    const signature = await this.sign(connectPayload({
      nonce,
      signedAt,
      role: options.role ?? "operator",
      scopes: options.scopes,
      deviceId: this.id,
    }));
    return { id: this.id, publicKey: this.publicKey, signature, signedAt, nonce };
  }
}

const granted = (name: "read" | "write", path: string) =>
  Deno.permissions.querySync({ name, path }).state === "granted";

/**
 * The device of the CLI install at `home`: read from `device.json`, or made and written there
 * (mode 0600) on first use. Undefined when the home may not be read or written, never a prompt.
 */
export async function loadDeviceIdentity(home: string): Promise<DeviceIdentity | undefined> {
  const path = join(home, "device.json");
  if (!granted("read", path)) return undefined;
  try {
    return await DeviceIdentity.parse(await Deno.readTextFile(path));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) return undefined; // a damaged file is left alone
  }
  if (!granted("write", home)) return undefined;
  const { identity, pkcs8 } = await DeviceIdentity.generate();
  const text = JSON.stringify(
    {
      version: 1,
      id: identity.id,
      publicKey: identity.publicKey,
      privateKey: pkcs8,
      createdAt: new Date().toISOString(),
    },
    null,
    2,
  ) + "\n";
  try {
    await Deno.mkdir(home, { recursive: true, mode: 0o700 });
    // createNew: two CLIs starting at once keep one key, the first written.
    await Deno.writeTextFile(path, text, { mode: 0o600, createNew: true });
    await Deno.chmod(path, 0o600).catch(() => {});
    return identity;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      return await DeviceIdentity.parse(await Deno.readTextFile(path)).catch(() => undefined);
    }
    return undefined;
  }
}

/** Device tokens by gateway URL, in `<home>/device-token` (mode 0600). */
export class DeviceTokens {
  #path: string;

  constructor(home: string) {
    this.#path = join(home, "device-token");
  }

  async #read(): Promise<Record<string, string>> {
    if (!granted("read", this.#path)) return {};
    try {
      const data = JSON.parse(await Deno.readTextFile(this.#path));
      return typeof data === "object" && data !== null ? data : {};
    } catch {
      return {};
    }
  }

  /** The token kept for a gateway URL. */
  async get(url: string): Promise<string | undefined> {
    const token = (await this.#read())[url];
    return typeof token === "string" ? token : undefined;
  }

  /** Keeps (or, with undefined, forgets) the token of a gateway URL; false when it may not write. */
  async set(url: string, token: string | undefined): Promise<boolean> {
    if (!granted("write", this.#path)) return false;
    const all = await this.#read();
    if (token === undefined) delete all[url];
    else all[url] = token;
    try {
      const tmp = `${this.#path}.tmp`;
      await Deno.writeTextFile(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
      await Deno.chmod(tmp, 0o600).catch(() => {});
      await Deno.rename(tmp, this.#path);
      return true;
    } catch {
      return false;
    }
  }
}

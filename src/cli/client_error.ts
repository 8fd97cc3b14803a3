/** The error a gateway client reports: an error answer from the gateway, or a connection failure. */

/** An error answer from the gateway, or a connection failure. */
export class ClientError extends Error {
  override name = "ClientError";
  constructor(readonly code: string, message: string, readonly details?: unknown) {
    super(message);
  }
}

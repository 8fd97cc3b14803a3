/** The Gatehouse version, reported in hello-ok, status and `--version`. */
export const VERSION = "0.1.0";

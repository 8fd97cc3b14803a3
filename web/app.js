// Gatehouse page: a client of the WebSocket protocol in docs/protocol.md, like the CLI.
// The token arrives in the URL fragment (#token=…), is dropped from the address bar at once, kept in
// sessionStorage for this tab, and sent only in `connect` over this origin's /ws. The browser is
// also a device (docs/protocol.md §3 Devices): an Ed25519 key made by WebCrypto, kept
// non-extractable in IndexedDB, signs each connect; the device token the gateway issues is kept
// there too and works only with that key. Everything the gateway or the model says is shown with
// textContent, never parsed as HTML.

const TOKEN_KEY = "gatehouse.token";
const MAIN = "agent:main:main";
const VERSION = "0.1.0";

const $ = (id) => document.getElementById(id);

/** Builds an element: `el("li", { class: "x", onclick }, "text", child)`. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function notice(text, { id, code } = {}) {
  if (id && document.getElementById(id)) return;
  const parts = code ? [text, " ", el("code", {}, code)] : [text];
  $("notices").append(el("div", { class: "notice", id, role: "alert" }, ...parts));
}

function clearNotice(id) {
  document.getElementById(id)?.remove();
}

// ---------------------------------------------------------------------------------------------
// The token

/**
 * Takes the token from the fragment (then removes it from the address bar) or from this tab's
 * sessionStorage. A `?token=` in the query string is never used: query strings end up in logs,
 * history and Referer headers, so the page warns instead and drops it from the address bar.
 */
function takeToken() {
  const query = new URLSearchParams(location.search);
  if (query.has("token")) {
    notice(
      "A token in the query string (?token=…) is ignored: query strings leak into logs and " +
        "history. Treat that token as exposed: rotate it on the gateway and open the address",
      { id: "query-token", code: "gatehouse token --rotate && gatehouse dashboard" },
    );
  }
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromFragment = fragment.get("token");
  if (fromFragment !== null || query.has("token")) {
    fragment.delete("token");
    query.delete("token");
    const q = query.toString();
    const h = fragment.toString();
    history.replaceState(null, "", location.pathname + (q ? `?${q}` : "") + (h ? `#${h}` : ""));
  }
  if (fromFragment) sessionStorage.setItem(TOKEN_KEY, fromFragment);
  return sessionStorage.getItem(TOKEN_KEY);
}

function explainNoToken(reason) {
  notice(
    `${reason} On the gateway's machine (or on your laptop, through the SSH tunnel) run`,
    { id: "no-token", code: "gatehouse dashboard" },
  );
  if (document.getElementById("no-token-hint")) return;
  $("notices").append(
    el(
      "div",
      { class: "hint", id: "no-token-hint" },
      el(
        "p",
        {},
        "It prints this page's address with the token after # (the fragment, which the browser " +
          "never sends to a server). Open that address; the token is then removed from the " +
          "address bar and kept only in this tab.",
      ),
      state.device
        ? el(
          "p",
          {},
          "Or ask an operator to pair this browser: ",
          el("button", {
            type: "button",
            id: "ask-pairing",
            onclick: () => {
              state.askPairing = true;
              start();
            },
          }, "Ask to pair this browser"),
        )
        : null,
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// The device identity

/** A tiny key-value store in IndexedDB: it can hold a non-extractable CryptoKey. */
function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("gatehouse", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("kv");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("kv", mode);
      const req = fn(tx.objectStore("kv"));
      tx.oncomplete = () => {
        open.result.close();
        resolve(req.result);
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}
const store = {
  get: (key) => idb("readonly", (s) => s.get(key)),
  set: (key, value) => idb("readwrite", (s) => s.put(value, key)),
  delete: (key) => idb("readwrite", (s) => s.delete(key)),
};

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * This browser's device: made once, the private key non-extractable (script on the page can use it
 * but never read it). Undefined where WebCrypto Ed25519 or IndexedDB is missing: the page then
 * connects with the token alone.
 */
async function loadDevice() {
  try {
    const known = await store.get("device");
    if (known) return known;
    const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
    const device = {
      id: hex(await crypto.subtle.digest("SHA-256", raw)),
      publicKey: b64url(raw),
      privateKey: kp.privateKey,
    };
    await store.set("device", device);
    return device;
  } catch {
    return undefined;
  }
}

/** The connect's `device`: a signature over the challenge nonce, the time, role and scopes. */
async function signConnect(device, nonce) {
  const signedAt = Date.now();
  // Scopes are omitted from connect, so "*" (docs/protocol.md §3, Signature).
  const payload = ["gatehouse-connect-v1", nonce, String(signedAt), "operator", "*", device.id];
  const signature = await crypto.subtle.sign(
    { name: "Ed25519" },
    device.privateKey,
    new TextEncoder().encode(payload.join("\n")),
  );
  return {
    id: device.id,
    publicKey: device.publicKey,
    signature: b64url(new Uint8Array(signature)),
    signedAt,
    nonce,
  };
}

// ---------------------------------------------------------------------------------------------
// The connection

/** One WebSocket connection: requests matched by id, events to `onEvent`. */
class Gateway {
  #ws;
  #next = 1;
  #pending = new Map();
  #challenge;
  onEvent = () => {};
  onClose = () => {};

  constructor(ws) {
    this.#ws = ws;
    this.#challenge = new Promise((resolve) => (this.resolveChallenge = resolve));
    ws.addEventListener("message", (e) => this.#frame(e.data));
    ws.addEventListener("close", (e) => {
      for (const { reject } of this.#pending.values()) {
        reject(Object.assign(new Error(`connection closed (${e.code})`), { code: "CLOSED" }));
      }
      this.#pending.clear();
      this.onClose(e);
    });
  }

  /** The `connect.challenge` payload `{nonce, ts}`. */
  challenge() {
    return this.#challenge;
  }

  #frame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "res") {
      const p = this.#pending.get(frame.id);
      if (!p) return;
      this.#pending.delete(frame.id);
      if (frame.ok) p.resolve(frame.payload);
      else p.reject(Object.assign(new Error(frame.error?.message ?? "failed"), frame.error));
    } else if (frame.type === "event") {
      if (frame.event === "connect.challenge") this.resolveChallenge(frame.payload);
      else this.onEvent(frame.event, frame.payload);
    }
  }

  request(method, params) {
    const id = String(this.#next++);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }

  close() {
    this.#ws.close(1000, "bye");
  }
}

/**
 * Opens this origin's /ws and sends `connect`: the one place that builds the handshake. `auth` is
 * `{token}` (the gateway token), `{deviceToken}` (this device's own) or `{}` (the device alone,
 * which is how an approved device collects its token); `device`, when there is one, signs the
 * socket's challenge.
 */
async function connect(auth, device) {
  // Always this page's own origin: never a URL taken from the address bar's query or fragment.
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const ws = new WebSocket(url);
  const gw = new Gateway(ws);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error("the WebSocket did not open")), {
      once: true,
    });
  });
  const { nonce } = await gw.challenge();
  try {
    const hello = await gw.request("connect", {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "webchat", version: VERSION, platform: "browser", mode: "ui" },
      role: "operator",
      auth,
      ...(device ? { device: await signConnect(device, nonce) } : {}),
    });
    return { gw, hello };
  } catch (err) {
    gw.onClose = () => {};
    gw.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// State

const state = {
  gw: null,
  hello: null,
  session: MAIN,
  sessions: [],
  models: [],
  approvals: new Map(),
  runs: new Map(), // runId → { bubble, text }
  errors: [],
  retryMs: 1000,
  device: undefined,
  /** Connect with the device alone (no token): the operator asked this browser to be paired. */
  askPairing: false,
};

function setConn(text, s) {
  const c = $("conn");
  c.textContent = text;
  c.dataset.state = s;
}

function rememberError(where, err) {
  state.errors.unshift({ at: new Date(), where, code: err?.code, message: err?.message ?? "" });
  state.errors.length = Math.min(state.errors.length, 20);
}

function showError(where, err) {
  rememberError(where, err);
  notice(`${where}: ${err?.message ?? err}`);
}

async function call(method, params) {
  if (!state.gw) throw new Error("not connected");
  return await state.gw.request(method, params);
}

// ---------------------------------------------------------------------------------------------
// Chat

function scrollDown() {
  const log = $("chat-log");
  log.lastElementChild?.scrollIntoView({ block: "end" });
}

function bubble(role, text) {
  const b = el("div", { class: `msg ${role}`, "data-role": role }, text);
  $("chat-log").append(b);
  return b;
}

function toolBlock(name, callId) {
  const d = el(
    "details",
    { class: "tool", "data-call": callId },
    el("summary", {}, `tool ${name}`),
  );
  $("chat-log").append(d);
  return d;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

async function loadHistory() {
  $("chat-log").replaceChildren();
  $("current-session").textContent = state.session;
  state.runs.clear();
  let history;
  try {
    history = await call("chat.history", { sessionKey: state.session, limit: 200 });
  } catch (err) {
    if (err.code === "NOT_FOUND") return; // a session with no messages yet
    showError("chat.history", err);
    return;
  }
  const tools = new Map();
  for (const m of history.messages) {
    if (m.role === "user" || m.role === "assistant") {
      if (m.text) bubble(m.role, m.text);
    } else if (m.role === "system" || m.role === "compaction") {
      bubble("system", m.text);
    } else if (m.role === "tool_call") {
      const d = toolBlock(m.tool?.name ?? "?", m.tool?.callId);
      d.append(el("pre", {}, m.text));
      if (m.tool?.callId) tools.set(m.tool.callId, d);
    } else if (m.role === "tool_result") {
      const d = tools.get(m.tool?.callId) ?? toolBlock(m.tool?.name ?? "?", m.tool?.callId);
      d.append(el("pre", { class: m.tool?.isError ? "error" : "" }, m.text));
    }
  }
  scrollDown();
}

function runOf(p) {
  let run = state.runs.get(p.runId);
  if (!run) {
    run = { bubble: null, text: "" };
    state.runs.set(p.runId, run);
  }
  return run;
}

function onChat(p) {
  if (p.sessionKey !== state.session) return;
  const run = runOf(p);
  const show = (text, role = "assistant") => {
    if (!run.bubble) run.bubble = bubble(role, "");
    run.bubble.className = `msg ${role}`;
    run.bubble.textContent = text.replace(/^\s+/, ""); // the gateway separates model calls with "\n\n"
    run.bubble.dataset.state = p.state;
    scrollDown();
  };
  if (p.state === "delta") {
    run.text += p.deltaText ?? "";
    show(run.text);
  } else if (p.state === "status") {
    run.text = p.message?.text ?? "";
    show(run.text);
    bubble("system", `${p.status?.kind}: ${p.status?.detail ?? p.status?.reason ?? ""}`);
  } else if (p.state === "final") {
    // `message` is the whole reply; after tool rounds its earlier parts are already shown above the
    // tool blocks, so then only the part streamed since the last tool is kept.
    if (!run.afterTool) run.text = p.message?.text ?? run.text;
    if (run.text || !run.afterTool) show(run.text);
    run.bubble = null;
    run.text = "";
  } else if (p.state === "error" || p.state === "aborted") {
    rememberError(`chat ${p.sessionKey}`, p.error);
    if (p.message?.text) show(p.message.text);
    bubble("error", `${p.error?.code ?? p.state}: ${p.error?.message ?? ""}`);
    run.bubble = null;
    run.text = "";
  }
}

function onAgent(p) {
  if (p.sessionKey !== state.session || p.stream !== "tool") return;
  const d = p.data ?? {};
  const run = runOf(p);
  if (d.phase === "start") {
    // The reply's text so far stays above the tool block; later text starts a new bubble.
    run.bubble = null;
    run.text = "";
    run.afterTool = true;
    const block = toolBlock(d.name, d.callId);
    block.append(el("pre", {}, pretty(d.args)));
  } else if (d.phase === "result") {
    const block = document.querySelector(`details[data-call="${CSS.escape(d.callId ?? "")}"]`) ??
      toolBlock(d.name, d.callId);
    block.querySelector("summary").textContent = `tool ${d.name} ${
      d.isError ? "failed" : "done"
    } (${d.ms} ms)`;
    block.append(el("pre", { class: d.isError ? "error" : "" }, d.summary ?? ""));
  }
  scrollDown();
}

async function send(e) {
  e.preventDefault();
  const box = $("message");
  const message = box.value;
  if (!message.trim()) return;
  box.value = "";
  bubble("user", message);
  scrollDown();
  try {
    await call("chat.send", {
      sessionKey: state.session,
      message,
      idempotencyKey: crypto.randomUUID(),
    });
  } catch (err) {
    box.value = message;
    showError("chat.send", err);
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions

async function loadSessions() {
  try {
    state.sessions = (await call("sessions.list", { limit: 500 })).sessions;
  } catch (err) {
    showError("sessions.list", err);
    return;
  }
  renderSessions();
}

function renderSessions() {
  const q = $("session-search").value.trim().toLowerCase();
  const list = state.sessions.filter((s) =>
    !q || s.key.includes(q) || (s.label ?? "").toLowerCase().includes(q)
  );
  const modelRefs = state.models.map((m) => m.ref);
  $("session-list").replaceChildren(...list.map((s) => {
    const label = el("input", {
      value: s.label ?? "",
      placeholder: "label",
      "aria-label": "label",
    });
    const model = el(
      "select",
      { "aria-label": "model" },
      el("option", { value: "" }, "default chain"),
      [...new Set([...modelRefs, ...(s.model ? [s.model] : [])])].map((ref) =>
        el("option", { value: ref, selected: ref === s.model }, ref)
      ),
    );
    return el(
      "li",
      { class: s.key === state.session ? "current" : "", "data-key": s.key },
      el("strong", {}, s.label || s.key),
      el(
        "span",
        { class: "meta" },
        `${s.key} · ${new Date(s.updatedAt).toLocaleString()} · ${
          s.inputTokens + s.outputTokens
        } tokens${s.running ? " · running" : ""}${s.queued ? ` · ${s.queued} queued` : ""}`,
      ),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", onclick: () => switchSession(s.key) }, "Open"),
        label,
        el("button", {
          type: "button",
          onclick: () => patch(s.key, { label: label.value.trim() || null }),
        }, "Save label"),
        model,
        el("button", {
          type: "button",
          onclick: () => patch(s.key, { model: model.value || null }),
        }, "Set model"),
        el("button", { type: "button", onclick: () => resetSession(s.key) }, "Reset"),
      ),
    );
  }));
}

async function patch(sessionKey, fields) {
  try {
    await call("sessions.patch", { sessionKey, ...fields });
    await loadSessions();
  } catch (err) {
    showError("sessions.patch", err);
  }
}

async function resetSession(key) {
  if (!confirm(`Clear the transcript of ${key}?`)) return;
  try {
    await call("sessions.reset", { sessionKey: key });
    if (key === state.session) await loadHistory();
  } catch (err) {
    showError("sessions.reset", err);
  }
}

async function switchSession(key) {
  state.session = key;
  showTab("chat");
  renderSessions();
  await loadHistory();
}

async function newSession(e) {
  e.preventDefault();
  const name = $("new-session-name").value.trim().toLowerCase().replace(/[^a-z0-9_.@+-]+/g, "-");
  if (!name) return;
  const key = `agent:main:direct:${name}`;
  try {
    await call("sessions.patch", { sessionKey: key });
    $("new-session-name").value = "";
    await loadSessions();
    await switchSession(key);
  } catch (err) {
    showError("new session", err);
  }
}

// ---------------------------------------------------------------------------------------------
// Approvals

function renderApprovals() {
  const items = [...state.approvals.values()];
  const count = $("approval-count");
  count.textContent = String(items.length);
  count.hidden = items.length === 0;
  $("approval-list").replaceChildren(...items.map((a) => {
    const command = a.argv
      ? a.argv.map((w) => /^[\w./=:@-]+$/.test(w) ? w : JSON.stringify(w))
      : null;
    return el(
      "li",
      { "data-approval": a.id },
      el("strong", {}, `${a.tool} wants to run`),
      command
        ? el("pre", { class: "command" }, command.join(" "))
        : el("pre", { class: "command" }, a.summary),
      a.program ? el("span", { class: "meta" }, `program ${a.program}`) : null,
      a.cwd ? el("span", { class: "meta" }, `in ${a.cwd}`) : null,
      a.args ? el("pre", { class: "command" }, pretty(a.args)) : null,
      el(
        "span",
        { class: "meta" },
        `session ${a.sessionKey} · expires ${new Date(a.expiresAt).toLocaleTimeString()}`,
      ),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", onclick: () => resolve(a.id, "allow-once") }, "Allow once"),
        el("button", { type: "button", onclick: () => resolve(a.id, "allow-always") }, "Always"),
        el("button", { type: "button", onclick: () => resolve(a.id, "deny") }, "Deny"),
      ),
    );
  }));
}

async function resolve(id, decision) {
  try {
    await call("exec.approval.resolve", { id, decision });
  } catch (err) {
    if (err.code !== "NOT_FOUND") showError("exec.approval.resolve", err);
  }
  state.approvals.delete(id);
  renderApprovals();
}

async function loadApprovals() {
  try {
    const { approvals } = await call("exec.approval.list", {});
    state.approvals = new Map(approvals.map((a) => [a.id, a]));
    renderApprovals();
  } catch (err) {
    if (err.code !== "FORBIDDEN") showError("exec.approval.list", err);
  }
}

// ---------------------------------------------------------------------------------------------
// Pairing (channel codes)

async function loadPairing() {
  const [channels, devices] = await Promise.all([
    call("channels.pairing.list", {}).catch((err) => {
      if (err.code !== "FORBIDDEN") showError("channels.pairing.list", err);
      return { pending: [], approved: [] };
    }),
    call("device.pair.list", {}).catch((err) => {
      // An older gateway has no devices (UNKNOWN_METHOD).
      if (err.code !== "FORBIDDEN" && err.code !== "UNKNOWN_METHOD") {
        showError("device.pair.list", err);
      }
      return { pending: [], devices: [] };
    }),
  ]);
  renderDevices(devices);
  renderChannelPairing(channels);
  const waiting = channels.pending.length + devices.pending.length;
  $("pairing-count").textContent = String(waiting);
  $("pairing-count").hidden = waiting === 0;
}

function renderDevices(data) {
  const mine = state.hello?.auth?.deviceId;
  $("device-pending").replaceChildren(
    ...(data.pending.length ? [] : [el("li", { class: "meta" }, "No device is waiting.")]),
    ...data.pending.map((r) =>
      el(
        "li",
        { "data-request": r.requestId },
        el("strong", {}, `request ${r.requestId}: ${r.client?.displayName ?? r.client?.id ?? "?"}`),
        el(
          "span",
          { class: "meta" },
          `${r.client?.platform ?? ""} ${r.client?.mode ?? ""} from ${r.source} · device ${
            r.deviceId.slice(0, 12)
          }… · asks ${r.scopes.join(", ")} · expires ${new Date(r.expiresAt).toLocaleTimeString()}`,
        ),
        el(
          "div",
          { class: "actions" },
          el("button", {
            type: "button",
            onclick: () => pairingAction("device.pair.approve", { requestId: r.requestId }),
          }, "Approve"),
          el("button", {
            type: "button",
            onclick: () => pairingAction("device.pair.reject", { requestId: r.requestId }),
          }, "Reject"),
        ),
      )
    ),
  );
  $("device-list").replaceChildren(
    ...(data.devices.length ? [] : [el("li", { class: "meta" }, "No device is paired.")]),
    ...data.devices.map((d) =>
      el(
        "li",
        { "data-device": d.deviceId, class: d.deviceId === mine ? "current" : "" },
        el(
          "strong",
          {},
          `${d.client?.displayName ?? d.client?.id ?? "?"} (${d.client?.platform ?? ""})${
            d.deviceId === mine ? " · this browser" : ""
          }`,
        ),
        el(
          "span",
          { class: "meta" },
          `device ${d.deviceId.slice(0, 12)}… · paired ${
            new Date(d.pairedAt).toLocaleString()
          } by ${d.pairedBy} · ${d.scopes.join(", ")}${
            d.tokenIssuedAt ? "" : " · token not collected yet"
          }`,
        ),
        el(
          "div",
          { class: "actions" },
          el("button", {
            type: "button",
            onclick: () => pairingAction("device.token.rotate", { deviceId: d.deviceId }),
          }, "Rotate token"),
          el("button", {
            type: "button",
            onclick: () => {
              if (confirm(`Unpair device ${d.deviceId.slice(0, 12)}…?`)) {
                pairingAction("device.token.revoke", { deviceId: d.deviceId });
              }
            },
          }, "Revoke"),
        ),
      )
    ),
  );
}

function renderChannelPairing(data) {
  $("pairing-pending").replaceChildren(
    ...(data.pending.length ? [] : [el("li", { class: "meta" }, "No pending codes.")]),
    ...data.pending.map((p) =>
      el(
        "li",
        { "data-code": p.code },
        el("strong", {}, `${p.channel} code ${p.code}`),
        el(
          "span",
          { class: "meta" },
          `${p.name ?? ""} ${p.username ? `@${p.username}` : ""} (id ${p.id}) · expires ${
            new Date(p.expiresAt).toLocaleTimeString()
          }`,
        ),
        el(
          "div",
          { class: "actions" },
          el("button", {
            type: "button",
            onclick: () =>
              pairingAction("channels.pairing.approve", { channel: p.channel, code: p.code }),
          }, "Approve"),
        ),
      )
    ),
  );
  $("pairing-approved").replaceChildren(
    ...(data.approved.length ? [] : [el("li", { class: "meta" }, "Nobody is paired yet.")]),
    ...data.approved.map((u) =>
      el(
        "li",
        { "data-user": u.id },
        el(
          "strong",
          {},
          `${u.channel}: ${u.name ?? u.username ?? u.id}${u.owner ? " (owner)" : ""}`,
        ),
        el(
          "span",
          { class: "meta" },
          `id ${u.id} · approved ${new Date(u.approvedAt).toLocaleString()}`,
        ),
        el(
          "div",
          { class: "actions" },
          el("button", {
            type: "button",
            onclick: () => {
              if (confirm(`Unpair ${u.channel} user ${u.id}?`)) {
                pairingAction("channels.pairing.revoke", { channel: u.channel, userId: u.id });
              }
            },
          }, "Revoke"),
        ),
      )
    ),
  );
}

async function pairingAction(method, params) {
  try {
    await call(method, params);
  } catch (err) {
    showError(method, err);
  }
  await loadPairing();
}

// ---------------------------------------------------------------------------------------------
// Status

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

function table(rows) {
  return el("table", {}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

async function loadModels() {
  try {
    state.models = (await call("models.list", {})).models;
  } catch (err) {
    showError("models.list", err);
  }
}

async function loadStatus() {
  let s;
  try {
    [s] = await Promise.all([call("status", {}), loadModels()]);
  } catch (err) {
    showError("status", err);
    return;
  }
  const lanes = s.lanes ?? {};
  $("status-view").replaceChildren(
    el("h2", {}, "Gateway"),
    table([
      ["version", s.version],
      ["uptime", duration(s.uptimeMs)],
      ["ready", String(s.ready)],
      ["connections", String(s.connections)],
      [
        "this browser",
        state.hello?.auth?.deviceId
          ? `device ${state.hello.auth.deviceId.slice(0, 12)}…`
          : "no device identity",
      ],
      ["memory", `${Math.round((s.memory?.rssBytes ?? 0) / 1048576)} MiB`],
      [
        "config",
        `${s.config?.path ?? ""}${
          s.config?.restartNeeded?.length
            ? ` (restart needed: ${s.config.restartNeeded.join(", ")})`
            : ""
        }`,
      ],
    ]),
    el("h2", {}, "Channels and providers"),
    table([
      ...(Array.isArray(s.channels)
        ? s.channels.map((
          c,
        ) => [`channel ${c.id ?? c.name}`, c.state ?? (c.enabled ? "on" : "off")])
        : []),
      ...(s.providers ?? []).map((p) => [
        `provider ${p.id}`,
        p.enabled ? p.kind : `off: ${p.reason ?? ""}`,
      ]),
      ["tools", (s.tools ?? []).join(", ")],
    ]),
    el("h2", {}, "Models"),
    table(state.models.map((m) => [
      `${m.ref} (${m.role})`,
      !m.available
        ? `unavailable: ${m.reason ?? ""}`
        : m.cooldown
        ? `cooling down ${
          duration(m.cooldown.remainingMs)
        } (${m.cooldown.reason}, ${m.cooldown.failures} failures)`
        : "ready",
    ])),
    el("h2", {}, "Lanes"),
    table([
      ["running", String(lanes.running ?? 0)],
      ["waiting for a slot", String(lanes.waitingForSlot ?? 0)],
      ["queued", String(lanes.queued ?? 0)],
      ...(lanes.busiest ?? []).map((
        b,
      ) => [b.key, `${b.running ? "running, " : ""}${b.queued} queued`]),
    ]),
    el("h2", {}, "Recent problems (gateway log)"),
    Array.isArray(s.recentProblems) && s.recentProblems.length
      ? table(
        s.recentProblems.slice().reverse().map((p) => [
          `${new Date(p.ts).toLocaleTimeString()} ${p.level}`,
          p.error ? `${p.msg}: ${p.error}` : p.msg,
        ]),
      )
      : el("p", { class: "meta" }, "None."),
    el("h2", {}, "Recent errors (seen by this page)"),
    state.errors.length
      ? table(
        state.errors.map((
          e,
        ) => [e.at.toLocaleTimeString(), `${e.where}: ${e.code ?? ""} ${e.message}`]),
      )
      : el("p", { class: "meta" }, "None."),
  );
}

// ---------------------------------------------------------------------------------------------
// Tabs, events, start-up

function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) {
    b.setAttribute("aria-pressed", String(b.dataset.tab === name));
  }
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== `tab-${name}`;
  if (!state.gw) return;
  if (name === "sessions") loadModels().then(loadSessions);
  if (name === "pairing") loadPairing();
  if (name === "status") loadStatus();
  if (name === "approvals") loadApprovals();
}

function onEvent(event, p) {
  if (event === "chat") onChat(p);
  else if (event === "agent") onAgent(p);
  else if (event === "exec.approval.requested") {
    state.approvals.set(p.id, p);
    renderApprovals();
  } else if (event === "exec.approval.resolved") {
    state.approvals.delete(p.id);
    renderApprovals();
  } else if (event === "sessions.changed") {
    if (!$("tab-sessions").hidden) loadSessions();
    if (p.sessionKey === state.session && p.reason === "reset") loadHistory();
  } else if (event === "device.pair.requested" || event === "device.pair.resolved") {
    loadPairing();
  } else if (event === "shutdown") {
    setConn("gateway shutting down", "error");
  }
}

/** Which credential to connect with: this tab's gateway token, else the device's own token. */
async function credentials() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) return { token };
  const deviceToken = state.device ? await store.get("deviceToken").catch(() => undefined) : null;
  if (deviceToken) return { deviceToken };
  if (state.device && state.askPairing) return {};
  return null;
}

function retry(ms) {
  state.retryMs = Math.min(Math.max(ms, 1000), 15000);
  setTimeout(start, state.retryMs);
}

function pairingRequired(err) {
  const d = err.details ?? {};
  clearNotice("pairing-required");
  notice(
    d.rejected
      ? "An operator rejected this browser's pairing request; it may ask again later."
      : `This browser (device ${String(d.deviceId ?? "").slice(0, 12)}…) is not paired yet: ` +
        `request ${d.requestId} waits for an operator. Approve it on the gateway host with`,
    { id: "pairing-required", code: d.rejected ? undefined : d.approveCommand },
  );
}

async function start() {
  const auth = await credentials();
  if (!auth) {
    setConn("no token", "error");
    explainNoToken("This page needs the gateway token.");
    return;
  }
  setConn("connecting…", "idle");
  let conn;
  try {
    conn = await connect(auth, state.device);
  } catch (err) {
    const reason = err.details?.reason;
    if (err.code === "AUTH_FAILED" && reason === "device-token") {
      // Rotated or revoked by an operator: forget it and fall back to what is left.
      await store.delete("deviceToken").catch(() => {});
      return retry(0);
    }
    if (err.code === "PAIRING_REQUIRED") {
      setConn("waiting for pairing", "error");
      pairingRequired(err);
      return retry(err.details?.rejected ? err.retryAfterMs ?? 15000 : 2000);
    }
    if (err.code === "AUTH_FAILED" || err.code === "AUTH_REQUIRED") {
      sessionStorage.removeItem(TOKEN_KEY);
      rememberError("connect", err);
      setConn("not connected", "error");
      explainNoToken(
        `The gateway refused this page's credential (${
          reason ?? err.code
        }): the token may have been rotated.`,
      );
      return;
    }
    if (err.code === "LOCKED_OUT") {
      setConn("locked out", "error");
      showError("connect", err);
      return retry(err.retryAfterMs ?? 15000);
    }
    setConn(`disconnected: ${err.message}; retrying`, "error");
    return retry(state.retryMs * 2);
  }
  state.retryMs = 1000;
  state.gw = conn.gw;
  state.hello = conn.hello;
  if (conn.hello.auth?.deviceToken) {
    await store.set("deviceToken", conn.hello.auth.deviceToken).catch(() => {});
  }
  for (const id of ["no-token", "no-token-hint", "pairing-required"]) clearNotice(id);
  setConn(`connected · gatehouse ${conn.hello.server?.version ?? ""}`, "open");
  document.body.dataset.deviceId = conn.hello.auth?.deviceId ?? "";
  conn.gw.onEvent = onEvent;
  conn.gw.onClose = (e) => {
    state.gw = null;
    delete document.body.dataset.ready;
    setConn(`disconnected (${e.code}${e.reason ? `: ${e.reason}` : ""}); retrying`, "error");
    retry(state.retryMs);
  };
  await Promise.all([loadHistory(), loadApprovals(), loadModels()]);
  document.body.dataset.ready = "true";
}

async function main() {
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) send(e);
  });
  $("abort").addEventListener(
    "click",
    () =>
      call("chat.abort", { sessionKey: state.session }).catch((err) =>
        showError("chat.abort", err)
      ),
  );
  $("session-search").addEventListener("input", renderSessions);
  $("new-session").addEventListener("submit", newSession);
  $("pairing-refresh").addEventListener("click", loadPairing);
  $("status-refresh").addEventListener("click", loadStatus);

  takeToken();
  state.device = await loadDevice();
  await start();
}

main();

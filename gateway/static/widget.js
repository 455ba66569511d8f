/* Revos chat widget: <script src="https://GATEWAY/widget.js" data-agent="agt_..." async></script>
   Launcher and panel live in a shadow root: the host page's CSS cannot reach them and ours cannot leak
   out. Protocol: docs/chat.md. No dependencies, no build step (ES2019).
   data-mode="page": the panel fills the page (the hosted chat page). data-mode="test": the dashboard's
   test chat, in place of the script tag, with sessions from POST /v1/agents/{id}/test-sessions (the
   signed-in user's cookie and the CSRF token in data-csrf). */
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector('script[data-agent][src*="widget.js"]');
  if (!script || !script.dataset.agent) return;
  const AGENT = script.dataset.agent;
  const TEST = script.dataset.mode === "test";
  const PAGE = script.dataset.mode === "page" || TEST;
  const BASE = new URL(script.src, location.href).origin;
  const KEY = "revos:" + (TEST ? "test:" : "") + AGENT; // the hosted page shares the dashboard's origin
  const VISITOR = "revos:visitor";
  const registry = (window.RevosWidgets = window.RevosWidgets || {});
  if (registry[AGENT]) return; // the tag was pasted twice
  const REASONS = {
    origin_not_allowed: "This site is not allowed to use this assistant",
    agent_not_found: "This assistant does not exist",
  };
  const NOTES = {
    interrupted: "Reply interrupted.",
    failed: "The assistant could not answer. Please try again.",
    unavailable: "The assistant is unavailable right now.",
  };
  const STYLE = `:host{all:initial!important}
*{box-sizing:border-box}
.root{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1f2328;--p:#2563eb;--on:#fff}
button,textarea{font:inherit;color:inherit;margin:0;cursor:pointer}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;justify-content:center;width:56px;height:56px;border:0;border-radius:50%;background:var(--p);color:var(--on);box-shadow:0 4px 14px #0004}
.launcher:hover{filter:brightness(1.1)}
svg{width:26px;fill:currentColor}
.panel{position:fixed;right:20px;bottom:88px;z-index:2147483000;display:flex;flex-direction:column;width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 108px);background:#fff;border-radius:12px;box-shadow:0 10px 40px #0004;overflow:hidden}
.page .panel{inset:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0;box-shadow:none}
@media (max-width:480px){.panel{inset:0;width:auto;height:auto;max-width:none;max-height:none;border-radius:0}}
:host([data-mode=test]){display:block!important}
.test .panel{position:relative;z-index:auto;height:480px;border:1px solid #dfe3e8;border-radius:12px}
header{display:flex;align-items:center;gap:10px;padding:12px 14px;background:var(--p);color:var(--on)}
img{width:28px;height:28px;border-radius:50%;object-fit:cover}
h2{flex:1;margin:0;font-size:16px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.x{width:32px;height:32px;border:0;border-radius:6px;background:none;font-size:22px}
.notice{padding:6px 14px;font-size:12px;background:#fff7e0;color:#6b4400}
.notice:empty{display:none}
.log{flex:1;display:flex;flex-direction:column;gap:8px;padding:14px;overflow-y:auto;background:#f6f7f9}
.g{display:contents}
.b{max-width:85%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}
.assistant,.typing{align-self:flex-start;background:#fff;border:1px solid #dfe3e8}
.user{align-self:flex-end;background:var(--p);color:var(--on)}
.pending{opacity:.7}
.note{display:block;margin-top:4px;font-size:12px;font-style:italic;color:#8a1c1c}
.user .note{color:inherit}
.retry{margin-left:8px;padding:0 8px;border:1px solid;border-radius:6px;background:none}
.chips{display:flex;flex-wrap:wrap;gap:6px}
.chip{padding:5px 12px;border:1px solid var(--p);border-radius:16px;background:#fff}
.empty,.error{margin:auto;padding:20px;text-align:center;color:#5f6b7a}
.error{color:#8a1c1c}
.typing{padding:10px 12px;border-radius:14px}
.typing i{display:inline-block;width:6px;height:6px;margin:0 2px;border-radius:50%;background:#8b95a1;animation:t 1s infinite}
.typing i+i{animation-delay:.2s}.typing i+i+i{animation-delay:.4s}
@keyframes t{40%{opacity:.2}}
@media (prefers-reduced-motion:reduce){.typing i{animation:none}}
form{display:flex;gap:8px;padding:10px;border-top:1px solid #dfe3e8;background:#fff}
textarea{flex:1;min-height:40px;max-height:120px;padding:9px 10px;border:1px solid #b8bfc9;border-radius:8px;background:#fff;resize:none;cursor:text}
.send{padding:0 14px;border:0;border-radius:8px;background:var(--p);color:var(--on)}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
[hidden]{display:none!important}`;

  // Storage may be disabled or garbled: the chat then works, it just cannot resume after a reload.
  const store = {
    get(key) { try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; } },
    set(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* see above */ } },
  };

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    node.append(...kids);
    return node;
  }
  const group = () => el("div", { class: "g" });

  // ---- the DOM, all inside the shadow root ----
  const host = el("revos-chat", TEST ? { "data-agent": AGENT, "data-mode": "test" } : { "data-agent": AGENT });
  const shadow = host.attachShadow({ mode: "open" });
  const root = el("div", { class: TEST ? "root page test" : PAGE ? "root page" : "root" });
  const launcher = el("button", {
    class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false",
    "aria-controls": "panel", onclick: () => (panel.hidden ? open() : close()),
  });
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  const logo = el("img", { alt: "", hidden: "", onerror: () => (logo.hidden = true) });
  const title = el("h2", { text: "Chat" });
  const notice = el("div", { class: "notice", role: "status" });
  const [greeting, msgs, streamBox, pendBox] = [group(), group(), group(), group()];
  const chips = el("div", { class: "chips" });
  const empty = el("p", { class: "empty", text: "No messages yet. Ask a question to start." });
  const typing = el("div", { class: "typing", hidden: "" }, el("i"), el("i"), el("i"), el("span", { class: "sr", text: "The assistant is typing" }));
  const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" },
    greeting, chips, empty, msgs, streamBox, pendBox, typing);
  const errorBox = el("div", { class: "error", role: "alert", hidden: "" });
  const input = el("textarea", { id: "input", rows: "1", placeholder: "Type a message\u2026" });
  const form = el("form", { onsubmit: (e) => { e.preventDefault(); submit(); } },
    el("label", { class: "sr", for: "input", text: "Message" }), input,
    el("button", { class: "send", type: "submit", text: "Send" }));
  const header = el("header", {}, logo, title);
  const closer = PAGE ? "" : el("button", { class: "x", type: "button", "aria-label": "Close chat", text: "\u00d7", onclick: () => close() });
  const panel = el("div", { class: "panel", id: "panel", role: "dialog", "aria-label": "Chat", tabindex: "-1", hidden: "" },
    header, notice, log, errorBox, form);
  header.append(closer);
  root.append(...(PAGE ? [panel] : [launcher, panel]));
  // A constructed sheet, where the browser has them, applies under a Content-Security-Policy without
  // 'unsafe-inline' styles (the dashboard's, and strict host pages'); a <style> element elsewhere.
  if (shadow.adoptedStyleSheets && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    shadow.adoptedStyleSheets = [sheet];
    shadow.append(root);
  } else shadow.append(el("style", { text: STYLE }), root);

  // ---- state ----
  const saved = store.get(KEY) || {};
  let conversation = saved.c || null;
  let lastSeq = saved.s || 0; // the highest seq seen: a reconnect or reload resumes after it
  let history = Array.isArray(saved.m) ? saved.m : [];
  let agent = saved.a || null;
  let session = null; // {token, expires}
  let ws = null, ready = false, started = false, connecting = false, renewing = false, renewTimer = 0;
  let dead = false; // refused for good: an error state, no input
  let attempt = 0, retryTimer = 0, lastFrame = 0, holdUntil = 0;
  const pending = new Map(); // client_message_id -> {cid, text, node, sent, failed, timer}
  const streams = new Map(); // reply_to -> the bubble being streamed

  const save = () => store.set(KEY, { c: conversation, s: lastSeq, m: history.slice(-100), a: agent });
  const frame = (value) => ws && ws.send(JSON.stringify(value));
  const showNotice = (text) => (notice.textContent = text);

  // Applies a change to the log, keeping the newest message in view unless the visitor scrolled up.
  function render(change) {
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    if (change) change();
    const talking = history.some((m) => m.role === "user") || pending.size > 0;
    chips.hidden = talking || dead;
    empty.hidden = dead || talking || history.length > 0 || greeting.hasChildNodes();
    const last = history[history.length - 1];
    typing.hidden = !(ready && last && last.role === "user" && !streams.size);
    log.setAttribute("aria-busy", streams.size ? "true" : "false");
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function bubble(m) {
    const node = el("div", { class: "b " + m.role, "data-role": m.role }, m.text || "");
    if (m.seq) node.dataset.seq = m.seq;
    if (m.status && m.status !== "complete") {
      node.dataset.status = m.status;
      node.append(el("span", { class: "note", text: NOTES[m.status] || m.status }));
    }
    return node;
  }

  function applyAgent(info) {
    if (!info) return;
    agent = info;
    const b = info.branding || {};
    const name = b.title || info.name || "Chat";
    title.textContent = name;
    panel.setAttribute("aria-label", "Chat with " + name);
    launcher.setAttribute("aria-label", "Chat with " + name);
    logo.hidden = true;
    if (b.logo_url && /^https?:\/\//.test(b.logo_url)) {
      logo.src = b.logo_url;
      logo.hidden = false;
    }
    if (b.primary_color && window.CSS.supports("color", b.primary_color)) {
      root.style.setProperty("--p", b.primary_color);
      root.style.setProperty("--on", readableOn(getComputedStyle(header).backgroundColor));
    } else {
      root.style.removeProperty("--p");
      root.style.removeProperty("--on");
    }
    greeting.replaceChildren(...(b.greeting ? [bubble({ role: "assistant", text: b.greeting })] : []));
    chips.replaceChildren(...(b.suggestions || []).map((s) =>
      el("button", { class: "chip", type: "button", text: s, onclick: () => send(s) })));
    render();
  }

  // White or near-black text, whichever reads better on the brand colour.
  function readableOn(rgb) {
    const [r, g, b] = (rgb.match(/[\d.]+/g) || [0, 0, 0]).map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? "#111" : "#fff";
  }

  function showError(code, message) {
    dead = true;
    clearTimeout(retryTimer);
    if (ws) ws.close();
    form.hidden = log.hidden = true;
    errorBox.hidden = false;
    errorBox.textContent = (REASONS[code] || message || "The chat is unavailable") + " (" + code + ")";
    render();
  }

  // ---- panel and keyboard ----
  function open(focus = true) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (focus) (dead ? panel : input).focus();
    if (!started) connect();
  }
  function close() {
    if (PAGE) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !panel.hidden) close();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
  });

  // ---- error reports: POST /v1/client-errors with the session token, at most 5 a page load ----
  // Embedded, only errors thrown by this script are ours to report; the hosted page is all ours.
  let reportsLeft = 5;
  const unsent = []; // reports made before there was a session to send them with
  function report(kind, message, stack) {
    if (reportsLeft <= 0) return;
    reportsLeft -= 1;
    const body = {
      source: "widget",
      agent_id: AGENT,
      kind,
      message: String(message || "error").slice(0, 2000) || "error",
      url: location.href.slice(0, 2000),
      user_agent: navigator.userAgent.slice(0, 500),
    };
    if (stack) body.stack = String(stack).slice(0, 6000);
    unsent.push(body);
    sendReports();
  }
  function sendReports() {
    while (session && unsent.length) {
      const url = BASE + "/v1/client-errors?token=" + encodeURIComponent(session.token);
      const data = JSON.stringify(unsent.shift()); // a text/plain body: no preflight
      let queued = false;
      try { queued = navigator.sendBeacon ? navigator.sendBeacon(url, data) : false; } catch (e) { /* fall back */ }
      if (!queued) fetch(url, { method: "POST", body: data, keepalive: true, credentials: "omit", mode: "no-cors" }).catch(() => {});
    }
  }
  function ours(filename, stack) {
    if (PAGE && !TEST) return true;
    return String(filename || "").indexOf(script.src) === 0 || String(stack || "").indexOf(script.src) >= 0;
  }
  window.addEventListener("error", (e) => {
    const stack = e.error && e.error.stack;
    if (ours(e.filename, stack)) report("error", e.message, stack);
  });
  window.addEventListener("unhandledrejection", (e) => {
    const reason = e.reason || {};
    if (ours("", reason.stack)) report("error", "unhandled rejection: " + (reason.message || String(e.reason)), reason.stack);
  });

  // ---- session and socket ----
  function askForSession() {
    if (TEST) {
      // The signed-in user's own agent: the server names the visitor after them.
      const headers = { "Content-Type": "application/json", "X-CSRF-Token": script.dataset.csrf || "" };
      const path = "/v1/agents/" + encodeURIComponent(AGENT) + "/test-sessions";
      return fetch(BASE + path, { method: "POST", body: "{}", headers, credentials: "same-origin" });
    }
    const visitor = store.get(VISITOR);
    const body = visitor ? { agent_id: AGENT, visitor_id: visitor } : { agent_id: AGENT };
    // A text/plain body keeps this a simple CORS request: no preflight round trip.
    return fetch(BASE + "/v1/widget/sessions", { method: "POST", body: JSON.stringify(body), credentials: "omit" });
  }

  async function newSession() {
    const response = await askForSession();
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (answer && answer.error) || {};
      const wait = response.status === 429 ? Number(response.headers.get("Retry-After")) || 0 : 0;
      throw { refused: [400, 401, 403, 404].includes(response.status), code: error.code || "http_" + response.status, message: error.message, retryAfter: wait };
    }
    session = { token: answer.token, expires: Date.parse(answer.expires_at) || Date.now() + 600000 };
    sendReports();
    if (answer.visitor_id && !TEST) store.set(VISITOR, answer.visitor_id);
    applyAgent(answer.agent);
    save();
  }

  async function connect() {
    started = true;
    if (dead || ws || connecting) return;
    connecting = true;
    clearTimeout(retryTimer);
    try {
      if (!session || session.expires - 30000 < Date.now()) await newSession();
    } catch (e) {
      if (e instanceof Error) report("connection", "session request failed: " + e.message, e.stack);
      return e && e.refused ? showError(e.code, e.message) : reconnectLater(e && e.retryAfter);
    } finally {
      connecting = false;
    }
    const sock = (ws = new WebSocket(BASE.replace(/^http/, "ws") + "/v1/chat?token=" + encodeURIComponent(session.token)));
    let opened = false;
    sock.onopen = () => {
      opened = true;
      lastFrame = Date.now();
      frame(conversation ? { type: "hello", conversation_id: conversation, last_seq: lastSeq } : { type: "hello" });
    };
    sock.onmessage = (e) => {
      if (sock !== ws) return;
      lastFrame = Date.now();
      let f = {};
      try { f = JSON.parse(e.data); } catch (err) { /* not a frame: ignored */ }
      if (f.type === "ping") frame({ type: "pong" });
      else if (f.type === "ready") onReady(f);
      else if (f.type === "message") render(() => onMessage(f));
      else if (f.type === "delta") render(() => onDelta(f));
      else if (f.type === "error") onError(f);
    };
    sock.onclose = (e) => {
      if (sock !== ws) return;
      ws = null;
      ready = false;
      if (!opened) report("connection", "chat socket failed to open (close code " + e.code + ")");
      if (e.code === 4401) session = null; // the token expired or was refused: ask for a new one
      render(() => {
        for (const p of pending.values()) if (p.sent) fail(p);
        for (const s of streams.values()) s.remove();
        streams.clear();
      });
      if (renewing) {
        renewing = false;
        return connect(); // closed by us, with a new token in hand: straight back
      }
      reconnectLater();
    };
  }

  // `wait` (seconds): the server said when to come back (a rate limit); never sooner than that.
  // A token lives 15 minutes: a minute before it ends, between turns, the widget gets a new one and
  // reopens the socket with it, so the server never closes an open chat for an expired token.
  function scheduleRenewal() {
    clearTimeout(renewTimer);
    if (session) renewTimer = setTimeout(renew, Math.max(0, session.expires - 60000 - Date.now()));
  }

  async function renew() {
    if (!ws || !ready) return; // not connected: the next connect asks for a token anyway
    if (streams.size || [...pending.values()].some((p) => p.sent && !p.failed)) {
      renewTimer = setTimeout(renew, 2000); // mid-turn: try again after it
      return;
    }
    try {
      await newSession();
    } catch (e) {
      return; // the server closes the socket at expiry, and the reconnect asks again
    }
    if (!ws) return;
    renewing = true;
    ws.close(1000, "new session");
  }

  function reconnectLater(wait) {
    if (dead) return;
    clearTimeout(retryTimer);
    const backoff = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
    const held = Math.max((wait || 0) * 1000, holdUntil - Date.now());
    if (held > 0) showNotice("Too many connections from your network. Reconnecting in " + Math.ceil(held / 1000) + " s\u2026");
    else if (attempt > 1) showNotice("Connection lost. Reconnecting\u2026");
    retryTimer = setTimeout(connect, Math.max(backoff, held));
  }

  // The server pings every 20 s: a silent minute means the connection is gone.
  setInterval(() => ws && ready && Date.now() - lastFrame > 60000 && ws.close(), 15000);
  window.addEventListener("online", () => started && (attempt = 0) === 0 && connect());

  function onReady(f) {
    if ((conversation && f.conversation_id !== conversation) || f.last_seq < lastSeq) {
      // Not the conversation as we knew it (the server forgot it): show only what the server has.
      const same = conversation === f.conversation_id;
      forget();
      conversation = f.conversation_id;
      save();
      if (same) return ws.close(); // reconnect, replaying it from the start
    }
    conversation = f.conversation_id;
    ready = true;
    attempt = 0;
    scheduleRenewal();
    showNotice("");
    if (f.agent) applyAgent(f.agent);
    save();
    render(() => pending.forEach((p) => p.sent || p.failed || transmit(p)));
  }

  function forget() {
    conversation = null;
    lastSeq = 0;
    history = [];
    render(() => msgs.replaceChildren());
  }

  function onMessage(m) {
    const p = m.client_message_id && pending.get(m.client_message_id);
    if (p) {
      clearTimeout(p.timer);
      pending.delete(p.cid);
      p.node.remove();
    }
    if (m.seq <= lastSeq) return; // already shown: the answer to a resend, or a replay
    lastSeq = m.seq;
    if (m.role === "assistant" && streams.has(m.reply_to)) {
      streams.get(m.reply_to).remove();
      streams.delete(m.reply_to);
    }
    // Tool results and the empty assistant turns that only call tools are not for the visitor.
    if (m.role === "user" || (m.role === "assistant" && (m.text || m.status !== "complete"))) {
      const kept = { seq: m.seq, role: m.role, text: m.text || "", status: m.status };
      history.push(kept);
      msgs.append(bubble(kept));
    }
    save();
  }

  function onDelta(d) {
    let node = streams.get(d.reply_to);
    if (!node) {
      node = el("div", { class: "b assistant", "data-role": "assistant", "data-streaming": "" }, "");
      streams.set(d.reply_to, node);
      streamBox.append(node);
    }
    node.firstChild.data += d.text;
  }

  function onError(f) {
    const code = f.code;
    if (code === "rate_limited" && !ready) {
      // The socket itself was refused (too many opened from this address): it closes next, and the
      // reconnect waits as long as the server said.
      holdUntil = Date.now() + (f.retry_after || 1) * 1000;
    } else if (code === "session_expired" || code === "invalid_token") {
      session = null; // the server closes the socket next; the reconnect asks for a new token
    } else if (code === "origin_not_allowed") {
      showError(code, f.message);
    } else if (code === "conversation_not_found") {
      forget();
      save();
      frame({ type: "hello" });
    } else {
      const texts = {
        rate_limited: "You are sending messages too quickly.",
        busy: "Please wait for the reply to finish.",
        conversation_elsewhere: "This chat is open in another window. Reconnecting\u2026",
        draining: "The service is restarting. Reconnecting\u2026",
      };
      showNotice((texts[code] || f.message || code) + (f.retry_after ? " Try again in " + Math.ceil(f.retry_after) + " s." : ""));
      const oldest = [...pending.values()].find((p) => p.sent && !p.failed);
      if (oldest && ["rate_limited", "busy", "invalid_frame"].includes(code)) render(() => fail(oldest));
    }
  }

  // ---- sending ----
  function submit() {
    if (send(input.value)) input.value = input.style.height = "";
  }

  function send(raw) {
    const text = String(raw).trim();
    if (!text || dead) return false;
    const bytes = crypto.getRandomValues(new Uint8Array(12)); // works outside secure contexts too
    const cid = "cm_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const node = el("div", { class: "b user pending", "data-role": "user", "data-pending": "" });
    const p = { cid, text, node, sent: false, failed: false, timer: 0 };
    pending.set(cid, p);
    render(() => {
      pendBox.append(node);
      transmit(p);
    });
    if (!started) connect();
    return true;
  }

  function transmit(p) {
    clearTimeout(p.timer);
    p.failed = false;
    p.node.replaceChildren(p.text);
    p.sent = !!(ready && ws);
    if (p.sent) frame({ type: "send", client_message_id: p.cid, text: p.text });
    p.timer = setTimeout(() => render(() => fail(p)), 15000);
  }

  // A send without acknowledgement: offer to resend it with the same client_message_id.
  function fail(p) {
    if (p.failed || !pending.has(p.cid)) return;
    clearTimeout(p.timer);
    p.failed = true;
    const retry = el("button", { class: "retry", type: "button", text: "Retry", onclick: () => {
      render(() => transmit(p));
      input.focus();
      if (!ws) {
        attempt = 0;
        connect();
      }
    } });
    p.node.append(el("span", { class: "note", text: "Not sent." }, retry));
  }

  // ---- start ----
  registry[AGENT] = { open, close };
  function boot() {
    if (TEST) script.after(host);
    else document.body.appendChild(host);
    applyAgent(agent); // the last known branding, until the session brings the current one
    render(() => msgs.append(...history.map(bubble)));
    if (PAGE) open(!TEST); // the test chat waits on the dashboard page for the user to click into it
  }
  // The dashboard's forms announce what they saved: the test chat shows a branding change at once.
  if (TEST) document.addEventListener("revos:done", (e) => {
    const saved = e.detail || {};
    if (saved.agent_id === AGENT && saved.branding) applyAgent({ agent_id: AGENT, name: saved.name, branding: saved.branding });
  });
  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();

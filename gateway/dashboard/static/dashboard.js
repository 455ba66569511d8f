// The dashboard's shared script: forms that talk to the JSON API, copy buttons, and small helpers.
// A form marked data-api="METHOD /v1/path" is sent as JSON with the session's CSRF token; the API
// answers as it answers any client, and its error message is shown in the form's alert region.
// data-reveal="<id>" shows the answer in that element instead of reloading: each [data-field="a.b"]
// inside gets the answer's field (or, when the answer has none, the field that was sent; with
// data-time, a UTC time reads as the pages show times), and each [data-shown-if="a.b"] is hidden
// unless that field is there (not null, false or empty). A form marked data-once is hidden once it
// succeeded (what it made shows after a reload), so it is not sent twice.
// "{name}" in the path is the form's field of that name, URL-encoded (mark the field data-skip to keep
// it out of the body), e.g. data-api="PUT /v1/customers/{customer}".
(function () {
  "use strict";

  var csrf = document.body.getAttribute("data-csrf") || "";

  // Uncaught errors and unreachable API calls go to POST /v1/client-errors (signed-in pages only: it
  // needs the session cookie and CSRF token), at most 5 a page load, with fetch keepalive so a report
  // made as the page unloads still leaves.
  var reportsLeft = 5;
  function report(kind, message, stack) {
    if (!csrf || reportsLeft <= 0) return;
    reportsLeft -= 1;
    var body = {
      source: "dashboard",
      kind: kind,
      message: String(message || "error").slice(0, 2000) || "error",
      url: location.href.slice(0, 2000),
      user_agent: navigator.userAgent.slice(0, 500),
    };
    var agent = location.pathname.match(/^\/dashboard\/agents\/(agt_[^/]+)/);
    if (agent) body.agent_id = decodeURIComponent(agent[1]).slice(0, 100);
    if (stack) body.stack = String(stack).slice(0, 6000);
    fetch("/v1/client-errors", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin",
      keepalive: true,
      body: JSON.stringify(body),
    }).catch(function () {});
  }
  window.addEventListener("error", function (e) {
    report("error", e.message, e.error && e.error.stack);
  });
  window.addEventListener("unhandledrejection", function (e) {
    var reason = e.reason || {};
    report("error", "unhandled rejection: " + (reason.message || String(e.reason)), reason.stack);
  });

  function convert(input) {
    var kind = input.getAttribute("data-type");
    var raw = input.type === "checkbox" ? input.checked : input.value;
    if (kind === "bool") return Boolean(raw);
    if (typeof raw !== "string") return raw;
    if (kind === "omit-empty" && raw.trim() === "") return undefined;
    if (kind === "null-empty") return raw.trim() === "" ? null : raw;
    if (kind === "number") return raw.trim() === "" ? null : Number(raw);
    if (kind === "lines") return raw.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (kind === "json") {
      if (raw.trim() === "") return null;
      try { return JSON.parse(raw); } catch (e) { throw new Error(input.name + " is not valid JSON (" + e.message + ")"); }
    }
    // A datetime-local input: the person's local time, sent as RFC 3339 in UTC; empty leaves it out.
    if (kind === "time") {
      if (raw.trim() === "") return undefined;
      var at = new Date(raw);
      if (isNaN(at.getTime())) throw new Error(input.name + " is not a date and time");
      return at.toISOString();
    }
    return raw;
  }

  // name="branding.title" puts the value at body.branding.title; name="tools.0.url" at body.tools[0].url
  // (an input typed json whose value is [] names an empty list).
  function put(body, name, value) {
    var parts = name.split(".");
    var at = body;
    for (var i = 0; i < parts.length - 1; i++) {
      at[parts[i]] = at[parts[i]] || (/^[0-9]+$/.test(parts[i + 1]) ? [] : {});
      at = at[parts[i]];
    }
    at[parts[parts.length - 1]] = value;
  }

  function lookup(data, path) {
    return path.split(".").reduce(function (at, key) { return at == null ? undefined : at[key]; }, data);
  }

  function reveal(form, answer, sent) {
    var panel = document.getElementById(form.getAttribute("data-reveal"));
    if (!panel) return;
    var valueOf = function (path) {
      var found = lookup(answer, path);
      return found === undefined ? lookup(sent, path) : found;
    };
    panel.querySelectorAll("[data-field]").forEach(function (el) {
      var value = valueOf(el.getAttribute("data-field"));
      var text = value == null ? "" : typeof value === "object" ? JSON.stringify(value, null, 2) : String(value);
      if (el.getAttribute("data-time") !== null) text = text.replace("T", " ").replace(/(\.[0-9]+)?(Z|\+00:00)$/, " UTC");
      if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") el.value = text;
      else el.textContent = text;
    });
    panel.querySelectorAll("[data-shown-if]").forEach(function (el) {
      var value = valueOf(el.getAttribute("data-shown-if"));
      el.hidden = value == null || value === false || value === "";
    });
    panel.hidden = false;
    panel.focus();
  }

  function bodyOf(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.getAttribute("data-skip") !== null) return;
      if (el.type === "radio" && !el.checked) return;
      var value = convert(el);
      if (value !== undefined) put(body, el.name, value);
    });
    return body;
  }

  function fieldsOf(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.disabled) values[el.name] = el.value;
    });
    return values;
  }

  function fill(template, data) {
    return template.replace(/\{([a-z_]+)\}/g, function (_, key) {
      return encodeURIComponent(data[key] === undefined ? "" : data[key]);
    });
  }

  function alertOf(form) {
    var region = form.querySelector("[data-alert]");
    if (!region) {
      region = document.createElement("div");
      region.setAttribute("data-alert", "");
      region.setAttribute("role", "alert");
      region.className = "alert";
      form.insertBefore(region, form.firstChild);
    }
    return region;
  }

  function show(form, message, ok) {
    var region = alertOf(form);
    region.className = ok ? "notice" : "alert";
    region.textContent = message;
    region.hidden = !message;
  }

  async function submit(event) {
    var form = event.target;
    var spec = form.getAttribute("data-api");
    if (!spec) return;
    event.preventDefault();
    var confirmText = form.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) return;
    var method = spec.split(" ")[0];
    var path = fill(spec.slice(method.length + 1), fieldsOf(form));
    var button = form.querySelector("[type=submit]");
    var sent;
    try {
      sent = method === "DELETE" ? undefined : bodyOf(form);
      if (sent) (spec.match(/\{([a-z_]+)\}/g) || []).forEach(function (m) { delete sent[m.slice(1, -1)]; });
    } catch (e) {
      show(form, "One of the fields is not valid: " + e.message, false);
      return;
    }
    if (button) button.disabled = true;
    show(form, "", false);
    try {
      var response = await fetch(path, {
        method: method,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
        body: sent === undefined ? undefined : JSON.stringify(sent),
      });
      var data = response.status === 204 ? {} : await response.json().catch(function () { return {}; });
      if (!response.ok) {
        if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
        show(form, (data.error && data.error.message) || "Something went wrong (" + response.status + ").", false);
        return;
      }
      form.dispatchEvent(new CustomEvent("revos:done", { detail: data, bubbles: true }));
      var next = form.getAttribute("data-next");
      if (form.getAttribute("data-once") !== null) form.hidden = true;
      if (form.getAttribute("data-reveal")) reveal(form, data, sent);
      else if (next) window.location.assign(fill(next, data));
      else if (form.getAttribute("data-stay") === null) window.location.reload();
      else show(form, form.getAttribute("data-done") || "Saved.", true);
    } catch (e) {
      report("connection", method + " " + path + " failed: " + (e && e.message), e && e.stack);
      show(form, "The server could not be reached; check your connection and try again.", false);
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", submit);

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () {});
    else { if (source.select) source.select(); document.execCommand("copy"); done(); }
  });
})();

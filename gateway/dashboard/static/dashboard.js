// The dashboard's only script: forms that talk to the JSON API, copy buttons, and small helpers.
// A form marked data-api="METHOD /v1/path" is sent as JSON with the session's CSRF token; the API
// answers as it answers any client, and its error message is shown in the form's alert region. A
// `{field}` in the path is filled with that field's value, which then stays out of the body.
(function () {
  "use strict";

  var csrf = document.body.getAttribute("data-csrf") || "";

  function convert(input) {
    var kind = input.getAttribute("data-type");
    var raw = input.type === "checkbox" ? input.checked : input.value;
    if (kind === "bool") return Boolean(raw);
    if (typeof raw !== "string") return raw;
    if (kind === "omit-empty" && raw.trim() === "") return undefined;
    if (kind === "null-empty") return raw.trim() === "" ? null : raw;
    if (kind === "number") return raw.trim() === "" ? null : Number(raw);
    if (kind === "lines") return raw.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (kind === "json") return raw.trim() === "" ? null : JSON.parse(raw);
    return raw;
  }

  // name="branding.title" puts the value at body.branding.title.
  function put(body, name, value) {
    var parts = name.split(".");
    var at = body;
    for (var i = 0; i < parts.length - 1; i++) {
      at[parts[i]] = at[parts[i]] || {};
      at = at[parts[i]];
    }
    at[parts[parts.length - 1]] = value;
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
    var path = spec.slice(method.length + 1);
    var button = form.querySelector("[type=submit]");
    var body;
    try {
      var fields = bodyOf(form);
      path = path.replace(/\{([a-z_]+)\}/g, function (_, key) {
        var value = fields[key];
        delete fields[key];
        return encodeURIComponent(value === undefined || value === null ? "" : value);
      });
      body = method === "DELETE" ? undefined : JSON.stringify(fields);
    } catch (e) {
      show(form, "One of the fields is not valid JSON: " + e.message, false);
      return;
    }
    if (button) button.disabled = true;
    show(form, "", false);
    try {
      var response = await fetch(path, {
        method: method,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
        body: body,
      });
      var data = response.status === 204 ? {} : await response.json().catch(function () { return {}; });
      if (!response.ok) {
        if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
        show(form, (data.error && data.error.message) || "Something went wrong (" + response.status + ").", false);
        return;
      }
      form.dispatchEvent(new CustomEvent("revos:done", { detail: data, bubbles: true }));
      var next = form.getAttribute("data-next");
      if (next) window.location.assign(fill(next, data));
      else if (form.getAttribute("data-stay") === null) window.location.reload();
      else show(form, form.getAttribute("data-done") || "Saved.", true);
    } catch (e) {
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

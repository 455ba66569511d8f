// Answers that say what would happen, shown under their form: what an event would cost (a burn table's
// preview) and what a dead letter's replay would send (its dry run). dashboard.js sends the form and
// fires "revos:done" with the API's answer; this only renders it, as text (never as HTML).
(function () {
  "use strict";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function regionOf(form) {
    return document.getElementById(form.getAttribute("data-result") || "");
  }

  // The API answers times in UTC (RFC 3339 with Z); the pages show them to the minute.
  function when(iso) {
    return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "";
  }

  function matchText(match) {
    var keys = Object.keys(match || {});
    if (!keys.length) return "any properties";
    return keys.map(function (k) { return k + " = " + (typeof match[k] === "string" ? match[k] : JSON.stringify(match[k])); }).join(", ");
  }

  function cost(data, region) {
    var headline = el("p", null, "headline");
    headline.appendChild(el("strong", data.credits + " credits"));
    if (data.cost !== null && data.cost !== undefined) headline.appendChild(document.createTextNode(" (cost " + data.cost + ")"));
    region.appendChild(headline);
    var rule = data.rule;
    region.appendChild(el("p", "Rule " + (rule.index + 1) + " of version " + data.version + ": " + rule.type +
      " with " + matchText(rule.match) + ", at " + rule.credits_per_unit + " credits per unit."));
    region.appendChild(el("p", "Version " + data.version + " is in force at " + when(data.timestamp) +
      " (effective since " + when(data.effective_at) + ").", "muted"));
  }

  function verdict(check) {
    if (check.passes === true) return "It would now pass: " + check.message + ".";
    if (check.passes === false) return "It would be refused again (" + check.code + "): " + check.message;
    return check.message + ".";
  }

  function replay(data, region) {
    if (data.refusal) {
      region.appendChild(el("p", "It would not be replayed: " + data.refusal.message + ".", "headline"));
    } else {
      region.appendChild(el("p", data.would_replay ? "It would be replayed." : "It would not be replayed.", "headline"));
    }
    region.appendChild(el("p", verdict(data.check)));
    if (data.publish) {
      region.appendChild(el("p", "It would be sent to " + data.publish.topic + (data.publish.record_type ? " as " + data.publish.record_type : "") + ":", "muted"));
      var pre = el("pre", JSON.stringify(data.publish.record, null, 2));
      pre.tabIndex = 0;
      pre.setAttribute("aria-label", "The record it would send");
      region.appendChild(pre);
    }
  }

  var renderers = { cost: cost, replay: replay };

  document.addEventListener("submit", function (event) {
    var region = regionOf(event.target);
    if (!region) return;
    region.hidden = true;
    region.textContent = "";
  }, true);

  document.addEventListener("revos:done", function (event) {
    var form = event.target;
    var render = renderers[form.getAttribute("data-preview")];
    var region = regionOf(form);
    if (!render || !region) return;
    region.textContent = "";
    render(event.detail, region);
    region.hidden = false;
  });
})();

// The agent page's branding preview: a likeness of the widget that follows the branding form as you type.
(function () {
  "use strict";

  var preview = document.querySelector("[data-preview]");
  if (!preview) return;
  var form = document.getElementById(preview.getAttribute("data-preview"));
  var panel = preview.querySelector(".preview-panel");
  var logo = preview.querySelector(".preview-logo");
  var title = preview.querySelector(".preview-title");
  var bubble = preview.querySelector(".preview-bubble");
  var chips = preview.querySelector(".preview-chips");

  function field(name) {
    return form.elements.namedItem("branding." + name);
  }

  // White or near-black text, whichever reads better on the colour (as the widget decides).
  function readableOn(hex) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var light = 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
    return light > 0.45 ? "#111" : "#fff";
  }

  function update() {
    var color = field("primary_color").value;
    if (/^#[0-9a-fA-F]{6}$/.test(color)) {
      panel.style.setProperty("--p", color);
      panel.style.setProperty("--on", readableOn(color));
    }
    title.textContent = field("title").value.trim() || preview.getAttribute("data-name");
    var url = field("logo_url").value.trim();
    logo.hidden = !/^https:\/\//.test(url);
    if (!logo.hidden) logo.src = url;
    var greeting = field("greeting").value.trim();
    bubble.textContent = greeting;
    bubble.hidden = !greeting;
    var lines = field("suggestions").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    chips.replaceChildren.apply(chips, lines.slice(0, 6).map(function (text) {
      var chip = document.createElement("span");
      chip.className = "preview-chip";
      chip.textContent = text;
      return chip;
    }));
  }

  logo.addEventListener("error", function () { logo.hidden = true; });
  form.addEventListener("input", update);
  update();
})();

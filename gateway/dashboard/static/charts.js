// The usage charts: each [data-chart] element is drawn by uPlot (vendored: uPlot.iife.min.js) from the
// JSON block beside it (<script type="application/json" id="NAME-data">), and redrawn at its width when the
// window changes. Figures arrive as exact decimal text: the legend shows that text, the plot its value.
(function () {
  "use strict";
  if (typeof uPlot === "undefined") return;

  var PALETTE = ["#3b4fd8", "#c2410c", "#2b8a3e", "#9c36b5", "#0b7285", "#b42318"];
  var OTHERS = "#6b7280";
  var DAY = 86400;
  var FONT = "12px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
  var LABEL_FONT = "600 12px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
  var utc = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); };
  var shortDay = uPlot.fmtDate("{MMM} {D}");
  var isoDay = uPlot.fmtDate("{YYYY}-{MM}-{DD}");
  var measure = document.createElement("canvas").getContext("2d");

  function textWidth(text) {
    measure.font = FONT;
    return Math.ceil(measure.measureText(text).width);
  }

  function phone() { return window.innerWidth < 640; }

  // The legend: the hovered day's exact figure; with no day hovered, the range's total (or, for a level
  // such as a balance, its last figure), so the chart reads without pointing at it.
  function exact(series, spec) {
    return function (u, raw, seriesIdx, idx) {
      var text = idx != null ? series.values[idx] : spec.kind === "steps" ? lastOf(series.values) : series.total;
      return text == null ? "–" : text + " " + spec.unit;
    };
  }

  function lastOf(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  function dayLegend(spec) {
    var first = shortDay(utc(spec.x[0])), last = shortDay(utc(spec.x[spec.x.length - 1]));
    return function (u, ts) {
      if (ts != null) return isoDay(utc(ts));
      return spec.kind === "steps" ? last + ", end of day" : first + " – " + last + ", total";
    };
  }

  // Room for the widest tick label, so long figures are never cut at the left edge.
  function valueAxisSize(u, values) {
    var widest = 0;
    (values || []).forEach(function (v) { widest = Math.max(widest, textWidth(String(v))); });
    return Math.max(40, widest + 16);
  }

  function daily(spec, width) {
    var series = [{ label: "Day (UTC)", value: dayLegend(spec) }];
    var data = [spec.x];
    spec.series.forEach(function (s, i) {
      var color = s.others ? OTHERS : PALETTE[i % PALETTE.length];
      series.push({
        label: s.label,
        stroke: color,
        width: 2,
        dash: s.others ? [6, 4] : undefined,
        paths: spec.kind === "steps" ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: { size: 5, fill: color, space: 14 },  // shown while days are far enough apart
        value: exact(s, spec)
      });
      data.push(s.values.map(function (v) { return v == null ? null : parseFloat(v); }));
    });
    return {
      opts: {
        width: width,
        height: phone() ? 220 : 280,
        tzDate: utc,
        series: series,
        scales: {
          x: { time: true },
          y: {
            range: function (u, min, max) {
              var low = Math.min(0, min), high = Math.max(0, max);
              if (low === high) high = low + 1;
              return [low, high + (high - low) * 0.08];
            }
          }
        },
        axes: [
          {
            label: "Day (UTC)", labelFont: LABEL_FONT, font: FONT, labelSize: 22, space: 56,
            incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY],
            values: function (u, splits) { return splits.map(function (ts) { return shortDay(utc(ts)); }); }
          },
          { label: spec.unit, labelFont: LABEL_FONT, font: FONT, labelSize: 22, size: valueAxisSize }
        ],
        legend: { live: true }
      },
      data: data
    };
  }

  // Customers down the left, largest on top, one horizontal bar each with its exact figure at its end.
  function bars(spec, width) {
    var n = spec.labels.length;
    var order = spec.labels.map(function (_, i) { return i; });
    var longest = Math.max.apply(null, spec.labels.map(textWidth).concat([40]));
    var widestFigure = Math.max.apply(null, spec.values.map(textWidth).concat([10]));
    function nameRoom(u) { return Math.min(longest + 14, Math.floor(u.width * 0.4)); }
    function shorten(name, room) {
      if (textWidth(name) <= room - 14) return name;
      while (name.length > 1 && textWidth(name + "…") > room - 14) name = name.slice(0, -1);
      return name + "…";
    }
    function figures(u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.font = Math.round(12 * uPlot.pxRatio) + "px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      spec.values.forEach(function (text, i) {
        var x = u.valToPos(parseFloat(text), "y", true) + 6 * uPlot.pxRatio;
        ctx.fillText(text, x, u.valToPos(i, "x", true));
      });
      ctx.restore();
    }
    return {
      opts: {
        width: width,
        height: 70 + n * 32,
        series: [
          { label: "Customer" },
          {
            label: "Credits burned",
            stroke: PALETTE[0],
            fill: PALETTE[0],
            paths: uPlot.paths.bars({ size: [0.65, 26] }),
            points: { show: false }
          }
        ],
        scales: {
          x: { time: false, ori: 1, dir: -1, range: [-0.5, n - 0.5] },
          y: {
            ori: 0, dir: 1,
            // Room right of the longest bar for its figure.
            range: function (u, min, max) {
              var plot = Math.max(120, u.width - nameRoom(u) - 24);
              var spare = Math.min(0.6, (widestFigure + 14) / plot);
              return [0, (max > 0 ? max : 1) / (1 - spare)];
            }
          }
        },
        axes: [
          {
            scale: "x", side: 3, font: FONT, grid: { show: false }, ticks: { show: false },
            splits: function () { return order; },
            size: function (u) { return nameRoom(u); },
            values: function (u, splits) {
              var room = nameRoom(u);
              return splits.map(function (i) { return spec.labels[i] == null ? "" : shorten(spec.labels[i], room); });
            }
          },
          { scale: "y", side: 2, label: spec.unit, labelFont: LABEL_FONT, font: FONT, labelSize: 22, space: 70 }
        ],
        cursor: { show: false },
        legend: { show: false },
        hooks: { draw: [figures] }
      },
      data: [order, spec.values.map(parseFloat)]
    };
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
    var block = document.getElementById(el.getAttribute("data-chart") + "-data");
    if (!block) return;
    var spec = JSON.parse(block.textContent);
    var build = spec.kind === "bars" ? bars : daily;
    var made = build(spec, el.clientWidth);
    var plot = new uPlot(made.opts, made.data, el);
    var drawnAt = el.clientWidth;
    if (typeof ResizeObserver === "undefined") return;
    new ResizeObserver(function () {
      var width = el.clientWidth;
      if (width === drawnAt || width === 0) return;
      drawnAt = width;
      plot.setSize({ width: width, height: build(spec, width).opts.height });
    }).observe(el);
  });
})();

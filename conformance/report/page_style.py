"""The report page's inline style sheet and its one optional script.

The page reads and navigates without the script (every drill-down is a
``<details>``); the script only shows the copy buttons of repro snippets and opens
the ``<details>`` a link points to."""

CSS = """
:root { --ok: #cdebcf; --ok-ink: #1b5e20; --fail: #f6c6c6; --fail-ink: #8e1010;
  --xfail: #fde3a7; --xfail-ink: #7a4f00; --unsup: #e3e3e3; --unsup-ink: #444;
  --stop: #dccbf0; --stop-ink: #4a148c; --none: #fff; --none-ink: #777; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em;
  color: #1d1d1d; }
h1 { font-size: 1.6em; margin: 0 0 .3em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 12px; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .5em; overflow: auto;
  max-height: 28em; white-space: pre; user-select: text; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .2em .45em; vertical-align: top; text-align: left; }
.meta th { background: #f3f3f3; font-weight: 600; }
nav a { margin-right: 1em; }
.matrix-wrap { overflow: auto; max-height: 85vh; border: 1px solid #bbb; }
table.matrix { border-collapse: separate; border-spacing: 0; }
table.matrix th, table.matrix td { border-width: 0 1px 1px 0; }
table.matrix thead th { position: sticky; top: 0; background: #fafafa; z-index: 2; }
table.matrix th.family, table.matrix th.feature { position: sticky; background: #fafafa;
  z-index: 1; white-space: nowrap; }
table.matrix th.family { left: 0; } table.matrix th.feature { left: 7.5em; }
table.matrix thead th.family, table.matrix thead th.feature { z-index: 3; }
table.matrix td { min-width: 9em; }
table.matrix td details > summary { cursor: pointer; white-space: nowrap; }
table.matrix td details[open] { min-width: 38em; max-width: 70em; }
.v-conforming { background: var(--ok); color: var(--ok-ink); }
.v-failing { background: var(--fail); color: var(--fail-ink); }
.v-expected { background: var(--xfail); color: var(--xfail-ink); }
.v-unsupported { background: var(--unsup); color: var(--unsup-ink); }
.v-stopped { background: var(--stop); color: var(--stop-ink); }
.v-not_run { background: var(--none); color: var(--none-ink); }
td .drill { color: #1d1d1d; background: #fff; border: 1px solid #ccc; padding: .4em;
  margin-top: .3em; white-space: normal; }
.legend span { display: inline-block; padding: .1em .5em; margin: .1em .3em .1em 0;
  border: 1px solid #bbb; }
.div-id { font-family: ui-monospace, monospace; font-weight: 600; }
.copy { font-size: 11px; margin: .2em 0; }
.changed li { margin: .1em 0; }
.chart { display: block; margin: .3em 0; }
.chart text { font-size: 10px; fill: #333; } .chart .tick { fill: #666; }
.chart .mark { stroke: #555; stroke-dasharray: 3 2; }
.chart .frame { fill: none; stroke: #bbb; }
.chart polyline { fill: none; stroke-width: 1.5; }
.bar-speedup { fill: #4a78c2; } .bar-roofline { fill: #7a9a3a; }
.series-0 { stroke: #c2410c; fill: #c2410c; } .series-1 { stroke: #2563eb; fill: #2563eb; }
.series-2 { stroke: #6b7280; fill: #6b7280; }
.key.series-0 { color: #c2410c; } .key.series-1 { color: #2563eb; }
.chart .passed { stroke: var(--ok-ink); fill: var(--ok-ink); }
.chart .failing { stroke: var(--fail-ink); fill: var(--fail-ink); }
.chart polyline.passed, .chart polyline.failing { fill: none; }
.bench .scenarios { display: flex; flex-wrap: wrap; gap: .8em; }
.scenario { border: 1px solid #ddd; padding: .3em .6em; }
.scenario h4 { margin: .2em 0; font-family: ui-monospace, monospace; font-weight: 600; }
.gate { display: inline-block; padding: 0 .4em; margin: .1em .2em .1em 0; border: 1px solid #aaa; }
.g-holds { background: var(--ok); } .g-within { background: #e6f2c8; }
.g-fails { background: var(--fail); } .g-none { background: var(--unsup); }
figure.growth { display: inline-block; margin: .5em 1em .5em 0; }
figcaption { font-size: 12px; max-width: 360px; }
"""

#: Shows the copy buttons (hidden without the script) and opens linked <details>.
SCRIPT = """
(function () {
  function copyText(text, button) {
    function done(ok) { button.textContent = ok ? "copied" : "select the text to copy"; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); },
                                               function () { done(fallback(text)); });
    } else { done(fallback(text)); }
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source) { copyText(source.textContent, button); }
    });
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var node = id && document.getElementById(id);
    var own = node && node.querySelector(":scope > details");
    if (own) { own.open = true; }
    while (node) {
      if (node.tagName === "DETAILS") { node.open = true; }
      node = node.parentElement;
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
"""

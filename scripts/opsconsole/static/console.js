// The operator console's behaviour: charts (uPlot) from JSON blocks, the slider's label,
// and the flow page's refresh. Served from this server: the CSP allows no inline script.
"use strict";

const palette = ["#14213d", "#c1121f", "#2a9d8f", "#e76f51", "#6a4c93", "#8a5a00", "#1d6fa5", "#3a5a40"];
window.consoleCharts = {};

function chartWidth(el) {
  return Math.max(320, el.clientWidth || 800);
}

function drawChart(el, x, series, opts) {
  el.replaceChildren();
  const data = [x, ...series.map((s) => s.values)];
  const plot = new uPlot({
    width: chartWidth(el),
    height: 240,
    scales: { x: { time: opts.time !== false } },
    axes: [{}, { label: opts.yLabel || "" }],
    series: [{ label: opts.xLabel || "time" }, ...series.map((s, i) => ({
      label: s.label,
      stroke: palette[i % palette.length],
      width: 2,
      points: { show: opts.points !== false, size: 7 },
      paths: opts.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
    }))],
  }, data, el);
  el.dataset.points = String(x.length);
  window.consoleCharts[el.id] = plot;
  return plot;
}

function drawSeriesCharts() {
  document.querySelectorAll("[data-series]").forEach((el) => {
    const block = document.getElementById(el.dataset.series);
    if (!block) return;
    const data = JSON.parse(block.textContent);
    if (el.dataset.kind === "balance") {
      drawChart(el, data.x, [{ label: "balance", values: data.y }], { yLabel: "balance", stepped: true });
    } else {
      const x = data.x.map((t) => Date.parse(t) / 1000);
      drawChart(el, x, [{ label: "points", values: data.y }], { yLabel: "points", stepped: true });
    }
  });
}

function wireSlider() {
  const slider = document.getElementById("version");
  const out = document.getElementById("version-out");
  if (!slider || !out) return;
  slider.addEventListener("input", () => {
    out.value = slider.value;
    slider.setAttribute("aria-valuetext", "version " + slider.value);
  });
}

async function refreshFlow() {
  const charts = document.querySelectorAll("[data-flow]");
  if (!charts.length) return;
  const response = await fetch("/flow/data", { headers: { accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  const totals = document.querySelector("#flow-totals tbody");
  const rows = [];
  charts.forEach((el) => {
    const group = data[el.dataset.flow];
    const series = Object.entries(group).map(([label, values]) => ({ label, values }));
    drawChart(el, data.x, series, { yLabel: "events / minute", points: false });
    series.forEach((s) => rows.push([el.dataset.flow + ": " + s.label, s.values.reduce((a, b) => a + b, 0)]));
  });
  if (totals) {
    totals.replaceChildren(...rows.map(([label, total]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      const td = document.createElement("td");
      td.className = "num";
      td.textContent = String(total);
      tr.append(th, td);
      return tr;
    }));
  }
  document.body.dataset.flowLoaded = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  drawSeriesCharts();
  wireSlider();
  if (document.querySelector("[data-flow]")) {
    refreshFlow();
    setInterval(refreshFlow, 10000);
  }
});

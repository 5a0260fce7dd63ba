// Draws every <canvas data-chart="ID"> with Chart.js from the JSON in <script id="ID">. The
// same figures are in the table under each chart, so the page reads fine without this script.
(function () {
  "use strict";
  var COLOURS = ["#2f6fde", "#f28e2b", "#59a14f", "#9c6ade", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];
  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof window.Chart === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (set, i) {
      return Object.assign({ backgroundColor: COLOURS[i % COLOURS.length], borderWidth: 0 }, set);
    });
    var stacked = Boolean(spec.stacked);
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.rendered = String(datasets.reduce(function (n, set) { return n + set.data.length; }, 0));
  }
  function drawAll() { document.querySelectorAll("canvas[data-chart]").forEach(draw); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();

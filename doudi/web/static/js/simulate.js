// 测算 results chart: data from <script type="application/json" id="simulation-data">.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("simulation-data");
    var el = document.getElementById("chart-cost");
    if (!node || !el || !window.echarts) { return; }
    var d;
    try { d = JSON.parse(node.textContent); } catch (e) { return; }
    var chart = window.echarts.init(el);
    chart.setOption({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 64, right: 16, top: 36, bottom: 64 },
      xAxis: { type: "category", data: d.prefectures, axisLabel: { interval: 0, rotate: d.prefectures.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: "月支出（万元）" },
      series: [
        { name: "调整前（现行参数）", type: "bar", itemStyle: { color: "#8da0cb" }, data: d.before.map(Number) },
        { name: "调整后（测算方案）", type: "bar", itemStyle: { color: "#e5734a" }, data: d.after.map(Number) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();

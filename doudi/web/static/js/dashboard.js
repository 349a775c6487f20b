// 工作台 charts: the data comes from <script type="application/json" id="dashboard-data">
// (never executed); this file draws it with the vendored ECharts. No inline script anywhere.
(function () {
  "use strict";
  var SEVERITY = {
    red: { name: "红色", color: "#d92d20" },
    orange: { name: "橙色", color: "#f79009" },
    yellow: { name: "黄色", color: "#eaaa08" }
  };
  var charts = [];

  function data() {
    var node = document.getElementById("dashboard-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }

  function categoryAxis(names) {
    return { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } };
  }

  function severity(d) {
    draw("chart-severity", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 36, bottom: 72 },
      xAxis: categoryAxis(d.divisions),
      yAxis: { type: "value", name: "未办结预警", minInterval: 1 },
      series: d.series.map(function (s) {
        return {
          name: SEVERITY[s.severity].name, type: "bar", stack: "open",
          itemStyle: { color: SEVERITY[s.severity].color }, data: s.open
        };
      })
    });
  }

  function closure(d) {
    draw("chart-closure", {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 36, bottom: 72 },
      xAxis: categoryAxis(d.divisions),
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: "期限内核查", type: "bar", itemStyle: { color: "#175cd3" }, data: d.verified_within_due },
        { name: "已帮扶", type: "bar", itemStyle: { color: "#12b76a" }, data: d.helped },
        { name: "逾期未办结", type: "bar", itemStyle: { color: "#d92d20" }, data: d.overdue }
      ]
    });
  }

  function spending(d) {
    var series = d.programs.map(function (name, i) {
      return { name: name, type: "bar", stack: "amount", data: d.amount[i].map(Number) };
    });
    series.push({ name: "救助对象", type: "line", yAxisIndex: 1, data: d.recipients, itemStyle: { color: "#1f2933" } });
    draw("chart-spending", {
      tooltip: { trigger: "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 72, right: 56, top: 48, bottom: 40 },
      xAxis: { type: "category", data: d.months },
      yAxis: [
        { type: "value", name: "应发金额（元）" },
        { type: "value", name: "救助对象", minInterval: 1 }
      ],
      series: series
    });
  }

  function standards(d) {
    draw("chart-standards", {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 56, right: 48, top: 36, bottom: 72 },
      xAxis: categoryAxis(d.divisions),
      yAxis: [{ type: "value", name: "元/月" }, { type: "value", name: "城乡比", min: 1 }],
      series: [
        { name: "城市", type: "bar", itemStyle: { color: "#175cd3" }, data: d.urban.map(Number) },
        { name: "农村", type: "bar", itemStyle: { color: "#12b76a" }, data: d.rural.map(Number) },
        { name: "城乡比", type: "line", yAxisIndex: 1, itemStyle: { color: "#b42318" }, data: d.ratio.map(Number) }
      ]
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var d = data();
    if (!d) { return; }
    severity(d.severity);
    closure(d.closure);
    if (d.spending.programs.length) { spending(d.spending); }
    if (d.standards.divisions.length > 1) { standards(d.standards); }
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { c.resize(); });
    });
  });
})();

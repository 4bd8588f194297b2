/* Loyalty report charts. Points liability: outstanding points per store (bars) and their value in yuan (line). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("liability-chart");
    var dataEl = document.getElementById("liability-chart-data");
    if (!el || !dataEl || typeof echarts === "undefined") { return; }
    var data = JSON.parse(dataEl.textContent);
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 48, top: 28, bottom: 56 },
      tooltip: { trigger: "axis" },
      legend: { data: [data.t_points, data.t_yuan], top: 0 },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 4 ? 30 : 0 } },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
      series: [
        { name: data.t_points, type: "bar", data: data.points, itemStyle: { color: "#0172ad" } },
        { name: data.t_yuan, type: "line", yAxisIndex: 1, data: data.yuan, itemStyle: { color: "#c62828" } }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();

/* Coupon report chart: issued and used per store. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("coupon-chart");
    var dataEl = document.getElementById("coupon-chart-data");
    if (!el || !dataEl || typeof echarts === "undefined") { return; }
    var data = JSON.parse(dataEl.textContent);
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      animation: false,
      grid: { left: 40, right: 12, top: 28, bottom: 56 },
      tooltip: { trigger: "axis" },
      legend: { data: [data.t_issued, data.t_used], top: 0 },
      xAxis: { type: "category", data: data.labels, axisLabel: { interval: 0, rotate: data.labels.length > 4 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.t_issued, type: "bar", data: data.issued, itemStyle: { color: "#0172ad" } },
        { name: data.t_used, type: "bar", data: data.used, itemStyle: { color: "#c62828" } }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();

/* Dashboard chart: members joined per day. Data comes from the json_script block on the page. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("joined-chart");
    var dataEl = document.getElementById("joined-chart-data");
    if (!el || !dataEl || typeof echarts === "undefined") { return; }
    var data = JSON.parse(dataEl.textContent);
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      grid: { left: 36, right: 12, top: 16, bottom: 28 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.days.map(function (d) { return d.slice(5); }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: data.counts, itemStyle: { color: "#0172ad" } }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  });
})();

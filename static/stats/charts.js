/* Small SVG charts for the stats page: stacked bars and lines over time. No dependencies. */
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const HEIGHT = 180;
  const MARGIN = { top: 10, right: 10, bottom: 22, left: 44 };

  function element(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) {
      node.setAttribute(key, String(value));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  // Dates in the page's language (the admin's, chosen by the staff member), not the browser's.
  const LOCALE = document.documentElement.lang || [];

  function clockLabel(date, withDay) {
    const time = date.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" });
    if (!withDay) return time;
    return date.toLocaleDateString(LOCALE, { day: "numeric", month: "short" }) + " " + time;
  }

  /* The frame shared by both charts: the SVG, its scales, the y grid and the time labels. */
  function frame(container, points, maxValue, formatValue) {
    container.textContent = "";
    const width = Math.max(container.clientWidth || 600, 240);
    const svg = element("svg", {
      viewBox: `0 0 ${width} ${HEIGHT}`,
      width: "100%",
      height: HEIGHT,
      class: "chart",
    }, container);
    const inner = {
      width: width - MARGIN.left - MARGIN.right,
      height: HEIGHT - MARGIN.top - MARGIN.bottom,
    };
    const top = niceMax(maxValue);
    const y = (value) => MARGIN.top + inner.height - (value / top) * inner.height;
    const slot = inner.width / Math.max(points.length, 1);
    const x = (index) => MARGIN.left + index * slot;

    for (const fraction of [0, 0.5, 1]) {
      const value = top * fraction;
      element("line", {
        x1: MARGIN.left, x2: MARGIN.left + inner.width, y1: y(value), y2: y(value), class: "grid",
      }, svg);
      element("text", {
        x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis",
      }, svg).textContent = formatValue(value);
    }
    if (points.length) {
      const first = new Date(points[0].start);
      const last = new Date(points[points.length - 1].start);
      const withDay = last - first >= 24 * 3600 * 1000;
      const ticks = Math.min(points.length, Math.max(2, Math.floor(inner.width / 90)));
      for (let tick = 0; tick < ticks; tick++) {
        const index = Math.round((tick * (points.length - 1)) / Math.max(ticks - 1, 1));
        // The outer labels align to the chart's edges so they are never cut off.
        const anchor = tick === 0 ? "start" : tick === ticks - 1 ? "end" : "middle";
        const offset = { start: 0, middle: slot / 2, end: slot }[anchor];
        element("text", {
          x: x(index) + offset,
          y: HEIGHT - 6,
          "text-anchor": anchor,
          class: "axis",
        }, svg).textContent = clockLabel(new Date(points[index].start), withDay);
      }
    }
    return { svg, x, y, slot };
  }

  /* Bars stacked from the series' keys, bottom first, e.g. ["done", "failed", "timeouts"]. */
  function stackedBars(container, points, keys, describe) {
    const totals = points.map((point) => keys.reduce((sum, key) => sum + (point[key] || 0), 0));
    const { svg, x, y, slot } = frame(container, points, Math.max(0, ...totals), (v) =>
      String(Math.round(v))
    );
    const barWidth = Math.max(1, slot * 0.8);
    points.forEach((point, index) => {
      let base = 0;
      const group = element("g", {}, svg);
      element("title", {}, group).textContent = describe(point);
      for (const key of keys) {
        const value = point[key] || 0;
        if (value > 0) {
          element("rect", {
            x: x(index) + (slot - barWidth) / 2,
            y: y(base + value),
            width: barWidth,
            height: Math.max(0.5, y(base) - y(base + value)),
            class: `bar ${key}`,
          }, group);
        }
        base += value;
      }
    });
  }

  /* One line per key; a bucket without a value (null) breaks the line. */
  function lines(container, points, keys, formatValue, describe) {
    const values = points.flatMap((point) => keys.map((key) => point[key] || 0));
    const { svg, x, y, slot } = frame(container, points, Math.max(0, ...values), formatValue);
    for (const key of keys) {
      let path = "";
      let drawing = false;
      points.forEach((point, index) => {
        const value = point[key];
        if (value === null || value === undefined) {
          drawing = false;
          return;
        }
        const px = (x(index) + slot / 2).toFixed(1);
        const py = y(value).toFixed(1);
        path += `${drawing ? "L" : "M"}${px},${py} `;
        drawing = true;
        element("circle", { cx: px, cy: py, r: 2, class: `dot ${key}` }, svg);
      });
      if (path) element("path", { d: path.trim(), class: `line ${key}` }, svg);
    }
    points.forEach((point, index) => {
      const hit = element("rect", {
        x: x(index), y: MARGIN.top, width: slot, height: HEIGHT - MARGIN.top - MARGIN.bottom,
        class: "hit",
      }, svg);
      element("title", {}, hit).textContent = describe(point);
    });
  }

  window.PhotoChangerCharts = { stackedBars, lines };
})();

// Drawing for the click-to-call console, in SVG, written for it: line
// charts over a time window, a call's timeline, and its SIP message ladder.
// Elements are made with the DOM and every text is set as text, so nothing
// a phone or a client sent can become markup. Colours and dash patterns
// are CSS classes (console.css).
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, String(v));
    }
    if (parent) {
      parent.append(e);
    }
    return e;
  }

  function text(parent, x, y, s, attrs) {
    const t = el("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }

  // niceCeiling rounds v up to 1, 2 or 5 times a power of ten.
  function niceCeiling(v) {
    if (!(v > 0)) {
      return 1;
    }
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) {
      if (v <= m * p) {
        return m * p;
      }
    }
    return 10 * p;
  }

  function formatNumber(v) {
    if (v === null || v === undefined || Number.isNaN(v)) {
      return "–";
    }
    const a = Math.abs(v);
    if (a >= 100 || Number.isInteger(v)) {
      return String(Math.round(v));
    }
    if (a >= 10) {
      return v.toFixed(1);
    }
    return v.toFixed(2).replace(/\.?0+$/, "") || "0";
  }

  // line draws series over a time window into svg:
  //   opts.series: [{key, name, values: [number|null], dash: 0|1|2, area: bool}]
  //   opts.times:  [ms since the epoch], one per value
  //   opts.end:    ms, the right edge; opts.window: ms shown
  //   opts.format: (v) => label for the y axis
  // Each series path carries data-points (values drawn), data-last and
  // data-max (its last and highest value drawn).
  function line(svg, opts) {
    // Drawn at the element's own size, so text is never stretched.
    const box = svg.getBoundingClientRect();
    const W = Math.max(200, Math.round(box.width) || 600), H = Math.max(100, Math.round(box.height) || 160);
    const L = 44, R = 8, T = 8, B = 22;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const start = opts.end - opts.window;
    const fmt = opts.format || formatNumber;
    let top = 0;
    opts.times.forEach((t, i) => {
      if (t < start) {
        return;
      }
      for (const s of opts.series) {
        const v = s.values[i];
        if (v !== null && v !== undefined && v > top) {
          top = v;
        }
      }
    });
    top = niceCeiling(top * 1.05);
    const x = (t) => L + ((t - start) / opts.window) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);

    const grid = el("g", { class: "grid" }, svg);
    const axis = el("g", { class: "axis" }, svg);
    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
      text(axis, L - 6, y(v) + 4, fmt(v), { "text-anchor": "end" });
    }
    const minutes = Math.round(opts.window / 60000);
    for (let m = minutes; m >= 0; m -= 5) {
      const t = opts.end - m * 60000;
      text(axis, x(t), H - 6, m === 0 ? "now" : `−${m} min`, { "text-anchor": m === 0 ? "end" : m === minutes ? "start" : "middle" });
    }

    for (const s of opts.series) {
      let d = "";
      let open = false;
      let points = 0;
      let last = null;
      let first = null;
      let lastX = null;
      let most = null;
      opts.times.forEach((t, i) => {
        const v = s.values[i];
        if (t < start || v === null || v === undefined) {
          open = false;
          return;
        }
        const px = x(t).toFixed(1), py = y(v).toFixed(1);
        d += (open ? "L" : "M") + px + " " + py + " ";
        open = true;
        points++;
        last = v;
        most = most === null ? v : Math.max(most, v);
        if (first === null) {
          first = px;
        }
        lastX = px;
      });
      if (s.area && points > 1) {
        el("path", { class: `area s-${s.key}`, d: `${d}L${lastX} ${y(0)} L${first} ${y(0)} Z` }, svg);
      }
      const path = el("path", { class: `series s-${s.key}${s.dash ? " dash-" + s.dash : ""}`, d: d || "M0 0",
        "data-points": points, "data-last": last === null ? "" : last, "data-max": most === null ? "" : most }, svg);
      el("title", {}, path).textContent = s.name;
      // A value with no neighbour draws no line: mark it with a dot.
      const shown = (i) => i >= 0 && i < opts.times.length && opts.times[i] >= start &&
        s.values[i] !== null && s.values[i] !== undefined;
      opts.times.forEach((t, i) => {
        if (shown(i) && !shown(i - 1) && !shown(i + 1)) {
          el("circle", { class: `point s-${s.key}`, cx: x(t).toFixed(1), cy: y(s.values[i]).toFixed(1), r: 3 }, svg);
        }
      });
    }
  }

  // legend fills a <ul> with a swatch and the name of each series.
  function legend(ul, series) {
    ul.replaceChildren(...series.map((s) => {
      const li = document.createElement("li");
      const sw = el("svg", { viewBox: "0 0 24 10", "aria-hidden": "true" }, li);
      el("line", { x1: 0, x2: 24, y1: 5, y2: 5, class: `series s-${s.key}${s.dash ? " dash-" + s.dash : ""}` }, sw);
      li.append(s.name);
      return li;
    }));
  }

  // seconds formats a duration for the ladder and the timeline.
  function seconds(ms) {
    if (ms < 1000) {
      return "+" + ms.toFixed(ms < 10 ? 1 : 0) + " ms";
    }
    return "+" + (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }

  // timeline draws a call's results on one axis from its first result.
  function timeline(svg, results) {
    const box = svg.getBoundingClientRect();
    const W = Math.max(240, Math.round(box.width) || 600), H = 70, L = 12, R = 12;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    svg.setAttribute("class", "timeline");
    if (!results.length) {
      return;
    }
    const t0 = Date.parse(results[0].at);
    const span = Math.max(1, Date.parse(results[results.length - 1].at) - t0);
    const x = (r) => L + ((Date.parse(r.at) - t0) / span) * (W - L - R);
    el("line", { class: "axis-line", x1: L, x2: W - R, y1: 30, y2: 30 }, svg);
    results.forEach((r, i) => {
      const final = r.code >= 300 || (r.code >= 200 && r.leg === "Destination");
      const cls = r.code >= 300 ? "bad" : final ? "ok" : "step";
      const g = el("g", { class: "result", "data-code": r.code }, svg);
      el("circle", { cx: x(r), cy: 30, r: 6, class: cls }, g);
      el("title", {}, g).textContent = `${r.code} ${r.text} ${seconds(Date.parse(r.at) - t0)}`;
      const above = i % 2 === 0;
      text(g, x(r), above ? 16 : 52, String(r.code) + (r.leg ? " " + r.leg[0] : ""),
        { "text-anchor": i === 0 ? "start" : i === results.length - 1 ? "end" : "middle" });
    });
    text(svg, W - R, 66, seconds(span), { "text-anchor": "end" });
  }

  // messageLabel is what the ladder writes on a message's arrow.
  function messageLabel(m) {
    let s = m.method ? m.method : `${m.status} ${m.reason || ""}`.trim();
    if (m.note) {
      s += " (" + m.note.replace(/^SIP\/2\.0 /, "") + ")";
    }
    if (m.sdp) {
      s += " + SDP";
    }
    return s;
  }

  // ladder draws the SIP messages of a call between the initiator's phone,
  // the server and the destination's phone, one row each, with its time.
  function ladder(svg, trace) {
    const msgs = trace.messages || [];
    const W = 660, top = 34, row = 26, H = top + Math.max(1, msgs.length) * row + 12;
    const col = { Initiator: 150, server: 380, Destination: 590 };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    svg.setAttribute("class", "ladder");
    for (const [name, cx] of [["Initiator phone", col.Initiator], ["clicktocall", col.server], ["Destination phone", col.Destination]]) {
      text(svg, cx, 16, name, { class: "party", "text-anchor": "middle" });
      el("line", { class: "lifeline", x1: cx, x2: cx, y1: 24, y2: H - 4 }, svg);
    }
    if (!msgs.length) {
      return;
    }
    const t0 = Date.parse(msgs[0].at);
    msgs.forEach((m, i) => {
      const y = top + i * row + 14;
      const phone = col[m.leg] || col.Initiator;
      const [from, to] = m.direction === "in" ? [phone, col.server] : [col.server, phone];
      const label = messageLabel(m);
      const g = el("g", { class: "msg " + String(m.leg).toLowerCase(), "data-label": label,
        "data-direction": m.direction, "data-leg": m.leg }, svg);
      el("line", { x1: from, x2: to - Math.sign(to - from) * 7, y1: y, y2: y }, g);
      const d = Math.sign(to - from);
      el("path", { d: `M${to} ${y} L${to - d * 8} ${y - 4} L${to - d * 8} ${y + 4} Z` }, g);
      text(g, (from + to) / 2, y - 4, label, { class: "label", "text-anchor": "middle" });
      text(g, 4, y + 4, seconds(Date.parse(m.at) - t0));
      el("title", {}, g).textContent = `${label} — CSeq ${m.cseq} ${m.cseq_method}, ${m.direction === "in" ? "from" : "to"} the ${String(m.leg).toLowerCase()}`;
    });
  }

  window.Charts = { line, legend, timeline, ladder, messageLabel, seconds, formatNumber };
})();

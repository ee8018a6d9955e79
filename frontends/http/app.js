// The click-to-call console: live charts of the last 15 minutes fed by the
// stats stream, a form that places calls with the JSON API, the recent
// calls with a filter and a cancel button, and a call's page (#/calls/ID)
// with its results as they come and its SIP message ladder. Every value
// from the server is set as text, never as HTML; drawing is charts.js.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const WINDOW = 15 * 60 * 1000;
  const form = $("call-form");
  const message = $("message");

  function say(text) {
    message.textContent = text;
  }

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error((data.code || res.status) + " " + (data.text || res.statusText));
    }
    return data;
  }

  function resultText(r) {
    return r.code + (r.leg ? " " + r.leg : "") + " " + r.text;
  }

  // ---- Live charts ----

  const samples = []; // the last 15 minutes, oldest first
  let drawPending = false;

  const charts = [
    { id: "chart-requests", series: [
      { key: "admitted", name: "admitted", of: (s) => s.admitted },
      { key: "refused", name: "refused (limits)", dash: 1, of: (s) => s.refused },
      { key: "invalid", name: "bad requests", dash: 2, of: (s) => s.invalid },
    ], unit: "/s" },
    { id: "chart-active", series: [
      { key: "active", name: "in progress", area: true, of: (s) => s.active },
    ], unit: "" },
    { id: "chart-endings", series: [
      { key: "connected", name: "connected", of: (s) => s.connected },
      { key: "failed", name: "failed", dash: 1, of: (s) => s.failed },
      { key: "cancelled", name: "cancelled", dash: 2, of: (s) => s.cancelled },
    ], unit: "/s", extra: (s) => {
      const codes = Object.entries(s.failed_by_code || {}).sort((a, b) => b[1] - a[1]).slice(0, 3);
      return codes.length ? " · codes " + codes.map(([c, n]) => c + ": " + Charts.formatNumber(n) + "/s").join(", ") : "";
    } },
    { id: "chart-connect", series: [
      { key: "p50", name: "p50", of: (s) => (s.connect_p50_s === null ? null : s.connect_p50_s * 1000) },
      { key: "p99", name: "p99", dash: 1, of: (s) => (s.connect_p99_s === null ? null : s.connect_p99_s * 1000) },
    ], unit: " ms" },
  ];

  for (const c of charts) {
    Charts.legend($(c.id).querySelector(".legend"), c.series);
  }

  function draw() {
    drawPending = false;
    if ($("console-view").hidden || !samples.length) {
      return;
    }
    const times = samples.map((s) => Date.parse(s.at));
    const end = Math.max(times[times.length - 1], Date.now() - 1000);
    const last = samples[samples.length - 1];
    for (const c of charts) {
      const fig = $(c.id);
      const series = c.series.map((s) => Object.assign({ values: samples.map(s.of) }, s));
      Charts.line(fig.querySelector("svg"), { series, times, end, window: WINDOW, format: c.format });
      const now = c.series.map((s) => {
        const v = s.of(last);
        return s.name + " " + (v === null ? "–" : Charts.formatNumber(v) + c.unit);
      }).join(" · ");
      fig.querySelector(".now").textContent = "Now: " + now + (c.extra ? c.extra(last) : "");
    }
  }

  function scheduleDraw() {
    if (!drawPending) {
      drawPending = true;
      requestAnimationFrame(draw);
    }
  }

  function followStats() {
    const status = $("live-status");
    $("live").hidden = false;
    status.textContent = "Connecting to the live statistics…";
    const es = new EventSource("/api/v1/stats/events");
    es.addEventListener("open", () => {
      status.dataset.state = "live";
      status.textContent = "Live";
    });
    es.addEventListener("sample", (ev) => {
      const s = JSON.parse(ev.data);
      if (samples.length && s.seq <= samples[samples.length - 1].seq) {
        return; // a reconnection sent it again
      }
      samples.push(s);
      const cut = Date.parse(s.at) - WINDOW;
      while (samples.length && Date.parse(samples[0].at) < cut) {
        samples.shift();
      }
      scheduleDraw();
    });
    es.addEventListener("error", () => {
      status.dataset.state = "lost";
      status.textContent = es.readyState === EventSource.CLOSED
        ? "Live statistics unavailable"
        : "Live statistics interrupted; reconnecting…";
    });
  }
  window.addEventListener("resize", scheduleDraw);

  // ---- Calls list ----

  const callsBody = $("active-calls").querySelector("tbody");
  const filter = $("filter");

  async function cancel(id) {
    try {
      const call = await api("DELETE", "/api/v1/calls/" + encodeURIComponent(id));
      say("Call " + id + ": " + call.state);
    } catch (e) {
      say("Cancel " + id + ": " + e.message);
    }
    refresh();
    if (currentId === id) {
      loadCall();
    }
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) {
      td.className = cls;
    }
    tr.append(td);
    return td;
  }

  async function refresh() {
    let list;
    try {
      list = await api("GET", "/api/v1/calls?limit=50" + (filter.value ? "&" + filter.value : ""));
    } catch (e) {
      say("Calls: " + e.message);
      return;
    }
    const rows = list.calls.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.id = c.id;
      cell(tr, new Date(c.created_at).toLocaleTimeString());
      const idCell = cell(tr, "", "id");
      const a = document.createElement("a");
      a.href = "#/calls/" + encodeURIComponent(c.id);
      a.textContent = c.id.slice(0, 8);
      a.title = c.id;
      a.setAttribute("aria-label", "Call " + c.id);
      idCell.append(a);
      cell(tr, c.translated_initiator);
      cell(tr, c.translated_destination);
      cell(tr, c.mode);
      cell(tr, c.state.replace(/_/g, " ")).dataset.state = c.state;
      cell(tr, c.final ? resultText(c.final) : "");
      const td = cell(tr, "");
      if (c.active) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = c.state === "connected" ? "Hang up" : "Cancel";
        button.setAttribute("aria-label", button.textContent + " call " + c.id);
        button.addEventListener("click", () => cancel(c.id));
        td.append(button);
      }
      return tr;
    });
    callsBody.replaceChildren(...rows);
    $("calls-empty").hidden = rows.length > 0;
  }

  // callRequest is the form as the JSON API's body: the per-call options
  // only when filled in, so the server's settings apply otherwise.
  function callRequest() {
    const f = form.elements;
    const body = {
      initiator: f.initiator.value,
      destination: f.destination.value,
      anchor: f.anchor.checked,
    };
    for (const name of ["initiator_caller_id", "destination_caller_id"]) {
      if (f[name].value.trim()) body[name] = f[name].value.trim();
    }
    for (const name of ["initiator_ring_timeout", "destination_ring_timeout", "time_limit"]) {
      if (f[name].value.trim()) body[name] = f[name].value.trim();
    }
    for (const name of ["initiator_headers", "destination_headers"]) {
      const line = f[name].value.trim();
      if (!line) continue;
      const colon = line.indexOf(":");
      if (colon < 0) throw new Error(`${name}: "${line}" is not "Name: value"`);
      body[name] = { [line.slice(0, colon).trim()]: line.slice(colon + 1).trim() };
    }
    if (f.metadata.value.trim()) {
      try {
        body.metadata = JSON.parse(f.metadata.value);
      } catch (e) {
        throw new Error("metadata: not JSON (" + e.message + ")");
      }
    }
    return body;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say("");
    try {
      const call = await api("POST", "/api/v1/calls", callRequest());
      location.hash = "#/calls/" + encodeURIComponent(call.id);
    } catch (e) {
      say(e.message);
    }
    refresh();
  });
  filter.addEventListener("change", refresh);
  $("refresh").addEventListener("click", refresh);

  // ---- A call's page ----

  let currentId = null;
  let events = null;
  let results = [];
  let tracePoll = null;

  function showResults() {
    const list = $("results");
    const t0 = results.length ? Date.parse(results[0].at) : 0;
    list.replaceChildren(...results.map((r) => {
      const li = document.createElement("li");
      li.dataset.code = String(r.code);
      li.dataset.leg = r.leg || "";
      const time = document.createElement("time");
      time.dateTime = r.at;
      time.textContent = Charts.seconds(Date.parse(r.at) - t0);
      const span = document.createElement("span");
      span.className = "result-text";
      span.textContent = resultText(r);
      li.append(time, " ", span);
      return li;
    }));
    Charts.timeline($("timeline"), results);
  }

  async function loadCall() {
    const id = currentId;
    try {
      const call = await api("GET", "/api/v1/calls/" + encodeURIComponent(id));
      if (id !== currentId) {
        return;
      }
      $("call-summary").textContent = `${call.mode} call from ${call.translated_initiator} to ${call.translated_destination}, ` +
        `placed ${new Date(call.created_at).toLocaleString()} over ${call.origin}: ${call.state.replace(/_/g, " ")}`;
      $("call-view").dataset.state = call.state;
      const cancelButton = $("cancel-current");
      cancelButton.hidden = !call.active;
      cancelButton.textContent = call.state === "connected" ? "Hang up this call" : "Cancel this call";
      if (!events) {
        results = call.results;
        showResults();
      }
    } catch (e) {
      $("call-summary").textContent = e.message;
    }
  }

  async function loadTrace() {
    const id = currentId;
    let trace;
    try {
      trace = await api("GET", "/api/v1/calls/" + encodeURIComponent(id) + "/trace");
    } catch (e) {
      $("trace-note").textContent = "SIP messages: " + e.message;
      return;
    }
    if (id !== currentId) {
      return;
    }
    const note = [];
    if (!trace.traced) {
      note.push("The server no longer keeps this call's SIP messages (api.trace_calls keeps the last calls), or tracing is off.");
    }
    if (trace.dropped) {
      note.push(`${trace.dropped} more messages were not kept.`);
    }
    if (trace.traced && !trace.messages.some((m) => m.leg === "Destination")) {
      note.push("No message to the destination: in a REFER call the initiator's phone calls it, not the server.");
    }
    $("trace-note").textContent = note.join(" ");
    Charts.ladder($("ladder"), trace);
    const t0 = trace.messages.length ? Date.parse(trace.messages[0].at) : 0;
    $("trace-table").querySelector("tbody").replaceChildren(...trace.messages.map((m) => {
      const tr = document.createElement("tr");
      cell(tr, Charts.seconds(Date.parse(m.at) - t0));
      cell(tr, m.leg);
      cell(tr, m.direction === "in" ? "from the phone" : "to the phone");
      cell(tr, Charts.messageLabel(m));
      cell(tr, m.cseq + " " + m.cseq_method);
      return tr;
    }));
  }

  function openCall(id) {
    closeCall();
    currentId = id;
    $("call-id").textContent = id;
    results = [];
    showResults();
    $("ladder").replaceChildren();
    $("trace-note").textContent = "";
    const es = new EventSource("/api/v1/calls/" + encodeURIComponent(id) + "/events");
    events = es;
    es.addEventListener("result", (ev) => {
      const r = JSON.parse(ev.data);
      results.push(r);
      showResults();
      loadCall();
      loadTrace();
      if (r.final) {
        es.close();
      }
    });
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED && es === events) {
        events = null; // gone from the journal, or over: show what GET says
        loadCall();
      }
    });
    loadCall();
    loadTrace();
    // The ladder goes on after the final (ACK, NOTIFY, BYE): follow it a while.
    tracePoll = setInterval(loadTrace, 1000);
  }

  function closeCall() {
    if (events) {
      events.close();
      events = null;
    }
    clearInterval(tracePoll);
    currentId = null;
  }

  $("cancel-current").addEventListener("click", () => {
    if (currentId) {
      cancel(currentId);
    }
  });

  // ---- Views ----

  function route() {
    const m = /^#\/calls\/(.+)$/.exec(location.hash);
    $("console-view").hidden = !!m;
    $("call-view").hidden = !m;
    if (m) {
      openCall(decodeURIComponent(m[1]));
      $("call-view").querySelector("h2").focus();
    } else {
      closeCall();
      refresh();
      scheduleDraw();
    }
  }
  window.addEventListener("hashchange", route);

  followStats();
  route();
  setInterval(() => {
    if (!$("console-view").hidden) {
      refresh();
    }
  }, 2000);
})();

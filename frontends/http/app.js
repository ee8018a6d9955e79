// The click-to-call page: places calls with the JSON API, follows the
// current call's results as server-sent events, lists active calls and
// cancels them. Every value from the server is set as text, never as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("call-form");
  const message = $("message");
  const progress = $("progress");
  const results = $("results");
  const activeBody = $("active-calls").querySelector("tbody");
  let current = null; // { id, events }

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

  function follow(call) {
    if (current) {
      current.events.close();
    }
    progress.hidden = false;
    $("call-id").textContent = call.id;
    $("call-summary").textContent =
      "From " + call.translated_initiator + " to " + call.translated_destination;
    results.replaceChildren();
    progress.dataset.state = "in-progress";
    const events = new EventSource("/api/v1/calls/" + encodeURIComponent(call.id) + "/events");
    current = { id: call.id, events };
    events.addEventListener("result", (ev) => {
      const r = JSON.parse(ev.data);
      const li = document.createElement("li");
      li.textContent = resultText(r);
      li.dataset.code = String(r.code);
      li.dataset.leg = r.leg || "";
      results.append(li);
      if (r.final) {
        events.close();
        progress.dataset.state = "final";
        refresh();
      }
    });
    events.addEventListener("error", () => {
      if (events.readyState === EventSource.CLOSED) {
        say("The progress stream of call " + call.id + " was closed.");
      }
    });
  }

  async function cancel(id) {
    try {
      const call = await api("DELETE", "/api/v1/calls/" + encodeURIComponent(id));
      say("Call " + id + ": " + call.state);
    } catch (e) {
      say("Cancel " + id + ": " + e.message);
    }
    refresh();
  }

  async function refresh() {
    let list;
    try {
      list = await api("GET", "/api/v1/calls?active=true");
    } catch (e) {
      say("Active calls: " + e.message);
      return;
    }
    const rows = list.calls.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.id = c.id;
      const since = new Date(c.created_at).toLocaleTimeString();
      for (const text of [c.id, c.translated_initiator, c.translated_destination, c.mode, c.state, since]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = c.state === "connected" ? "Hang up" : "Cancel";
      button.addEventListener("click", () => cancel(c.id));
      td.append(button);
      tr.append(td);
      return tr;
    });
    activeBody.replaceChildren(...rows);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say("");
    try {
      const call = await api("POST", "/api/v1/calls", {
        initiator: form.elements.initiator.value,
        destination: form.elements.destination.value,
        anchor: form.elements.anchor.checked,
      });
      follow(call);
    } catch (e) {
      say(e.message);
    }
    refresh();
  });
  $("cancel-current").addEventListener("click", () => {
    if (current) {
      cancel(current.id);
    }
  });
  $("refresh").addEventListener("click", refresh);
  refresh();
  setInterval(refresh, 5000);
})();

// rvs status page: polls the JSON API every second and renders services, real servers,
// health, rates with sparklines, and the VRRP role. No external resources.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

async function getJSON(path) {
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(path + ": " + msg);
  }
  return r.json();
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function human(n, unit) {
  const u = ["", "K", "M", "G", "T"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : String(n)) + u[i] + (unit || "");
}

function spark(values) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("preserveAspectRatio", "none");
  const v = (values || []).slice(-120);
  svg.setAttribute("data-points", v.join(","));
  if (v.length < 2) return svg;
  const max = Math.max(1, ...v);
  const pts = v.map((y, i) => [(i * 120) / (v.length - 1), 23 - (y * 21) / max]);
  const line = pts.map(p => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
  const area = document.createElementNS(NS, "polygon");
  area.setAttribute("points", "0,24 " + line + " 120,24");
  const pl = document.createElementNS(NS, "polyline");
  pl.setAttribute("points", line);
  svg.append(area, pl);
  return svg;
}

function rateCells(rates, series, key) {
  return [
    el("td", { class: "rate cps", "data-value": rates.cps }, human(rates.cps)),
    el("td", { class: "rate inpps", "data-value": rates.inpps }, human(rates.inpps)),
    el("td", { class: "rate inbps", "data-value": rates.inbps }, human(rates.inbps, "B")),
    el("td", { class: "rate outpps", "data-value": rates.outpps }, human(rates.outpps)),
    el("td", { class: "spark-cell", "data-series": key }, spark(series && series.inpps)),
  ];
}

function healthClass(d) {
  if (d.health === "down") return "down";
  if (d.weight === 0) return "drained";
  return d.health;
}

function render(services, history, vrrp, status) {
  const main = document.getElementById("services");
  main.replaceChildren();
  if (!services.length) main.append(el("p", { class: "empty" }, "No virtual services."));
  for (const s of services) {
    const name = s.protocol === "fwmark" ? "FWM " + s.fwmark + (s.family === "ipv6" ? " (IPv6)" : "")
      : s.protocol.toUpperCase() + " " + (s.family === "ipv6" ? "[" + s.address + "]" : s.address) + ":" + s.port;
    const meta = [s.scheduler, s.persistent != null ? "persistent " + s.persistent + "s" : null,
      s.dests.length + " real server" + (s.dests.length === 1 ? "" : "s")].filter(Boolean).join(" · ");
    const table = el("table", {},
      el("tr", {}, ...["Real server", "Forward", "Weight", "Active", "Inactive", "Conn/s",
        "Pkt/s in", "Bytes/s in", "Pkt/s out", "In pkt/s (2 min)"].map(h => el("th", {}, h))));
    for (const d of s.dests) {
      const hc = healthClass(d);
      table.append(el("tr", { class: "dest", "data-dest": d.id },
        el("td", { class: "addr" }, el("span", { class: "dot " + hc, title: hc }),
          d.family === "ipv6" || String(d.address).includes(":") ? "[" + d.address + "]:" + d.port : d.address + ":" + d.port),
        el("td", {}, d.forward),
        el("td", { class: "weight" }, d.weight),
        el("td", { class: "active" }, d.active_conns),
        el("td", { class: "inactive" }, d.inactive_conns),
        ...rateCells(d.rates, history.dests[s.id + "/" + d.id], s.id + "/" + d.id)));
    }
    const act = s.dests.reduce((a, d) => a + d.active_conns, 0);
    const inact = s.dests.reduce((a, d) => a + d.inactive_conns, 0);
    table.append(el("tr", { class: "total" },
      el("td", {}, "Service total"), el("td", {}, ""), el("td", {}, ""),
      el("td", {}, act), el("td", {}, inact),
      ...rateCells(s.rates, history.services[s.id], s.id)));
    main.append(el("section", { class: "svc", "data-service": s.id },
      el("h2", {}, el("span", { class: "id" }, name), el("span", { class: "meta" }, meta)), table));
  }
  const v = document.getElementById("vrrp");
  v.replaceChildren("VRRP: ");
  if (!vrrp.instances.length) v.append(el("span", { class: "none" }, "none (standalone)"));
  for (const i of vrrp.instances) v.append(el("span", { class: i.state }, i.name + " " + i.state), " ");
  document.getElementById("summary").textContent =
    status.services + " services · " + status.dests + " real servers · " + status.connections + " connections";
  const dropped = Object.values(status.engine.dropped || {}).reduce((a, b) => a + b, 0);
  document.getElementById("dataplane").textContent = "engine: rx " + status.engine.rx + " · tx " + status.engine.tx +
    " · passed " + status.engine.passed + " · dropped " + dropped +
    (status.dataplane ? "" : " · no data plane (control plane only)") + " · rvs " + status.version;
}

async function tick() {
  try {
    const [sv, hist, vrrp, status] = await Promise.all([
      getJSON("/api/v1/services"), getJSON("/api/v1/history"),
      getJSON("/api/v1/vrrp"), getJSON("/api/v1/status")]);
    render(sv.services, hist, vrrp, status);
    document.getElementById("error").hidden = true;
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.ready = "1";
  } catch (e) {
    const box = document.getElementById("error");
    box.textContent = String(e.message || e);
    box.hidden = false;
  }
}

tick();
setInterval(tick, 1000);

// lockstep dashboard: renders the server-sent snapshots of the cluster.
// Each event carries the whole cluster; the page keeps only what it derives
// from successive snapshots (the timeline and the per-second charts).
"use strict";

const membersElement = document.getElementById("members");
const connection = document.getElementById("connection");
const timeline = document.getElementById("timeline");
let controls = false;
let names = {};          // member ID (hex) -> name
let lastLeaderTerm = ""; // "leader@term" last put on the timeline
let lastUp = {};         // name -> up, for the timeline
const campaigns = new Set(); // "name@term" already on the timeline
let previous = null;     // snapshot of the last chart point
const history = { proposals: [], commits: [], latency: [], fsync: [] };
const chartPoints = 60;  // one a second: the last minute
// The per-second charts: a value, the scale's top and zero, the last
// minute along the x axis. The SVG stretches (preserveAspectRatio none),
// so its lines keep their width with non-scaling-stroke and every label is
// HTML beside it rather than stretched SVG text.
const charts = [
  ["proposals", "Proposals/s", "proposals per second, last minute"],
  ["commits", "Commits/s (entries)", "commits per second, last minute"],
  ["latency", "Write latency, ms (durable on a quorum)", "average write latency, last minute"],
  ["fsync", "Log write + fsync, ms", "average write and fsync of the Raft log, last minute"],
];
const svgNS = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function buildCharts() {
  document.getElementById("charts").replaceChildren(...charts.map(([name, caption, label]) => {
    const plot = svg("svg", { id: "chart-" + name, viewBox: "0 0 " + chartPoints + " 20", preserveAspectRatio: "none", role: "img", "aria-label": label });
    plot.append(svg("line", { class: "grid", x1: 0, y1: 10, x2: chartPoints, y2: 10 }),
      svg("line", { class: "axis", x1: 0, y1: 20, x2: chartPoints, y2: 20 }),
      svg("line", { class: "axis", x1: 0, y1: 0, x2: 0, y2: 20 }),
      svg("polyline", { points: "" }));
    return element("figure", { class: "chart", "data-chart": name },
      element("figcaption", {}, caption + " ", element("strong", { id: "chart-" + name + "-value" }, "–")),
      element("div", { class: "plot" },
        element("div", { class: "y-labels", "aria-hidden": "true" },
          element("span", { id: "chart-" + name + "-top" }, "1"), element("span", {}, "0")),
        element("div", { class: "area" }, plot,
          element("p", { class: "waiting", id: "chart-" + name + "-waiting" }, "measuring: the first point comes after a second")),
        element("div", { class: "x-labels", "aria-hidden": "true" },
          element("span", {}, "−" + chartPoints + " s"), element("span", {}, "now"))));
  }));
}

// niceTop rounds a chart's maximum up to 1, 2 or 5 times a power of ten,
// so that the scale's top reads as a round number.
function niceTop(value) {
  if (!(value > 1)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const multiple of [1, 2, 5, 10]) if (multiple * power >= value) return multiple * power;
  return 10 * power;
}

function formatValue(value) { return value < 10 ? value.toFixed(1) : String(Math.round(value)); }

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function nameOf(id) { return id ? (names[id] || id) : "none"; }

function renderMember(member) {
  const role = member.up ? member.role : "down";
  const card = element("article", {
    class: "member", "data-member": member.name, "data-up": String(member.up),
    "data-role": role, "data-term": String(member.term), "aria-label": "member " + member.name,
  });
  const title = element("h3", {}, member.name, element("span", { class: "role " + role }, role));
  if (member.partitioned) title.append(element("span", { class: "badge" }, "partitioned"));
  card.append(title);
  if (member.up) {
    const fields = [
      ["term", member.term], ["voted for", nameOf(member.vote)], ["leader", nameOf(member.leader)],
      ["log", (member.firstIndex ? member.firstIndex + "…" : "…") + member.lastIndex + " (last term " + member.lastTerm + ")"],
      ["commit", member.commit], ["applied", member.applied],
    ];
    const list = element("dl");
    for (const [label, value] of fields) list.append(element("dt", {}, label), element("dd", { "data-field": label }, String(value)));
    card.append(list);
    if (member.followers && member.followers.length) {
      const table = element("table", {},
        element("caption", {}, "followers"),
        element("tr", {}, element("th", { scope: "col" }, "member"), element("th", { scope: "col" }, "match"),
          element("th", { scope: "col" }, "next"), element("th", { scope: "col" }, "inflight")));
      for (const f of member.followers) {
        table.append(element("tr", {}, element("td", {}, nameOf(f.id) + (f.replicating ? "" : " (probing)")),
          element("td", {}, String(f.match)), element("td", {}, String(f.next)), element("td", {}, String(f.inflight))));
      }
      card.append(table);
    }
  } else {
    card.append(element("p", { class: "status" }, member.error || "down"));
  }
  if (controls) {
    const actions = element("div", { class: "actions" });
    const button = (action, label, enabled) => {
      const b = element("button", { type: "button", "data-action": action, "data-member": member.name }, label);
      b.disabled = !enabled;
      actions.append(b);
    };
    button("stop", "Stop", member.up);
    button("restart", member.up ? "Restart" : "Start", true);
    button("partition", "Partition", member.up && !member.partitioned);
    button("transfer", "Make leader", member.up && role !== "leader");
    card.append(actions);
  }
  return card;
}

function note(text) {
  const now = new Date().toLocaleTimeString();
  timeline.prepend(element("li", {}, element("time", {}, now), text));
}

function updateTimeline(members) {
  for (const m of members) {
    if (m.name in lastUp && lastUp[m.name] !== m.up) note(m.name + (m.up ? " started" : " stopped"));
    lastUp[m.name] = m.up;
  }
  const leaders = members.filter(m => m.up && m.role === "leader");
  for (const leader of leaders) {
    const key = leader.name + "@" + leader.term;
    if (key !== lastLeaderTerm) {
      note("term " + leader.term + ": " + leader.name + " elected leader");
      lastLeaderTerm = key;
    }
  }
  for (const m of members) {
    const key = m.name + "@" + m.term;
    if (m.up && m.role === "candidate" && !campaigns.has(key)) {
      campaigns.add(key);
      note("term " + m.term + ": " + m.name + " campaigns");
    }
  }
}

function sum(members, field) { return members.reduce((total, m) => total + (m.up ? m[field] : 0), 0); }

function updateCharts(snapshot) {
  if (previous && snapshot.time - previous.time < 1000) return;
  if (previous) {
    const seconds = (snapshot.time - previous.time) / 1000;
    const commit = s => Math.max(0, ...s.members.map(m => m.commit));
    const requests = sum(snapshot.members, "writeRequests") - sum(previous.members, "writeRequests");
    const latency = sum(snapshot.members, "writeLatencySeconds") - sum(previous.members, "writeLatencySeconds");
    push("proposals", Math.max(0, sum(snapshot.members, "proposals") - sum(previous.members, "proposals")) / seconds);
    push("commits", Math.max(0, commit(snapshot) - commit(previous)) / seconds);
    push("latency", requests > 0 ? Math.max(0, latency / requests * 1000) : 0);
    const writes = sum(snapshot.members, "logWrites") - sum(previous.members, "logWrites");
    const writeTime = sum(snapshot.members, "logWriteSeconds") - sum(previous.members, "logWriteSeconds");
    push("fsync", writes > 0 ? Math.max(0, writeTime / writes * 1000) : 0);
  }
  previous = snapshot;
}

function push(name, value) {
  const points = history[name];
  points.push(value);
  if (points.length > chartPoints) points.shift();
  const top = niceTop(Math.max(...points));
  const y = v => (20 - v / top * 20).toFixed(2);
  // One point is drawn as a short level segment: a polyline of one point
  // draws nothing.
  const xs = points.length === 1 ? [chartPoints - 1, chartPoints] : points.map((_, i) => chartPoints - points.length + i + 1);
  const ys = points.length === 1 ? [points[0], points[0]] : points;
  document.querySelector("#chart-" + name + " polyline").setAttribute("points", xs.map((x, i) => x + "," + y(ys[i])).join(" "));
  document.getElementById("chart-" + name + "-top").textContent = formatValue(top);
  document.getElementById("chart-" + name + "-value").textContent = formatValue(value);
  document.getElementById("chart-" + name + "-waiting").hidden = true;
}

function render(snapshot) {
  controls = snapshot.controls;
  // Healing is offered only when there is something to heal.
  document.getElementById("cluster-actions").hidden = !controls || !snapshot.members.some(m => m.partitioned);
  // A member names the others it knows (its own page shows it alone);
  // a member's own name, as it reports it, wins.
  for (const m of snapshot.members) for (const [id, name] of Object.entries(m.names || {})) names[id] = name;
  for (const m of snapshot.members) if (m.id) names[m.id] = m.name;
  // Keep keyboard focus on the same button across re-renders.
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : null;
  const focusKey = focused && focused.action ? focused.action + "/" + focused.member : null;
  membersElement.replaceChildren(...snapshot.members.map(renderMember));
  if (focusKey) {
    const [action, member] = focusKey.split("/");
    const again = membersElement.querySelector(`button[data-action="${action}"][data-member="${member}"]`);
    if (again && !again.disabled) again.focus();
  }
  updateTimeline(snapshot.members);
  updateCharts(snapshot);
}

// actionNotes are the timeline's words for a button press.
const actionNotes = {
  stop: m => "stop " + m + " (button)", restart: m => "start " + m + " (button)",
  partition: m => "partition " + m + " (button)", heal: () => "heal all partitions (button)",
  transfer: m => "move leadership to " + m + " (button)",
};

async function act(action, member) {
  // The press goes on the timeline now, before what it causes: stopping a
  // leader hands leadership over (an election the page sees) before the
  // request returns.
  note(actionNotes[action](member));
  connection.textContent = action + " " + member + "…";
  const response = await fetch("control/" + action + "/" + encodeURIComponent(member), { method: "POST" });
  if (response.ok) {
    connection.textContent = action + " " + member + ": done";
  } else {
    const reason = await response.text();
    connection.textContent = action + " " + member + ": " + reason;
    note(action + " " + member + " failed: " + reason);
  }
}

document.addEventListener("click", event => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button.dataset.action, button.dataset.member);
});

buildCharts();
const events = new EventSource("events");
events.onopen = () => { connection.textContent = "live"; };
events.onerror = () => { connection.textContent = "disconnected, retrying…"; };
events.onmessage = message => render(JSON.parse(message.data));

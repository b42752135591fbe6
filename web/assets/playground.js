// lockstep playground: drives the WebAssembly model (lockstepPlayground,
// see web/wasm) and draws its state. The model replays from the seed to go
// back, so the page keeps no history of its own beyond the step number.
"use strict";

const $ = id => document.getElementById(id);
const svgNS = "http://www.w3.org/2000/svg";
const termColors = ["#2f6db5", "#b5532f", "#3f7a1c", "#7a3fb0", "#b0306f", "#1f7a75", "#8a6d00", "#4a4a4a"];
let scenarios = [];
let state = null;
let playing = null; // interval id while playing

function termColor(term) { return termColors[(term - 1 + termColors.length) % termColors.length]; }

function svg(tag, attributes, text) {
  const node = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function html(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function position(index, count) {
  const angle = -Math.PI / 2 + index * 2 * Math.PI / count;
  return [Math.cos(angle) * 125, Math.sin(angle) * 115];
}

function drawNetwork() {
  const network = $("network");
  network.replaceChildren();
  const count = state.nodes.length;
  const at = id => position(id - 1, count);
  const cut = new Set((state.cut || []).map(l => l.from + "-" + l.to));
  for (let a = 1; a <= count; a++) {
    for (let b = a + 1; b <= count; b++) {
      const [x1, y1] = at(a), [x2, y2] = at(b);
      const isCut = cut.has(a + "-" + b) || cut.has(b + "-" + a);
      network.append(svg("line", { x1, y1, x2, y2, class: "link" + (isCut ? " cut" : "") }));
    }
  }
  const placed = []; // boxes of the message labels drawn so far
  for (const m of state.messages || []) {
    const [x1, y1] = at(m.from), [x2, y2] = at(m.to);
    const f = Math.min(1, Math.max(0, (state.time - m.sent) / Math.max(1, m.arrive - m.sent)));
    const x = x1 + (x2 - x1) * f, y = y1 + (y2 - y1) * f;
    const fill = m.type.startsWith("Append") ? "#2f6db5" : m.type.includes("Vote") ? "#b5532f" : "#55554f";
    const dot = svg("circle", { cx: x, cy: y, r: m.type === "Append" && m.label.includes("..") ? 7 : 5, fill, class: "message" });
    dot.append(svg("title", {}, m.label));
    network.append(dot);
    placeLabel(network, placed, x, y, m.label);
  }
  for (const n of state.nodes) {
    const [x, y] = at(n.id);
    const group = svg("g", { "data-node": n.name });
    group.append(svg("circle", { cx: x, cy: y, r: 30, class: "node " + n.role }));
    group.append(svg("text", { x, y: y - 4, class: "name" }, n.name));
    group.append(svg("text", { x, y: y + 11 }, n.down ? "down" : n.role));
    group.append(svg("text", { x, y: y + 44 }, "term " + n.term + (n.frozen ? " ⏸ clock" : "") + (n.member !== "voter" ? " · " + n.member : "")));
    network.append(group);
  }
}

// placeLabel draws a message's label above or below its dot, at the first
// distance where it overlaps no label drawn before it; when none is free
// (a leader sending to every follower at once puts several messages on one
// spot) it is left out, and the dot's tooltip still tells it.
function placeLabel(network, placed, x, y, text) {
  const label = svg("text", { x, y, class: "message-label" }, text);
  network.append(label);
  for (const offset of [-8, 16, -19, 27, -30, 38]) {
    label.setAttribute("y", y + offset);
    const box = label.getBBox();
    if (!placed.some(other => box.x < other.x + other.width && other.x < box.x + box.width &&
      box.y < other.y + other.height && other.y < box.y + box.height)) {
      placed.push(box);
      return;
    }
  }
  label.remove();
}

function drawLogs() {
  const rows = state.nodes.map(n => {
    const labels = (n.log || []).map(e => e.label);
    const row = html("div", {
      class: "log" + (n.down ? " down" : ""), "data-node": n.name, "data-commit": String(n.commit),
      "data-log": labels.join(","), "data-terms": (n.log || []).map(e => e.term).join(","),
      "aria-label": n.name + " log: " + (labels.length ? labels.join(", ") : "empty") + "; commit index " + n.commit,
    });
    row.append(html("span", { class: "who" }, n.name + " · commit " + n.commit));
    for (const entry of n.log || []) {
      const box = html("span", { class: "entry" + (entry.index <= n.commit ? " committed" : ""), title: "index " + entry.index + ", term " + entry.term },
        entry.label, html("small", {}, entry.index + " · t" + entry.term));
      box.style.background = termColor(entry.term);
      row.append(box);
    }
    return row;
  });
  $("logs").replaceChildren(...rows);
}

function drawCaptions() {
  const items = (state.captions || []).map((c, i, all) =>
    html("li", { class: i === all.length - 1 ? "latest" : "" }, html("span", { class: "status" }, "step " + c.step + ": "), c.text));
  $("captions").replaceChildren(...items);
  const list = $("captions");
  list.scrollTop = list.scrollHeight;
}

function drawFreeMode(free) {
  $("free").hidden = !free;
  if (!free) return;
  const buttons = [];
  for (const n of state.nodes) {
    buttons.push(html("button", { type: "button", "data-act": n.down ? "restart" : "crash", "data-node": String(n.id) }, (n.down ? "Restart " : "Crash ") + n.name));
    buttons.push(html("button", { type: "button", "data-act": "isolate", "data-node": String(n.id) }, "Cut off " + n.name));
  }
  $("free-nodes").replaceChildren(...buttons);
}

function current() { return scenarios.find(s => s.name === $("scenario").value) || scenarios[0]; }

function render() {
  drawNetwork();
  drawLogs();
  drawCaptions();
  drawFreeMode(current().free);
  const position = $("position");
  position.textContent = "step " + state.step + " · time " + state.time + (state.finished ? " · finished" : "");
  position.dataset.finished = String(state.finished);
  position.dataset.step = String(state.step);
  const query = new URLSearchParams({ scenario: state.scenario, seed: String(state.seed), step: String(state.step) });
  const actions = lockstepPlayground.actions();
  if (actions) query.set("actions", actions);
  const link = "?" + query.toString();
  $("share").href = link;
  history.replaceState(null, "", link);
}

function stepTo(step) {
  state = JSON.parse(lockstepPlayground.stepTo(Math.max(0, step)));
  render();
  if (state.finished) pause();
}

function load(step, actions) {
  pause();
  const scenario = current();
  $("explain").textContent = scenario.explain;
  const seed = Math.max(1, parseInt($("seed").value, 10) || 1);
  const error = lockstepPlayground.load(scenario.name, seed, actions || "");
  if (error) { $("position").textContent = error; return; }
  stepTo(step || 0);
}

function play() {
  if (playing) return pause();
  if (state && state.finished) return;
  $("play").textContent = "⏸ Pause";
  $("play").setAttribute("aria-pressed", "true");
  playing = setInterval(() => stepTo(state.step + 1), 1000 / parseInt($("speed").value, 10));
}

function pause() {
  if (playing) clearInterval(playing);
  playing = null;
  $("play").textContent = "▶ Play";
  $("play").setAttribute("aria-pressed", "false");
}

function runToEnd() {
  pause();
  // Replaying is cheap: jump in chunks until the run finishes.
  let step = state.step;
  do { step += 500; state = JSON.parse(lockstepPlayground.stepTo(step)); } while (!state.finished && state.step === step);
  render();
}

function wire() {
  $("load").onclick = () => load(0);
  $("scenario").onchange = () => { $("notice").hidden = true; load(0); };
  $("first").onclick = () => { pause(); stepTo(0); };
  $("back").onclick = () => { pause(); stepTo(state.step - 1); };
  $("forward").onclick = () => { pause(); stepTo(state.step + 1); };
  $("play").onclick = play;
  $("end").onclick = runToEnd;
  $("speed").onchange = () => { if (playing) { pause(); play(); } };
  $("free").onclick = event => {
    const button = event.target.closest("button[data-act]");
    if (!button) return;
    const error = lockstepPlayground.act(button.dataset.act, parseInt(button.dataset.node, 10));
    if (error) $("position").textContent = error; else stepTo(state.step);
  };
  document.addEventListener("keydown", event => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = { " ": play, ArrowRight: () => $("forward").click(), ArrowLeft: () => $("back").click(), Home: () => $("first").click(), End: runToEnd };
    if (event.key in keys && !(event.key === " " && event.target.closest("button"))) { event.preventDefault(); keys[event.key](); }
  });
}

function start() {
  scenarios = JSON.parse(lockstepPlayground.scenarios());
  $("scenario").replaceChildren(...scenarios.map(s => html("option", { value: s.name }, s.title)));
  const query = new URLSearchParams(location.search);
  const asked = query.get("scenario");
  if (scenarios.some(s => s.name === asked)) {
    $("scenario").value = asked;
  } else if (asked !== null) {
    // A mistyped or outdated link: say so rather than quietly show another.
    $("notice").textContent = "There is no scenario \u201c" + asked + "\u201d; showing \u201c" + scenarios[0].title +
      "\u201d instead. The scenarios are: " + scenarios.map(s => s.name).join(", ") + ".";
    $("notice").hidden = false;
  }
  if (query.get("seed")) $("seed").value = query.get("seed");
  wire();
  load(parseInt(query.get("step") || "0", 10), query.get("actions") || "");
}

const go = new Go();
WebAssembly.instantiateStreaming(fetch("assets/playground.wasm"), go.importObject)
  .then(result => { window.addEventListener("lockstep-playground-ready", start, { once: true }); go.run(result.instance); })
  .catch(error => { $("position").textContent = "could not start the playground: " + error; });

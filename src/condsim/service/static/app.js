// condsim web page: a gallery of the collection, similar images under conditions, text search.
// The address bar holds the whole query (/?image=REL_PATH&by=color&not=shape&weight=color=2&method=clay),
// so a view can be bookmarked or shared; loading such an address shows that query.
"use strict";

const PAGE_SIZE = 60;
const DEFAULT_K = 24;
// the methods themselves come from the server (GET /api/conditions), which lists the library's own;
// these are only friendlier names for some of them
const METHOD_LABELS = { clay: "CLAY", crl: "CRL", rerank: "CLAY + re-rank" };

const state = {
  image: null, // REL_PATH of the query image
  text: null, // text query
  by: [],
  not: [],
  weights: {}, // condition -> relative weight (1 when absent)
  values: {}, // custom condition -> "v1,v2,..."
  method: "clay",
  k: DEFAULT_K,
  offset: 0,
};
let upload = null; // a File the user picked: a query the address bar cannot hold

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

// ------------------------------------------------------------------------------------ address bar
function readAddress() {
  const params = new URLSearchParams(location.search);
  state.image = params.get("image");
  state.text = params.get("text");
  state.by = params.getAll("by");
  state.not = params.getAll("not");
  state.weights = {};
  for (const entry of params.getAll("weight")) {
    const at = entry.lastIndexOf("=");
    if (at > 0) state.weights[entry.slice(0, at)] = Number(entry.slice(at + 1));
  }
  state.values = {};
  for (const entry of params.getAll("values")) {
    const at = entry.indexOf(":");
    if (at > 0) state.values[entry.slice(0, at)] = entry.slice(at + 1);
  }
  state.method = params.get("method") || "clay"; // the API refuses an unknown one, naming the parameter
  const k = Number(params.get("k"));
  state.k = Number.isInteger(k) && k >= 1 && k <= 1000 ? k : DEFAULT_K;
  const offset = Number(params.get("offset"));
  state.offset = Number.isInteger(offset) && offset > 0 ? offset : 0;
}

function queryParams({ forApi }) {
  const params = new URLSearchParams();
  const conditional = !(forApi && state.method === "plain");
  if (state.image) params.set("image", state.image);
  if (state.text) params.set("text", state.text);
  if (conditional) {
    for (const name of state.by) params.append("by", name);
    for (const name of state.not) params.append("not", name);
    for (const name of state.by) {
      const weight = state.weights[name];
      if (weight !== undefined && weight !== 1) params.append("weight", `${name}=${weight}`);
    }
    for (const [name, values] of Object.entries(state.values)) {
      if (state.by.includes(name) || state.not.includes(name)) params.append("values", `${name}:${values}`);
    }
  }
  if (state.method !== "clay" || forApi) params.set("method", state.method);
  if (state.k !== DEFAULT_K || forApi) params.set("k", String(state.k));
  if (!forApi && state.offset && !state.image && !state.text) params.set("offset", String(state.offset));
  return params;
}

function go() {
  const search = queryParams({ forApi: false }).toString();
  const address = "/" + (search ? `?${search}` : "");
  if (address !== location.pathname + location.search) history.pushState(null, "", address);
  show();
}

// ------------------------------------------------------------------------------------ API
async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    const hint = body && body.hint ? body.hint : "";
    throw new Error(hint ? `${detail} (${hint})` : detail);
  }
  return body;
}

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

// ------------------------------------------------------------------------------------ conditions
function renderChips() {
  const chips = $("chips");
  chips.replaceChildren();
  for (const name of state.by) {
    const weight = el("input", {
      type: "number", min: "0", step: "0.5", value: String(state.weights[name] ?? 1),
      className: "weight", "aria-label": `weight of ${name}`,
    });
    weight.addEventListener("change", () => {
      const value = Number(weight.value);
      if (Number.isFinite(value) && value >= 0) {
        state.weights[name] = value;
        go();
      }
    });
    const remove = el("button", { type: "button", text: "×", className: "remove", "aria-label": `remove condition ${name}` });
    remove.addEventListener("click", () => removeCondition(name));
    const label = state.values[name] ? `${name} (yours)` : name;
    chips.append(el("li", { className: "chip by", "data-condition": name }, [el("span", { text: label }), weight, remove]));
  }
  for (const name of state.not) {
    const remove = el("button", { type: "button", text: "×", className: "remove", "aria-label": `remove ignored condition ${name}` });
    remove.addEventListener("click", () => removeCondition(name));
    chips.append(el("li", { className: "chip not", "data-condition": name }, [el("span", { text: `not ${name}` }), remove]));
  }
  if (!state.by.length && !state.not.length) {
    chips.append(el("li", { className: "chip-hint", text: "no condition: plain similarity. Add one to compare by it." }));
  }
  $("method").value = state.method;
}

function removeCondition(name) {
  state.by = state.by.filter((item) => item !== name);
  state.not = state.not.filter((item) => item !== name);
  delete state.weights[name];
  go();
}

function addCondition(name, negative) {
  name = name.trim();
  if (!name) return;
  state.by = state.by.filter((item) => item !== name);
  state.not = state.not.filter((item) => item !== name);
  (negative ? state.not : state.by).push(name);
  if (state.method === "plain") state.method = "clay";
  go();
}

async function loadConditions() {
  const select = $("condition-select");
  try {
    const data = await api("/api/conditions");
    for (const condition of data.conditions) {
      select.append(el("option", { value: condition.name, text: `${condition.name} (${condition.values})`, title: condition.description }));
    }
    $("method").replaceChildren(...data.methods.map((name) => el("option", { value: name, text: METHOD_LABELS[name] || name })));
    $("method").value = state.method;
  } catch (error) {
    showMessage(error.message);
  }
}

// ------------------------------------------------------------------------------------ views
function thumbnailUrl(id) {
  return `/api/images/${encodeURIComponent(id)}/thumbnail?size=256`;
}

function imageButton(item) {
  const button = el("button", {
    type: "button", className: "thumb", "data-id": String(item.id), "data-path": item.path,
    "aria-label": `images similar to ${item.path}`, title: item.path,
  }, [el("img", { src: thumbnailUrl(item.id), alt: item.path, loading: "lazy", width: 256, height: 256 })]);
  button.addEventListener("click", () => {
    upload = null;
    state.image = item.path;
    state.text = null;
    go();
  });
  return button;
}

function resultCard(result, rank) {
  const terms = Object.entries(result.contributions || {});
  const parts = terms.map(([name, value]) => {
    const share = result.score > 0 ? Math.max(0, Math.min(1, value / result.score)) : 0;
    return el("li", {}, [
      el("span", { className: "term", text: `${name} ${value.toFixed(3)}` }),
      el("span", { className: "share", style: `width:${(share * 100).toFixed(0)}%`, "aria-hidden": "true" }),
    ]);
  });
  return el("li", { className: "card result", "data-path": result.path, "data-id": String(result.id) }, [
    imageButton(result),
    el("div", { className: "meta" }, [
      el("span", { className: "rank", text: `#${rank}` }),
      el("span", { className: "score", text: `score ${result.score.toFixed(3)}` }),
    ]),
    el("ul", { className: "contributions", "aria-label": "contribution of each condition" }, parts),
    el("a", { className: "path", href: `/api/images/${encodeURIComponent(result.id)}`, target: "_blank", rel: "noopener", text: result.path }),
  ]);
}

async function showGallery() {
  $("query").hidden = true;
  const data = await api(`/api/images?offset=${state.offset}&limit=${PAGE_SIZE}`);
  $("list-title").textContent = data.total ? "the collection" : "the collection is empty";
  $("grid").replaceChildren(...data.items.map((item) => el("li", { className: "card" }, [imageButton(item), el("span", { className: "path", text: item.path })])));
  const pager = $("pager");
  pager.hidden = data.total <= PAGE_SIZE;
  $("page-info").textContent = `images ${data.total ? data.offset + 1 : 0}–${data.offset + data.items.length} of ${data.total}`;
  $("prev").disabled = data.offset === 0;
  $("next").disabled = data.offset + data.items.length >= data.total;
}

function describe(envelope) {
  const conditions = envelope.conditions;
  if (!conditions.by.length) return "plain similarity";
  let label = conditions.by.join(" + ");
  if (conditions.not.length) label += `, not ${conditions.not.join(", ")}`;
  return `${label} (${envelope.method})`;
}

function showResults(envelope) {
  const query = envelope.query;
  $("query").hidden = false;
  const image = $("query-image");
  if (query.id !== undefined && query.id !== null) {
    image.src = thumbnailUrl(query.id);
    image.alt = query.image;
    image.hidden = false;
  } else {
    image.hidden = true;
  }
  $("query-title").textContent = query.text !== undefined ? "search" : "query image";
  $("query-text").textContent = query.text !== undefined ? `“${query.text}”` : (query.image || query.upload || "");
  $("list-title").textContent = `${envelope.results.length} results by ${describe(envelope)}`;
  $("grid").replaceChildren(...envelope.results.map((result, index) => resultCard(result, index + 1)));
  $("pager").hidden = true;
}

async function show() {
  renderChips();
  showMessage("");
  $("search-text").value = state.text || "";
  const main = $("main");
  main.setAttribute("aria-busy", "true");
  if (upload || state.image || state.text) {
    $("list-title").textContent = "searching… (the first query of a condition embeds its prompts; the first one may load the model)";
  }
  try {
    if (upload) {
      const form = new FormData();
      form.append("file", upload);
      showResults(await api(`/api/similar?${queryParams({ forApi: true })}`, { method: "POST", body: form }));
    } else if (state.image) {
      showResults(await api(`/api/similar?${queryParams({ forApi: true })}`));
    } else if (state.text) {
      showResults(await api(`/api/search?${queryParams({ forApi: true })}`));
    } else {
      await showGallery();
    }
  } catch (error) {
    showMessage(error.message);
  } finally {
    main.setAttribute("aria-busy", "false");
  }
}

// ------------------------------------------------------------------------------------ re-index
async function reindex() {
  const status = $("index-status");
  try {
    await api("/api/index", { method: "POST" });
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  for (;;) {
    const job = await api("/api/index");
    if (job.state === "running") {
      status.textContent = `re-indexing: ${job.embedded} images embedded, ${Math.round(job.seconds)} s`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    if (job.state === "failed") status.textContent = `re-index failed: ${job.error}`;
    else status.textContent = `re-indexed: ${job.report.indexed} new, ${job.report.removed} removed, ${job.report.total} images`;
    show();
    return;
  }
}

// ------------------------------------------------------------------------------------ wiring
function wire() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("search-text").value.trim();
    upload = null;
    state.text = text || null;
    state.image = null;
    state.offset = 0;
    go();
  });
  $("method").addEventListener("change", () => {
    state.method = $("method").value;
    go();
  });
  $("add-by").addEventListener("click", () => addCondition($("condition-select").value, false));
  $("add-not").addEventListener("click", () => addCondition($("condition-select").value, true));
  $("add-custom").addEventListener("click", () => {
    const name = $("custom-name").value.trim();
    const values = $("custom-values").value.split(",").map((value) => value.trim()).filter(Boolean);
    if (!name || !values.length) {
      showMessage("give your condition a name and its values, e.g. fabric: cotton, silk, wool");
      return;
    }
    state.values[name] = values.join(",");
    addCondition(name, false);
  });
  $("back").addEventListener("click", () => {
    upload = null;
    state.image = null;
    state.text = null;
    go();
  });
  $("home").addEventListener("click", (event) => {
    event.preventDefault();
    upload = null;
    Object.assign(state, { image: null, text: null, offset: 0 });
    go();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    go();
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    go();
  });
  $("upload").addEventListener("change", () => {
    const file = $("upload").files[0];
    if (!file) return;
    upload = file;
    state.image = null;
    state.text = null;
    show();
  });
  $("reindex").addEventListener("click", reindex);
  window.addEventListener("popstate", () => {
    upload = null;
    readAddress();
    show();
  });
}

readAddress();
wire();
loadConditions();
show();

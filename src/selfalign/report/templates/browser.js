// The sample browser: filters and pages a columnar index of every row, and shows a row's whole
// lineage from the detail chunks it inflates on demand. Model text is only ever set as
// textContent, never parsed as HTML.
(function () {
  "use strict";
  const PAGE = 50, MAX_CHILDREN = 60;
  const $ = (id) => document.getElementById(id);
  const chunks = new Map();
  let ix = null, lower = null, kids = null, hits = [], page = 0;

  function bytesOf(b64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(b64);
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function inflate(id) {
    const stream = new Blob([bytesOf($(id).textContent.trim())]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }
  async function detail(i) {
    const c = Math.floor(i / ix.chunk);
    if (!chunks.has(c)) chunks.set(c, inflate("chunk-" + c));
    return (await chunks.get(c))[i - c * ix.chunk];
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  const val = (key, i) => ix.values[key][ix[key][i]];
  const stageOf = (i) => ix.stages[ix.stage[i]];

  function fillSelect(id, values) {
    const sel = $(id);
    for (const v of values) if (v !== "") sel.appendChild(el("option", v)).value = v;
  }

  function filter() {
    const q = $("q").value.trim().toLowerCase();
    const stage = $("f-stage").value, kept = $("f-kept").value, status = $("f-status").value;
    const cat = $("f-category").value, reason = $("f-reason").value;
    const want = (key, v) => v === "" ? -1 : ix.values[key].indexOf(v);
    const st = stage === "" ? -1 : ix.stages.indexOf(stage);
    const ws = want("status", status), wc = want("category", cat), wr = want("reason", reason);
    if (q && !lower) lower = ix.title.map((t, i) => (t + " " + ix.id[i]).toLowerCase());
    hits = [];
    for (let i = 0; i < ix.stage.length; i++) {
      if (st >= 0 && ix.stage[i] !== st) continue;
      if (kept !== "" && ix.kept[i] !== +kept) continue;
      if (ws >= 0 && ix.status[i] !== ws) continue;
      if (wc >= 0 && ix.category[i] !== wc) continue;
      if (wr >= 0 && ix.reason[i] !== wr) continue;
      if (q && !lower[i].includes(q)) continue;
      hits.push(i);
    }
    page = 0;
    render();
  }

  function render() {
    const body = $("rows");
    body.replaceChildren();
    const start = page * PAGE, pages = Math.max(1, Math.ceil(hits.length / PAGE));
    for (const i of hits.slice(start, start + PAGE)) {
      const tr = document.createElement("tr");
      tr.dataset.row = i;
      tr.appendChild(el("td", i));
      tr.appendChild(el("td", stageOf(i)));
      const k = el("td"); k.appendChild(el("span", ix.kept[i] ? "kept" : "dropped", "badge " + (ix.kept[i] ? "kept" : "dropped")));
      tr.appendChild(k);
      const s = val("status", i);
      const sc = el("td"); if (!["kept", "dropped"].includes(s)) sc.appendChild(el("span", s, "badge " + s));
      tr.appendChild(sc);
      tr.appendChild(el("td", val("category", i)));
      tr.appendChild(el("td", ix.title[i], "title"));
      tr.addEventListener("click", () => showLineage(i));
      body.appendChild(tr);
    }
    $("count").textContent = hits.length + " of " + ix.stage.length + " rows";
    $("page").textContent = "page " + (page + 1) + " of " + pages;
    $("prev").disabled = page === 0;
    $("next").disabled = page + 1 >= pages;
  }

  function childrenOf(i) {
    if (!kids) {
      kids = new Map();
      for (let j = 0; j < ix.parent.length; j++) {
        const p = ix.parent[j];
        if (p < 0) continue;
        if (!kids.has(p)) kids.set(p, []);
        kids.get(p).push(j);
      }
    }
    return kids.get(i) || [];
  }

  function field(dl, name, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", name));
    const dd = el("dd");
    if (typeof value === "object" && !Array.isArray(value)) {
      const table = el("table", undefined, "fields");
      for (const [k, v] of Object.entries(value)) {
        if (v === null || v === "") continue;
        const tr = table.appendChild(el("tr"));
        tr.appendChild(el("th", k));
        const td = tr.appendChild(el("td"));
        const text = typeof v === "object" ? JSON.stringify(v) : String(v);
        if (text.includes("\n")) td.appendChild(el("pre", text)); else td.textContent = text;
      }
      dd.appendChild(table);
    } else if (Array.isArray(value)) {
      dd.textContent = value.join(", ");
    } else if (typeof value === "string" && (value.includes("\n") || value.length > 100)) {
      dd.appendChild(el("pre", value));
    } else {
      dd.textContent = String(value);
    }
    dl.appendChild(dd);
  }

  async function node(i, focus) {
    const box = el("div", undefined, "node" + (ix.kept[i] ? "" : " dropped") + (i === focus ? " focus" : ""));
    box.dataset.row = i;
    box.dataset.stage = stageOf(i);
    const reason = val("reason", i), status = val("status", i);
    const head = [stageOf(i), ix.kept[i] ? "kept" : "dropped" + (reason ? " (" + reason + ")" : "")];
    if (!["kept", "dropped"].includes(status)) head.push("verdict: " + status);
    if (ix.id[i]) head.push("id " + ix.id[i]);
    box.appendChild(el("h4", head.join(" · ")));
    const dl = el("dl");
    for (const [k, v] of Object.entries(await detail(i))) field(dl, k, v);
    box.appendChild(dl);
    return box;
  }

  async function subtree(i, focus, depth) {
    const box = await node(i, focus);
    const below = childrenOf(i);
    if (below.length && depth < 8) {
      const wrap = el("div", undefined, "children");
      for (const j of below.slice(0, MAX_CHILDREN)) wrap.appendChild(await subtree(j, focus, depth + 1));
      if (below.length > MAX_CHILDREN) wrap.appendChild(el("p", (below.length - MAX_CHILDREN) + " more not shown", "note"));
      box.appendChild(wrap);
    }
    return box;
  }

  // The row's ancestors down to its instruction (or itself), then everything made from there.
  async function showLineage(i) {
    for (const tr of document.querySelectorAll("#rows tr.sel")) tr.classList.remove("sel");
    const tr = document.querySelector('#rows tr[data-row="' + i + '"]');
    if (tr) tr.classList.add("sel");
    const chain = [];
    for (let j = i; j >= 0; j = ix.parent[j]) chain.unshift(j);
    let anchor = chain.findIndex((j) => stageOf(j) === "instructions");
    if (anchor < 0) anchor = chain.length - 1;
    const panel = $("lineage");
    panel.replaceChildren(el("h3", "Lineage of row " + i));
    let at = panel;
    for (const j of chain.slice(0, anchor)) {
      const box = await node(j, i);
      at.appendChild(box);
      at = box.appendChild(el("div", undefined, "children"));
    }
    at.appendChild(await subtree(chain[anchor], i, 0));
    panel.dataset.row = i;
    panel.scrollIntoView({block: "start"});
  }

  async function start() {
    ix = await inflate("sample-index");
    fillSelect("f-stage", ix.stages.filter((s, n) => ix.stage.includes(n)));
    fillSelect("f-status", ix.values.status);
    fillSelect("f-category", ix.values.category);
    fillSelect("f-reason", ix.values.reason);
    let timer = 0;
    $("q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(filter, 150); });
    for (const id of ["f-stage", "f-kept", "f-status", "f-category", "f-reason"]) $(id).addEventListener("change", filter);
    $("prev").addEventListener("click", () => { page--; render(); });
    $("next").addEventListener("click", () => { page++; render(); });
    filter();
    window.selfalignReport = {rows: ix.stage.length, showLineage, filter};
    document.body.dataset.ready = "1";
  }
  start().catch((err) => {
    $("count").textContent = "the sample data could not be read: " + err;
    document.body.dataset.ready = "error";
  });
})();

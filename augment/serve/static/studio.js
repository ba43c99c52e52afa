/* augment studio: design a pipeline on real samples. Plain JavaScript, no framework, no build step.
 *
 * The form and the YAML are two views of one spec object (state.spec). A form change rewrites the YAML (the
 * server's canonical dump once the spec validates); a YAML edit is parsed and validated by the server
 * (/v1/validate, the same checks as `augment validate`) and rebuilds the form. Errors name their key path and
 * are shown at the control with that path. The preview asks /v1/augment for the dataset's own items under
 * their dataset names, so it shows exactly what `augment run` would write for them.
 */
"use strict";

const boot = JSON.parse(document.getElementById("boot").textContent);
const $ = (id) => document.getElementById(id);
const state = { ops: {}, spec: null, modality: null, dataset: null, samples: [], previewTicket: 0, job: null,
                validateTicket: 0, lastValid: null };

// ------------------------------------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  let doc = null;
  try { doc = await resp.json(); } catch (e) { doc = { error: resp.statusText }; }
  if (!resp.ok) throw Object.assign(new Error(doc.error || resp.statusText), { doc, status: resp.status });
  return doc;
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// A small YAML emitter for specs the server cannot canonicalise yet (while they are invalid).
function yamlScalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  const plain = /^[A-Za-z_][A-Za-z0-9_ .\/-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(s)
    && s.trim() === s;
  return plain ? s : JSON.stringify(s);
}
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isComplex = (v) => (isObj(v) && Object.keys(v).length > 0) || (Array.isArray(v) && v.some((x) => isObj(x) || Array.isArray(x)));
function yamlInline(v) {
  if (Array.isArray(v)) return "[" + v.map(yamlScalar).join(", ") + "]";
  if (isObj(v)) return "{}";
  return yamlScalar(v);
}
function yamlBlock(v, ind) {
  if (Array.isArray(v)) {
    return v.map((x) => isComplex(x) ? ind + "- " + yamlBlock(x, ind + "  ").slice(ind.length + 2)
                                     : ind + "- " + yamlInline(x)).join("\n");
  }
  return Object.entries(v).map(([k, x]) => isComplex(x) ? `${ind}${yamlScalar(k)}:\n${yamlBlock(x, ind + "  ")}`
                                                         : `${ind}${yamlScalar(k)}: ${yamlInline(x)}`).join("\n");
}
const toYaml = (spec) => yamlBlock(spec, "") + "\n";

// ------------------------------------------------------------------------------------------------ spec model

function defaultParams(opName) {
  const schema = state.ops[opName].schema;
  const out = {};
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    if ("default" in prop) out[name] = prop.default;
    else if (prop.range) {
      const item = (prop.prefixItems || [{}])[0];
      out[name] = [item.minimum ?? 0, item.maximum ?? 1];
    } else out[name] = prop.minimum ?? 0;
  }
  return out;
}

function newSpec(modality) {
  const first = modality === "image" ? "horizontal_flip" : "random_swap";
  return { version: 1, name: $("spec-name").value || "studio-pipeline", description: "", modality,
           backend: modality === "image" ? $("spec-backend").value : "native", seed: Number($("spec-seed").value) || 0,
           copies: Number($("n-copies").value) || 1,
           steps: [{ op: first, p: 0.5, params: defaultParams(first) }] };
}

const groupKind = (step) => ["sequence", "one_of", "some_of"].find((k) => k in step);

// ------------------------------------------------------------------------------------------------ the form

function renderForm() {
  const box = $("steps");
  box.replaceChildren(...state.spec.steps.map((s, i) => renderStep(s, state.spec.steps, i, `steps[${i}]`)));
  $("spec-name").value = state.spec.name;
  $("spec-seed").value = state.spec.seed;
  $("backend-label").hidden = state.spec.modality !== "image";
  if (state.spec.modality === "image") $("spec-backend").value = state.spec.backend;
}

function stepButtons(list, i) {
  const move = (d) => () => {
    const j = i + d;
    if (j < 0 || j >= list.length) return;
    [list[i], list[j]] = [list[j], list[i]];
    formChanged(true);
  };
  return [
    el("button", { type: "button", class: "small", title: "move up", onclick: move(-1), text: "↑" }),
    el("button", { type: "button", class: "small", title: "move down", onclick: move(1), text: "↓" }),
    el("button", { type: "button", class: "small remove", title: "remove", text: "✕",
                   onclick: () => { list.splice(i, 1); formChanged(true); } }),
  ];
}

function pControl(step, path) {
  const num = el("input", { type: "number", min: 0, max: 1, step: 0.05, value: step.p ?? 1, "data-path": `${path}.p`,
                            class: "p-number" });
  const slider = el("input", { type: "range", min: 0, max: 1, step: 0.05, value: step.p ?? 1, "aria-label": "p" });
  slider.addEventListener("input", () => { num.value = slider.value; step.p = Number(slider.value); formChanged(); });
  num.addEventListener("change", () => { slider.value = num.value; step.p = Number(num.value); formChanged(); });
  return el("span", { class: "range-ctl" }, "p", slider, num);
}

function renderStep(step, list, i, path) {
  const kind = groupKind(step);
  if (kind) return renderGroup(step, kind, list, i, path);
  const card = el("div", { class: "step op-step", "data-path": path });
  const picker = el("select", { class: "op-select", "data-path": `${path}.op` });
  picker.append(...opOptions());
  if (!state.ops[step.op]) picker.append(el("option", { value: step.op, text: step.op }));  // an op this service lacks
  picker.value = step.op;
  picker.addEventListener("change", () => {
    step.op = picker.value;
    step.params = defaultParams(step.op);
    formChanged(true);
  });
  card.append(el("div", { class: "head" }, picker, pControl(step, path), ...stepButtons(list, i)));
  const op = state.ops[step.op];
  if (op) {
    const params = el("div", { class: "params" });
    for (const [name, prop] of Object.entries(op.schema.properties || {})) {
      params.append(el("span", { class: "pname", title: prop.description || "", text: name }),
                    paramControl(step, name, prop, `${path}.params.${name}`));
    }
    card.append(params);
  }
  return card;
}

function bounds(prop) {
  const lo = prop.minimum ?? (prop.exclusiveMinimum !== undefined ? prop.exclusiveMinimum : undefined);
  const hi = prop.maximum ?? prop.exclusiveMaximum;
  return [lo, hi];
}

function numberSlider(value, prop, path, onset) {
  let [lo, hi] = bounds(prop);
  const integer = prop.type === "integer";
  const wrap = el("span", { class: "range-ctl" });
  const num = el("input", { type: "number", value, "data-path": path, step: integer ? 1 : "any" });
  wrap.append(num);
  if (lo !== undefined || hi !== undefined) {
    const span = Math.max(Math.abs(Number(value)) * 2, 1);
    lo = lo ?? Number(value) - span;
    hi = hi ?? Number(value) + span;
    const slider = el("input", { type: "range", min: lo, max: hi, step: integer ? 1 : (hi - lo) / 200, value });
    slider.addEventListener("input", () => { num.value = slider.value; onset(Number(slider.value)); });
    num.addEventListener("change", () => { slider.value = num.value; onset(Number(num.value)); });
    wrap.prepend(slider);
  } else {
    num.addEventListener("change", () => onset(Number(num.value)));
  }
  return wrap;
}

function paramControl(step, name, prop, path) {
  const value = step.params[name];
  const set = (v) => { step.params[name] = v; formChanged(); };
  if (prop.range) {
    const item = (prop.prefixItems || [{}])[0];
    const pair = Array.isArray(value) ? [...value] : [value, value];
    const wrap = el("span", { class: "range-ctl range-pair", "data-path": path });
    [0, 1].forEach((k) => {
      wrap.append(numberSlider(pair[k], item, `${path}[${k}]`, (v) => { pair[k] = v; set([...pair]); }));
      if (k === 0) wrap.append("–");
    });
    return wrap;
  }
  if (prop.enum) {
    const sel = el("select", { "data-path": path });
    for (const v of prop.enum) sel.append(el("option", { value: v, text: v }));
    sel.value = value;
    sel.addEventListener("change", () => set(sel.value));
    return sel;
  }
  if (prop.type === "boolean") {
    const box = el("input", { type: "checkbox", "data-path": path });
    box.checked = Boolean(value);
    box.addEventListener("change", () => set(box.checked));
    return box;
  }
  if (prop.type === "integer" || prop.type === "number") return numberSlider(value, prop, path, set);
  const nullable = (prop.anyOf || []).some((t) => t.type === "null");
  const simpleString = prop.type === "string" || (nullable && prop.anyOf.every((t) => ["string", "null"].includes(t.type)));
  const input = el("input", { "data-path": path, value: simpleString ? (value ?? "") : JSON.stringify(value) });
  input.addEventListener("change", () => {
    if (simpleString) set(input.value === "" && nullable ? null : input.value);
    else { try { set(JSON.parse(input.value)); } catch (e) { set(input.value); } }
  });
  return input;
}

function renderGroup(step, kind, list, i, path) {
  const card = el("div", { class: "step group", "data-path": path });
  const children = step[kind];
  const kindSel = el("select", { class: "group-kind" });
  for (const k of ["sequence", "one_of", "some_of"]) kindSel.append(el("option", { value: k, text: k }));
  kindSel.value = kind;
  kindSel.addEventListener("change", () => {
    const next = { [kindSel.value]: children, p: step.p ?? 1 };
    if (kindSel.value === "some_of") next.n = [1, children.length];
    list[i] = next;
    formChanged(true);
  });
  const head = el("div", { class: "head" }, el("span", { class: "op-name", text: "group" }), kindSel, pControl(step, path));
  if (kind === "some_of") {
    const n = Array.isArray(step.n) ? step.n : [step.n ?? 1, step.n ?? children.length];
    const lo = el("input", { type: "number", min: 0, value: n[0], "data-path": `${path}.n` });
    const hi = el("input", { type: "number", min: 0, value: n[1] });
    const upd = () => { step.n = [Number(lo.value), Number(hi.value)]; formChanged(); };
    lo.addEventListener("change", upd);
    hi.addEventListener("change", upd);
    head.append("n", lo, "–", hi);
  }
  head.append(...stepButtons(list, i));
  card.append(head);
  const box = el("div", { class: "children", "data-path": `${path}.${kind}` });
  children.forEach((child, j) => {
    const childCard = renderStep(child, children, j, `${path}.${kind}[${j}]`);
    if (kind === "one_of") {
      step.weights = step.weights && step.weights.length === children.length ? step.weights : null;
      const w = el("input", { type: "number", min: 0, step: "any", value: step.weights ? step.weights[j] : 1,
                              "data-path": `${path}.weights`, title: "weight" });
      w.addEventListener("change", () => {
        step.weights = step.weights || children.map(() => 1);
        step.weights[j] = Number(w.value);
        formChanged();
      });
      childCard.querySelector(".head").append("weight", w);
    }
    box.append(childCard);
  });
  if (kind === "one_of" && !step.weights) delete step.weights;
  const add = el("button", { type: "button", class: "small", text: "+ op in group", onclick: () => {
    const name = $("op-picker").value;
    children.push({ op: name, p: 1, params: defaultParams(name) });
    if (step.weights) step.weights.push(1);
    if (kind === "some_of" && Array.isArray(step.n)) step.n = [step.n[0], children.length];
    formChanged(true);
  } });
  card.append(box, add);
  return card;
}

// ------------------------------------------------------------------------------------------------ validation

function formChanged(rerender = false) {
  state.spec.name = $("spec-name").value;
  state.spec.seed = Number($("spec-seed").value) || 0;
  state.spec.copies = Math.max(1, Number($("n-copies").value) || 1);
  if (state.spec.modality === "image") state.spec.backend = $("spec-backend").value;
  if (rerender) renderForm();
  $("yaml").value = toYaml(state.spec);
  validateNow(state.spec, "form");
}

async function validateNow(spec, source) {
  const ticket = ++state.validateTicket;
  let doc;
  try {
    doc = await api("POST", "/v1/validate", { spec });
  } catch (e) {
    showErrors([{ path: "", message: e.message }]);
    return;
  }
  if (ticket !== state.validateTicket) return; // a newer edit is on its way
  if (!doc.valid) {
    showErrors(doc.errors);
    return;
  }
  showErrors([]);
  state.lastValid = doc;
  if (source === "form") {
    // the form keeps editing its own objects (its controls hold them); the YAML shows the canonical form
    $("yaml").value = doc.yaml;
  } else {
    state.spec = doc.spec;
    if (doc.modality !== state.modality) await loadOps(doc.modality);
    renderForm();
  }
  schedulePreview();
}

function showErrors(errors) {
  document.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
  document.querySelectorAll(".err").forEach((n) => n.remove());
  const list = $("errors");
  list.replaceChildren(...errors.map((e) => el("li", { text: e.path ? `${e.path}: ${e.message}` : e.message })));
  $("spec-status").textContent = errors.length ? `${errors.length} problem${errors.length > 1 ? "s" : ""}` : "valid";
  $("spec-status").className = "badge " + (errors.length ? "bad" : "ok");
  for (const e of errors) {
    const target = findControl(e.path);
    if (!target) continue;
    target.classList.add("invalid");
    const msg = el("div", { class: "err", "data-error-path": e.path, text: e.message });
    const card = target.closest(".params") || target.closest(".step") || target.parentElement;
    if (card) card.append(msg);
  }
  for (const id of ["run", "evaluate"]) $(id).disabled = errors.length > 0 || !state.dataset;
}

function findControl(path) {
  // the control named by the path, else the nearest enclosing key that has one (steps[2].params -> the card)
  let p = path;
  while (p) {
    const node = document.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (node) return node;
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) break;
    p = p.slice(0, cut);
  }
  return null;
}

// ------------------------------------------------------------------------------------------------ data + preview

// The op pickers group augment's own ops and, for images, every albumentations / torchvision transform the
// service can run by name (the unusable ones are left out: the listing says why, `augment ops --library`).
function opOptions() {
  const groups = new Map();
  for (const op of Object.values(state.ops)) {
    const label = op.library || "augment";
    if (!groups.has(label)) groups.set(label, el("optgroup", { label }));
    groups.get(label).append(el("option", { value: op.op, text: op.op, title: op.summary || "" }));
  }
  return [...groups.values()];
}

async function loadOps(modality) {
  const listing = await api("GET", `/v1/ops?modality=${modality}&schema=true`);
  const library = modality === "image" ? await api("GET", "/v1/ops?library=all&schema=true") : [];
  state.ops = Object.fromEntries([...listing, ...library.filter((op) => op.usable && op.schema)].map((op) => [op.op, op]));
  state.modality = modality;
  $("op-picker").replaceChildren(...opOptions());
}

async function pickDataset() {
  const dataset = $("dataset").value;
  state.dataset = dataset || null;
  $("preview").replaceChildren();
  if (!dataset) return;
  const n = Math.max(1, Math.min(16, Number($("n-samples").value) || 4));
  let doc;
  try {
    doc = await api("GET", `/v1/datasets/samples?dataset=${encodeURIComponent(dataset)}&n=${n}`);
  } catch (e) {
    $("data-info").textContent = e.message;
    return;
  }
  state.samples = doc.items;
  state.annotated = doc.annotations || null;
  $("data-info").textContent = `${doc.total} ${doc.modality === "image" ? "images" : "rows"}` +
    `${state.annotated ? ` (${state.annotated} annotations)` : ""}; showing ${doc.items.length}`;
  if (doc.modality !== state.modality || !state.spec) {
    await loadOps(doc.modality);
    state.spec = newSpec(doc.modality);
    renderForm();
  }
  renderPreview(null);
  formChanged();
}

const schedulePreview = debounce(runPreview, 250);

async function runPreview() {
  if (!state.dataset || !state.samples.length || !state.lastValid) return;
  const ticket = ++state.previewTicket;
  const copies = Math.max(1, Math.min(8, Number($("n-copies").value) || 1));
  const items = state.samples.map((s) => state.modality === "image" ? { dataset: state.dataset, name: s.name }
                                                                     : { dataset: state.dataset, row: s.row });
  $("preview-status").textContent = "augmenting…";
  let doc;
  try {
    doc = await api("POST", "/v1/augment", { spec: state.lastValid.spec, copies, items });
  } catch (e) {
    if (ticket === state.previewTicket) $("preview-status").textContent = e.message;
    return;
  }
  if (ticket !== state.previewTicket) return;
  $("preview-status").textContent = `${doc.items.length} samples × ${copies} copies · spec ${doc.spec_hash}`;
  renderPreview(doc);
}

function drawnText(ops) {
  if (!ops || !ops.length) return "no op applied";
  return ops.map((o) => {
    const values = Object.entries(o.params || {}).map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(3) : JSON.stringify(v)}`);
    const changes = (o.changes || []).map((c) => JSON.stringify(c)).slice(0, 4);
    return `${o.op} (${o.path}) ${values.concat(changes).join(" ")}`;
  }).join("\n");
}

function renderPreview(doc) {
  const box = $("preview");
  if (state.modality === "image") {
    const copies = doc ? doc.copies : [];
    const table = el("table", { id: "preview-grid", class: state.annotated ? "annotated" : null },
      el("tr", {}, el("th", { text: "original" }), ...copies.map((k) => el("th", { text: `copy ${k}` }))));
    state.samples.forEach((s, i) => {
      const src = `/v1/datasets/image?dataset=${encodeURIComponent(state.dataset)}&name=${encodeURIComponent(s.name)}`;
      const original = el("img", { class: "sample", src, alt: s.name, title: s.name });
      const row = el("tr", {}, el("td", {}, withOverlay(original, s.annotations, s.width, s.height, s.error),
                                  el("div", { text: s.name })));
      if (doc) {
        for (const out of doc.items[i].outputs) {
          if (out.error || out.dropped) {
            row.append(el("td", {}, out.error ? el("span", { class: "err", text: out.error })
              : el("span", { class: "dropped", title: "augment run would not write this copy", text: `dropped: ${out.dropped}` })));
            continue;
          }
          const img = el("img", { class: "augmented", src: `data:${out.media_type};base64,${out.image}`, alt: `copy ${out.copy}`,
                                  title: drawnText(out.ops) + objectsText(out.objects), "data-sha256": out.sha256 });
          row.append(el("td", {}, withOverlay(img, out.annotations, out.width, out.height)));
        }
      }
      table.append(row);
    });
    box.replaceChildren(table);
    return;
  }
  box.replaceChildren(...state.samples.map((s, i) => {
    const div = el("div", { class: "text-sample" }, el("div", { class: "orig", text: `row ${s.row}${s.label != null ? ` [${s.label}]` : ""}: ${s.text}` }));
    if (doc) {
      for (const out of doc.items[i].outputs) {
        const line = el("div", { class: "copy augmented", title: drawnText(out.ops) }, `copy ${out.copy}: `);
        if (out.error) line.append(el("span", { class: "err", text: out.error }));
        else if (out.dropped) line.append(el("span", { class: "dropped", text: `dropped: ${out.dropped}` }));
        else for (const [text, kind] of out.diff) {
          line.append(kind === "inserted" ? el("mark", { text }) : kind === "deleted" ? el("del", { text }) : text);
        }
        div.append(line);
      }
    }
    return div;
  }));
}

// ------------------------------------------------------------------------------------------------ annotations
// Boxes, polygons and keypoints are an SVG over the image in the image's own pixel coordinates (viewBox = its
// size; "meet" scales it exactly as the image's object-fit: contain does); masks are coloured on a canvas.

const COLOURS = ["#e6194b", "#3cb44b", "#0082c8", "#f58230", "#911eb4", "#46f0f0", "#f032e6", "#d2f53c", "#fabebe", "#008080"];
const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  return node;
}

function colourOf(label, names) {
  const key = String(label);
  if (!names.has(key)) names.set(key, names.size);
  return COLOURS[names.get(key) % COLOURS.length];
}

function withOverlay(img, ann, width, height, error) {
  if (!state.annotated) return img;
  const tile = el("div", { class: "tile" }, img);
  if (error) tile.append(el("div", { class: "err", text: error }));
  if (!ann || !width || !height) return tile;
  const svg = svgEl("svg", { class: "overlay", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMidYMid meet",
                             "data-width": width, "data-height": height });
  const names = new Map();
  const stroke = Math.max(1, Math.max(width, height) / 120);
  if (ann.masks) drawMasks(svg, ann.masks, ann.labels || [], width, height, names);
  (ann.boxes || []).forEach((b, i) => {
    const label = (ann.labels || [])[i];
    const colour = colourOf(label, names);
    svg.append(svgEl("rect", { class: "box", x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1], fill: "none",
                               stroke: colour, "stroke-width": stroke, "data-label": label ?? "" }));
    const text = svgEl("text", { x: b[0] + stroke, y: b[1] + 9 * stroke, fill: colour, "font-size": 9 * stroke });
    text.textContent = label ?? "";
    svg.append(text);
    for (const part of (ann.polygons || [])[i] || []) {
      svg.append(svgEl("polygon", { class: "polygon", points: part.map((p) => p.join(",")).join(" "), fill: "none",
                                    stroke: colour, "stroke-width": stroke / 2 }));
    }
    for (const p of (ann.keypoints || [])[i] || []) {
      if ((p[2] ?? 2) > 0) svg.append(svgEl("circle", { class: "keypoint", cx: p[0], cy: p[1], r: 1.5 * stroke,
                                                         fill: (p[2] ?? 2) >= 2 ? colour : "none", stroke: colour }));
    }
  });
  tile.append(svg);
  return tile;
}

function drawMasks(svg, masks, labels, width, height, names) {
  // a class-index PNG (semantic) or one PNG per object: coloured where non-zero, then shown through the SVG
  const layers = typeof masks === "string" ? [[masks, null]] : masks.map((m, i) => [m, colourOf(labels[i], names)]);
  for (const [data, colour] of layers) {
    const image = svgEl("image", { class: "mask", x: 0, y: 0, width, height, opacity: 0.45 });
    svg.append(image);
    const src = new Image();
    src.onload = () => {
      const canvas = el("canvas", { width, height });
      const ctx = canvas.getContext("2d");
      ctx.drawImage(src, 0, 0);
      const px = ctx.getImageData(0, 0, width, height);
      for (let k = 0; k < px.data.length; k += 4) {
        const v = px.data[k];
        if (v === 0) { px.data[k + 3] = 0; continue; }
        const hex = v === 255 && !colour ? "#ffffff" : colour || COLOURS[v % COLOURS.length];
        px.data[k] = parseInt(hex.slice(1, 3), 16);
        px.data[k + 1] = parseInt(hex.slice(3, 5), 16);
        px.data[k + 2] = parseInt(hex.slice(5, 7), 16);
        px.data[k + 3] = 255;
      }
      ctx.putImageData(px, 0, 0);
      image.setAttribute("href", canvas.toDataURL("image/png"));
    };
    src.src = `data:image/png;base64,${data}`;
  }
}

function objectsText(objects) {
  if (!objects) return "";
  const dropped = Object.values(objects.dropped || {}).reduce((a, b) => a + b, 0);
  const kept = Object.values(objects.kept || {}).reduce((a, b) => a + b, 0);
  return `\nobjects: ${objects.objects_in} in, ${kept} kept, ${dropped} dropped`;
}

// ------------------------------------------------------------------------------------------------ export, jobs

function exportYaml() {
  const text = $("yaml").value;
  const blob = new Blob([text], { type: "application/yaml" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `${(state.spec && state.spec.name) || "pipeline"}.yaml`,
                      id: "export-link" });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 5000);
}

async function startJob(kind) {
  if (!state.lastValid || !state.dataset) return;
  const options = kind === "run"
    ? { copies: Math.max(1, Number($("n-copies").value) || 1), workers: 1 }
    : { repeats: 2, copies: "1", train_sizes: "full", model: $("eval-model").value };
  let job;
  try {
    job = await api("POST", "/v1/jobs", { kind, spec: $("yaml").value, dataset: state.dataset, options });
  } catch (e) {
    $("job-panel").hidden = false;
    $("job-status").textContent = e.message;
    return;
  }
  state.job = job;
  $("job-panel").hidden = false;
  $("job-title").textContent = `${kind} ${job.id} on ${job.dataset}`;
  $("job-outputs").replaceChildren();
  $("job-report").hidden = true;
  $("job-more").hidden = true;
  showJob(job);
  const events = new EventSource(`/v1/jobs/${job.id}/events`);
  events.addEventListener("job", (ev) => showJob(JSON.parse(ev.data)));
  events.addEventListener("end", () => { events.close(); jobDone(job.id); });
  events.onerror = () => { events.close(); setTimeout(() => pollJob(job.id), 1000); };
}

async function pollJob(id) {
  const job = await api("GET", `/v1/jobs/${id}`);
  showJob(job);
  if (["complete", "failed", "cancelled", "interrupted"].includes(job.status)) jobDone(id);
  else setTimeout(() => pollJob(id), 1000);
}

function showJob(job) {
  const bar = $("job-progress");
  if (job.progress === null || job.progress === undefined) bar.removeAttribute("value");
  else bar.value = job.progress;
  const counts = job.counts.total ? ` ${job.counts.done}/${job.counts.total}` : "";
  $("job-status").textContent = `${job.status}${counts}${job.error ? " — " + job.error : ""}`;
  $("job-status").dataset.status = job.status;
}

async function jobDone(id) {
  const job = await api("GET", `/v1/jobs/${id}`);
  showJob(job);
  if (job.status !== "complete") return;
  if (job.kind === "eval") {
    const frame = $("job-report");
    frame.src = `/v1/jobs/${id}/files/${job.summary.report_html}`;
    frame.hidden = false;
    return;
  }
  state.jobOffset = 0;
  await moreOutputs(id);
}

async function moreOutputs(id) {
  const doc = await api("GET", `/v1/jobs/${id}/outputs?offset=${state.jobOffset}&limit=24`);
  const box = $("job-outputs");
  if (state.modality === "text") {
    const name = doc.outputs.length ? doc.outputs[0].output : null;
    if (name) {
      const resp = await fetch(`/v1/jobs/${id}/files/output/${encodeURIComponent(name)}`);
      const lines = (await resp.text()).split("\n").slice(0, 40).join("\n");
      box.replaceChildren(el("pre", { class: "job-text", text: lines }));
    }
    return;
  }
  for (const out of doc.outputs) {
    box.append(el("img", { class: "job-output", src: `/v1/jobs/${id}/files/output/${out.output.split("/").map(encodeURIComponent).join("/")}`,
                           alt: out.output, title: `${out.output}\n${drawnText(out.ops)}` }));
  }
  state.jobOffset += doc.outputs.length;
  $("job-more").hidden = state.jobOffset >= doc.total;
  $("job-more").onclick = () => moreOutputs(id);
}

// ------------------------------------------------------------------------------------------------ wiring

function init() {
  $("dataset").addEventListener("change", pickDataset);
  $("n-samples").addEventListener("change", pickDataset);
  $("n-copies").addEventListener("change", () => state.spec && formChanged());
  for (const id of ["spec-name", "spec-seed", "spec-backend"]) $(id).addEventListener("change", () => state.spec && formChanged());
  $("add-op").addEventListener("click", () => {
    if (!state.spec) return;
    const name = $("op-picker").value;
    state.spec.steps.push({ op: name, p: 1, params: defaultParams(name) });
    formChanged(true);
  });
  $("add-group").addEventListener("click", () => {
    if (!state.spec) return;
    const kind = $("group-kind").value;
    const name = $("op-picker").value;
    const group = { [kind]: [{ op: name, p: 1, params: defaultParams(name) }], p: 1 };
    if (kind === "some_of") group.n = [1, 1];
    state.spec.steps.push(group);
    formChanged(true);
  });
  $("yaml").addEventListener("input", debounce(() => validateNow($("yaml").value, "yaml"), 400));
  $("export").addEventListener("click", exportYaml);
  $("run").addEventListener("click", () => startJob("run"));
  $("evaluate").addEventListener("click", () => startJob("eval"));
  showErrors([]);
  $("run").disabled = $("evaluate").disabled = true;
}

init();

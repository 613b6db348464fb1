// Inspect page: any saved model, a test or uploaded image, filters, kernels, feature maps.
"use strict";
(function () {
  const $ = id => document.getElementById(id);
  let model = null, layers = [], source = { test_index: 0 }, count = null;

  const error = e => { $("error").textContent = e ? e.message || String(e) : ""; };

  async function loadModels() {
    const info = await Studio.api("/api/models");
    const select = $("model");
    select.replaceChildren();
    if (info.default) select.append(Studio.el("option", { value: "", text: "default: " + info.default }));
    for (const f of info.files) select.append(Studio.el("option", { value: f.path, text: f.path }));
  }

  async function openModel() {
    error();
    model = $("model").value || null;
    const q = model ? "?model=" + encodeURIComponent(model) : "";
    const answer = await Studio.api("/api/layers" + q);
    layers = answer.layers;
    const checks = $("checks");
    checks.replaceChildren(Studio.el("span", { class: "hint", text: "Layers to show:" }));
    for (const layer of layers) {
      const box = Studio.el("input", { type: "checkbox", value: layer.name });
      box.checked = layer.kind === "maps" || layer === layers[layers.length - 1];
      box.addEventListener("change", run);
      checks.append(Studio.el("label", {}, box, ` ${layer.name} (${layer.class})`));
    }
    try {
      const f = await Studio.api("/api/filters" + q);
      $("filters-name").textContent = `${f.layer}: ${f.total} filters of ${f.height} × ${f.width}` +
        (f.in_channels > 1 && f.channels === 1 ? ` (mean over ${f.in_channels} input channels)` : "");
      const px = Studio.bytes(f.data), box = $("filters");
      box.replaceChildren();
      const n = f.height * f.width * f.channels;
      for (let k = 0; k < f.count; k++) {
        const c = Studio.el("canvas", { class: "pix filter" });
        Studio.paint(c, px, f.height, f.width, f.channels, k * n, false);
        c.style.width = c.style.height = "64px";
        box.append(Studio.el("div", { class: "tile" }, c, Studio.el("span", { text: String(k) })));
      }
    } catch (e) {
      $("filters-name").textContent = ""; $("filters").replaceChildren(Studio.el("p", { class: "hint", text: e.message }));
    }
    await showPlot();
    await run();
  }

  let plotUrl = null;
  async function showPlot() {
    const q = new URLSearchParams({ show_shapes: $("plot-shapes").checked ? "1" : "0",
                                    expand_nested: $("plot-nested").checked ? "1" : "0" });
    if (model) q.set("model", model);
    const img = $("plot");
    try {
      const response = await fetch("/api/plot?" + q);
      if (!response.ok) {
        let data = {};
        try { data = await response.json(); } catch (e) { /* not JSON */ }
        throw new Error(data.error || ("HTTP " + response.status));
      }
      if (plotUrl) URL.revokeObjectURL(plotUrl);
      plotUrl = URL.createObjectURL(await response.blob());
      img.src = plotUrl;
      img.hidden = false;
      $("plot-note").textContent = "";
    } catch (e) {
      img.hidden = true;
      $("plot-note").textContent = e.message;
    }
  }

  function request(extra) { return Object.assign({ model: model || undefined }, source, extra); }

  async function run() {
    error();
    try {
      const chosen = [...document.querySelectorAll("#checks input:checked")].map(b => b.value);
      const answer = await Studio.api("/api/predict", request({ layers: chosen, max_maps: 64 }));
      const p = answer.probabilities;
      $("digit").textContent = String(answer.prediction);
      $("confidence").textContent = (100 * p[answer.prediction]).toFixed(1) + " %" +
        (answer.label !== undefined ? ` · true label ${answer.label}` : "");
      Studio.bars($("probs"), p);
      const inp = answer.input;
      Studio.paint($("seen"), Studio.bytes(inp.data), inp.height, inp.width, inp.channels === 3 ? 3 : 1, 0, false);
      Studio.layerCards($("layers"), answer.layers, 84);
      const k = await Studio.api("/api/kernels", request({}));
      const box = $("kernels");
      box.replaceChildren();
      for (const kernel of k.kernels) {
        const c = Studio.el("canvas", { class: "pix" });
        Studio.paint(c, Studio.bytes(kernel.data), kernel.height, kernel.width, 1, 0, false);
        c.style.width = c.style.height = "140px";
        const table = Studio.el("table");
        for (const row of kernel.kernel) table.append(Studio.el("tr", {}, ...row.map(
          v => Studio.el("td", { text: Number.isInteger(v) ? String(v) : v.toFixed(3) }))));
        box.append(Studio.el("div", { class: "kernel" }, Studio.el("h3", { text: kernel.name }), c, table));
      }
      document.body.dataset.ready = "1";
    } catch (e) { error(e); }
  }

  async function pickTest(index) {
    if (count !== null) index = ((index % count) + count) % count;
    $("index").value = index;
    source = { test_index: index };
    try {
      const d = await Studio.api("/api/dataset?index=" + index);
      count = d.count;
      $("source").textContent = `test image ${d.index} of ${d.count}, label ${d.label}`;
    } catch (e) { $("source").textContent = e.message; }
    await run();
  }

  $("model").addEventListener("change", () => openModel().catch(error));
  $("plot-shapes").addEventListener("change", showPlot);
  $("plot-nested").addEventListener("change", showPlot);
  $("index").addEventListener("change", () => pickTest(Number($("index").value)));
  $("prev").addEventListener("click", () => pickTest(Number($("index").value) - 1));
  $("next").addEventListener("click", () => pickTest(Number($("index").value) + 1));
  $("random").addEventListener("click", () => pickTest(Math.floor(Math.random() * (count || 10000))));
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => { source = { image: reader.result }; $("source").textContent = "uploaded: " + file.name; run(); };
    reader.readAsDataURL(file);
  });
  Studio.nav("inspect");
  loadModels().then(openModel).then(() => pickTest(0)).catch(error);
})();

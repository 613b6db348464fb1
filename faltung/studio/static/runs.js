// Runs page: two lab reports side by side.
"use strict";
(function () {
  const $ = id => document.getElementById(id);
  const fmt = v => typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4)) :
    (v === null || v === undefined ? "–" : String(v));

  async function show(name, box) {
    box.replaceChildren();
    if (!name) return;
    try {
      const run = await Studio.api("/api/runs/" + encodeURIComponent(name));
      const m = run.metrics || {};
      box.append(Studio.el("h2", { text: m.title || run.name }),
                 Studio.el("p", { class: "hint", text: m.description || "" }));
      const test = m.test || {};
      const keys = [...new Set(Object.values(test).flatMap(t => Object.keys(t)))];
      if (keys.length) {
        const table = Studio.el("table", { class: "metrics" });
        table.append(Studio.el("tr", {}, Studio.el("th", { text: "test set" }),
          ...keys.map(k => Studio.el("th", { text: k }))));
        for (const [model, values] of Object.entries(test))
          table.append(Studio.el("tr", {}, Studio.el("td", { text: model }),
            ...keys.map(k => Studio.el("td", { class: "num", text: fmt(values[k]) }))));
        box.append(table);
      }
      const epochs = (run.history.epoch || []).length;
      if (epochs) box.append(Studio.el("p", { class: "hint", text: `${epochs} epochs in history.csv` }));
      const order = ["learning_curves.png", "confusion_matrix.png"];
      const images = [...run.images].sort((x, y) => ((order.indexOf(x) + 99) % 100) - ((order.indexOf(y) + 99) % 100) || x.localeCompare(y));
      for (const image of images) {
        box.append(Studio.el("h3", { text: image.replace(".png", "").replace(/_/g, " ") }),
          Studio.el("img", { src: `/api/runs/${encodeURIComponent(name)}/files/${image}`, alt: image }));
      }
      if (run.summary) box.append(Studio.el("details", {}, Studio.el("summary", { text: "summary.txt" }),
        Studio.el("pre", { text: run.summary })));
    } catch (e) { $("error").textContent = e.message; }
  }

  async function init() {
    const { runs } = await Studio.api("/api/runs");
    if (!runs.length) {
      $("where").textContent = "No lab reports found. Run a lab first, e.g. faltung lab lenet5, " +
        "or start the studio with --reports DIR.";
      return;
    }
    for (const id of ["a", "b"]) {
      const select = $(id);
      for (const run of runs) select.append(Studio.el("option", { value: run.name, text: `${run.name} — ${run.title}` }));
    }
    const names = runs.map(r => r.name);
    $("a").value = names.includes("lenet5") ? "lenet5" : names[0];
    $("b").value = names.find(n => n !== $("a").value) || names[0];
    const update = () => { show($("a").value, $("run-a")); show($("b").value, $("run-b")); };
    $("a").addEventListener("change", update); $("b").addEventListener("change", update);
    update();
  }
  Studio.nav("runs");
  init().catch(e => { $("error").textContent = e.message; });
})();

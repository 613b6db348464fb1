// faltung studio: helpers shared by the pages (no framework, no build step).
"use strict";

const Studio = {
  async api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) };
    const response = await fetch(path, options);
    let data;
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  },

  bytes(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  },

  toBase64(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    }
    return btoa(s);
  },

  // viridis-like colour map (dark blue -> teal -> yellow): reads well on a projector
  _stops: [[13, 8, 135], [84, 2, 163], [139, 10, 165], [185, 50, 137], [219, 92, 104],
           [244, 136, 73], [254, 188, 43], [240, 249, 33]],
  colormap(v) {
    const s = this._stops, x = (v / 255) * (s.length - 1), i = Math.min(Math.floor(x), s.length - 2);
    const t = x - i, a = s[i], b = s[i + 1];
    return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
  },
  _lut: null,
  lut() {
    if (!this._lut) {
      this._lut = new Uint8ClampedArray(256 * 3);
      for (let v = 0; v < 256; v++) this._lut.set(this.colormap(v), v * 3);
    }
    return this._lut;
  },

  // paint h x w pixels (channels 1: grey or colour map, 3: RGB) onto a canvas of h x w
  paint(canvas, pixels, h, w, channels, offset, colour) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h), lut = this.lut();
    for (let p = 0; p < h * w; p++) {
      if (channels === 3) {
        img.data[4 * p] = pixels[offset + 3 * p];
        img.data[4 * p + 1] = pixels[offset + 3 * p + 1];
        img.data[4 * p + 2] = pixels[offset + 3 * p + 2];
      } else {
        const v = pixels[offset + p * channels];
        if (colour) {
          img.data[4 * p] = lut[3 * v]; img.data[4 * p + 1] = lut[3 * v + 1];
          img.data[4 * p + 2] = lut[3 * v + 2];
        } else { img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = v; }
      }
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  },

  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  },

  // the probability bars: one row per class
  bars(container, probabilities, names) {
    if (container.children.length !== 3 * probabilities.length) {
      container.replaceChildren();
      probabilities.forEach((_, k) => {
        container.append(this.el("div", { class: "lab", text: names ? names[k] : String(k) }),
          this.el("div", { class: "track" }, this.el("div", { class: "fill" })),
          this.el("div", { class: "val" }));
      });
    }
    const best = Math.max(...probabilities), top = best > 0 ? probabilities.indexOf(best) : -1;
    probabilities.forEach((p, k) => {
      const fill = container.children[3 * k + 1].firstChild;
      fill.style.width = (100 * p).toFixed(1) + "%";
      fill.classList.toggle("top", k === top);
      container.children[3 * k + 2].textContent = (100 * p).toFixed(1) + " %";
    });
  },

  // a dense layer's values as vertical bars (negative values below the axis)
  vector(canvas, values) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600, height = canvas.clientHeight || 90;
    canvas.width = width * ratio; canvas.height = height * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    const max = Math.max(1e-9, ...values.map(Math.abs));
    const hasNeg = values.some(v => v < 0), axis = hasNeg ? height / 2 : height - 1;
    const step = width / values.length, bw = Math.max(1, step - (step > 4 ? 1 : 0));
    const top = values.indexOf(Math.max(...values));
    values.forEach((v, i) => {
      const h = (Math.abs(v) / max) * (hasNeg ? height / 2 - 2 : height - 2);
      ctx.fillStyle = v < 0 ? "#9aa4ae" : (i === top ? "#e4572e" : "#2e86ab");
      ctx.fillRect(i * step, v < 0 ? axis : axis - h, bw, h);
    });
    ctx.fillStyle = "#d8dde3"; ctx.fillRect(0, axis, width, 1);
  },

  // one card per layer: tiles for maps, bars for vectors, a note for dropout & co.
  layerCards(container, layers, tileSize) {
    container.replaceChildren();
    layers.forEach((layer, i) => {
      const shape = layer.shape.join(" × ");
      if (i > 0) container.append(this.el("div", { class: "flow", text: "▼" }));
      if (layer.kind === "passthrough" || layer.kind === "other") {
        container.append(this.el("div", { class: "layer pass" },
          this.el("span", { text: `${layer.name} · ${layer.class} · ${shape} — ` +
            (layer.kind === "passthrough" ? "passes its input on unchanged at inference"
                                          : "not drawn") })));
        return;
      }
      const card = this.el("div", { class: "layer", "data-layer": layer.name, "data-kind": layer.kind });
      let note = "";
      if (layer.kind === "maps" && layer.maps.count < layer.maps.total)
        note = ` (first ${layer.maps.count} of ${layer.maps.total} maps)`;
      if (layer.kind === "vector" && layer.values.length < layer.total)
        note = ` (first ${layer.values.length} of ${layer.total})`;
      card.append(this.el("div", { class: "title" }, this.el("b", { text: layer.name }),
        this.el("span", { class: "cls", text: layer.class }),
        this.el("span", { class: "shape", text: shape + note })));
      if (layer.kind === "maps") {
        const m = layer.maps, px = this.bytes(m.data), tiles = this.el("div", { class: "tiles" });
        const size = tileSize || Math.max(56, Math.min(112, 4 * m.width));
        for (let k = 0; k < m.count; k++) {
          const c = this.el("canvas", { class: "pix map" });
          this.paint(c, px, m.height, m.width, 1, k * m.height * m.width, true);
          c.style.width = c.style.height = size + "px";
          c.title = `${layer.name} map ${k}: max ${m.max[k]}`;
          tiles.append(this.el("div", { class: "tile" }, c, this.el("span", { text: String(k) })));
        }
        card.append(tiles);
      } else {
        const c = this.el("canvas", { class: "vector" });
        card.append(c);
        requestAnimationFrame(() => this.vector(c, layer.values));
      }
      container.append(card);
    });
  },

  nav(active) {
    document.querySelectorAll("header nav a").forEach(a => {
      if (a.dataset.page === active) a.classList.add("active");
    });
    this.api("/api/info").then(info => {
      const e = document.getElementById("model-name");
      if (e && info.model) e.textContent = "model: " + (info.model_name || "") + "  ·  " + info.model;
    }).catch(() => {});
  },
};

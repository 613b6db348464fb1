// Draw page: a canvas, live predictions (throttled), every layer's activations.
"use strict";
(function () {
  const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
  const small = document.createElement("canvas");
  const SIDE = 140;  // the drawing is sent as 140 x 140 grey pixels
  small.width = small.height = SIDE;
  const sctx = small.getContext("2d", { willReadFrequently: true });
  let drawing = false, last = null, inFlight = false, pending = false, lastSent = 0, dirty = false;
  const THROTTLE_MS = 120;

  function reset() {
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height);
    dirty = false;
    document.getElementById("digit").textContent = "?";
    document.getElementById("confidence").textContent = "draw something";
    Studio.bars(document.getElementById("probs"), new Array(10).fill(0));
    document.getElementById("layers").replaceChildren();
    Studio.paint(document.getElementById("seen"), new Uint8Array(784), 28, 28, 1, 0, false);
  }

  function point(event) {
    const r = pad.getBoundingClientRect();
    return [(event.clientX - r.left) * pad.width / r.width,
            (event.clientY - r.top) * pad.height / r.height];
  }

  function stroke(to) {
    ctx.strokeStyle = "#fff"; ctx.fillStyle = "#fff";
    ctx.lineWidth = 19; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath();
    if (last) { ctx.moveTo(last[0], last[1]); ctx.lineTo(to[0], to[1]); ctx.stroke(); }
    else { ctx.arc(to[0], to[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill(); }
    last = to; dirty = true;
  }

  function pixels() {
    sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = "high";
    sctx.drawImage(pad, 0, 0, SIDE, SIDE);
    const rgba = sctx.getImageData(0, 0, SIDE, SIDE).data, grey = new Uint8Array(SIDE * SIDE);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    return grey;
  }

  async function predict() {
    if (!dirty) return;
    if (inFlight) { pending = true; return; }
    inFlight = true; pending = false; lastSent = performance.now();
    const started = performance.now();
    try {
      const answer = await Studio.api("/api/predict", {
        drawing: { width: SIDE, height: SIDE, data: Studio.toBase64(pixels()) }, layers: "all" });
      show(answer, performance.now() - started);
      document.getElementById("error").textContent = "";
    } catch (e) {
      document.getElementById("error").textContent = e.message;
    } finally {
      inFlight = false;
      if (pending) predict();
    }
  }

  function show(answer, ms) {
    const p = answer.probabilities;
    document.getElementById("digit").textContent = String(answer.prediction);
    document.getElementById("confidence").textContent =
      (100 * p[answer.prediction]).toFixed(1) + " % sure";
    Studio.bars(document.getElementById("probs"), p);
    const inp = answer.input;
    Studio.paint(document.getElementById("seen"), Studio.bytes(inp.data), inp.height, inp.width,
      inp.channels === 3 ? 3 : 1, 0, false);
    Studio.layerCards(document.getElementById("layers"), answer.layers);
    document.getElementById("timing").textContent =
      `server ${answer.ms} ms · round trip ${ms.toFixed(0)} ms`;
    document.body.dataset.predictions = String(Number(document.body.dataset.predictions || 0) + 1);
  }

  function throttled() {
    if (performance.now() - lastSent >= THROTTLE_MS) predict();
    else if (!pending) { pending = true; setTimeout(() => { pending = false; predict(); },
      THROTTLE_MS - (performance.now() - lastSent)); }
  }

  pad.addEventListener("pointerdown", e => {
    drawing = true; last = null; pad.setPointerCapture(e.pointerId); stroke(point(e)); throttled();
  });
  pad.addEventListener("pointermove", e => {
    if (!drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events) stroke(point(ev));
    throttled();
  });
  const end = () => { if (drawing) { drawing = false; last = null; predict(); } };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  pad.addEventListener("pointerleave", end);
  document.getElementById("clear").addEventListener("click", reset);
  document.addEventListener("keydown", e => { if (e.key === "Escape" || e.key === "c") reset(); });
  Studio.nav("draw");
  reset();
})();

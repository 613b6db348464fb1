"""Fused recurrences of SimpleRNN, LSTM and GRU: the whole time loop in one op.

Each op takes the input projection of every time step at once (``xz = inputs @ kernel + bias``,
computed by ordinary ops, shape (batch, time, gates * units)), runs the recurrence over time in
NumPy, keeps what the backward pass needs, and its backward function is backpropagation through
time written out by hand (one pass from the last step to the first). That avoids building ~15
small graph nodes per time step and the full-size zero gradients that slicing one step out of a
sequence tensor costs, so a layer runs several times faster than the same loop built from ops.

``recurrent_mask`` is the (fixed over time) recurrent dropout mask: ``None``, one mask
(batch, units) for all gates, or one per gate (gates, batch, units) as Keras's
``implementation=1`` draws them. ``mask`` is the sequence mask (batch, time) of booleans (from
``Embedding(mask_zero=True)`` or ``Masking``): at a step where it is False a sample's states are
carried over unchanged (Keras's ``backend.rnn`` with a mask); the op returns these states, and
the layer derives Keras's outputs of masked steps from them. Activations are given by Keras
name; those whose derivative is a function of their output are supported
(``FUSED_ACTIVATIONS``).

The LSTM with tanh and sigmoid (Keras's defaults) has a fast path (:func:`lstm`; the readable
op is ``_lstm_reference``, which the fast one is tested against), and
:func:`lstm_projected` runs the layer's input projection and that recurrence as one op.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from faltung.ops import _blas, _onednn
from faltung.ops.activation import _stable_sigmoid
from faltung.tensor import Tensor, as_tensor, is_grad_enabled, make_result

Forward = Callable[[np.ndarray], np.ndarray]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 3.0, 0, 6) / 6.0  # relu6(x + 3) / 6, as faltung.activations


#: activation name -> (forward, derivative as a function of the output y = f(x))
FUSED_ACTIVATIONS: dict[str, tuple[Forward, Forward]] = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (_stable_sigmoid, lambda y: y * (1 - y)),
    "relu": (_relu, lambda y: (y > 0).astype(y.dtype)),
    "linear": (lambda x: x, np.ones_like),
    "hard_sigmoid": (_hard_sigmoid, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6.0),
}


def _activation(name: str, op: str) -> tuple[Forward, Forward]:
    if name not in FUSED_ACTIVATIONS:
        raise ValueError(f"{op}: activation {name!r} is not supported by the fused op; use one "
                         f"of {sorted(FUSED_ACTIVATIONS)}")
    return FUSED_ACTIVATIONS[name]


class _Recurrent:
    """``h @ recurrent_kernel`` with an optional recurrent dropout mask, its backward for one
    step, and the kernel gradient summed over all steps at the end (one large matmul)."""

    def __init__(self, kernel: np.ndarray, mask: np.ndarray | None, gates: int,
                 batch: int, steps: int, op: str) -> None:
        n, width = kernel.shape
        units = width // gates
        self.kernel, self.gates, self.units, self.mask = kernel, gates, units, mask
        self.kernel_t = kernel.T
        if mask is not None:
            mask = np.asarray(mask, dtype=kernel.dtype)
            if mask.shape not in ((batch, n), (gates, batch, n)):
                raise ValueError(f"{op}: recurrent_mask must have shape {(batch, n)} or "
                                 f"{(gates, batch, n)}, got {mask.shape}")
            self.mask = mask
        self.per_gate = mask is not None and mask.ndim == 3
        if self.per_gate:
            self.split = kernel.reshape(n, gates, units).transpose(1, 0, 2)  # (G, n, units)
            self.split_t = self.split.transpose(0, 2, 1)
            self.inputs = np.empty((steps, gates, batch, n), dtype=kernel.dtype)
        else:
            self.inputs = np.empty((steps, batch, n), dtype=kernel.dtype)

    def forward(self, t: int, h: np.ndarray) -> np.ndarray:
        if self.per_gate:
            hm = h[None] * self.mask
            self.inputs[t] = hm
            out = np.matmul(hm, self.split)  # (G, B, units)
            return out.transpose(1, 0, 2).reshape(h.shape[0], -1)
        hm = h if self.mask is None else h * self.mask
        self.inputs[t] = hm
        return hm @ self.kernel

    def backward(self, dz: np.ndarray) -> np.ndarray:
        """Gradient of h from the gradient of ``h @ kernel`` (batch, gates * units)."""
        if self.per_gate:
            dzg = dz.reshape(dz.shape[0], self.gates, self.units).transpose(1, 0, 2)
            return (np.matmul(dzg, self.split_t) * self.mask).sum(axis=0)
        dh = dz @ self.kernel_t
        return dh if self.mask is None else dh * self.mask

    def kernel_grad(self, dz_all: np.ndarray) -> np.ndarray:
        """Sum over steps of hm_t^T dz_t; ``dz_all`` is (steps, batch, gates * units)."""
        n = self.kernel.shape[0]
        if not self.per_gate:
            return self.inputs.reshape(-1, n).T @ dz_all.reshape(-1, dz_all.shape[-1])
        steps, batch = dz_all.shape[:2]
        dzg = dz_all.reshape(steps, batch, self.gates, self.units)
        grad = np.empty_like(self.kernel).reshape(n, self.gates, self.units)
        for g in range(self.gates):
            grad[:, g] = self.inputs[:, g].reshape(-1, n).T @ dzg[:, :, g].reshape(-1, self.units)
        return grad.reshape(n, -1)


def _check(op: str, xz: Tensor, kernel: Tensor, gates: int, states: list[Tensor]) -> int:
    if xz.ndim != 3:
        raise ValueError(f"{op}: xz must have shape (batch, time, {gates} * units), got "
                         f"{xz.shape}")
    if kernel.ndim != 2 or kernel.shape[1] != gates * kernel.shape[0] \
            or xz.shape[2] != kernel.shape[1]:
        raise ValueError(f"{op}: recurrent_kernel must have shape (units, {gates} * units) "
                         f"matching xz {xz.shape}, got {kernel.shape}")
    units = kernel.shape[0]
    for state in states:
        if state.shape != (xz.shape[0], units):
            raise ValueError(f"{op}: initial states must have shape {(xz.shape[0], units)}, "
                             f"got {state.shape}")
    if xz.shape[1] == 0:
        raise ValueError(f"{op}: the sequence has no time steps, shape {xz.shape}")
    return units


def _step_mask(op: str, mask: np.ndarray | None, batch: int, steps: int,
               dtype: np.dtype) -> np.ndarray | None:
    """The sequence mask as floats (time, batch, 1), or None when there is none."""
    if mask is None:
        return None
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.shape != (batch, steps):
        raise ValueError(f"{op}: mask must have shape (batch, time) = {(batch, steps)}, got "
                         f"{mask.shape}")
    return mask.astype(bool).T[:, :, None].astype(dtype)


def simple_rnn(xz: Tensor, recurrent_kernel: Tensor, h0: Tensor, activation: str = "tanh",
               recurrent_mask: np.ndarray | None = None, mask: np.ndarray | None = None) \
        -> Tensor:
    """All hidden states (batch, time, units) of ``h_t = act(xz_t + (h_{t-1} * m) @ U)``;
    with a sequence mask s_t: h_t = s_t act(...) + (1 - s_t) h_{t-1}.

    Backward: with dh_t = dL/dh_t (from the output and from step t + 1),
    da_t = s_t dh_t * act'(h_t), dxz_t = da_t, dU += (h_{t-1} m)^T da_t,
    dh_{t-1} += (da_t @ U^T) * m + (1 - s_t) dh_t."""
    op = "simple_rnn"
    xz, recurrent_kernel, h0 = as_tensor(xz), as_tensor(recurrent_kernel), as_tensor(h0)
    _check(op, xz, recurrent_kernel, 1, [h0])
    f, df = _activation(activation, op)
    x = xz.data.transpose(1, 0, 2)  # (T, B, U): one contiguous step at a time
    steps, batch = x.shape[:2]
    rec = _Recurrent(recurrent_kernel.data, recurrent_mask, 1, batch, steps, op)
    keep = _step_mask(op, mask, batch, steps, x.dtype)
    hs = np.empty_like(x)
    new = hs if keep is None else np.empty_like(x)  # act(...) before the sequence mask
    h = h0.data.astype(x.dtype, copy=False)
    for t in range(steps):
        new[t] = f(x[t] + rec.forward(t, h))
        h = new[t] if keep is None else np.where(keep[t] > 0, new[t], h)
        hs[t] = h

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = g.transpose(1, 0, 2)
        dxz = np.empty_like(x)
        dh = np.zeros_like(hs[0])
        for t in range(steps - 1, -1, -1):
            dh = g[t] + dh
            if keep is None:
                da = dh * df(new[t])
                dxz[t] = da
                dh = rec.backward(da)
            else:
                da = dh * keep[t] * df(new[t])
                dxz[t] = da
                dh = rec.backward(da) + dh * (1 - keep[t])
        return dxz.transpose(1, 0, 2), rec.kernel_grad(dxz), dh

    return make_result(hs.transpose(1, 0, 2), (xz, recurrent_kernel, h0), backward,
                       "simple_rnn")


def _lstm_reference(xz: Tensor, recurrent_kernel: Tensor, h0: Tensor, c0: Tensor,
                    activation: str = "tanh", recurrent_activation: str = "sigmoid",
                    recurrent_mask: np.ndarray | None = None,
                    mask: np.ndarray | None = None) -> Tensor:
    """The readable LSTM recurrence (any fused activation), which :func:`lstm`'s fast path is
    tested against. Hidden and cell states of an LSTM, (batch, time, 2 * units): h_t then c_t
    on the last axis.

    With z = xz_t + (h_{t-1} * m) @ U split into the gates i, f, c~, o (Keras's order) and
    s = recurrent_activation, a = activation (Hochreiter & Schmidhuber 1997, with forget gate):
    i = s(z_i), f = s(z_f), g = a(z_c), o = s(z_o), c_t = f c_{t-1} + i g, h_t = o a(c_t).
    Backward: dc_t = dc_t(out) + dc_{t+1} f_{t+1} + dh_t o a'(c_t); dz_i = dc_t g s'(i),
    dz_f = dc_t c_{t-1} s'(f), dz_c = dc_t i a'(g), dz_o = dh_t a(c_t) s'(o);
    dh_{t-1} = (dz @ U^T) * m, dU = sum_t (h_{t-1} m)^T dz_t. With a sequence mask s_t, h_t and
    c_t are s_t times the new values plus (1 - s_t) times the previous ones: the step's gradient
    sees s_t dh_t and s_t dc_t, and (1 - s_t) dh_t, (1 - s_t) dc_t pass on to step t - 1."""
    op = "lstm"
    xz, recurrent_kernel = as_tensor(xz), as_tensor(recurrent_kernel)
    h0, c0 = as_tensor(h0), as_tensor(c0)
    units = _check(op, xz, recurrent_kernel, 4, [h0, c0])
    fa, dfa = _activation(activation, op)
    fs, dfs = _activation(recurrent_activation, op)
    x = xz.data.transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    rec = _Recurrent(recurrent_kernel.data, recurrent_mask, 4, batch, steps, op)
    keep = _step_mask(op, mask, batch, steps, x.dtype)
    gates = np.empty_like(x)  # i, f, g, o after their activations
    cs = np.empty((steps + 1, batch, units), dtype=x.dtype)  # c_{-1} = c0, then c_0 ...
    acs = np.empty((steps, batch, units), dtype=x.dtype)  # a(c_t)
    out = np.empty((steps, batch, 2 * units), dtype=x.dtype)
    h = h0.data.astype(x.dtype, copy=False)
    cs[0] = c0.data
    u1, u2, u3 = units, 2 * units, 3 * units
    for t in range(steps):
        z = x[t] + rec.forward(t, h)
        gt = gates[t]
        gt[:, :u2] = fs(z[:, :u2])
        gt[:, u2:u3] = fa(z[:, u2:u3])
        gt[:, u3:] = fs(z[:, u3:])
        c = gt[:, u1:u2] * cs[t] + gt[:, :u1] * gt[:, u2:u3]
        acs[t] = fa(c)
        if keep is None:
            h = gt[:, u3:] * acs[t]
        else:
            on = keep[t] > 0
            h = np.where(on, gt[:, u3:] * acs[t], h)
            c = np.where(on, c, cs[t])
        cs[t + 1] = c
        out[t, :, :units] = h
        out[t, :, units:] = c

    def backward(g: np.ndarray) -> tuple[np.ndarray, ...]:
        g = g.transpose(1, 0, 2)
        dz_all = np.empty_like(x)
        dh = np.zeros((batch, units), dtype=x.dtype)
        dc = np.zeros((batch, units), dtype=x.dtype)
        for t in range(steps - 1, -1, -1):
            i, f, gg, o = (gates[t][:, k * units:(k + 1) * units] for k in range(4))
            dh = g[t, :, :units] + dh
            dc = g[t, :, units:] + dc
            if keep is not None:  # what passes the masked samples' step unchanged
                dh_skip, dc_skip = dh * (1 - keep[t]), dc * (1 - keep[t])
                dh, dc = dh * keep[t], dc * keep[t]
            dc = dc + dh * o * dfa(acs[t])
            dz = dz_all[t]
            dz[:, :u1] = dc * gg * dfs(i)
            dz[:, u1:u2] = dc * cs[t] * dfs(f)
            dz[:, u2:u3] = dc * i * dfa(gg)
            dz[:, u3:] = dh * acs[t] * dfs(o)
            dc = dc * f
            dh = rec.backward(dz)
            if keep is not None:
                dh, dc = dh + dh_skip, dc + dc_skip
        return dz_all.transpose(1, 0, 2), rec.kernel_grad(dz_all), dh, dc

    return make_result(out.transpose(1, 0, 2), (xz, recurrent_kernel, h0, c0), backward, "lstm")


def _sigmoid_inplace(z: np.ndarray) -> None:
    """z <- 1 / (1 + e^-z) in four passes and no temporary; e^-z overflows to inf for very
    negative z, which gives the right limit 0 (call under ``np.errstate(over="ignore")``)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)


#: the fast LSTM keeps its gates in the order i, f, o, c (Keras's gates 0, 1, 3, 2) so that the
#: three sigmoid gates of a step are one block
_LSTM_ORDER = [0, 1, 3, 2]


def _recurrent_masks(op: str, recurrent_kernel: np.ndarray, recurrent_mask: object,
                     batch: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The recurrent kernel per gate in the fast LSTM's order, (4, n, units), and the
    recurrent mask as an array (per gate in the same order) or None; whether it is per gate."""
    n = recurrent_kernel.shape[0]
    split = np.ascontiguousarray(recurrent_kernel.astype(dtype, copy=False)
                                 .reshape(n, 4, n).transpose(1, 0, 2)[_LSTM_ORDER])
    if recurrent_mask is None:
        return split, None, False
    rmask = np.asarray(recurrent_mask, dtype=dtype)
    if rmask.shape not in ((batch, n), (4, batch, n)):
        raise ValueError(f"{op}: recurrent_mask must have shape {(batch, n)} or "
                         f"{(4, batch, n)}, got {rmask.shape}")
    if rmask.ndim == 3:
        return split, np.ascontiguousarray(rmask[_LSTM_ORDER]), True
    return split, rmask, False


def _small_gemms(per_gate: bool) -> contextlib.AbstractContextManager:
    """The BLAS threads for the per-step GEMMs: one for the per-gate batch of four
    (4 x 32 x 128 x 128 for the IMDB LSTM: 80 of them took 4.8 ms on one thread and 8.9 ms on
    two, best of 15 on 2 cores), OpenBLAS's default for the single wide GEMM (32 x 128 x 512:
    4.7 ms on one thread, 3.0 ms on two)."""
    return _blas.single_threaded() if per_gate else contextlib.nullcontext()


def _lstm_fast(gates: np.ndarray, split: np.ndarray, rmask: np.ndarray | None, per_gate: bool,
               keep: np.ndarray | None, h0: np.ndarray, c0: np.ndarray) \
        -> tuple[np.ndarray, Callable[[np.ndarray], tuple[np.ndarray, ...]]]:
    """The fast recurrence on ``gates`` (4, time, batch, units), the input part of the gates'
    pre-activations in the order i, f, o, c, which it overwrites with the activations.
    Returns the (time, batch, 2 units) states h_t, c_t and the backward function
    g (time, batch, 2 units) -> (d gates in the same layout, d kernel (n, 4 n) in Keras's
    order, d h0, d c0)."""
    _, steps, batch, n = gates.shape
    dtype = gates.dtype
    wide = None if per_gate else np.ascontiguousarray(split.transpose(1, 0, 2)).reshape(n, 4 * n)
    off = None if keep is None else keep == 0  # (time, batch, 1): samples whose step is masked
    # the recurrent GEMM's inputs h_{t-1} (times the mask), kept for the kernel's gradient
    hm = np.empty((4, steps, batch, n) if per_gate else (steps, batch, n), dtype=dtype)
    out = np.empty((steps, batch, 2 * n), dtype=dtype)
    hs, cs = out[:, :, :n], out[:, :, n:]
    acs = np.empty((steps, batch, n), dtype=dtype)  # tanh(c_t) before the sequence mask
    if per_gate:
        z = np.empty((4, batch, n), dtype=dtype)
    else:
        z_wide = np.empty((batch, 4 * n), dtype=dtype)
        z = z_wide.reshape(batch, 4, n).transpose(1, 0, 2)
    tmp = np.empty((batch, n), dtype=dtype)
    h_prev, c_prev = h0, c0
    with np.errstate(over="ignore"), _small_gemms(per_gate):
        for t in range(steps):
            if per_gate:
                np.multiply(h_prev, rmask, out=hm[:, t])
                np.matmul(hm[:, t], split, out=z)
            else:
                if rmask is None:
                    hm[t] = h_prev
                else:
                    np.multiply(h_prev, rmask, out=hm[t])
                np.matmul(hm[t], wide, out=z_wide)
            gt = gates[:, t]
            gt += z
            _sigmoid_inplace(gt[:3])
            i, f, o, g = gt
            np.tanh(g, out=g)
            c, h, a = cs[t], hs[t], acs[t]
            np.multiply(f, c_prev, out=c)
            np.multiply(i, g, out=tmp)
            c += tmp
            np.tanh(c, out=a)
            np.multiply(o, a, out=h)
            if off is not None:  # masked samples carry their states over
                np.copyto(h, h_prev, where=off[t])
                np.copyto(c, c_prev, where=off[t])
            h_prev, c_prev = h, c

    def backward(g_out: np.ndarray) -> tuple[np.ndarray, ...]:
        dgates = np.empty_like(gates)
        dh = np.zeros((batch, n), dtype=dtype)
        dc = np.zeros((batch, n), dtype=dtype)
        s1, s2 = np.empty((batch, n), dtype=dtype), np.empty((batch, n), dtype=dtype)
        s3 = np.empty((3, batch, n), dtype=dtype)
        if per_gate:
            split_t = split.transpose(0, 2, 1)
            dmid = np.empty((4, batch, n), dtype=dtype)
        else:
            wide_t = wide.T
            dz_wide = np.empty((batch, 4 * n), dtype=dtype)
            dz = dz_wide.reshape(batch, 4, n).transpose(1, 0, 2)
        if keep is not None:
            dh_skip, dc_skip = np.empty_like(dh), np.empty_like(dc)
        with _small_gemms(per_gate):
            for t in range(steps - 1, -1, -1):
                gt, dgt = gates[:, t], dgates[:, t]
                i, f, o, g = gt
                di, df, do, dg = dgt
                a = acs[t]
                c_prev = cs[t - 1] if t else c0
                dh += g_out[t, :, :n]
                dc += g_out[t, :, n:]
                if keep is not None:  # what passes the masked samples' step unchanged
                    np.multiply(dh, 1 - keep[t], out=dh_skip)
                    np.multiply(dc, 1 - keep[t], out=dc_skip)
                    dh *= keep[t]
                    dc *= keep[t]
                # dc += dh o tanh'(c)
                np.multiply(a, a, out=s1)
                np.subtract(1, s1, out=s1)
                np.multiply(dh, o, out=s2)
                s2 *= s1
                dc += s2
                # sigmoid' = y (1 - y) of i, f, o at once
                np.subtract(1, gt[:3], out=s3)
                s3 *= gt[:3]
                np.multiply(dc, g, out=di)
                di *= s3[0]
                np.multiply(dc, c_prev, out=df)
                df *= s3[1]
                np.multiply(dh, a, out=do)
                do *= s3[2]
                np.multiply(g, g, out=s1)
                np.subtract(1, s1, out=s1)
                np.multiply(dc, i, out=dg)
                dg *= s1
                dc *= f
                if per_gate:  # dh_{t-1} = sum over gates of (dz_k @ U_k^T) m_k, in Keras's order
                    np.matmul(dgt, split_t, out=dmid)
                    dmid *= rmask
                    np.add(dmid[0], dmid[1], out=dh)
                    dh += dmid[3]
                    dh += dmid[2]
                else:
                    np.copyto(dz, dgt)
                    np.matmul(dz_wide, wide_t, out=dh)
                    if rmask is not None:
                        dh *= rmask
                if keep is not None:
                    dh += dh_skip
                    dc += dc_skip
        grad = np.empty((n, 4, n), dtype=dtype)
        rows = steps * batch
        for k, gate in enumerate(_LSTM_ORDER):
            left = (hm[k] if per_gate else hm).reshape(rows, n)
            grad[:, gate] = left.T @ dgates[k].reshape(rows, n)
        return dgates, grad.reshape(n, 4 * n), dh, dc

    return out, backward


def lstm(xz: Tensor, recurrent_kernel: Tensor, h0: Tensor, c0: Tensor,
         activation: str = "tanh", recurrent_activation: str = "sigmoid",
         recurrent_mask: np.ndarray | None = None, mask: np.ndarray | None = None) -> Tensor:
    """Hidden and cell states of an LSTM, (batch, time, 2 * units): h_t then c_t on the last axis;
    the formulas are :func:`_lstm_reference`'s.

    With tanh and sigmoid (Keras's defaults) a fast path computes the same: every buffer is
    allocated once per call, gate-major as (gate, time, batch, units) with the gates in the order
    i, f, o, c; a step is one GEMM for the recurrent part of all four gates (a batch of four
    with per-gate recurrent dropout), one in-place sigmoid over the three sigmoid gates, one
    in-place tanh and a few ufuncs writing into preallocated buffers. Backpropagation through
    time reuses that layout, and the recurrent kernel's gradient is one GEMM per gate over all
    steps. Other activations run the reference."""
    if activation != "tanh" or recurrent_activation != "sigmoid":
        return _lstm_reference(xz, recurrent_kernel, h0, c0, activation, recurrent_activation,
                               recurrent_mask, mask)
    op = "lstm"
    xz, recurrent_kernel = as_tensor(xz), as_tensor(recurrent_kernel)
    h0, c0 = as_tensor(h0), as_tensor(c0)
    n = _check(op, xz, recurrent_kernel, 4, [h0, c0])
    batch, steps, _ = xz.shape
    dtype = xz.data.dtype
    split, rmask, per_gate = _recurrent_masks(op, recurrent_kernel.data, recurrent_mask, batch,
                                              dtype)
    keep = _step_mask(op, mask, batch, steps, dtype)
    gates = np.empty((4, steps, batch, n), dtype=dtype)
    x4 = xz.data.reshape(batch, steps, 4, n)
    for k, gate in enumerate(_LSTM_ORDER):
        gates[k] = x4[:, :, gate].transpose(1, 0, 2)
    out, core_backward = _lstm_fast(gates, split, rmask, per_gate, keep,
                                    h0.data.astype(dtype, copy=False),
                                    c0.data.astype(dtype, copy=False))

    def backward(g: np.ndarray) -> tuple[np.ndarray, ...]:
        dgates, d_kernel, dh, dc = core_backward(g.transpose(1, 0, 2))
        dxz = np.empty((batch, steps, 4, n), dtype=dtype)
        for k, gate in enumerate(_LSTM_ORDER):
            dxz[:, :, gate] = dgates[k].transpose(1, 0, 2)
        return dxz.reshape(batch, steps, 4 * n), d_kernel, dh, dc

    return make_result(out.transpose(1, 0, 2), (xz, recurrent_kernel, h0, c0), backward, "lstm")

def _projected_operands(x: Tensor, kernel: Tensor, bias: Tensor | None,
                        recurrent_kernel: Tensor, h0: Tensor, c0: Tensor) \
        -> tuple[Tensor, Tensor, Tensor | None, Tensor, Tensor, Tensor]:
    """The operands of :func:`lstm_projected` as tensors, their shapes checked."""
    op = "lstm"
    x, kernel, recurrent_kernel = as_tensor(x), as_tensor(kernel), as_tensor(recurrent_kernel)
    h0, c0 = as_tensor(h0), as_tensor(c0)
    if x.ndim != 3:
        raise ValueError(f"{op}: x must have shape (batch, time, features), got {x.shape}")
    batch, steps, features = x.shape
    n = recurrent_kernel.shape[0]
    if kernel.shape != (features, 4 * n):
        raise ValueError(f"{op}: kernel must have shape {(features, 4 * n)}, got {kernel.shape}")
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (4 * n,):
            raise ValueError(f"{op}: bias must have shape {(4 * n,)}, got {bias.shape}")
    if steps == 0:
        raise ValueError(f"{op}: the sequence has no time steps, shape {x.shape}")
    if recurrent_kernel.shape != (n, 4 * n):
        raise ValueError(f"{op}: recurrent_kernel must have shape (units, 4 * units), got "
                         f"{recurrent_kernel.shape}")
    for state in (h0, c0):
        if state.shape != (batch, n):
            raise ValueError(f"{op}: initial states must have shape {(batch, n)}, got "
                             f"{state.shape}")
    return x, kernel, bias, recurrent_kernel, h0, c0


def lstm_inference(x: Tensor, kernel: Tensor, bias: Tensor | None, recurrent_kernel: Tensor,
                   h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor] | None:
    """The LSTM layer's forward pass with tanh and sigmoid, no masks and no dropout, where no
    gradient is recorded (predict, evaluate): (h_t of every step (batch, time, units), the last
    h, the last c), what :func:`lstm_projected` gives, on oneDNN's LSTM kernel
    (``faltung.ops._onednn.lstm``), which runs the whole sequence in compiled code instead of
    a dozen NumPy calls per step. None where it does not apply (a gradient to record, not
    float32, oneDNN not installed): the caller then runs :func:`lstm_projected`."""
    operands = _projected_operands(x, kernel, bias, recurrent_kernel, h0, c0)
    if is_grad_enabled() and any(t is not None and t.requires_grad for t in operands):
        return None
    x, kernel, bias, recurrent_kernel, h0, c0 = operands
    result = _onednn.lstm(x.data, kernel.data, recurrent_kernel.data,
                          None if bias is None else bias.data, h0.data, c0.data)
    if result is None:
        return None
    return tuple(Tensor(array) for array in result)  # type: ignore[return-value]


def lstm_projected(x: Tensor, kernel: Tensor, bias: Tensor | None, recurrent_kernel: Tensor,
                   h0: Tensor, c0: Tensor, input_mask: np.ndarray | None = None,
                   recurrent_mask: np.ndarray | None = None,
                   mask: np.ndarray | None = None) -> Tensor:
    """The LSTM layer's whole computation with tanh and sigmoid: the input projection
    ``xz = (x * input_mask) @ kernel + bias`` and :func:`lstm` on it, as one op with the same
    output. ``input_mask`` is None, one dropout mask (batch, features) or one per gate
    (4, batch, features) in Keras's gate order, fixed over time as the recurrent one.

    The projection writes each gate's pre-activations of all time steps straight into the fast
    recurrence's gate-major buffer (one GEMM per gate), and its backward pass reads the gates'
    gradients from there: no (batch, time, 4 units) array is assembled, split, or transposed on
    the way, and the masked input is recomputed in the backward pass instead of being kept.
    d kernel_g = (x m_g)^T dz_g, d bias_g = sum dz_g, dx = sum_g (dz_g @ kernel_g^T) m_g."""
    op = "lstm"
    x, kernel, bias, recurrent_kernel, h0, c0 = _projected_operands(x, kernel, bias,
                                                                    recurrent_kernel, h0, c0)
    batch, steps, features = x.shape
    n = recurrent_kernel.shape[0]
    # the ops the layer would otherwise run promote mixed dtypes (a float64 input, float32
    # weights): compute in the promoted type
    dtype = np.result_type(x.data.dtype, kernel.data.dtype, recurrent_kernel.data.dtype)
    imask = None
    if input_mask is not None:
        imask = np.asarray(input_mask, dtype=dtype)
        if imask.shape not in ((batch, features), (4, batch, features)):
            raise ValueError(f"{op}: input_mask must have shape {(batch, features)} or "
                             f"{(4, batch, features)}, got {imask.shape}")
    split, rmask, per_gate = _recurrent_masks(op, recurrent_kernel.data, recurrent_mask, batch,
                                              dtype)
    keep = _step_mask(op, mask, batch, steps, dtype)
    w = kernel.data.astype(dtype, copy=False)
    b = None if bias is None else bias.data.astype(dtype, copy=False)
    xt = np.ascontiguousarray(x.data.transpose(1, 0, 2), dtype=dtype)  # (time, batch, features)
    rows = steps * batch
    xm = None if imask is None else np.empty_like(xt)

    def gate_input(gate: int) -> np.ndarray:
        """The input that gate ``gate`` (Keras's index) sees, (time * batch, features)."""
        if imask is None:
            return xt.reshape(rows, features)
        np.multiply(xt, imask[gate] if imask.ndim == 3 else imask, out=xm)
        return xm.reshape(rows, features)

    gates = np.empty((4, steps, batch, n), dtype=dtype)
    shared = None if imask is None or imask.ndim == 3 else gate_input(0)
    for k, gate in enumerate(_LSTM_ORDER):
        cols = slice(gate * n, (gate + 1) * n)
        source = shared if shared is not None else gate_input(gate)
        np.matmul(source, w[:, cols], out=gates[k].reshape(rows, n))
        if b is not None:
            gates[k] += b[cols]
    out, core_backward = _lstm_fast(gates, split, rmask, per_gate, keep,
                                    h0.data.astype(dtype, copy=False),
                                    c0.data.astype(dtype, copy=False))

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        dgates, d_recurrent, dh, dc = core_backward(g.transpose(1, 0, 2))
        d_kernel = np.empty((features, 4 * n), dtype=dtype)
        d_bias = None if b is None else np.empty(4 * n, dtype=dtype)
        dx = np.zeros((steps, batch, features), dtype=dtype) if x.requires_grad else None
        part = None if dx is None else np.empty_like(dx)
        shared = None if imask is None or imask.ndim == 3 else gate_input(0)
        for k, gate in enumerate(_LSTM_ORDER):
            cols = slice(gate * n, (gate + 1) * n)
            dz = dgates[k].reshape(rows, n)
            source = shared if shared is not None else gate_input(gate)
            d_kernel[:, cols] = source.T @ dz
            if d_bias is not None:
                np.sum(dz, axis=0, out=d_bias[cols])
            if dx is not None:
                np.matmul(dz, w[:, cols].T, out=part.reshape(rows, features))
                if imask is not None and imask.ndim == 3:
                    part *= imask[gate]
                dx += part
        if dx is not None and imask is not None and imask.ndim == 2:
            dx *= imask
        grads = [None if dx is None else dx.transpose(1, 0, 2).astype(x.dtype, copy=False),
                 d_kernel.astype(kernel.dtype, copy=False)]
        if bias is not None:
            grads.append(d_bias.astype(bias.dtype, copy=False))
        return (*grads, d_recurrent.astype(recurrent_kernel.dtype, copy=False), dh, dc)

    parents = (x, kernel) + (() if bias is None else (bias,)) + (recurrent_kernel, h0, c0)
    return make_result(out.transpose(1, 0, 2), parents, backward, "lstm")


def gru(xz: Tensor, recurrent_kernel: Tensor, recurrent_bias: Tensor | None, h0: Tensor,
        activation: str = "tanh", recurrent_activation: str = "sigmoid",
        recurrent_mask: np.ndarray | None = None, mask: np.ndarray | None = None) -> Tensor:
    """All hidden states (batch, time, units) of a GRU with the reset gate after the matmul
    (Keras's ``reset_after=True``, Cho et al. 2014 as cuDNN computes it).

    With gates z, r, h~ (Keras's order), xz_t = x_t @ W + b_in, q = (h_{t-1} * m) @ U + b_rec:
    z = s(xz_z + q_z), r = s(xz_r + q_r), h~ = a(xz_h + r * q_h), h_t = z h_{t-1} + (1 - z) h~.
    Backward: dz = dh (h_{t-1} - h~) s'(z), da = dh (1 - z) a'(h~), dr = da q_h s'(r),
    dq = [dz, dr, da r]; dh_{t-1} = dh z + (dq @ U^T) * m, dU = sum (h m)^T dq, db_rec = sum dq.
    With a sequence mask s_t the step sees s_t dh and (1 - s_t) dh passes on to h_{t-1}."""
    op = "gru"
    xz, recurrent_kernel, h0 = as_tensor(xz), as_tensor(recurrent_kernel), as_tensor(h0)
    units = _check(op, xz, recurrent_kernel, 3, [h0])
    if recurrent_bias is not None:
        recurrent_bias = as_tensor(recurrent_bias)
        if recurrent_bias.shape != (3 * units,):
            raise ValueError(f"{op}: recurrent_bias must have shape {(3 * units,)}, got "
                             f"{recurrent_bias.shape}")
    fa, dfa = _activation(activation, op)
    fs, dfs = _activation(recurrent_activation, op)
    x = xz.data.transpose(1, 0, 2)
    steps, batch = x.shape[:2]
    rec = _Recurrent(recurrent_kernel.data, recurrent_mask, 3, batch, steps, op)
    keep = _step_mask(op, mask, batch, steps, x.dtype)
    u2 = 2 * units
    zr = np.empty((steps, batch, u2), dtype=x.dtype)  # z, r after the recurrent activation
    qh = np.empty((steps, batch, units), dtype=x.dtype)  # recurrent part of the candidate
    hh = np.empty((steps, batch, units), dtype=x.dtype)  # candidate h~
    hs = np.empty((steps + 1, batch, units), dtype=x.dtype)  # h_{-1} = h0, then h_0 ...
    hs[0] = h0.data
    for t in range(steps):
        q = rec.forward(t, hs[t])
        if recurrent_bias is not None:
            q = q + recurrent_bias.data
        zr[t] = fs(x[t, :, :u2] + q[:, :u2])
        z, r = zr[t, :, :units], zr[t, :, units:]
        qh[t] = q[:, u2:]
        hh[t] = fa(x[t, :, u2:] + r * qh[t])
        h = z * hs[t] + (1 - z) * hh[t]
        hs[t + 1] = h if keep is None else np.where(keep[t] > 0, h, hs[t])

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g = g.transpose(1, 0, 2)
        dxz = np.empty_like(x)
        dq_all = np.empty_like(x)
        dh = np.zeros((batch, units), dtype=x.dtype)
        for t in range(steps - 1, -1, -1):
            z, r = zr[t, :, :units], zr[t, :, units:]
            dh = g[t] + dh
            dh_skip = None
            if keep is not None:
                dh_skip, dh = dh * (1 - keep[t]), dh * keep[t]
            da = dh * (1 - z) * dfa(hh[t])
            dxz[t, :, :units] = dh * (hs[t] - hh[t]) * dfs(z)
            dxz[t, :, units:u2] = da * qh[t] * dfs(r)
            dxz[t, :, u2:] = da
            dq = dq_all[t]
            dq[:, :u2] = dxz[t, :, :u2]
            dq[:, u2:] = da * r
            dh = dh * z + rec.backward(dq)
            if dh_skip is not None:
                dh = dh + dh_skip
        db = None if recurrent_bias is None else dq_all.sum(axis=(0, 1))
        return dxz.transpose(1, 0, 2), rec.kernel_grad(dq_all), db, dh

    parents = (xz, recurrent_kernel, recurrent_bias if recurrent_bias is not None
               else Tensor(np.zeros(0, dtype=x.dtype)), h0)
    return make_result(hs[1:].transpose(1, 0, 2), parents, backward, "gru")

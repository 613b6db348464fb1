"""The seminar's worked example (seeds/001, chapter 3, eqs. 3.1-3.8), numbers written out by hand.

A 3x3 input X is convolved (cross-correlated, stride 1, 'valid') with a 2x2 kernel F into a 2x2
output O. With the upstream gradient dO = dE/dO the paper derives

* the forward pass, eq. (3.2): O_ij = sum_ab F_ab X_(i+a-1)(j+b-1);
* the kernel gradient, eq. (3.5), i.e. dF = X * dO (eq. 3.6);
* the input gradient, eq. (3.7), i.e. dX = dO (full *) Flip(F) (eq. 3.8).

The seed has typos: in (3.5) the last two lines are labelled dF11 instead of dF21 and dF22; in
(3.7) the line for dX22 misses a '+' before dO22 F11; and the rotated kernel in (3.8) is printed
with deltas (dF22 dF21 / dF12 dF11) where it means F itself. The numbers below follow the
corrected equations and were worked out on paper:

    X = [[2,  0, 1],     F = [[ 1, 2],     dO = [[1, -2],
         [3, -1, 4],          [-1, 3]]            [3,  2]]
         [1,  5, 2]]

    (3.2)  O11 = 1*2 + 2*0 + (-1)*3 + 3*(-1)      = -4
           O12 = 1*0 + 2*1 + (-1)*(-1) + 3*4      = 15
           O21 = 1*3 + 2*(-1) + (-1)*1 + 3*5      = 15
           O22 = 1*(-1) + 2*4 + (-1)*5 + 3*2      =  8

    (3.5)  dF11 = 1*2 + (-2)*0 + 3*3 + 2*(-1)     =  9
           dF12 = 1*0 + (-2)*1 + 3*(-1) + 2*4     =  3
           dF21 = 1*3 + (-2)*(-1) + 3*1 + 2*5     = 18
           dF22 = 1*(-1) + (-2)*4 + 3*5 + 2*2     = 10

    (3.7)  dX11 = 1*1                             =  1
           dX12 = 1*2 + (-2)*1                    =  0
           dX13 = (-2)*2                          = -4
           dX21 = 1*(-1) + 3*1                    =  2
           dX22 = 1*3 + (-2)*(-1) + 3*2 + 2*1     = 13
           dX23 = (-2)*3 + 2*2                    = -2
           dX31 = 3*(-1)                          = -3
           dX32 = 3*3 + 2*(-1)                    =  7
           dX33 = 2*3                             =  6
"""

import numpy as np

from faltung import Tensor, ops

X = [[2, 0, 1], [3, -1, 4], [1, 5, 2]]
F = [[1, 2], [-1, 3]]
D_O = [[1, -2], [3, 2]]

O_BY_HAND = [[-4, 15], [15, 8]]
D_F_BY_HAND = [[9, 3], [18, 10]]
D_X_BY_HAND = [[1, 0, -4], [2, 13, -2], [-3, 7, 6]]


def _image(rows):
    """A 2-D list as an NHWC batch of one single-channel image, float64."""
    return np.asarray(rows, dtype=np.float64)[None, :, :, None]


def _kernel(rows):
    """A 2-D list as a (KH, KW, 1, 1) kernel, float64."""
    return np.asarray(rows, dtype=np.float64)[:, :, None, None]


def _forward_backward():
    x = Tensor(_image(X), requires_grad=True)
    f = Tensor(_kernel(F), requires_grad=True)
    out = ops.conv2d(x, f)
    out.backward(_image(D_O))
    return out, x, f


def test_forward_is_eq_3_2():
    """conv2d computes the 2x2 output of eq. (3.2) (a cross-correlation, kernel not flipped)."""
    out, _, _ = _forward_backward()
    assert out.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(out.data[0, :, :, 0], O_BY_HAND)


def test_kernel_gradient_is_eq_3_5():
    """The kernel gradient is eq. (3.5): each tap sums dO times the input under that tap."""
    _, _, f = _forward_backward()
    assert f.grad.shape == (2, 2, 1, 1)
    np.testing.assert_array_equal(f.grad[:, :, 0, 0], D_F_BY_HAND)


def test_input_gradient_is_eq_3_7():
    """The input gradient is eq. (3.7): every input value collects dO times the kernel taps
    that touched it."""
    _, x, _ = _forward_backward()
    assert x.grad.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(x.grad[0, :, :, 0], D_X_BY_HAND)


def test_kernel_gradient_is_a_convolution_eq_3_6():
    """Eq. (3.6): dF = X * dO, the input convolved with the output gradient as the kernel."""
    df = ops.conv2d(Tensor(_image(X)), Tensor(_kernel(D_O)))
    np.testing.assert_array_equal(df.data[0, :, :, 0], D_F_BY_HAND)


def test_input_gradient_is_a_full_convolution_with_the_flipped_kernel_eq_3_8():
    """Eq. (3.8): dX = dO (full *) Flip(F): dO padded by kernel size - 1 on every side,
    convolved with F rotated by 180 degrees (written out by hand: [[3, -1], [2, 1]])."""
    d_o_full = np.pad(np.asarray(D_O, dtype=np.float64), 1)
    flipped_by_hand = [[3, -1], [2, 1]]
    dx = ops.conv2d(Tensor(d_o_full[None, :, :, None]), Tensor(_kernel(flipped_by_hand)))
    np.testing.assert_array_equal(dx.data[0, :, :, 0], D_X_BY_HAND)


def test_example_in_float32():
    """The same numbers come out in the default float32 (all are small integers, so exact)."""
    x = Tensor(np.asarray(X)[None, :, :, None], requires_grad=True)
    f = Tensor(np.asarray(F)[:, :, None, None], requires_grad=True)
    out = ops.conv2d(x, f)
    out.backward(np.asarray(D_O)[None, :, :, None])
    assert out.dtype == x.grad.dtype == f.grad.dtype == np.float32
    np.testing.assert_array_equal(out.data[0, :, :, 0], O_BY_HAND)
    np.testing.assert_array_equal(f.grad[:, :, 0, 0], D_F_BY_HAND)
    np.testing.assert_array_equal(x.grad[0, :, :, 0], D_X_BY_HAND)

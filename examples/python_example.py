"""The README's Python example: numpy call, torch call with backward, module swap."""

import numpy as np
import torch

import fastconv

# numpy in, numpy out
x = np.array([[[[3, 9, 0], [2, 8, 1], [1, 4, 8]]]], np.float32)
w = np.array([[[[8, 9], [4, 4]]]], np.float32)
y = fastconv.conv2d(x, w, np.array([0.06], np.float32))
assert np.allclose(y, [[[[145.06, 108.06], [108.06, 121.06]]]]), y

# torch in, torch out, differentiable; padding beyond torch: (begin, end) pairs
xt = torch.randn(2, 4, 16, 16, requires_grad=True)
wt = torch.randn(8, 4, 3, 3, requires_grad=True)
out = fastconv.conv2d(xt, wt, stride=2, padding=((1, 0), (0, 1)))
out.square().sum().backward()
assert xt.grad.shape == xt.shape and wt.grad.shape == wt.shape

# module swap: same arguments, parameters and state_dict as torch.nn.Conv2d
layer = fastconv.nn.Conv2d(4, 8, 3, padding="same")
reference = torch.nn.Conv2d(4, 8, 3, padding="same")
reference.load_state_dict(layer.state_dict())
assert torch.allclose(layer(xt), reference(xt), atol=1e-5)
print("fastconv", fastconv.__version__, "python example: ok")

"""Custom convolutions from Python (README, "Custom convolutions (Python)"): the unfold recipe
rewritten, AdderNet with its surrogate gradient, morphological dilation and erosion, a Gaussian
Kervolution layer, and a small model mixing fastconv.nn.CustomConv2d with torch.nn layers,
trained for a few steps. Run by the test command (scripts/test.sh)."""

import torch
import torch.nn.functional as F

import fastconv

torch.manual_seed(0)
x = torch.randn(4, 3, 12, 12)
w = torch.randn(8, 3, 3, 3)

# 1. "Full access to the conv2d operations": the unfold + broadcast + sum recipe ...
patches = F.unfold(x, 3, padding=1).view(4, 1, 3 * 9, 12 * 12)   # (N, 1, C k k, L)
by_hand = torch.tanh(patches * w.view(1, 8, 3 * 9, 1)).sum(2).view(4, 8, 12, 12)
# ... is one call, compiled to C++ on first use (cached on disk), no (N, K, C k k, L) temporary.
fused = fastconv.custom_conv2d(x, w, padding=1, combine="tanh(x * w)")
assert torch.allclose(fused, by_hand, atol=1e-4)

# 2. AdderNet: -sum |x - w|, trained with its surrogate gradients (the catalog's
#    abs_diff_sum_adder: no compilation).
adder = fastconv.custom_op(combine="-abs(x - w)", grad={"x": "clamp(w - x, -1, 1)", "w": "x - w"})
xa = x.clone().requires_grad_()
wa = w.clone().requires_grad_()
adder.conv2d(xa, wa, padding=1).sum().backward()
# each of the 8 filters' 9 taps adds a term clipped to [-1, 1] to an input's gradient
assert xa.grad.abs().max() <= 8 * 9

# 3. Morphology: max-plus dilation and min-plus erosion (padded positions read as -inf / +inf).
image = torch.rand(1, 1, 16, 16)
flat = torch.zeros(1, 1, 3, 3)  # a flat structuring element
dilated = fastconv.custom_conv2d(image, flat, padding=1, combine="x + w", reduce="max",
                                 pad_value=float("-inf"))
eroded = fastconv.custom_conv2d(image, flat, padding=1, combine="x - w", reduce="min",
                                pad_value=float("inf"))
assert torch.allclose(dilated, F.max_pool2d(image, 3, 1, 1))
assert torch.allclose(eroded, -F.max_pool2d(-image, 3, 1, 1))

# 4. Kervolution's Gaussian kernel: exp(-gamma * |x - w|^2) per window (the catalog's
#    sq_diff_sum with the gaussian epilogue).
gaussian = fastconv.custom_conv2d(x, w, padding=1, combine="(x - w)**2",
                                  epilogue="exp(-gamma * y) + b", params={"gamma": 0.05})
assert gaussian.shape == (4, 8, 12, 12) and bool((gaussian > 0).all())

# 5. A model mixing custom and torch layers, trained for a few steps on a toy task (is the
#    bright blob in the left or the right half?).
model = torch.nn.Sequential(
    fastconv.nn.CustomConv2d(1, 8, 3, padding=1, combine="-abs(x - w)",
                             grad={"x": "clamp(w - x, -1, 1)", "w": "x - w"}),
    torch.nn.BatchNorm2d(8),
    torch.nn.ReLU(),
    fastconv.nn.CustomConv2d(8, 8, 3, padding=1, combine="(x - w)**2",
                             epilogue="exp(-gamma * y) + b", params={"gamma": 0.01}),
    torch.nn.MaxPool2d(4),
    torch.nn.Flatten(),
    torch.nn.Linear(8 * 3 * 3, 2),
)
print(model)
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
labels = torch.randint(0, 2, (64,))
images = torch.rand(64, 1, 12, 12) * 0.1
for i, label in enumerate(labels.tolist()):
    images[i, 0, 4:8, (1 if label == 0 else 7):(5 if label == 0 else 11)] += 1.0
losses = []
for step in range(40):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"training loss {losses[0]:.3f} -> {losses[-1]:.3f}")
assert losses[-1] < 0.5 * losses[0], losses
print("fastconv", fastconv.__version__, "custom ops example: ok")

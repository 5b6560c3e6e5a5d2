"""The inference fast path: BatchNorm folded into the convolutions, channels-last memory, bfloat16
weights, oneDNN's fused convolutions with pre-reordered weights (``inference.packed``) and
``torch.compile`` (``inference.timing`` and ``make bench`` measure whether each one pays).

Every ``BasicConv2d`` computes ``relu(bn(conv(x)))``. At inference BatchNorm is a fixed per-channel
affine map, ``y = γ (z − μ) / σ + β`` with ``σ = sqrt(running_var + eps)``, so it can be baked into
the convolution before it: ``W' = W · γ/σ`` (per output channel) and ``b' = β − γ μ / σ``. One
pass over memory instead of two, and the BatchNorm parameters disappear.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..model import BasicConv2d
from .packed import pack_convolutions

# Largest |fast − eager| allowed, as a fraction of the largest |eager logit|. fp32 differs only by
# the rounding of the reordered arithmetic; bfloat16 keeps 8 significant bits (≈ 0.4 % per value),
# and the errors of ~100 layers add up.
DEFAULT_INPUT_SHAPE = (1, 3, 299, 299)
FP32_TOLERANCE = 1e-4
BF16_TOLERANCE = 5e-2


def require_eval(model: nn.Module, what: str) -> None:
    if model.training:
        raise ValueError(
            f"{what} needs a model in eval mode (call model.eval() first): folding bakes BatchNorm's "
            "running statistics into the convolutions, while training mode normalises with each batch's "
            "own statistics"
        )


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``BasicConv2d``'s BatchNorm folded into its convolution.

    The folded convolution gains a bias ``b'`` and the BatchNorm becomes ``nn.Identity``. The
    caller's model is not changed; it must be in eval mode (``ValueError`` otherwise).
    """
    require_eval(model, "fold_batchnorm")
    folded = copy.deepcopy(model)
    for block in folded.modules():
        if isinstance(block, BasicConv2d) and isinstance(block.bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = nn.Identity()
    return folded


def randomize_batchnorm_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, in place; returns ``model``.

    A freshly initialised network has μ = 0, σ² = 1, γ = 1, β = 0, where folding changes almost
    nothing and a wrong formula would go unnoticed. Values stay near those of a trained network.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                c = bn.num_features
                bn.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                bn.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=generator))
                bn.weight.copy_(0.5 + torch.rand(c, generator=generator))
                bn.bias.copy_(0.2 * torch.randn(c, generator=generator))
    return model


class InferenceModel(nn.Module):
    """Runs ``model`` for inference: no autograd, the input converted to the model's layout and dtype.

    Wraps without copying; build one with ``optimize_for_inference``. ``bf16``: the model holds
    bfloat16 weights, so the input is cast to bfloat16 too. Returns float32 logits whatever the
    compute precision, so callers compare and post-process as usual.
    """

    def __init__(self, model: nn.Module, *, channels_last: bool = False, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.bf16 = bf16

    def forward(self, x: Tensor) -> Tensor:
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        x = x.to(torch.bfloat16 if self.bf16 else torch.float32).contiguous(memory_format=layout)
        with torch.no_grad():
            return self.model(x).float()


def optimize_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    bf16: bool = False,
    pack: bool = False,
    input_shape: tuple[int, int, int, int] = DEFAULT_INPUT_SHAPE,
    compile: bool | dict[str, object] = False,
) -> InferenceModel:
    """A fast inference copy of an eval-mode ``model``; the caller's model is left untouched.

    ``fold_bn``: fold each BatchNorm into its convolution. ``channels_last``: store weights and
    activations as N×H×W×C, a layout oneDNN's convolutions take without reordering. ``bf16``: a
    bfloat16 copy of the weights (fast where the CPU has AVX-512 BF16 or AMX; looser accuracy, see
    ``BF16_TOLERANCE``). Casting once beats ``torch.autocast``, which casts every weight on every
    call and computes the same numbers. ``pack``: oneDNN's fused convolution + bias + ReLU with the
    weights reordered once for ``input_shape`` (needs ``fold_bn`` and ``channels_last``; other
    shapes still work, at eager speed). ``compile``: ``torch.compile`` with inductor (a dict: its
    options); by default with its C++ wrapper after ``pack``, with weight freezing without it. The
    first call compiles for the input shape (seconds to a minute cold; ``TORCHINDUCTOR_CACHE_DIR``
    keeps the cache).
    Raises ``ValueError`` for a model in training mode or ``pack`` without folding and channels_last.
    """
    require_eval(model, "optimize_for_inference")
    if pack and not (fold_bn and channels_last):
        raise ValueError("pack=True needs fold_bn=True and channels_last=True: oneDNN's fused kernel has no BatchNorm")
    fast = fold_batchnorm(model) if fold_bn else copy.deepcopy(model)
    if bf16:
        fast = fast.to(torch.bfloat16)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if pack:
        fast = pack_convolutions(fast, input_shape)
    if compile:
        # Packed: the weights are oneDNN's already; inductor's C++ wrapper calls the kernels without a
        # Python line per layer (benchmarks/RESULTS.md, "Compiler options"). Unpacked: freezing turns the
        # weights into constants, so that inductor can treat them as such (applies under no_grad only,
        # which InferenceModel sets).
        options = (
            dict(compile) if isinstance(compile, dict) else ({"cpp_wrapper": True} if pack else {"freezing": True})
        )
        fast = torch.compile(fast, options=options, dynamic=False)
    return InferenceModel(fast, channels_last=channels_last, bf16=bf16)


def relative_error(output: Tensor, reference: Tensor) -> float:
    """``max |output − reference|`` as a fraction of ``max |reference|`` (the logit scale)."""
    return ((output.float() - reference.float()).abs().max() / reference.float().abs().max()).item()

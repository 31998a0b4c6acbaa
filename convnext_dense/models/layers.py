"""Building blocks that more than one backbone uses.

:class:`LayerNorm2d` (the ConvNeXt stems' and downsampling layers' norm, the
dense output norms and the simple feature pyramid's), :class:`GRN` (ConvNeXt
V2) and :class:`ConvNeXtBlock` (ConvNeXt V1 and V2 stages, isotropic ConvNeXt).
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

#: Epsilon of the ConvNeXt families' LayerNorms (the official value).
LAYER_NORM_EPS = 1e-6


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor.

    It normalises in channels-last memory, where each pixel's channels are
    contiguous: for a ``channels_last`` input (what the backbone computes in)
    the permutes around ``F.layer_norm`` are views and nothing is copied.

    Args:
        *args: Those of :class:`torch.nn.LayerNorm` (``normalized_shape``,
            ``eps``, ...).
        contiguous_output (bool): Return contiguous NCHW (one copy), as the
            backbone's output norms do: downstream code may read feature maps
            as contiguous NCHW memory (mmcv's RoIAlign does). False returns the
            ``channels_last`` result as computed, for the norms that feed the
            backbone's own convolutions. Defaults to True.
        **kwargs: Those of :class:`torch.nn.LayerNorm`.
    """

    def __init__(self, *args, contiguous_output: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.contiguous_output = contiguous_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
            self.bias, self.eps).permute(0, 3, 1, 2)
        return x.contiguous() if self.contiguous_output else x


class GRN(nn.Module):
    """Global Response Normalization of ConvNeXt V2, on ``(N, H, W, C)``.

    ``Gx`` is the L2 norm of each sample's channel over all pixels, ``Nx =
    Gx / (mean over channels of Gx + 1e-6)`` and the output ``gamma * (x *
    Nx) + beta + x``. ``gamma`` and ``beta`` have the official release's
    shape ``(1, 1, 1, C)`` and start at zero (the identity).

    Args:
        dim (int): Number of channels.
    """

    eps = 1e-6

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The norm in fp32: under fp16 autocast a sum of squares over a whole
        # feature map overflows.
        global_norm = torch.linalg.vector_norm(
            x, dim=(1, 2), keepdim=True, dtype=torch.float32)
        scale = global_norm / (global_norm.mean(dim=-1, keepdim=True) + self.eps)
        return torch.addcmul(self.beta + x, self.gamma, x * scale.to(x.dtype))


def _is_traced() -> bool:
    """Whether the forward is being traced for an export (TorchScript or
    torch.export): the inference path's chunk loop and in-place writes
    would be recorded for the example input's size only, or not at all."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear 4x -> GELU [-> GRN] -> Linear -> gamma -> drop path.

    It computes in ``channels_last`` memory (an NCHW input is converted once;
    the output is NCHW with ``channels_last`` strides), where the channels of
    each pixel are contiguous: the LayerNorm and the two Linear layers run on
    the depthwise conv's output without a copy, and the residual add needs
    none either. The layer scale ``gamma`` is folded into ``pwconv2``'s
    weight and bias (``gamma * (W h + b) = (gamma W) h + gamma b``), which
    autograd differentiates as usual. Without autograd (inference), large
    inputs go through the LayerNorm and MLP in chunks of pixels, so that the
    4x wider hidden activation stays a cache-sized buffer instead of a
    freshly allocated full-size tensor, and the result is written over the
    depthwise conv's output (not with GRN, whose norm spans all pixels).
    Parameters and outputs are those of the official block (V1's, or with
    ``use_grn`` V2's).

    Args:
        dim (int): Number of channels.
        drop_path_rate (float): Stochastic depth rate of the residual branch.
        layer_scale_init_value (float): Initial value of the per-channel
            layer scale ``gamma``; 0 or less disables it.
        use_grn (bool): Put a :class:`GRN` between the GELU and ``pwconv2``
            (ConvNeXt V2). Defaults to False.
    """

    #: Without autograd, a hidden activation (pixels x 4 dim) of more
    #: elements than this (32 MiB in fp32: larger allocations are fresh
    #: memory maps, paid for page by page) is computed in chunks of rows.
    inference_chunk_threshold = 2**23
    #: Elements of the hidden activation in one such chunk (2 MiB in fp32):
    #: on a 2-core CPU, the blocks of the first stage at 800x1216 took 1.8x
    #: as long unchunked, those of the second 1.5x; smaller hidden
    #: activations are fastest in one piece.
    inference_chunk_elements = 2**19

    def __init__(self, dim: int, drop_path_rate: float,
                 layer_scale_init_value: float,
                 use_grn: bool = False) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim) if use_grn else None
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (
            nn.Parameter(torch.full((dim, ), float(layer_scale_init_value)))
            if layer_scale_init_value > 0 else None)
        self.drop_path = (
            DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        # (N, H, W, C) views of channels_last memory.
        shortcut = x.permute(0, 2, 3, 1)
        y = self.dwconv(x).permute(0, 2, 3, 1)
        if self.grn is not None or self._needs_autograd(x) or _is_traced():
            hidden = self.act(self.pwconv1(self.norm(y)))
            if self.grn is not None:
                hidden = self.grn(hidden)
            y = F.linear(hidden, *self._scaled_pwconv2())
            y = self.drop_path(y).add_(shortcut)
        else:
            y = self._mlp_in_chunks(y.contiguous(), shortcut)
        return y.permute(0, 3, 1, 2)

    def _scaled_pwconv2(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``pwconv2``'s weight and bias times ``gamma`` (the folded scale)."""
        weight, bias = self.pwconv2.weight, self.pwconv2.bias
        if self.gamma is None:
            return weight, bias
        return weight * self.gamma[:, None], bias * self.gamma

    def _needs_autograd(self, x: torch.Tensor) -> bool:
        if self.training and not isinstance(self.drop_path, nn.Identity):
            return True
        return torch.is_grad_enabled() and (x.requires_grad or any(
            p.requires_grad for p in self.parameters()))

    def _mlp_in_chunks(self, y: torch.Tensor,
                       shortcut: torch.Tensor) -> torch.Tensor:
        """Inference: the residual branch after the dwconv, written over ``y``.

        Args:
            y: The depthwise conv's output, contiguous ``(N, H, W, C)``.
            shortcut: The block's input as ``(N, H, W, C)``.
        """
        rows, flat = y.view(-1, y.shape[-1]), shortcut.reshape(-1, y.shape[-1])
        weight, bias = (p.to(y.dtype) for p in self._scaled_pwconv2())
        hidden_width = self.pwconv1.out_features
        step = rows.shape[0]
        if step * hidden_width > self.inference_chunk_threshold:
            step = max(1, self.inference_chunk_elements // hidden_width)
        for start in range(0, rows.shape[0], step):
            out = rows[start:start + step]
            hidden = self.pwconv1(self.norm(out))
            torch.ops.aten.gelu_(hidden, approximate=self.act.approximate)
            torch.addmm(bias, hidden.to(y.dtype), weight.t(), out=out)
            out.add_(flat[start:start + step])
        return y

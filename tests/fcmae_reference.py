"""Builds an official-style ConvNeXt V2 FCMAE pre-training checkpoint from a
fine-tuned (official ``{'model': ...}``) one: the encoder in the sparse
(MinkowskiEngine) form that the FCMAE release stores and the official
fine-tuning code (``remap_checkpoint_keys``) converts back, beside random
decoder weights.

The sparse form, from the release's ``models/convnextv2_sparse.py`` and
``models/utils.py``: the whole encoder under ``encoder.``; the stem (dense
conv and channels-first LayerNorm) as in the dense model; a downsampling
layer's LayerNorm under ``.ln.`` and its 2x2 conv as ``kernel`` ``(4, in,
out)`` with a ``(1, out)`` bias; a block's depthwise conv as ``kernel``
``(49, C)`` with a ``(1, C)`` bias, its LayerNorm under ``.ln.``, its linear
layers under ``.linear.`` and its GRN weights of shape ``(1, 4C)``. The kernel
offsets of the sparse convolutions run over the first spatial axis fastest:
the fine-tuning code reshapes a kernel to ``(out, in, k, k)`` and swaps the
two spatial axes.

Run as a script, it writes ``tests/data/convnextv2_fcmae_reference.pt`` from
``tests/data/convnextv2_timm_reference.pt`` (the tests build it in a
temporary folder with :func:`to_fcmae`).
"""
import re
from pathlib import Path
from typing import Dict

import torch

DATA = Path(__file__).resolve().parent / 'data'

_WRAPPED = re.compile(
    r'^(downsample_layers\.[123]\.0|stages\.\d+\.\d+\.norm)\.(weight|bias)$')
_LINEAR = re.compile(r'^stages\.\d+\.\d+\.pwconv[12]\.(weight|bias)$')
_SPARSE_CONV = re.compile(
    r'^(downsample_layers\.[123]\.1|stages\.\d+\.\d+\.dwconv)\.(weight|bias)$')


def sparse_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A dense conv weight ``(out, in, k, k)`` as a sparse conv's kernel:
    ``(k*k, in, out)``, depthwise (``in == 1``) ``(k*k, out)``."""
    out_channels, in_channels, size, _ = weight.shape
    kernel = weight.transpose(2, 3).reshape(
        out_channels, in_channels, size * size).permute(2, 1, 0)
    return kernel[:, 0] if in_channels == 1 else kernel


def to_sparse_key(key: str, value: torch.Tensor):
    """One encoder tensor of the official dense layout in the sparse form."""
    match = _SPARSE_CONV.match(key)
    if match:
        if match.group(2) == 'weight':
            return f'{match.group(1)}.kernel', sparse_kernel(value)
        return key, value.reshape(1, -1)
    match = _WRAPPED.match(key)
    if match:
        return f'{match.group(1)}.ln.{match.group(2)}', value
    if _LINEAR.match(key):
        module, name = key.rsplit('.', 1)
        return f'{module}.linear.{name}', value
    if '.grn.' in key:
        return key, value.reshape(1, -1)
    return key, value


def to_fcmae(model_state: Dict[str, torch.Tensor],
             decoder_dim: int = 8, seed: int = 0) -> dict:
    """An FCMAE pre-training checkpoint with ``model_state``'s encoder.

    Args:
        model_state: An official ConvNeXt V2 ``{'model': ...}`` state dict
            (``norm.*`` and ``head.*`` are dropped: FCMAE has no classifier).
        decoder_dim: Width of the random decoder. Defaults to 8.
        seed: Seed of the decoder's weights. Defaults to 0.
    """
    generator = torch.Generator().manual_seed(seed)
    encoder = {
        f'encoder.{name}': value
        for name, value in (to_sparse_key(k, v)
                            for k, v in model_state.items()
                            if not k.startswith(('norm.', 'head.')))
    }
    last_dim = model_state['norm.weight'].shape[0]
    decoder = {
        'mask_token': torch.zeros(1, decoder_dim, 1, 1),
        'proj.weight': torch.randn(decoder_dim, last_dim, 1, 1,
                                   generator=generator),
        'proj.bias': torch.zeros(decoder_dim),
        'decoder.0.dwconv.weight': torch.randn(decoder_dim, 1, 7, 7,
                                               generator=generator),
        'decoder.0.dwconv.bias': torch.zeros(decoder_dim),
        'pred.weight': torch.randn(48, decoder_dim, 1, 1, generator=generator),
        'pred.bias': torch.zeros(48),
    }
    return {'model': {**encoder, **decoder}}


def main() -> None:
    reference = torch.load(DATA / 'convnextv2_timm_reference.pt',
                           weights_only=True)
    torch.save(to_fcmae(reference['official_checkpoint']['model']),
               DATA / 'convnextv2_fcmae_reference.pt')


if __name__ == '__main__':
    main()

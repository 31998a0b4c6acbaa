"""What every backbone of the toolkit does the same way.

:class:`BackboneBase` owns the arch presets (one resolver for a preset name
or a dict of settings), ``out_indices``, ``frozen_stages``, ``with_cp``, the
default initialisation and the ``init_cfg`` handling, where ``Pretrained``
entries load through the family's checkpoint converter. ConvNeXt (V1, V2),
isotropic ConvNeXt and ConvMixer derive from it.
"""
import functools
import os.path as osp
from types import MappingProxyType
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit, initialize

from convnext_dense.errors import ConfigError

#: Keys a ``Pretrained`` init_cfg takes (those of mmengine's PretrainedInit).
PRETRAINED_INIT_KEYS = frozenset({'type', 'checkpoint', 'prefix',
                                  'map_location'})

Arch = Union[str, Mapping[str, Any]]
InitCfg = Union[None, dict, Sequence[dict]]


def resolve_pretrained_checkpoint(checkpoint: str,
                                  weights: Mapping[str, str]) -> str:
    """The URL of a release name in ``weights`` that is not a local file
    (logged); any other path or URL unchanged.

    Args:
        checkpoint: A path, URL or release name.
        weights: Release names -> URLs.
    """
    if checkpoint in weights and not osp.isfile(checkpoint):
        url = weights[checkpoint]
        print_log(f'init_cfg checkpoint {checkpoint!r} is the official '
                  f'ImageNet checkpoint {url}', logger='current')
        return url
    return checkpoint


def split_pretrained_init_cfg(init_cfg: InitCfg,
                              owner: str) -> Tuple[List[dict], List[dict]]:
    """Splits an init_cfg (a dict or a list) into its ``Pretrained`` entries
    and the others, checking each ``Pretrained`` entry's keys.

    Args:
        init_cfg: The backbone's init_cfg.
        owner: The backbone's name, for messages.
    """
    if not init_cfg:
        return [], []
    entries = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    pretrained, others = [], []
    for entry in entries:
        kind = entry.get('type') if isinstance(entry, Mapping) else None
        if kind != 'Pretrained' and kind is not PretrainedInit:
            others.append(entry)
            continue
        unknown = sorted(set(entry) - PRETRAINED_INIT_KEYS)
        if unknown or not isinstance(entry.get('checkpoint'), str):
            raise ConfigError(
                f'{owner} init_cfg {dict(entry)!r}: a Pretrained init_cfg '
                f'takes a checkpoint (path, URL or one of the names of '
                f'PRETRAINED_WEIGHTS) and optionally prefix and map_location'
                + (f', not {", ".join(unknown)}' if unknown else ''))
        pretrained.append(entry)
    return pretrained, others


def apply_init_cfg(backbone: BaseModule,
                   resolve: Callable[[str], str]) -> None:
    """Applies a backbone's ``init_cfg`` (a dict or a list) after its default
    init: ``Pretrained`` entries load through the format conversion of
    :func:`convnext_dense.checkpoint.load_backbone_weights` (with their
    ``prefix``, if any), after the other entries, which mmengine applies as
    usual; like mmengine, pretrained weights come last.

    Args:
        backbone: A backbone with ``family`` and ``weights_converter``.
        resolve: Maps an entry's ``checkpoint`` to the path or URL to load
            (e.g. a release name to its URL).
    """
    pretrained, others = split_pretrained_init_cfg(
        backbone.init_cfg, owner=backbone.family)
    if not pretrained:
        BaseModule.init_weights(backbone)
        return
    if others:
        initialize(backbone, others)
    # Deferred import: the loader pulls in mmengine's runner.
    from convnext_dense.checkpoint import load_backbone_weights
    for entry in pretrained:
        load_backbone_weights(
            backbone, resolve(entry['checkpoint']),
            map_location=entry.get('map_location', 'cpu'),
            prefix=entry.get('prefix'))
    backbone._is_init = True


def resolve_out_indices(out_indices: Union[int, Sequence[int]],
                        num_stages: int,
                        owner: str,
                        unit: str = 'stage') -> Tuple[int, ...]:
    """Normalises ``out_indices`` (negative allowed) to sorted indices.

    Args:
        out_indices: One index or a sequence of them.
        num_stages: How many stages (or blocks) there are to pick from.
        owner: The backbone's name, for messages.
        unit: What an index counts, for messages. Defaults to ``'stage'``.
    """
    requested = (out_indices, ) if isinstance(out_indices, int) else tuple(
        out_indices)
    if not requested:
        raise ConfigError(f'{owner} out_indices is empty: name at least one '
                         f'{unit} in 0..{num_stages - 1}')
    resolved = []
    for index in requested:
        if not isinstance(index, int) or not -num_stages <= index < num_stages:
            raise ConfigError(
                f'{owner} out_indices entry {index!r} is out of range: use '
                f'integers in {-num_stages}..{num_stages - 1}')
        resolved.append(index % num_stages)
    if len(set(resolved)) != len(resolved):
        raise ConfigError(
            f'{owner} out_indices {requested} names a {unit} twice')
    return tuple(sorted(resolved))


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and value > 0


def _checked_setting(family: str, key: str, value: Any, example: Any) -> Any:
    """One setting of an arch dict, checked against a preset's ``example``:
    a positive int where the presets have an int, as many positive ints
    (returned as a tuple) where they have a tuple of them."""
    if isinstance(example, int) and not _is_positive_int(value):
        raise ConfigError(f'{family} arch {key} must be a positive integer, '
                          f'got {value!r}')
    if not isinstance(example, tuple):
        return value
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
            or len(value) != len(example):
        raise ConfigError(f'{family} arch needs {len(example)} {key}, got '
                          f'{key}={value!r}')
    if not all(_is_positive_int(v) for v in value):
        raise ConfigError(f'{family} arch {key} must be positive integers, '
                          f'got {key}={tuple(value)}')
    return tuple(value)


def resolve_preset(arch: Arch, presets: Mapping[str, Mapping[str, Any]],
                   family: str,
                   keys_in_words: Optional[str] = None) -> Dict[str, Any]:
    """The settings of a preset name, or of a dict with a preset's keys.

    Args:
        arch: A key of ``presets`` or a dict with exactly the keys the presets
            have. Where the presets have an int, the dict needs a positive
            int; where they have a tuple of ints, as many positive ints.
        presets: Preset name -> settings (all presets have the same keys).
        family: The backbone's name, for messages.
        keys_in_words: The keys as messages name them. Defaults to None:
            the sorted keys, comma-separated.

    Raises:
        ConfigError: for an unknown name, other keys or a bad setting.
    """
    example = next(iter(presets.values()))
    keys = sorted(example)
    keys_in_words = keys_in_words or ', '.join(keys)
    if isinstance(arch, str):
        if arch not in presets:
            raise ConfigError(
                f'{family} arch {arch!r} is unknown: use one of '
                f'{sorted(presets)} or a dict with keys {keys_in_words}')
        return dict(presets[arch])
    if not isinstance(arch, Mapping) or sorted(arch) != keys:
        raise ConfigError(
            f'{family} arch must be a preset name or a dict with exactly the '
            f'keys {keys_in_words}, got {arch!r}')
    return {key: _checked_setting(family, key, arch[key], example[key])
            for key in keys}


def trunc_normal_init(module: nn.Module) -> None:
    """The official ConvNeXt init of one module: truncated-normal (std 0.02)
    conv and linear weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class BackboneBase(BaseModule):
    """Base of the toolkit's backbones.

    A subclass sets the class attributes below; its ``__init__`` calls
    ``super().__init__(init_cfg=...)``, :meth:`resolve_arch`,
    :meth:`_configure_stages`, builds its layers and ends with
    ``self._freeze_stages()``; it lists what ``frozen_stages`` freezes in
    :meth:`_frozen_modules`.

    Args:
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained',
            checkpoint=PATH_URL_OR_NAME, prefix=None)`` loads weights of any
            layout :attr:`weights_converter` recognises, through
            :func:`convnext_dense.checkpoint.load_backbone_weights`; a name
            of :attr:`pretrained_weights` that is not a local file is
            downloaded from its URL. Other mmengine init configs, alone or
            beside a Pretrained one in a list, are applied as usual.

    Attributes:
        family (str): The backbone's name in messages and load reports.
        weights_converter (Callable): Pure function from a loaded checkpoint
            to a :class:`convnext_dense.checkpoint.ConvertedCheckpoint` in
            this backbone's names; the pretrained loader applies it.
        arch_settings (Mapping): Preset name -> settings, for ``arch``.
        arch_keys_in_words (str, optional): The settings' keys as messages
            name them; None: comma-separated.
        pretrained_weights (Mapping[str, str]): Official release name ->
            URL, for a ``Pretrained`` init_cfg.
        stage_unit (str): What an ``out_indices`` entry counts, for messages.
        frozen_parts (str): What ``frozen_stages=k`` freezes, for messages.
    """

    family: str = 'backbone'
    weights_converter: Callable
    arch_settings: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    arch_keys_in_words: Optional[str] = None
    pretrained_weights: Mapping[str, str] = MappingProxyType({})
    stage_unit: str = 'stage'
    frozen_parts: str = 'that many leading stages'

    @classmethod
    def resolve_arch(cls, arch: Arch) -> Dict[str, Any]:
        """The settings of ``arch``: a name of :attr:`arch_settings` or a
        dict with the same keys (see :func:`resolve_preset`)."""
        return resolve_preset(arch, cls.arch_settings, cls.family,
                              cls.arch_keys_in_words)

    def _configure_stages(self, num_stages: int,
                          out_indices: Union[int, Sequence[int]],
                          frozen_stages: int, with_cp: bool) -> None:
        """Checks and sets ``out_indices``, ``frozen_stages`` and
        ``with_cp``.

        Args:
            num_stages: How many stages (or blocks) ``out_indices`` picks
                from and ``frozen_stages`` may freeze.
            out_indices: Stages whose outputs are returned, negative indices
                allowed.
            frozen_stages: 0 or -1 freezes nothing; k > 0 freezes
                :attr:`frozen_parts`.
            with_cp: Activation checkpointing of each block while training.
        """
        self.out_indices = resolve_out_indices(
            out_indices, num_stages, owner=self.family, unit=self.stage_unit)
        if not isinstance(frozen_stages, int) or not (
                -1 <= frozen_stages <= num_stages):
            raise ConfigError(
                f'{self.family} frozen_stages must be an int in '
                f'-1..{num_stages} ({self.frozen_parts}), got '
                f'{frozen_stages!r}')
        self.frozen_stages = max(frozen_stages, 0)
        self.with_cp = with_cp

    def _drop_path_rates(self, drop_path_rate: float,
                         num_blocks: int) -> List[float]:
        """Stochastic depth rate of each block: rising linearly from 0 to
        ``drop_path_rate``, which must be in [0, 1)."""
        if not 0.0 <= drop_path_rate < 1.0:
            raise ConfigError(f'{self.family} drop_path_rate must be in '
                              f'[0, 1), got {drop_path_rate!r}')
        return torch.linspace(
            0, drop_path_rate, num_blocks, device='cpu').tolist()

    def reset_parameters(self) -> None:
        """The family's default initialisation; :func:`trunc_normal_init`
        (ConvNeXt's) unless overridden."""
        self.apply(trunc_normal_init)

    def init_weights(self) -> None:
        """Default init (:meth:`reset_parameters`), then ``init_cfg`` (a dict
        or a list).

        ``Pretrained`` entries load through the family's converter (with
        their ``prefix``, if any), after the other entries, which mmengine
        applies as usual; like mmengine, pretrained weights come last.
        """
        self.reset_parameters()
        apply_init_cfg(self, resolve=functools.partial(
            resolve_pretrained_checkpoint, weights=self.pretrained_weights))

    def _uses_checkpointing(self, x: torch.Tensor) -> bool:
        return self.with_cp and self.training and x.requires_grad

    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``block(x)``, activation-checkpointed when ``with_cp`` applies."""
        if self._uses_checkpointing(x):
            return cp.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def _run_blocks(self, blocks: nn.Sequential,
                    x: torch.Tensor) -> torch.Tensor:
        """``blocks(x)``; block by block when ``with_cp`` applies, each
        block activation-checkpointed."""
        if not self._uses_checkpointing(x):
            return blocks(x)
        for block in blocks:
            x = self._run_block(block, x)
        return x

    def _frozen_modules(self) -> List[nn.Module]:
        """The modules ``frozen_stages`` freezes."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'BackboneBase':
        """Sets the training mode, keeping the frozen parts in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self

"""``tools/analysis/get_flops.py``: parameters and FLOPs of configs' models.

FLOPs are mmengine's count (``mmengine.analysis.FlopAnalyzer``, one
multiply-add is one FLOP, as in the paper) of the forward the paper counted,
at the paper's input:

- detection: backbone, neck, the RPN head's convolutions and the RoI heads on
  1000 proposals, the mask heads on the first 100 of them (each stage of a
  cascade on the same RoIs), without post-processing, at 1280x800: what
  mmdet 2.x's ``forward_dummy`` (the paper's code base) ran, and what
  reproduces the paper's figures;
- segmentation: backbone and decode head (no auxiliary head, which only
  trains) on the whole image at the test scale, 2048x512 (2560x640 for the
  640 crops), not on sliding-window crops.

``--all`` counts every config in a folder and prints one Markdown table with
the paper's parameters and FLOPs beside them (from the model index,
``configs/metafile.yml``) and the difference in percent.
"""
import argparse
import copy
import functools
import os.path as osp
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm

from convnext_dense.analysis.profiling import inference_input_hw
from convnext_dense.model_index import (ModelIndex, PaperFigures,
                                        load_model_index)

from .cfg_options import CfgOptionsAction
from .common import UserError, load_config, run_cli

#: Proposals the RoI heads see, and how many of them the mask heads see, in
#: the paper's count.
NUM_PROPOSALS = 1000
NUM_MASK_ROIS = 100
#: Input (height, width) of a detection config's count when the paper
#: reports none for it.
DETECTION_INPUT = (800, 1280)


@functools.lru_cache(maxsize=1)
def _model_index() -> ModelIndex:
    return load_model_index()


def paper_figures(name: str) -> Optional[PaperFigures]:
    """The paper's parameters and FLOPs of config ``name``, from the model
    index (``configs/metafile.yml``); None when the paper reports none."""
    return _model_index().paper_figures(name)


#: How the count relates to the paper's; printed under the ``--all`` table.
TABLE_NOTES: Tuple[str, ...] = (
    'FLOPs are multiply-adds of convolutions, linear layers, norms, '
    'upsampling and pooling (mmengine\'s FlopAnalyzer); like the paper\'s '
    'counter it leaves out GELU, element-wise ops and RoIAlign.',
    'Detection: 1280x800 input; the box heads see 1000 proposals and the '
    'mask heads the first 100 of them, in every stage of a cascade, without '
    'NMS or mask pasting, as mmdet 2.x\'s `forward_dummy` (the paper\'s '
    'code base) ran them. mmdet 3.x\'s own `_forward` runs the cascade\'s '
    'mask heads on all 1000 RoIs instead, which counts about 0.53 GFLOPs '
    'more per extra RoI and stage (some 1.4 TFLOPs more for a Cascade Mask '
    'R-CNN).',
    'Segmentation: backbone and decode head on the whole image at the test '
    'scale (2048x512, or 2560x640 for the 640 crops); the auxiliary head '
    'only trains. Single-scale testing runs sliding 512x512 windows with '
    'stride 341, 6 windows over 2048x512 (1.5 times the pixels): that is '
    'inference cost, not the paper\'s FLOPs.',
    'Parameters: every parameter of the model, auxiliary head included.',
    'The isotropic ConvNeXt and ConvMixer configs have no paper figures: '
    'their authors did not evaluate them on detection or segmentation.',
)
#: Differences from the paper beyond this share are flagged.
FLAG_DIFFERENCE = 0.05


class Complexity(NamedTuple):
    """What :func:`count` measured for one config."""
    params: int
    flops: int
    input_hw: Tuple[int, int]
    by_module: Dict[str, int]
    uncounted_ops: Dict[str, int]


class DetectorFlopsForward(nn.Module):
    """A two-stage detector's forward as the paper counted it.

    Backbone, neck, RPN head convolutions, then each RoI head stage's box
    head on ``num_proposals`` fixed boxes and its mask head on the first
    ``num_mask_rois`` of them; no NMS or other post-processing.
    """

    def __init__(self, model: nn.Module, input_hw: Tuple[int, int],
                 num_proposals: int = NUM_PROPOSALS,
                 num_mask_rois: int = NUM_MASK_ROIS) -> None:
        super().__init__()
        from mmdet.structures.bbox import bbox2roi
        self.model = model
        self.rois = bbox2roi([fixed_boxes(num_proposals, input_hw)])
        self.num_mask_rois = num_mask_rois

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.model.extract_feat(inputs)
        outputs = tuple(o for level in self.model.rpn_head(x) for o in level)
        roi_head = self.model.roi_head
        stages = range(roi_head.num_stages) if hasattr(
            roi_head, 'num_stages') else [None]
        mask_rois = self.rois[:self.num_mask_rois]
        for stage in stages:
            extra = () if stage is None else (stage, )
            box = roi_head._bbox_forward(*extra, x, self.rois)
            outputs += (box['cls_score'], box['bbox_pred'])
            if roi_head.with_mask:
                outputs += (roi_head._mask_forward(*extra, x,
                                                   mask_rois)['mask_preds'], )
        return outputs


class SegmentorFlopsForward(nn.Module):
    """An encoder-decoder's backbone and decode head on the whole image."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model.decode_head(self.model.extract_feat(inputs))


def fixed_boxes(num: int, input_hw: Tuple[int, int]) -> torch.Tensor:
    """``num`` seeded random ``(x1, y1, x2, y2)`` boxes inside the image."""
    height, width = input_hw
    generator = torch.Generator().manual_seed(0)
    xy = torch.rand(num, 2, generator=generator) * torch.tensor(
        [width * 0.75, height * 0.75])
    wh = 8 + torch.rand(num, 2, generator=generator) * torch.tensor(
        [width * 0.25, height * 0.25])
    return torch.cat([xy, xy + wh], dim=1)


def build_model(cfg: Config) -> nn.Module:
    """The config's model with random weights, in eval mode on the CPU."""
    from mmengine.registry import init_default_scope
    from mmengine.registry import MODELS
    cfg = copy.deepcopy(cfg)
    cfg.model.pop('pretrained', None)
    if 'init_cfg' in cfg.model.get('backbone', {}):
        cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.default_scope)
    return revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


def paper_input(cfg: Config, name: str) -> Tuple[int, int]:
    """(height, width) of the paper's count for this config."""
    paper = paper_figures(name)
    if paper is not None:
        return paper.input_hw
    if cfg.default_scope == 'mmdet':
        return DETECTION_INPUT
    return inference_input_hw(cfg)


def flops_forward(cfg: Config, model: nn.Module,
                  input_hw: Tuple[int, int]) -> nn.Module:
    if cfg.default_scope == 'mmdet':
        if not hasattr(model, 'roi_head') or not hasattr(model, 'rpn_head'):
            raise UserError(f'{cfg.filename}: get_flops counts two-stage '
                            f'detectors (an RPN and RoI heads), not '
                            f'{cfg.model.type}')
        return DetectorFlopsForward(model, input_hw)
    return SegmentorFlopsForward(model)


def count(cfg: Config,
          input_hw: Optional[Tuple[int, int]] = None,
          model: Optional[nn.Module] = None) -> Complexity:
    """Parameters and FLOPs of ``cfg``'s model (see the module docstring).

    Args:
        cfg: A detection or segmentation config.
        input_hw: (height, width) of the input. Defaults to the paper's
            input for the config (:func:`paper_input`).
        model: The config's model, if built already. Defaults to None:
            :func:`build_model`.
    """
    name = Path(cfg.filename).stem
    input_hw = tuple(input_hw or paper_input(cfg, name))
    model = model if model is not None else build_model(cfg)
    analyzer = FlopAnalyzer(
        flops_forward(cfg, model, input_hw), (torch.rand(1, 3, *input_hw), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        flops = analyzer.total()
    by_module = {
        key.split('.', 1)[1]: value
        for key, value in analyzer.by_module().items()
        if key.count('.') == 1 and key.startswith('model.') and value
    }
    return Complexity(
        params=sum(p.numel() for p in model.parameters()),
        flops=flops,
        input_hw=input_hw,
        by_module=by_module,
        uncounted_ops=dict(analyzer.unsupported_ops()))


def report(name: str, result: Complexity) -> List[str]:
    """Lines describing one config's count."""
    height, width = result.input_hw
    lines = [f'{name}: input {width}x{height}, params '
             f'{result.params / 1e6:.2f} M, FLOPs {result.flops / 1e9:.1f} G']
    lines += [f'  {module:<16} {flops / 1e9:10.2f} G'
              for module, flops in result.by_module.items()]
    paper = paper_figures(name)
    if paper is not None:
        lines.append(f'  paper: {paper.params_m:g} M '
                     f'({_diff(result.params / 1e6, paper.params_m)}), '
                     f'{paper.gflops:g} G '
                     f'({_diff(result.flops / 1e9, paper.gflops)})')
    if result.uncounted_ops:
        lines.append('  not counted: ' + ', '.join(
            sorted(op.replace('aten::', '') for op in result.uncounted_ops)))
    return lines


def _diff(ours: float, paper: float) -> str:
    return f'{(ours - paper) / paper * 100:+.1f}%'


def _gflops(value: float) -> str:
    return f'{value:.0f}' if value >= 100 else f'{value:.1f}'


def table(results: Dict[str, Complexity]) -> List[str]:
    """A Markdown table of the counts beside the paper's figures."""
    lines = [
        '| config | input | params (M) | paper | diff | FLOPs (G) | paper '
        '| diff |', '|---|---|---|---|---|---|---|---|'
    ]
    for name, result in results.items():
        height, width = result.input_hw
        params_m, gflops = result.params / 1e6, result.flops / 1e9
        paper = paper_figures(name)
        cells = [f'`{name}`', f'{width}x{height}', f'{params_m:.1f}']
        if paper is None:
            cells += ['-', '-', _gflops(gflops), '-', '-']
        else:
            cells += [f'{paper.params_m:g}', _diff(params_m, paper.params_m),
                      _gflops(gflops), f'{paper.gflops:g}',
                      _diff(gflops, paper.gflops)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def table_notes(results: Dict[str, Complexity]) -> List[str]:
    """The notes under the table: the convention and the largest differences."""
    papers = {name: paper_figures(name) for name in results}
    differences = {
        name: max(abs(result.params / 1e6 / papers[name].params_m - 1),
                  abs(result.flops / 1e9 / papers[name].gflops - 1))
        for name, result in results.items() if papers[name] is not None
    }
    flagged = sorted(n for n, d in differences.items() if d > FLAG_DIFFERENCE)
    if flagged:
        summary = (f'Over {FLAG_DIFFERENCE:.0%} from the paper: '
                   f'{", ".join(flagged)}; see the notes above.')
    elif differences:
        summary = (f'Every config with paper figures is within '
                   f'{max(differences.values()):.1%} of them.')
    else:
        summary = 'No config here has paper figures.'
    return [f'- {note}' for note in TABLE_NOTES + (summary, )]


def full_configs(folder: str) -> List[str]:
    """The configs directly in ``folder`` (not ``_base_/`` or ``toy/``)."""
    if not osp.isdir(folder):
        raise UserError(f'--all {folder}: no such folder; run from the '
                        'repository root or name the configs folder')
    configs = sorted(str(p) for p in Path(folder).glob('*.py'))
    if not configs:
        raise UserError(f'--all {folder}: no configs (*.py) in it')
    return configs


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of detection/segmentation configs '
        '(mmengine count of the forward the ConvNeXt paper counted).')
    parser.add_argument('config', nargs='?', help='config file path')
    parser.add_argument(
        '--all', nargs='?', const='configs', metavar='DIR',
        help='every config directly in DIR (default: configs), as one '
        'table beside the paper')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: the paper\'s '
                        'input of the config)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config entries, e.g. key=value')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.all is None):
        parser.error('give either a CONFIG or --all')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Complexity]:
    args = parse_args(argv)
    # Building a model logs a line per module at INFO: keep the output short.
    MMLogger.get_instance('mmengine', log_level='WARNING')
    paths = [args.config] if args.config else full_configs(args.all)
    results = {}
    for path in paths:
        cfg = load_config(path, args.cfg_options)
        name = Path(path).stem
        results[name] = count(cfg, args.shape)
        print('\n'.join(report(name, results[name])), flush=True)
    if args.all:
        print('\n' + '\n'.join(table(results) + [''] + table_notes(results)))
    return results


def cli() -> None:
    run_cli(main)

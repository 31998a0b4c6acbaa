"""Bad checkpoints. A file that is not a checkpoint (truncated, empty, text, a
folder) is one line on every path that loads one; a checkpoint fine-tuned for
another number of classes loads what fits and says in one line what starts
fresh and why; another backbone arch, or weights of another kind, are one
line; testing needs an exact fit."""
import copy
import re

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from helpers import error_messages, run_tool_in_process
from tiny_datasets import COCO_CONFIG, coco_config, write_coco, write_image
from tiny_runner import runner

from convnext_dense.cli.common import load_config
from convnext_dense.cli import infer as infer_tool
from convnext_dense.cli import test as test_tool
from convnext_dense.errors import CheckpointFormatError, UnreadableFileError
from convnext_dense.models import ConvNeXt
from convnext_dense.patches.checkpoint_fit import exact_fit

KINDS = ['truncated', 'empty', 'text', 'folder', 'truncated legacy format']


def bad_checkpoint(tmp_path, kind: str):
    """A file (or folder) named as a checkpoint, and the message it gets."""
    weights = {'state_dict': {'linear.weight': torch.zeros(1, 2)}}
    path = tmp_path / f'{kind.replace(" ", "_")}.pth'
    if kind == 'folder':
        path.mkdir()
        torch.save(weights, path / 'epoch_1.pth')
        return path, (rf'checkpoint {path} is a folder, not a checkpoint '
                      rf'file: pass one of its files, e\.g\. '
                      rf'{path}/epoch_1\.pth$')
    if kind == 'empty':
        path.write_bytes(b'')
        return path, (rf'checkpoint {path} is empty \(0 bytes\): it was not '
                      r'written completely; use another checkpoint$')
    if kind == 'text':
        path.write_text('epoch: 12\nmAP: 0.41\n')
        return path, (rf"checkpoint {path} is not a PyTorch checkpoint \(it "
                      r"starts with b'epoch: 12\\nmAP: 0'\): pass a file "
                      r'written by torch\.save \(\.pth\)$')
    legacy = kind == 'truncated legacy format'
    torch.save(weights, path, _use_new_zipfile_serialization=not legacy)
    path.write_bytes(path.read_bytes()[:-40])
    if legacy:
        return path, (rf'checkpoint {path} could not be read \(.+\): it is '
                      r'truncated or corrupt; use another copy$')
    return path, (rf'checkpoint {path} is truncated or corrupt \(\d+ bytes, '
                  r'a zip archive without its end\): it was not written or '
                  r'copied completely; use another copy$')


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    """A config of the toy detector on a tiny dataset, and one image."""
    tmp = tmp_path_factory.mktemp('tiny_coco')
    write_coco(tmp / 'coco', 'val')
    return coco_config(tmp, tmp / 'coco'), write_image(tmp / 'a.png', 0)


def load_with(entry: str, path, tmp_path, tiny_coco) -> None:
    """Loads checkpoint ``path`` the way ``entry`` does."""
    config, image = tiny_coco
    if entry == 'load_from':
        runner(tmp_path / 'work', 1, load_from=str(path)).load_or_resume()
    elif entry == 'init_cfg':
        ConvNeXt(arch=dict(depths=(1, 1, 1, 1), dims=(8, 16, 32, 64)),
                 init_cfg=dict(type='Pretrained',
                               checkpoint=str(path))).init_weights()
    elif entry == 'tools/test.py':
        test_tool.main([str(config), str(path), '--work-dir',
                        str(tmp_path / 'work')])
    else:
        infer_tool.main([str(image), '--config', str(config),
                         '--checkpoint', str(path), '--out-dir',
                         str(tmp_path / 'out')])


@pytest.mark.parametrize(
    'entry', ['load_from', 'init_cfg', 'tools/test.py', 'tools/infer.py'])
@pytest.mark.parametrize('kind', KINDS)
def test_a_file_that_is_not_a_checkpoint_is_one_line(kind, entry, tmp_path,
                                                     tiny_coco):
    path, message = bad_checkpoint(tmp_path, kind)
    with pytest.raises(UnreadableFileError) as raised:
        load_with(entry, path, tmp_path, tiny_coco)
    assert re.fullmatch(message, str(raised.value)), str(raised.value)


@pytest.mark.parametrize('tool, kind', [('test.py', 'folder'),
                                        ('infer.py', 'text')])
def test_tools_print_it_as_one_error_line(tool, kind, tmp_path, tiny_coco):
    config, image = tiny_coco
    path, message = bad_checkpoint(tmp_path, kind)
    args = ([config, path] if tool == 'test.py' else
            [image, '--config', config, '--checkpoint', path])
    done = run_tool_in_process(
        tool, *args, '--work-dir' if tool == 'test.py' else '--out-dir',
        tmp_path / 'out', cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = error_messages(done)
    assert len(errors) == 1 and 'Traceback' not in done.stderr
    assert re.fullmatch('error: ' + message, errors[0]), errors[0]


@pytest.fixture(scope='module')
def detector():
    """The toy Mask R-CNN (3 classes) and its checkpoint."""
    init_default_scope('mmdet')
    cfg = load_config(str(COCO_CONFIG))
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model)


def build(cfg, num_classes=3, dims=None):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.roi_head.bbox_head.num_classes = num_classes
    model_cfg.roi_head.mask_head.num_classes = num_classes
    if dims:
        model_cfg.backbone.arch.dims = dims
        model_cfg.neck.in_channels = list(dims)
    torch.manual_seed(1)
    return MODELS.build(model_cfg)


def test_fine_tuning_for_other_classes_loads_what_fits(detector, tmp_path,
                                                       log_lines):
    cfg, trained = detector
    path = tmp_path / 'coco_3_classes.pth'
    torch.save({'state_dict': trained.state_dict()}, path)
    model = build(cfg, num_classes=5)
    fresh = copy.deepcopy(model.state_dict())
    load_checkpoint(model, str(path))  # what load_from runs
    ours, theirs = model.state_dict(), trained.state_dict()
    heads = ('roi_head.bbox_head.fc_cls.', 'roi_head.bbox_head.fc_reg.',
             'roi_head.mask_head.conv_logits.')
    for key, value in ours.items():
        expected = fresh[key] if key.startswith(heads) else theirs[key]
        assert torch.equal(value, expected), key
    width = cfg.model.roi_head.mask_head.conv_out_channels
    assert [line for line in log_lines if 'start fresh' in line] == [
        f"checkpoint {path}: loaded 114 of the model's 120 tensors; 6 start "
        f'fresh: roi_head.bbox_head.fc_cls (weight [4, 256] in the '
        f'checkpoint, [6, 256] here: num_classes 3 there, 5 here), '
        f'roi_head.bbox_head.fc_reg (weight [12, 256] in the checkpoint, '
        f'[20, 256] here: num_classes 3 there, 5 here), '
        f'roi_head.mask_head.conv_logits (weight [3, {width}, 1, 1] in the '
        f'checkpoint, [5, {width}, 1, 1] here: num_classes 3 there, 5 here)']
    with exact_fit(), pytest.raises(CheckpointFormatError, match=(
            rf"^checkpoint {path} does not fit this model: 6 tensors would "
            r'start fresh: roi_head\.bbox_head\.fc_cls .*; use the config it '
            r'was trained with$')):
        load_checkpoint(model, str(path))  # what tools/test.py runs


def test_another_backbone_arch_is_one_line(detector, tmp_path):
    cfg, trained = detector
    path = tmp_path / 'other_arch.pth'
    torch.save({'state_dict': trained.state_dict()}, path)
    with pytest.raises(CheckpointFormatError, match=(
            rf"^checkpoint {path} does not fit this model's backbone: 18 of "
            r'its tensors are missing or of another shape \(backbone\.'
            r'downsample_layers\.0\.0\.weight is \[32, 3, 4, 4\] there and '
            r'\[48, 3, 4, 4\] here\): it was trained with another backbone '
            r'arch; set the arch it was trained with$')):
        load_checkpoint(build(cfg, dims=(48, 64, 128, 256)), str(path))


def test_backbone_weights_given_as_load_from_are_one_line(detector, tmp_path):
    cfg, _ = detector
    path = tmp_path / 'convnext_tiny_1k_224.pth'
    torch.save({'model': {'downsample_layers.0.0.weight': torch.zeros(1)}},
               path)
    with pytest.raises(CheckpointFormatError, match=(
            rf"^checkpoint {path} holds none of this model's weights .*; to "
            r'start from backbone weights \(e\.g\. ImageNet\) set '
            r"model\.backbone\.init_cfg=dict\(type='Pretrained', "
            r'checkpoint=PATH\) instead$')):
        load_checkpoint(build(cfg), str(path))

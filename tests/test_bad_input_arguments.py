"""Every tool's path arguments, config reading and ``--cfg-options``, table
by table: each mistake ends in exactly one ``error:`` line naming the
argument and what to do, exit code 2, no traceback (the tools run
in-process).

In the tables, ``{dir}`` is an empty folder, ``{file}`` an empty file,
``{missing}`` a path that does not exist, ``{seg}``/``{det}`` the toy UperNet
and Cascade Mask R-CNN configs, ``{image}`` a readable PNG, ``{bad}`` the
folder of broken configs written by :func:`broken_configs`. A row with a
``denied`` path runs with that path unreadable and unwritable (``os.access``
says no, as it does for a user without the permission, which root is not).
"""
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

import cv2
import numpy as np
import pytest

from helpers import CONFIGS, error_lines, run_tool_in_process

SEG = CONFIGS / 'toy/upernet_convnext_toy_ade.py'
DET = CONFIGS / 'toy/cascade_mask_rcnn_convnext_toy_coco.py'

#: Broken configs: name -> text.
BROKEN = {
    'syntax.py': "default_scope = 'mmseg'\nmodel = dict(type='x',\nx = 1\n",
    'base_syntax.py': "_base_ = ['syntax.py']\n",
    'no_base.py': "_base_ = ['gone_base.py']\n",
    'name_error.py': "default_scope = 'mmseg'\nsize = crop_size * 2\n",
}


@pytest.fixture
def places(tmp_path) -> Dict[str, str]:
    """The placeholders of the tables, made under ``tmp_path``."""
    (tmp_path / 'dir').mkdir()
    (tmp_path / 'file').write_bytes(b'')
    bad = tmp_path / 'bad'
    bad.mkdir()
    for name, text in BROKEN.items():
        (bad / name).write_text(text)
    cv2.imwrite(str(tmp_path / 'image.png'), np.zeros((8, 8, 3), np.uint8))
    return dict(dir=str(tmp_path / 'dir'), file=str(tmp_path / 'file'),
                missing=str(tmp_path / 'missing'), seg=str(SEG),
                det=str(DET), image=str(tmp_path / 'image.png'),
                bad=str(bad))


@pytest.fixture
def deny(monkeypatch):
    """Makes ``os.access`` refuse one path, as for a user without the
    permission; returns the function to name it."""
    def refuse(path: str) -> None:
        real = os.access

        def access(target, mode, *args, **kwargs):
            if os.path.abspath(target) == os.path.abspath(path):
                return False
            return real(target, mode, *args, **kwargs)
        monkeypatch.setattr(os, 'access', access)
    return refuse


def expect_one_line(places: Dict[str, str], tool: str, args: Sequence[str],
                    line: str, denied: Optional[str] = None,
                    deny=None) -> None:
    """Runs ``tool`` with ``args`` and checks its whole output is ``line``
    (placeholders filled in)."""
    if denied is not None:
        deny(denied.format(**places))
    done = run_tool_in_process(tool, *[arg.format(**places) for arg in args],
                               cwd=Path(places['dir']))
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr, done.stderr
    assert error_lines(done) == [f'error: {line.format(**places)}']


#: (tool, arguments, the line, path denied or None)
PATH_CASES = [
    # train.py
    ('train.py', ['{missing}'], 'config {missing} does not exist', None),
    ('train.py', ['{dir}'], 'config {dir} is a folder, not a file: pass a '
     'file', None),
    ('train.py', ['{file}'], 'config {file} cannot be read (permission '
     'denied): make it readable (chmod u+r) or pass a copy you can read',
     '{file}'),
    ('train.py', ['{seg}', '--work-dir', '{file}'], '--work-dir {file} is a '
     'file, not a folder: pass a folder (made if absent)', None),
    ('train.py', ['{seg}', '--work-dir', '{file}/work'], '--work-dir '
     '{file}/work: {file} is a file, not a folder: move it or pass another '
     '--work-dir', None),
    ('train.py', ['{seg}', '--work-dir', '{dir}/work'], '--work-dir '
     '{dir}/work cannot be written ({dir} is not writable): make it '
     'writable or pass another --work-dir', '{dir}'),
    ('train.py', ['{seg}', '--resume', '{missing}'], 'checkpoint {missing} '
     'does not exist', None),
    ('train.py', ['{seg}', '--resume', '{dir}'], 'checkpoint {dir} is a '
     'folder, not a checkpoint file: it holds no checkpoint files', None),
    # test.py
    ('test.py', ['{dir}', '{file}'], 'config {dir} is a folder, not a file: '
     'pass a file', None),
    ('test.py', ['{seg}', '{missing}'], 'checkpoint {missing} does not '
     'exist', None),
    ('test.py', ['{seg}', '{file}', '--work-dir', '{file}'], '--work-dir '
     '{file} is a file, not a folder: pass a folder (made if absent)', None),
    ('test.py', ['{seg}', '{file}', '--show-dir', '{file}'], '--show-dir '
     '{file} is a file, not a folder: pass a folder (made if absent)', None),
    ('test.py', ['{seg}', '{file}', '--out', '{file}'], '--out {file} is a '
     'file, not a folder: pass a folder (made if absent)', None),
    ('test.py', ['{det}', '{file}', '--out', '{dir}/x.pkl'], '--out '
     '{dir}/x.pkl cannot be written ({dir} is not writable): make it '
     'writable or pass another --out', '{dir}'),
    ('test.py', ['{det}', '{file}', '--out', '{file}/x.pkl'], '--out '
     '{file}/x.pkl: {file} is a file, not a folder: move it or pass another '
     '--out', None),
    # infer.py
    ('infer.py', ['{image}', '--config', '{dir}', '--checkpoint', '{file}'],
     'config {dir} is a folder, not a file: pass a file', None),
    ('infer.py', ['{dir}', '--config', '{seg}', '--checkpoint', '{file}'],
     'image {dir} is a folder, not a file: pass a file', None),
    ('infer.py', ['{image}', '--config', '{seg}', '--checkpoint', '{file}'],
     'image {image} cannot be read (permission denied): make it readable '
     '(chmod u+r) or pass a copy you can read', '{image}'),
    ('infer.py', ['{missing}', '--config', '{seg}', '--checkpoint', '{file}'],
     '{missing} does not exist', None),
    ('infer.py', ['{image}', '--config', '{seg}', '--checkpoint', '{dir}'],
     'checkpoint {dir} is a folder, not a checkpoint file: it holds no '
     'checkpoint files', None),
    ('infer.py', ['{image}', '--config', '{seg}', '--checkpoint', '{file}',
                  '--out-dir', '{file}'], '--out-dir {file} is a file, not a '
     'folder: pass a folder (made if absent)', None),
    ('infer.py', ['{image}', '--config', '{seg}', '--checkpoint', '{file}'],
     'checkpoint {file} cannot be read (permission denied): make it '
     'readable (chmod u+r) or pass a copy you can read', '{file}'),
    # export_onnx.py
    ('export_onnx.py', ['{seg}', '{dir}', '--out', '{dir}/x.onnx'],
     'checkpoint {dir} is a folder, not a file: pass a file', None),
    ('export_onnx.py', ['{seg}', '{file}', '--out', '{dir}'], '--out {dir} '
     'is a folder: pass a file name, e.g. {dir}/out', None),
    ('export_onnx.py', ['{seg}', '{file}', '--out', '{file}/x.onnx'],
     '--out {file}/x.onnx: {file} is a file, not a folder: move it or pass '
     'another --out', None),
    ('export_onnx.py', ['{seg}', '{file}', '--out', '{dir}/x.onnx'],
     '--out {dir}/x.onnx cannot be written ({dir} is not writable): make it '
     'writable or pass another --out', '{dir}'),
    # analysis tools
    ('analysis/browse_dataset.py', ['{seg}', '--out-dir', '{file}'],
     '--out-dir {file} is a file, not a folder: pass a folder (made if '
     'absent)', None),
    ('analysis/browse_dataset.py', ['{missing}', '--out-dir', '{dir}'],
     'config {missing} does not exist', None),
    ('benchmark.py', ['{seg}', '--checkpoint', '{dir}'], 'checkpoint {dir} '
     'is a folder, not a file: pass a file', None),
    ('benchmark.py', ['{dir}'], 'config {dir} is a folder, not a file: pass '
     'a file', None),
    ('analysis/get_flops.py', ['{dir}'], 'config {dir} is a folder, not a '
     'file: pass a file', None),
    ('make_toy_data.py', ['ade', '--root', '{file}'], '--root {file} is a '
     'file, not a folder: pass a folder (made if absent)', None),
    ('make_toy_data.py', ['ade', '--root', '{file}/toy'], '--root {file}/toy:'
     ' {file} is a file, not a folder: move it or pass another --root', None),
    ('analysis/plot_curves.py', ['{missing}'], 'work dir {missing} does not '
     'exist', None),
    ('analysis/plot_curves.py', ['{dir}', '--out', '{dir}'], '--out {dir} is '
     'a folder: pass a file name, e.g. {dir}/out', None),
    ('analysis/plot_curves.py', ['{dir}', '--out', '{file}'], '--out {file} '
     'cannot be written (permission denied): make it writable or pass '
     'another --out', '{file}'),
]


@pytest.mark.parametrize('tool, args, line, denied', PATH_CASES)
def test_path_arguments(places, deny, tool, args, line, denied):
    expect_one_line(places, tool, args, line, denied, deny)


#: Configs that do not read: (config, the line).
CONFIG_CASES = [
    ('{bad}/syntax.py', "config {bad}/syntax.py: syntax error in "
     "{bad}/syntax.py, line 2: '(' was never closed: fix that line"),
    ('{bad}/base_syntax.py', "config {bad}/base_syntax.py: syntax error in "
     "{bad}/syntax.py, line 2: '(' was never closed: fix that line"),
    ('{bad}/no_base.py', 'config {bad}/no_base.py: its _base_ file '
     '{bad}/gone_base.py does not exist: fix the _base_ path (relative to '
     'the file naming it)'),
    ('{bad}/name_error.py', "config {bad}/name_error.py failed when read: "
     "NameError: name 'crop_size' is not defined: fix the config"),
]


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
@pytest.mark.parametrize('config, line', CONFIG_CASES)
def test_configs_that_do_not_read(places, tool, config, line):
    extra = ['{file}'] if tool == 'test.py' else []
    expect_one_line(places, tool, [config, *extra], line)


#: --cfg-options items that do not fit: (items, the line).
OPTION_CASES = [
    (['foo'], "--cfg-options 'foo': each item is KEY=VALUE without spaces "
     'around =, e.g. train_cfg.max_iters=100'),
    (['train_cfg.max_iters =4'], "--cfg-options 'train_cfg.max_iters =4': "
     'each item is KEY=VALUE without spaces around =, e.g. '
     'train_cfg.max_iters=100'),
    (['trian_cfg.max_iters=4'], "--cfg-options trian_cfg.max_iters=4: the "
     "config has no key 'trian_cfg' (did you mean 'train_cfg'?), and the "
     'tools read no such key: check the spelling'),
    (['train_cfg.max_iter=4'], '--cfg-options train_cfg.max_iter=4: '
     "train_cfg (IterBasedTrainLoop) has no key 'max_iter' (did you mean "
     "'max_iters'?); it takes dataloader, dynamic_intervals, max_iters, "
     'runner, val_begin, val_interval'),
    (['train_cfg.max_iters=abc'], '--cfg-options train_cfg.max_iters=abc: '
     "train_cfg.max_iters is a number (600 in the config), not 'abc': pass "
     'a number'),
    (['model.backbone=3'], '--cfg-options model.backbone=3: model.backbone '
     'is a dict in the config: set its keys (model.backbone.KEY=VALUE), or '
     'None to remove it'),
    (['train_cfg.max_iters.x=1'], '--cfg-options train_cfg.max_iters.x=1: '
     'train_cfg.max_iters is 600 in the config, not a dict with keys: set '
     'train_cfg.max_iters=VALUE'),
    (['model.backbone.drop_path_rat=0.1'], 'config {seg}: model.backbone has '
     "no argument 'drop_path_rat' (did you mean 'drop_path_rate'?), in the "
     'config or --cfg-options; convnext_dense.ConvNeXt takes arch, '
     'in_channels, drop_path_rate, layer_scale_init_value, out_indices, '
     'frozen_stages, with_cp, init_cfg'),
]


#: Each tool that takes --cfg-options, with the arguments it needs besides.
CFG_OPTIONS_TOOLS = {'train.py': [], 'test.py': ['{file}'],
                     'analysis/browse_dataset.py': ['--out-dir', '{dir}/out'],
                     'benchmark.py': [], 'analysis/get_flops.py': []}


@pytest.mark.parametrize('tool', CFG_OPTIONS_TOOLS)
@pytest.mark.parametrize('items, line', OPTION_CASES)
def test_cfg_options_that_do_not_fit(places, tool, items, line):
    extra = CFG_OPTIONS_TOOLS[tool]
    expect_one_line(places, tool, ['{seg}', *extra, '--cfg-options', *items],
                    line)


def test_options_the_config_lacks_but_the_tools_read_are_taken(places):
    """New keys the Runner or the tools read, and new keys of a component
    that takes any, are no mistake: the run goes on to the dataset check."""
    done = run_tool_in_process(
        'train.py', SEG, '--cfg-options', 'check_data=False', 'val_cfg=None',
        'env_cfg.dist_cfg.timeout=60', 'default_hooks.checkpoint.max_keep_'
        'ckpts=2', 'model_wrapper_cfg.find_unused_parameters=True',
        cwd=Path(places['dir']))
    assert done.returncode == 2
    assert error_lines(done)[0].startswith(
        'error: BaseSegDataset data missing: data/toy_ade')

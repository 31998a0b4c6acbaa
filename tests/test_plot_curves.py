"""tools/analysis/plot_curves.py on small synthetic mmengine scalar logs: one
panel per key, runs overlaid, resumed runs continued, one-line errors.
(One run as a subprocess, the rest in this process.)"""
import json
from pathlib import Path
from typing import List

import cv2
import pytest

from conftest import check, error_lines, run_tool
from helpers import run_tool_in_process
from convnext_dense.analysis import curves
from convnext_dense.cli import plot_curves
from convnext_dense.errors import InputNotFoundError, UserError

TOOL = 'analysis/plot_curves.py'


def write_scalars(work_dir: Path, timestamp: str, records: List[dict]) -> Path:
    """One run's scalars.json, as mmengine's LocalVisBackend writes it."""
    path = work_dir / timestamp / 'vis_data' / curves.SCALARS_FILE
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path


def epoch_run(work_dir: Path, epochs=range(1, 3), loss0: float = 2.0,
              timestamp: str = '20240101_000000') -> Path:
    """An epoch-based detection run: 10 iterations an epoch, training
    logged every 5, validated after every epoch."""
    records = []
    for epoch in epochs:
        for it in (5, 10):
            step = (epoch - 1) * 10 + it
            records.append(dict(lr=1e-3, loss=loss0 / step, loss_cls=0.5,
                                time=0.2, epoch=epoch, iter=step, step=step))
        records.append({'coco/bbox_mAP': 0.1 * epoch, 'time': 0.05,
                        'step': epoch})
    return write_scalars(work_dir, timestamp, records)


def iter_run(work_dir: Path) -> Path:
    """An iteration-based segmentation run, validated at iteration 20."""
    records = [dict(lr=1e-3, loss=1.0 / step, iter=step, step=step)
               for step in (10, 20)] + [dict(mIoU=50.0, step=20)]
    return write_scalars(work_dir, '20240102_000000', records)


def test_one_panel_per_key_of_the_expected_size(tmp_path):
    """Also the check that the real tool runs end to end (a subprocess)."""
    epoch_run(tmp_path / 'det')
    out = tmp_path / 'pictures' / 'curves.png'
    keys = ['loss', 'loss_cls', 'lr', 'coco/bbox_mAP']
    done = check(run_tool(TOOL, tmp_path / 'det', '--keys', *keys,
                          '--out', out))
    assert str(out) in done.stdout and '4 panels' in done.stdout
    picture = cv2.imread(str(out))
    # 4 panels: a row of 3 and a row of 1, 480 x 320 pixels each.
    assert picture.shape == (640, 1440, 3)
    assert (picture.shape[1], picture.shape[0]) == curves.picture_size(4)
    assert picture.std() > 10, 'the picture is blank'
    run = curves.load_run(tmp_path / 'det')
    figure = curves.plot([run], keys)
    assert [ax.get_title() for ax in figure.axes] == keys
    assert figure.axes[0].get_xlabel() == 'iteration'
    assert figure.axes[3].get_xlabel() == 'epoch'  # validation, by epoch
    steps, values = zip(*run.val['coco/bbox_mAP'])
    assert steps == (1, 2) and values == pytest.approx((0.1, 0.2))


@pytest.mark.parametrize('num_keys,size', [(1, (480, 320)), (3, (1440, 320)),
                                           (5, (1440, 640))])
def test_picture_size_follows_the_grid(num_keys, size):
    assert curves.picture_size(num_keys) == size


def test_runs_overlaid_with_a_legend(tmp_path):
    epoch_run(tmp_path / 'det')
    iter_run(tmp_path / 'seg')
    out = tmp_path / 'both.png'
    plot_curves.main([str(tmp_path / 'det'), str(tmp_path / 'seg'), '--keys',
                      'loss', '--legend', 'detector', 'segmentor', '--out',
                      str(out)])
    assert cv2.imread(str(out)).shape == (320, 480, 3)
    runs = [curves.load_run(tmp_path / 'det', 'detector'),
            curves.load_run(tmp_path / 'seg', 'segmentor')]
    (panel, ) = curves.plot(runs, ['loss']).axes
    assert [line.get_label() for line in panel.get_lines()] == [
        'detector', 'segmentor'
    ]
    legend = panel.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ['detector',
                                                          'segmentor']


def test_default_keys_and_default_out(tmp_path, capsys):
    iter_run(tmp_path / 'seg')
    assert plot_curves.main([str(tmp_path / 'seg')]) == (tmp_path / 'seg' /
                                                         'curves.png')
    assert cv2.imread(str(tmp_path / 'seg' / 'curves.png')).shape == (
        320, 960, 3)
    assert '2 panels (loss, mIoU)' in capsys.readouterr().out


def test_a_resumed_run_continues_its_curve(tmp_path):
    epoch_run(tmp_path / 'det', epochs=[1, 2], loss0=2.0)
    # Resumed from epoch 1: epoch 2 logged again, then epoch 3.
    epoch_run(tmp_path / 'det', epochs=[2, 3], loss0=4.0,
              timestamp='20240101_010000')
    run = curves.load_run(tmp_path / 'det')
    steps, losses = zip(*run.train['loss'])
    assert steps == (5, 10, 15, 20, 25, 30)
    assert losses[2] == pytest.approx(4.0 / 15)  # the later run's value
    assert [s for s, _ in run.val['coco/bbox_mAP']] == [1, 2, 3]


def test_a_truncated_last_line_is_skipped(tmp_path):
    path = iter_run(tmp_path / 'seg')
    path.write_text(path.read_text() + '{"loss": 0.')
    assert len(curves.load_run(tmp_path / 'seg').train['loss']) == 2


def test_unknown_key_is_one_line_listing_the_logged_keys(tmp_path):
    iter_run(tmp_path / 'seg')
    done = run_tool_in_process(TOOL, tmp_path / 'seg', '--keys', 'loss',
                               'mIou')
    assert done.returncode == 2
    assert error_lines(done) == [
        "error: key 'mIou' is not logged in seg: the logged keys are loss, "
        'lr, mIoU'
    ]


@pytest.mark.parametrize('make,error,message', [
    (lambda root: None, InputNotFoundError,
     'work dir {root}/missing does not exist'),
    (lambda root: (root / 'missing').mkdir(), UserError,
     '{root}/missing holds no scalar log (<timestamp>/vis_data/scalars.json)'
     ': pass the --work-dir of a tools/train.py run'),
    (lambda root: write_scalars(root / 'missing', '20240101_000000', []),
     UserError, '{root}/missing: no scalars logged yet (mmengine writes them '
     'every default_hooks.logger.interval iterations)'),
])
def test_bad_work_dirs(tmp_path, make, error, message):
    make(tmp_path)
    with pytest.raises(error) as raised:
        plot_curves.main([str(tmp_path / 'missing')])
    assert str(raised.value) == message.format(root=tmp_path)


def test_bad_out_and_legend(tmp_path):
    iter_run(tmp_path / 'seg')
    with pytest.raises(UserError, match=r'--out .*x\.abc: matplotlib cannot '
                       r'write abc; use one of .*\.png'):
        plot_curves.main([str(tmp_path / 'seg'), '--out',
                          str(tmp_path / 'x.abc')])
    with pytest.raises(UserError, match=r'^--legend has 2 names for 1 work '
                       r'dirs: give one per work dir$'):
        plot_curves.main([str(tmp_path / 'seg'), '--legend', 'a', 'b'])

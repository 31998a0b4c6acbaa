"""Bad input to the tools ends in one 'error:' line and exit code 2 (the
tools run in-process; their entry points run as subprocesses elsewhere)."""
import subprocess

import pytest

from helpers import REPO, run_tool_in_process


def assert_one_line_error(result: subprocess.CompletedProcess, *parts: str):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if line.startswith('error:')]
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    for part in parts:
        assert part in lines[0]


@pytest.fixture
def bad_arch_config(tmp_path):
    path = tmp_path / 'bad_arch.py'
    path.write_text(
        "default_scope = 'mmdet'\n"
        "custom_imports = dict(imports=['convnext_dense'])\n"
        "model = dict(type='convnext_dense.ConvNeXt', arch='huge')\n"
        f"work_dir = {str(tmp_path / 'work')!r}\n")
    return path


def test_train_with_bad_backbone_arch(bad_arch_config):
    assert_one_line_error(
        run_tool_in_process('train.py', str(bad_arch_config)),
        "ConvNeXt arch 'huge' is unknown")


def test_train_with_missing_config(tmp_path):
    assert_one_line_error(
        run_tool_in_process('train.py', str(tmp_path / 'none.py')),
        'none.py does not exist')


def test_test_with_missing_checkpoint(bad_arch_config, tmp_path):
    assert_one_line_error(
        run_tool_in_process('test.py', str(bad_arch_config),
                            str(tmp_path / 'gone.pth')),
        'checkpoint', 'gone.pth does not exist')


def test_infer_with_missing_image(bad_arch_config, tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    assert_one_line_error(
        run_tool_in_process('infer.py', str(tmp_path / 'missing.jpg'),
                            '--config', str(bad_arch_config), '--checkpoint',
                            str(checkpoint)),
        'missing.jpg does not exist')


@pytest.mark.parametrize('config', [
    'configs/toy/cascade_mask_rcnn_convnext_toy_coco.py',
    'configs/toy/upernet_convnext_toy_ade.py',
])
def test_infer_with_a_file_that_is_not_an_image(config, tmp_path):
    checkpoint, image = tmp_path / 'model.pth', tmp_path / 'notes.png'
    checkpoint.write_bytes(b'')
    image.write_text('not an image')
    assert_one_line_error(
        run_tool_in_process('infer.py', str(image), '--config',
                            str(REPO / config), '--checkpoint',
                            str(checkpoint), '--out-dir',
                            str(tmp_path / 'out')),
        f'{image} is not an image OpenCV can read')


@pytest.mark.parametrize('tool, config, missing, hint', [
    ('train.py', 'configs/mask_rcnn_convnext_t_3x_coco.py', 'data/coco/',
     'download COCO 2017 into data/coco/'),
    ('test.py', 'configs/toy/cascade_mask_rcnn_convnext_toy_coco.py',
     'data/toy_coco/', 'python tools/make_toy_data.py coco'),
    ('train.py', 'configs/upernet_convnext_t_160k_ade20k_512.py',
     'data/ade/ADEChallengeData2016', 'ADEChallengeData2016.zip'),
    ('test.py', 'configs/upernet_convnext_t_160k_ade20k_512.py',
     'data/ade/ADEChallengeData2016', 'ADEChallengeData2016.zip'),
    ('test.py', 'configs/toy/upernet_convnext_toy_ade.py', 'data/toy_ade',
     'python tools/make_toy_data.py ade'),
])
def test_missing_dataset_is_one_line(tool, config, missing, hint, tmp_path):
    args = [str(REPO / config)]
    if tool == 'test.py':
        (tmp_path / 'model.pth').write_bytes(b'')
        args.append(str(tmp_path / 'model.pth'))
    # Relative data roots resolve in tmp_path, where there is no data.
    done = run_tool_in_process(tool, *args, '--work-dir',
                               str(tmp_path / 'work'), cwd=tmp_path)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), lines
    assert f'{missing} (' in lines[0] and hint in lines[0]

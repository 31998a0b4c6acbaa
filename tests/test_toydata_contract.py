"""One contract for both toy-data generators and tools/make_toy_data.py: the
same dataset is kept, anything else is refused in one line unless overwrite,
and an interrupted run leaves no half dataset under the final name."""
import hashlib
import importlib.util
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import TOOLS
from convnext_dense.data.toy import toy_ade, toy_coco
from convnext_dense.errors import ConfigError, OutputExistsError


class Toy(NamedTuple):
    name: str  # tools/make_toy_data.py's name
    module: object
    args: dict  # small arguments for generate
    some_file: str  # one of its files, relative to the root


TOYS = [
    Toy('coco', toy_coco, dict(num_train=3, num_val=2), 'train/000002.png'),
    Toy('ade', toy_ade, dict(num_train=3, num_val=2, size=64),
        'images/training/toy_00001.jpg'),
]


@pytest.fixture(params=TOYS, ids=[t.name for t in TOYS])
def toy(request) -> Toy:
    return request.param


def digest(root: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        sha.update(str(path.relative_to(root)).encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def test_same_arguments_keep_the_dataset(toy, tmp_path):
    root = tmp_path / 'toy'
    toy.module.generate(root, **toy.args)
    assert toy.module.is_generated(root, **toy.args)
    before = {p: p.stat().st_mtime_ns for p in root.rglob('*')}
    toy.module.generate(root, **toy.args)
    assert {p: p.stat().st_mtime_ns for p in root.rglob('*')} == before


def test_other_arguments_are_refused_in_one_line(toy, tmp_path):
    root = tmp_path / 'toy'
    toy.module.generate(root, **toy.args)
    before = digest(root)
    assert not toy.module.is_generated(root, **toy.args, seed=1)
    with pytest.raises(OutputExistsError) as error:
        toy.module.generate(root, **toy.args, seed=1)
    message = str(error.value)
    assert '\n' not in message and isinstance(error.value, FileExistsError)
    assert message.startswith(f'{root} already exists and holds a toy '
                              f'dataset with seed=0 (asked: 1): pass '
                              f'--overwrite (overwrite=True)')
    assert digest(root) == before


def test_overwrite_replaces_it(toy, tmp_path):
    root, fresh = tmp_path / 'toy', tmp_path / 'fresh'
    toy.module.generate(root, **toy.args)
    toy.module.generate(root, **toy.args, seed=1, overwrite=True)
    toy.module.generate(fresh, **toy.args, seed=1)
    assert digest(root) == digest(fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fresh', 'toy']


@pytest.mark.parametrize('damage, reason', [
    ('delete_file', 'an incomplete toy dataset'),
    ('other_files', 'no toy_'),
])
def test_incomplete_or_foreign_folder_is_refused(toy, tmp_path, damage,
                                                 reason):
    root = tmp_path / 'toy'
    if damage == 'delete_file':
        toy.module.generate(root, **toy.args)
        (root / toy.some_file).unlink()
    else:
        root.mkdir()
        (root / 'notes.txt').write_text('mine')
    with pytest.raises(OutputExistsError, match=f'holds {reason}'):
        toy.module.generate(root, **toy.args)
    toy.module.generate(root, **toy.args, overwrite=True)
    assert toy.module.is_generated(root, **toy.args)
    assert not (root / 'notes.txt').exists()


def test_an_empty_folder_is_written(toy, tmp_path):
    toy.module.generate(tmp_path, **toy.args)
    assert toy.module.is_generated(tmp_path, **toy.args)


@pytest.mark.parametrize('existing', [False, True])
def test_interrupted_run_leaves_no_half_dataset(toy, tmp_path, monkeypatch,
                                                existing):
    root = tmp_path / 'toy'
    if existing:
        toy.module.generate(root, **toy.args)
    before = digest(root) if existing else None
    make_sample = toy.module.make_sample
    calls = []

    def killed_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt('killed')
        return make_sample(*args, **kwargs)

    monkeypatch.setattr(toy.module, 'make_sample', killed_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        toy.module.generate(root, **toy.args, seed=1, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ['toy'] if existing else [])
    if existing:
        assert digest(root) == before


def test_bad_sizes_are_config_errors(toy, tmp_path):
    with pytest.raises(ConfigError, match='num_train'):
        toy.module.generate(tmp_path / 'toy', **dict(toy.args, num_train=0))


def _make_toy_data():
    spec = importlib.util.spec_from_file_location('make_toy_data',
                                                  TOOLS / 'make_toy_data.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_toy_data_follows_the_contract(toy, tmp_path, capsys):
    main = _make_toy_data().main
    args = [toy.name, '--root', str(tmp_path / 'toy'), '--num-train', '3',
            '--num-val', '2']
    main(args)
    assert 'written to' in capsys.readouterr().out
    main(args)
    assert 'kept' in capsys.readouterr().out
    with pytest.raises(OutputExistsError, match='seed=0 \\(asked: 4\\)'):
        main(args + ['--seed', '4'])
    main(args + ['--seed', '4', '--overwrite'])
    assert 'written to' in capsys.readouterr().out
    assert toy.module.is_generated(tmp_path / 'toy', num_train=3, num_val=2,
                                   seed=4)

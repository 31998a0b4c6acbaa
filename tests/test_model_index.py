"""The model index (configs/metafile.yml): it lists exactly the shipped
configs, each entry says what its config trains, its parameter counts are the
built models', the toys' FLOPs what get_flops counts, the docs' marked tables
its rendering; and bad index files or markers end in one line."""
from pathlib import Path
from typing import Any

import pytest
import yaml
from mmengine.config import Config

from conftest import CONFIGS, REPO, check, error_lines, run_tool
from helpers import build_on_meta
from convnext_dense.cli import get_flops
from convnext_dense.cli import model_index as index_tool
from convnext_dense.errors import ModelIndexError, UserError
from convnext_dense.model_index import (INDEX_FILE, gflops_figure,
                                        load_model_index)

INDEX = load_model_index()
ENTRIES = {entry.name: entry for entry in INDEX}
TOYS = sorted(name for name, entry in ENTRIES.items() if entry.toy)
PAPER_CONFIGS = sorted(name for name, entry in ENTRIES.items()
                       if entry.paper is not None)
#: An entry the error tests break one key of at a time.
VALID_ENTRY = {
    'Name': 'x', 'In Collection': 'UPerNet', 'Config': 'configs/x.py',
    'Metadata': {'Task': 'Semantic Segmentation', 'Training Data': 'ADE20K',
                 'Backbone': 'ConvNeXt', 'Backbone Arch': 'tiny',
                 'Pretrain': 'IN-1K', 'Pretrained Weights': 'w',
                 'Iterations': 10, 'Parameters': 5, 'FLOPs (G)': 1.5,
                 'Input': '64x32'}}


def shipped_configs() -> set:
    """Every config under configs/ outside _base_, relative to the root."""
    return {str(path.relative_to(REPO)) for path in CONFIGS.rglob('*.py')
            if '_base_' not in path.parts}


def load(name: str) -> Config:
    return Config.fromfile(str(REPO / ENTRIES[name].config))


def as_lists(value: Any) -> Any:
    """A config value with its tuples as lists, as YAML reads them."""
    if isinstance(value, dict):
        return {key: as_lists(item) for key, item in value.items()}
    return list(value) if isinstance(value, (list, tuple)) else value


def test_every_shipped_config_is_listed_and_every_listed_one_exists():
    listed = {entry.config for entry in INDEX}
    assert len(listed) == len(INDEX)
    assert shipped_configs() - listed == set(), 'not in the index'
    assert listed - shipped_configs() == set(), 'listed but not shipped'


def test_the_root_model_index_imports_the_metafile():
    root = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert root == {'Import': [str(INDEX_FILE.relative_to(REPO))]}


@pytest.mark.parametrize('name', sorted(ENTRIES))
def test_entry_says_what_its_config_trains(name):
    entry, cfg = ENTRIES[name], load(name)
    backbone = cfg.model.backbone
    assert as_lists(backbone.arch) == entry.arch
    assert backbone.type.split('.')[-1] == {
        'ConvNeXt': 'ConvNeXt', 'ConvNeXt V2': 'ConvNeXtV2',
        'isotropic ConvNeXt': 'ConvNeXtIsotropic',
        'ConvMixer': 'ConvMixer'}[entry.backbone]
    init_cfg = backbone.get('init_cfg')
    if entry.weights is None:
        assert init_cfg is None and entry.pretrain is None
    else:
        checkpoint = init_cfg.checkpoint
        assert entry.weights == checkpoint.rsplit('/', 1)[-1]
        assert entry.pretrain is not None
    assert (entry.epochs, entry.iterations) == (
        cfg.train_cfg.get('max_epochs'), cfg.train_cfg.get('max_iters'))
    detection = cfg.default_scope == 'mmdet'
    assert entry.task == ('Instance Segmentation' if detection else
                          'Semantic Segmentation')
    assert entry.dataset.endswith('COCO' if detection else 'ADE20K')
    assert entry.toy == ('toy' in Path(entry.config).parts)


@pytest.mark.parametrize('name', sorted(ENTRIES))
def test_parameters_are_the_built_models(name):
    model = build_on_meta(load(name))
    assert sum(p.numel() for p in model.parameters()
               ) == ENTRIES[name].params


@pytest.mark.parametrize('name', TOYS)
def test_toy_flops_are_what_get_flops_counts(name):
    result = get_flops.count(load(name))
    entry = ENTRIES[name]
    assert result.input_hw == entry.input_hw
    assert result.params == entry.params
    assert gflops_figure(result.flops) == entry.gflops


def test_the_papers_configs_have_its_results_and_figures():
    """The 13 configs of the ConvNeXt paper's Tables 3 and 4; the counts
    within the paper's rounding (params) and 0.2% (FLOPs)."""
    assert len(PAPER_CONFIGS) == 13
    assert PAPER_CONFIGS == sorted(n for n, e in ENTRIES.items() if e.metrics)
    for name in PAPER_CONFIGS:
        entry = ENTRIES[name]
        assert entry.paper_title == 'A ConvNet for the 2020s'
        assert set(entry.metrics) in ({'box AP', 'mask AP'},
                                      {'mIoU', 'mIoU (ms+flip)'})
        assert round(entry.params / 1e6) == entry.paper.params_m, name
        assert entry.gflops == pytest.approx(entry.paper.gflops, rel=2e-3)


def test_get_flops_takes_the_papers_figures_from_the_index():
    paper = ENTRIES['upernet_convnext_b_160k_ade20k_640_in22k'].paper
    assert get_flops.paper_figures(
        'upernet_convnext_b_160k_ade20k_640_in22k') == paper
    assert paper == (122, 1828, (640, 2560))
    assert get_flops.paper_figures('mask_rcnn_convnext_iso_s_3x_coco') is None
    assert get_flops.paper_figures('not_a_config') is None


def test_the_docs_tables_are_the_index_rendered():
    assert index_tool.stale_documents(REPO, INDEX) == {}
    names = {block['name'] for path in index_tool.documents(REPO)
             for block in index_tool.BLOCK.finditer(path.read_text())}
    assert names == set(index_tool.TABLES)


def test_each_config_is_in_one_table_by_task_and_the_summary_is_the_papers():
    rows = {name: [line.split('`')[1] for line in index_tool.render(
        name, INDEX)[2:]] for name in index_tool.TABLES}
    shown = [config for name, configs in rows.items() if name != 'summary'
             for config in configs]
    assert sorted(shown) == sorted(
        str(Path(e.config).relative_to('configs')) for e in INDEX)
    assert sorted(rows['summary']) == [f'{name}.py' for name in PAPER_CONFIGS]


def test_update_docs_rewrites_only_the_marked_blocks(tmp_path, capsys):
    (tmp_path / 'docs').mkdir()
    readme = tmp_path / 'README.md'
    readme.write_text('# Title\n\n<!-- model-index:summary -->\nold\n'
                      '<!-- /model-index -->\n\nmore text\n')
    untouched = tmp_path / 'docs' / 'other.md'
    untouched.write_text('no markers\n')
    with pytest.raises(UserError, match='marked tables differ'):
        index_tool.main(['--check', '--root', str(tmp_path)])
    index_tool.main(['--update-docs', '--root', str(tmp_path)])
    assert capsys.readouterr().out == f'updated {readme}\n'
    table = '\n'.join(index_tool.render('summary', INDEX))
    assert readme.read_text() == (
        f'# Title\n\n<!-- model-index:summary -->\n{table}\n'
        '<!-- /model-index -->\n\nmore text\n')
    assert untouched.read_text() == 'no markers\n'
    index_tool.main(['--check', '--root', str(tmp_path)])


@pytest.mark.parametrize('text, message', [
    ('<!-- model-index:sumary -->\n<!-- /model-index -->\n',
     'README.md: <!-- model-index:sumary --> names no table; the tables '
     'are summary, detection'),
    ('a\n<!-- model-index:summary -->\nno end\n',
     'README.md, line 2: this <!-- model-index:NAME --> marker has no '
     '<!-- /model-index --> line after it'),
])
def test_bad_markers_are_one_line(tmp_path, text, message):
    (tmp_path / 'README.md').write_text(text)
    with pytest.raises(UserError, match=message.replace('(', r'\(')):
        index_tool.main(['--update-docs', '--root', str(tmp_path)])
    assert (tmp_path / 'README.md').read_text() == text


def test_an_unknown_table_is_one_line():
    with pytest.raises(UserError, match='no table plian: the tables are '
                       'summary, detection, segmentation, plain, v2, toys'):
        index_tool.main(['plian'])


def write_index(tmp_path: Path, models: list) -> Path:
    path = tmp_path / 'metafile.yml'
    path.write_text(yaml.safe_dump({
        'Collections': [{'Name': 'UPerNet'}], 'Models': models}))
    return path


def broken(key: str, value: Any) -> dict:
    """:data:`VALID_ENTRY` with one Metadata key set (None: removed)."""
    metadata = {k: v for k, v in VALID_ENTRY['Metadata'].items() if k != key}
    if value is not None:
        metadata[key] = value
    return {**VALID_ENTRY, 'Metadata': metadata}


@pytest.mark.parametrize('models, message', [
    ([broken('Parameters', None)],
     'model x: Metadata: Parameters is missing, expected an integer'),
    ([broken('Parameters', '5M')],
     "model x: Metadata: Parameters is '5M', expected an integer"),
    ([broken('Input', '64 by 32')],
     "Metadata: Input is '64 by 32', expected WIDTHxHEIGHT"),
    ([broken('Epochs', 3)], 'give either Epochs or Iterations'),
    ([{**VALID_ENTRY, 'In Collection': 'FCN'}],
     "In Collection 'FCN' is not one of the Collections (UPerNet)"),
    ([{**VALID_ENTRY, 'Config': 'configs/y.py'}],
     'Config configs/y.py is not a file named x.py'),
    ([{**VALID_ENTRY, 'Paper': {'Title': 'T', 'FLOPs (G)': 3}}],
     'Paper: give both Parameters (M) and FLOPs (G), or neither'),
    ([VALID_ENTRY, VALID_ENTRY], 'lists x more than once'),
])
def test_a_malformed_index_is_one_line_naming_entry_and_key(
        tmp_path, models, message):
    path = write_index(tmp_path, models)
    with pytest.raises(ModelIndexError) as raised:
        load_model_index(path)
    assert str(raised.value).startswith(f'model index {path}')
    assert message in str(raised.value)


def test_a_valid_entry_reads_back(tmp_path):
    entry = load_model_index(write_index(tmp_path, [VALID_ENTRY])).get('x')
    assert (entry.iterations, entry.epochs, entry.params, entry.gflops,
            entry.input_hw, entry.metrics, entry.paper) == (
                10, None, 5, 1.5, (32, 64), {}, None)


def test_a_config_not_in_the_index_is_one_line():
    with pytest.raises(ModelIndexError,
                       match='config my_config is not in the model index'):
        INDEX.get('my_config')


def test_not_yaml_names_the_line(tmp_path):
    path = tmp_path / 'metafile.yml'
    path.write_text('Models:\n  - Name: [x\n')
    with pytest.raises(ModelIndexError,
                       match=f'model index {path} is not valid YAML, line'):
        load_model_index(path)


def test_the_tool_prints_tables_and_refuses_a_missing_index(tmp_path):
    """Also the check that the real tool runs end to end (a subprocess)."""
    done = check(run_tool('model_index.py', 'toys'))
    assert done.stdout.splitlines() == [
        '<!-- model-index:toys -->', *index_tool.render('toys', INDEX),
        '<!-- /model-index -->']
    missing = tmp_path / 'metafile.yml'
    done = run_tool('model_index.py', '--index', missing)
    assert done.returncode == 2
    assert error_lines(done) == [
        f'error: model index {missing} does not exist: the index is the '
        "repository's configs/metafile.yml; restore it (git checkout -- "
        'configs/metafile.yml) or pass its path']

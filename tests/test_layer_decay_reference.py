"""Every parameter's lr scale and weight decay under the toy configs and a
few full ones, held to ``tests/data/lr_decay_reference.json`` (recorded by
``tests/data/make_lr_decay_reference.py`` from the rules before the
backbones owned them): renaming or moving code must not move a learning
rate."""
import json

import pytest

from helpers import data_path, lr_decay_table

REFERENCE = json.loads(data_path('lr_decay_reference.json').read_text())


@pytest.mark.parametrize('config', sorted(REFERENCE))
def test_lr_scale_and_weight_decay_match_the_reference(config):
    assert lr_decay_table(config) == REFERENCE[config]

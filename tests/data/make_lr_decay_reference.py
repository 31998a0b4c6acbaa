"""Records each parameter's lr scale and weight decay under a few configs.

``lr_decay_reference.json`` beside this script holds, per config, the
``[name, lr scale, weight decay]`` of every trainable parameter as the
config's ``LayerDecayOptimizerConstructor`` grouped them (models built on the
meta device). It was recorded from the rules that found each parameter's
layer from its full name, before the backbones answered that question
themselves, and holds the toolkit to them. Rerunning the script records
whatever the code does now, so rerun it only to accept a deliberate change
of the rules:

    python tests/data/make_lr_decay_reference.py
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name('lr_decay_reference.json')
TESTS = Path(__file__).resolve().parents[1]

#: Every toy config; full configs for each decay type, 6 and 12 layers, and
#: a plain backbone.
CONFIGS = (
    'toy/cascade_mask_rcnn_convnext_toy_coco.py',
    'toy/mask_rcnn_convmixer_toy_coco.py',
    'toy/mask_rcnn_convnext_iso_toy_coco.py',
    'toy/mask_rcnn_convnext_toy_coco.py',
    'toy/mask_rcnn_convnextv2_toy_coco.py',
    'toy/upernet_convmixer_toy_ade.py',
    'toy/upernet_convnext_iso_toy_ade.py',
    'toy/upernet_convnext_toy_ade.py',
    'toy/upernet_convnextv2_toy_ade.py',
    'mask_rcnn_convnext_t_3x_coco.py',
    'upernet_convnext_t_160k_ade20k_512.py',
    'mask_rcnn_convnextv2_b_fcmae_lsj_3x_coco.py',
    'upernet_convnext_iso_s_160k_ade20k_512.py',
)


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from helpers import lr_decay_table
    reference = {config: lr_decay_table(config) for config in CONFIGS}
    OUT.write_text(json.dumps(reference, indent=0, sort_keys=True) + '\n')


if __name__ == '__main__':
    main()

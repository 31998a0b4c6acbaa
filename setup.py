"""convnext-dense: ConvNeXt for dense prediction on OpenMMLab 2.x."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'",
                    (HERE / 'convnext_dense' / '__init__.py').read_text()).group(1)

# torch 2.14 needs C++20 and mmcv 2.1.0 builds with -std=c++17; mmcv 2.1.0 is
# the newest release mmdet 3.3.0 and mmsegmentation 1.2.2 accept.
INSTALL_REQUIRES = [
    'torch==2.13.0',
    'mmengine==0.10.7',
    'mmcv==2.1.0',
    'mmdet==3.3.0',
    'mmsegmentation==1.2.2',
    'pycocotools>=2.0.7',
    # mmsegmentation 1.2.2 imports these without declaring them.
    'ftfy',
    'regex',
]

# tools/export_onnx.py: torch 2.13's exporter needs onnxscript; onnxruntime
# checks the exported file.
ONNX = ['onnx>=1.23', 'onnxruntime>=1.32', 'onnxscript>=0.7']
# tools/train.py --tensorboard.
TENSORBOARD = ['tensorboard>=2.21']
# The opt-in faster COCO evaluation backend.
FASTER_COCO_EVAL = ['faster-coco-eval>=1.8']

setup(
    name='convnext-dense',
    version=VERSION,
    description='ConvNeXt backbones, configs and tools for COCO detection '
    'and ADE20K segmentation on mmengine/mmdet 3.x/mmseg 1.x',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['convnext_dense', 'convnext_dense.*']),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        'onnx': ONNX,
        'tensorboard': TENSORBOARD,
        'faster-coco-eval': FASTER_COCO_EVAL,
        # The suite exercises every optional feature.
        'tests': ['pytest>=7', *ONNX, *TENSORBOARD, *FASTER_COCO_EVAL],
    },
    license='Apache-2.0',
)

"""convnext-dense: ConvNeXt for dense prediction on OpenMMLab 2.x."""
import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'",
                    (HERE / 'convnext_dense' / '__init__.py').read_text()).group(1)

# mmcv 2.1.0 is the newest release mmdet 3.3.0 and mmsegmentation 1.2.2
# accept. It is not a requirement here: mmcv-lite (its Python code, no
# compiled ops; the toolkit provides the ops its models use) and mmcv (the
# full build) install the same package folder, so the environment gets exactly
# one of them, by choice: the extras below, or `make install MMCV=lite|full`.
INSTALL_REQUIRES = [
    'torch==2.13.0',
    'mmengine==0.10.7',
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
# benchmarks/detector_speed.py: mmdet's own ConvNeXt configs use mmpretrain's
# ConvNeXt (mmpretrain asks for mmcv only in its 'mim' extra).
BENCHMARK = ['mmpretrain==1.2.0']

# A .pth file beside the packages runs the import hook that serves the
# toolkit's kernels as mmcv._ext under mmcv-lite when the interpreter starts,
# so that import order never matters.
PTH_NAME = '_convnext_dense_mmcv_ext.pth'
PTH_LINE = 'import _convnext_dense_mmcv_ext\n'


def write_pth(folder: str) -> None:
    Path(folder, PTH_NAME).write_text(PTH_LINE)


class BuildPyWithPth(build_py):
    """Writes the .pth file beside the packages (wheels, plain installs)."""

    def run(self):
        super().run()
        write_pth(self.build_lib)


class EditableWheelWithPth(editable_wheel):
    """Writes the .pth file into the editable wheel too (pip install -e)."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        write_pth(installation_dir)


setup(
    name='convnext-dense',
    version=VERSION,
    description='ConvNeXt backbones, configs and tools for COCO detection '
    'and ADE20K segmentation on mmengine/mmdet 3.x/mmseg 1.x',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(include=['convnext_dense', 'convnext_dense.*']),
    py_modules=['_convnext_dense_mmcv_ext'],
    cmdclass={'build_py': BuildPyWithPth,
              'editable_wheel': EditableWheelWithPth},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # Exactly one of these two.
        'mmcv-lite': ['mmcv-lite==2.1.0'],
        'mmcv-full': ['mmcv==2.1.0'],
        'onnx': ONNX,
        'tensorboard': TENSORBOARD,
        'faster-coco-eval': FASTER_COCO_EVAL,
        'benchmark': BENCHMARK,
        # The suite exercises every optional feature.
        'tests': ['pytest>=7', *ONNX, *TENSORBOARD, *FASTER_COCO_EVAL],
    },
    license='Apache-2.0',
)

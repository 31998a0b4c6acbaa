"""Names of the painted PNGs that tools/infer.py writes."""
from convnext_dense.inference.outputs import painted_paths


def test_each_image_gets_its_own_png():
    images = ['a/x.jpg', 'b/x.jpg', 'c/y.png', 'd/x.png']
    assert painted_paths('out', images) == [
        'out/x.png', 'out/x_2.png', 'out/y.png', 'out/x_3.png']


def test_no_images_no_paths():
    assert painted_paths('out', []) == []

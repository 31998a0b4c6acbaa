"""The demos' shared helpers (the demos themselves run in make demo /
make demo-seg; the toy trainings they wrap are tested end to end in
test_detection_tools.py and test_segmentation_toy.py)."""
import pytest

from convnext_dense.cli.common import UserError
from convnext_dense.demos.common import final_checkpoint


def test_final_checkpoint_follows_the_pointer(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(f'{tmp_path}/epoch_3.pth\n')
    assert final_checkpoint(str(tmp_path)) == f'{tmp_path}/epoch_3.pth'


def test_final_checkpoint_without_a_pointer_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match='holds no last_checkpoint'):
        final_checkpoint(str(tmp_path))

"""The backbone's fast paths give the official numbers: channels_last compute,
layer scale folded into pwconv2, the chunked MLP at inference, and stopping
after the last requested stage."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer

from convnext_dense.models import ConvNeXt
from convnext_dense.models.layers import ConvNeXtBlock

TOL = dict(rtol=1e-5, atol=1e-5)
SMALL_ARCH = dict(depths=(1, 1, 2, 1), dims=(8, 16, 24, 32))


def official_block(block: ConvNeXtBlock, x: torch.Tensor) -> torch.Tensor:
    """The official block's formula on ``block``'s parameters."""
    y = block.dwconv(x).permute(0, 2, 3, 1)
    y = block.pwconv2(F.gelu(block.pwconv1(block.norm(y))))
    return x + (block.gamma * y).permute(0, 3, 1, 2)


def random_block(dim: int = 16) -> ConvNeXtBlock:
    torch.manual_seed(0)
    block = ConvNeXtBlock(dim, drop_path_rate=0.0, layer_scale_init_value=1.0)
    with torch.no_grad():
        for param in block.parameters():
            param.copy_(torch.randn_like(param) * 0.2)
    return block


def reference_model(timm_reference: dict) -> ConvNeXt:
    model = ConvNeXt(arch=dict(depths=timm_reference['depths'],
                               dims=timm_reference['dims']))
    model.load_state_dict(timm_reference['official_state_dict'])
    return model.eval()


@pytest.mark.parametrize('grad', [True, False], ids=['autograd', 'inference'])
def test_both_paths_reproduce_timm_outputs(timm_reference, grad):
    model = reference_model(timm_reference)
    with torch.set_grad_enabled(grad):
        outputs = model(timm_reference['input'])
    for out, expected in zip(outputs, timm_reference['outputs']):
        assert out.is_contiguous()
        torch.testing.assert_close(out, expected, **TOL)


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_block_matches_official_formula_with_gradients(memory_format):
    block = random_block()
    x = torch.randn(2, 16, 9, 11).to(memory_format=memory_format)
    x_ours = x.clone().requires_grad_()
    x_official = x.clone().requires_grad_()
    out = block(x_ours)
    expected = official_block(block, x_official)
    torch.testing.assert_close(out, expected, **TOL)
    assert out.is_contiguous(memory_format=torch.channels_last)
    projection = torch.randn_like(expected)
    grads = torch.autograd.grad((out * projection).sum(),
                                [x_ours, *block.parameters()])
    expected_grads = torch.autograd.grad(
        (expected * projection).sum(), [x_official, *block.parameters()])
    names = ['input'] + [name for name, _ in block.named_parameters()]
    for name, grad, expected_grad in zip(names, grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, **TOL, msg=name)


def test_inference_chunks_match_the_official_formula(monkeypatch):
    block = random_block().eval()
    x = torch.randn(2, 16, 9, 11)
    monkeypatch.setattr(ConvNeXtBlock, 'inference_chunk_threshold', 64)
    # 64 hidden elements: 1 row per chunk, 198 chunks.
    monkeypatch.setattr(ConvNeXtBlock, 'inference_chunk_elements', 64)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, official_block(block, x), **TOL)
    # A partial last chunk: 5 rows per chunk.
    monkeypatch.setattr(ConvNeXtBlock, 'inference_chunk_elements', 5 * 64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), out, **TOL)


def test_inference_leaves_the_input_untouched():
    block = random_block().eval()
    x = torch.randn(1, 16, 7, 7).to(memory_format=torch.channels_last)
    before = x.clone()
    with torch.no_grad():
        block(x)
    assert torch.equal(x, before)


def test_forward_stops_after_the_last_requested_stage(timm_reference):
    full = reference_model(timm_reference)
    model = ConvNeXt(arch=dict(depths=timm_reference['depths'],
                               dims=timm_reference['dims']),
                     out_indices=(0, 1))
    model.load_state_dict(
        {k: v for k, v in timm_reference['official_state_dict'].items()
         if not k.startswith(('norm2.', 'norm3.'))})
    model.eval()
    called = []
    for i in (2, 3):
        for module in (model.downsample_layers[i], model.stages[i]):
            module.register_forward_hook(
                lambda *_, i=i: called.append(i))
    with torch.no_grad():
        outputs = model(timm_reference['input'])
    assert called == []
    assert len(outputs) == 2
    for out, expected in zip(outputs, timm_reference['outputs'][:2]):
        torch.testing.assert_close(out, expected, **TOL)
    assert len(full.forward_stages(timm_reference['input'])) == 4


def test_stage_outputs_are_channels_last_and_outputs_contiguous():
    torch.manual_seed(0)
    model = ConvNeXt(arch=SMALL_ARCH).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stages = model.forward_stages(x)
        outputs = model(x)
    assert all(s.is_contiguous(memory_format=torch.channels_last)
               for s in stages)
    assert all(o.is_contiguous() for o in outputs)


def test_frozen_stages_take_the_inference_path_while_training():
    torch.manual_seed(0)
    model = ConvNeXt(arch=SMALL_ARCH, frozen_stages=1).train()
    x = torch.randn(1, 3, 32, 32)
    frozen_block = model.stages[0][0]
    assert not frozen_block._needs_autograd(x)
    assert model.stages[1][0]._needs_autograd(x)
    sum(o.sum() for o in model(x)).backward()
    assert model.stages[1][0].pwconv1.weight.grad is not None


@pytest.fixture(scope='module')
def convnext_tiny() -> ConvNeXt:
    return ConvNeXt(arch='tiny').eval()


@pytest.mark.parametrize('grad', [True, False], ids=['autograd', 'inference'])
def test_flop_count_sees_every_layer(convnext_tiny, grad):
    """mmengine counts ConvNeXt-T at 224x224 as the paper's 4.5 GFLOPs."""
    with torch.set_grad_enabled(grad):
        analyzer = FlopAnalyzer(convnext_tiny, (torch.randn(1, 3, 224, 224), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        by_operator = analyzer.by_operator()
    convs_and_linears = sum(v for k, v in by_operator.items()
                            if k != 'layer_norm')
    assert 4.45e9 < convs_and_linears < 4.46e9

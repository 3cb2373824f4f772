import math
import os
import pathlib
import subprocess
import sys

from distill_helpers import tiny_distill_trainer
import pytest
import torch

from track_core.checkpoint import save_checkpoint
from track_core.config import load_config
from track_core.data.synthetic import moving_object_sequence, write_uniform_sequence
from track_core.net import create_model
from track_core.runtime import load_tracker
from track_core.train.config import TrainConfig
from track_core.train.losses import center_to_edge_distributions, gaussian_heatmap
from track_core.train.run import run
from track_core.train.schedule import draw_stage_mask, replacement_probability
from track_core.train.stages import (init_student_from_teacher, replaced_block_list,
                                     stage_ranges)
from track_core.train.task import DepthPruneTask, DistillTask, GroundTruthTask, LossWeights
from track_core.train.trainer import OptimConfig, Trainer

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.parametrize('progress, expected', [(0.0, 0.5), (0.05, 0.5), (0.1, 0.5),
                                                (0.5, 0.75), (0.7, 0.875), (0.9, 1.0),
                                                (1.0, 1.0)])
def test_progressive_schedule(progress, expected):
    assert replacement_probability(progress) == pytest.approx(expected)


def test_constant_schedule_and_bad_progress():
    assert replacement_probability(0.95, 'constant', 0.6) == 0.6
    with pytest.raises(ValueError):
        replacement_probability(1.5)


def test_stage_mask_is_seeded_and_never_empty():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert [draw_stage_mask(4, 0.5, g1) for _ in range(5)] == \
        [draw_stage_mask(4, 0.5, g2) for _ in range(5)]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert sum(draw_stage_mask(4, 0.0, g)) == 1
    assert draw_stage_mask(3, 1.0, g) == [True] * 3


def test_stage_ranges():
    assert stage_ranges(12, 4) == [(0, 3), (3, 6), (6, 9), (9, 12)]
    assert stage_ranges(10, 3) == [(0, 4), (4, 7), (7, 10)]
    uneven = stage_ranges(12, 3, 'uneven')
    assert uneven[-1][1] == 12 and [b - a for a, b in uneven] == sorted(b - a
                                                                        for a, b in uneven)
    assert stage_ranges(6, 2, [1, 5]) == [(0, 1), (1, 6)]
    with pytest.raises(ValueError):
        stage_ranges(6, 2, [2, 2])


def _batch(cfg, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {'template': torch.randn(n, 3, cfg.template_size, cfg.template_size, generator=g),
            'search': torch.randn(n, 3, cfg.search_size, cfg.search_size, generator=g),
            'box': torch.tensor([[0.5, 0.5, 0.2, 0.3]] * n)}


def _pair(student_depth=2, **student_changes):
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    student = create_model('tiny', depth=student_depth, **student_changes)
    ranges = stage_ranges(teacher.cfg.depth, student_depth)
    init_student_from_teacher(student, teacher, ranges)
    return teacher, student, ranges


def test_student_init_takes_the_last_layer_of_each_stage():
    teacher, student, ranges = _pair()
    assert ranges == [(0, 2), (2, 4)]
    for i, src in enumerate((1, 3)):
        assert torch.equal(student.blocks[i].attn.qkv.weight, teacher.blocks[src].attn.qkv.weight)
    assert torch.equal(student.box_head.conv1_ctr[0].weight, teacher.box_head.conv1_ctr[0].weight)


def test_all_stages_from_the_teacher_reproduce_the_teacher():
    teacher, student, ranges = _pair()
    task = DistillTask(student, teacher, ranges).eval()
    batch = _batch(teacher.cfg)
    blocks, _, _ = replaced_block_list(student, teacher, ranges, [False, False])
    with torch.no_grad():
        s = student
        tokens, _ = s.run_blocks(s.join(s.embed_template(batch['template']),
                                        s.embed_search(batch['search'])), blocks)
        replaced = s.predict(tokens)
        ref = teacher(batch['template'], batch['search'])
        out = task(batch, mask=[False, False])
    assert torch.equal(replaced['score_map'], ref['score_map'])
    # The guidance loss is then zero: the student path is the teacher.
    assert out['loss/guide_l1'].item() == pytest.approx(0.0, abs=1e-7)
    assert out['loss/feature'].item() == pytest.approx(0.0, abs=1e-10)


def test_one_step_changes_only_trainable_student_parameters(tmp_path):
    teacher, student, ranges = _pair()
    task = DistillTask(student, teacher, ranges, seed=1)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in student.named_parameters()}
    trainer = Trainer(task, [None] * 4, OptimConfig(lr=1e-2, batch_size=2, num_workers=0),
                      tmp_path, progress=False)
    assert all(not p.requires_grad for p in teacher.parameters())
    assert 'teacher' not in dict(task.named_children())
    assert trainer.train_step(_batch(teacher.cfg)) is not None
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    changed = [k for k, v in student.named_parameters()
               if not torch.equal(v, student_before[k])]
    assert any(k.startswith('stem') for k in changed) and any('box_head' in k for k in changed)


def test_narrower_student_trains_through_projections():
    teacher, student, ranges = _pair(embed_dim=16)
    task = DistillTask(student, teacher, ranges)
    assert task.adapters.active
    out = task(_batch(teacher.cfg), mask=[True, False])
    out['loss'].backward()
    assert torch.isfinite(out['loss'])
    assert task.adapters.up[1].linear.weight.grad is not None


def test_dense_to_sparse_kl_for_a_token_student():
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    student = create_model('tiny_token', depth=2, attention='joint')
    task = DistillTask(student, teacher, stage_ranges(4, 2), LossWeights(kl=1.0))
    out = task(_batch(teacher.cfg))
    assert torch.isfinite(out['loss/kl']) and out['loss/kl'] > 0


def test_edge_distributions_from_a_heat_map():
    f, bins = 4, 9
    score = torch.full((1, 1, f, f), 1e-4)
    score[0, 0, 1, 2] = 1 - 1e-4                     # centre cell: column 2, row 1
    size = torch.full((1, 2, f, f), 0.5)
    offset = torch.full((1, 2, f, f), 0.0)
    dist = center_to_edge_distributions(score, size, offset, bins, temperature=0.05)
    assert dist.sum(-1)[0].tolist() == pytest.approx([1.0] * 4)
    # left edge = 2/4 - 0.25 = 0.25 -> bin 2 of 0, 0.125, ..., 1
    assert int(dist[0, 0].argmax()) == 2 and int(dist[0, 1].argmax()) == 6


def test_gaussian_heatmap_peaks_at_the_centre():
    heat = gaussian_heatmap(torch.tensor([[0.55, 0.3, 0.2, 0.2]]), 8)
    assert heat.shape == (1, 1, 8, 8) and heat[0, 0, 2, 4] == 1.0


def test_depth_pruning_fades_then_drops_layers():
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    task = DepthPruneTask(teacher, remove=[1, 2], fade_fraction=0.5)
    task.set_progress(0.25)
    assert 0 < task.branch_scale() < 1
    task.set_progress(0.6)
    batch = _batch(teacher.cfg)
    task.eval()
    with torch.no_grad():
        task(batch)                                  # sets the faded scale (0) on layers 1, 2
        faded = task.student(batch['template'], batch['search'])
        pruned = task.pruned_model().eval()
        small = pruned(batch['template'], batch['search'])
    assert pruned.cfg.depth == 2
    assert torch.allclose(faded['score_map'], small['score_map'], atol=1e-6)


def test_depth_pruning_control_keeps_every_layer_and_refuses_removing_all():
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    control = DepthPruneTask(teacher, remove=[])
    kept = control.pruned_model().eval()
    assert kept.cfg.depth == teacher.cfg.depth and kept.cfg.name == teacher.cfg.name
    batch = _batch(teacher.cfg)
    with torch.no_grad():
        same = kept(batch['template'], batch['search'])['score_map']
        assert torch.equal(same, teacher(batch['template'], batch['search'])['score_map'])
    with pytest.raises(ValueError, match='not all'):
        DepthPruneTask(teacher, remove=range(teacher.cfg.depth))


def test_depth_pruning_can_switch_the_student_to_asymmetric_attention():
    """distill.attention: same weights, the template no longer sees the search crop."""
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    task = DepthPruneTask(teacher, remove=[], attention='asymmetric')
    student = task.pruned_model().eval()
    assert student.cfg.attention == 'asymmetric' and teacher.cfg.attention == 'joint'
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(),
                                                 teacher.state_dict().values()))
    batch = _batch(teacher.cfg)
    with torch.no_grad():
        masked = student(batch['template'], batch['search'])['score_map']
        joint = teacher(batch['template'], batch['search'])['score_map']
        cached = student.track_from_state(student.template_state(batch['template']),
                                          batch['search'])['score_map']
    assert not torch.equal(masked, joint)            # the mask changes what the blocks compute
    assert torch.allclose(cached, masked, atol=1e-5)


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    for k in range(3):
        frames, boxes = moving_object_sequence(16, seed=k)
        write_uniform_sequence(root / 'sot', f'syn{k}', frames, boxes)
    return root / 'sot'


def _trainer(root, out_dir, epochs):
    return tiny_distill_trainer(root, out_dir, epochs)


def test_resume_reproduces_the_next_steps_exactly(synthetic_root, tmp_path):
    straight, s1 = _trainer(synthetic_root, tmp_path / 'a', epochs=2)
    straight.fit(resume=False)
    interrupted, _ = _trainer(synthetic_root, tmp_path / 'b', epochs=2)
    interrupted.fit(resume=False, stop_after=1)          # as if killed after epoch 1
    resumed, s2 = _trainer(synthetic_root, tmp_path / 'b', epochs=2)
    resumed.fit(resume=True)
    assert resumed.step == straight.step == 4
    for (k, a), (_, b) in zip(s1.state_dict().items(), s2.state_dict().items()):
        assert torch.equal(a, b), k
    assert (tmp_path / 'b' / 'log.csv').read_text().count('\n') == 3


def test_non_finite_loss_is_skipped(synthetic_root, tmp_path):
    trainer, student = _trainer(synthetic_root, tmp_path, epochs=1)
    batch = _batch(student.cfg)
    batch['search'][0, 0, 0, 0] = float('nan')      # a diverged activation, in effect
    before = {k: v.clone() for k, v in student.state_dict().items()}
    assert trainer.train_step(batch) is None
    assert trainer.skipped_steps == 1
    assert all(torch.equal(v, before[k]) for k, v in student.state_dict().items())


def test_two_process_ddp_ends_with_identical_parameters(synthetic_root, tmp_path):
    env = dict(os.environ, SYN_ROOT=str(synthetic_root), OUT_DIR=str(tmp_path),
               OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
           '2', str(HERE / 'ddp_worker.py')]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    p0 = torch.load(tmp_path / 'rank0.pt', weights_only=True)
    p1 = torch.load(tmp_path / 'rank1.pt', weights_only=True)
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    init = torch.load(tmp_path / 'init0.pt', weights_only=True)
    assert any(not torch.equal(init[k], p0[k]) for k in p0)


def test_teacher_then_distill_from_the_command_path(synthetic_root, tmp_path):
    common = [f'data.sot=["{synthetic_root}"]', 'data.stills_csv=[]',
              'data.samples_per_epoch=8', 'optim.epochs=2', 'optim.batch_size=4',
              'optim.num_workers=0', 'optim.lr=1e-3', 'pretrained_stem=false']
    teacher_cfg = load_config(TrainConfig, None, common + [
        'model=tiny', f'out_dir={tmp_path / "teacher"}'])
    run('teacher', teacher_cfg, progress=False)
    teacher_ckpt = tmp_path / 'teacher' / 'model.safetensors'
    distill_cfg = load_config(TrainConfig, None, common + [
        f'distill.teacher={teacher_ckpt}', 'distill.stages=2',
        f'out_dir={tmp_path / "student"}'])
    run('distill', distill_cfg, progress=False)
    log = (tmp_path / 'student' / 'log.csv').read_text()
    assert 'loss/feature' in log and 'loss/guide_giou' in log
    assert (tmp_path / 'student' / 'config.yaml').is_file()
    tracker = load_tracker(tmp_path / 'student' / 'model.safetensors', device='cpu')
    assert tracker.model_cfg.depth == 2
    frames, boxes = moving_object_sequence(3, seed=9)
    tracker.initialize(frames[0], boxes[0])
    result = tracker.track(frames[1])
    assert result.box[2] > 0 and 0 <= result.score <= 1


def test_ground_truth_task_with_frozen_stem_keeps_stem_statistics():
    model = create_model('tiny_mnv2')
    task = GroundTruthTask(model, freeze_stem=True).train()
    mean_before = model.stem.features[0][1].running_mean.clone()
    task(_batch(model.cfg))
    assert torch.equal(model.stem.features[0][1].running_mean, mean_before)
    assert not any(p.requires_grad for p in model.stem.parameters())


def _mnv2_teacher_and_student():
    torch.manual_seed(0)
    teacher = create_model('tiny_mnv2', depth=4).eval()
    student = create_model('tiny_mnv2', depth=2)
    ranges = stage_ranges(4, 2)
    init_student_from_teacher(student, teacher, ranges)
    return teacher, student, ranges


def test_distillation_with_a_frozen_stem_leaves_it_untouched():
    teacher, student, ranges = _mnv2_teacher_and_student()
    task = DistillTask(student, teacher, ranges, freeze_stem=True).train()
    stem_before = {k: v.clone() for k, v in student.stem.state_dict().items()}
    out = task(_batch(student.cfg))
    out['loss'].backward()
    assert all(p.grad is None for p in student.stem.parameters())
    assert all(torch.equal(v, stem_before[k]) for k, v in student.stem.state_dict().items())
    assert student.blocks[0].attn.qkv.weight.grad is not None


def test_frozen_stem_with_a_trained_projection():
    teacher, student, ranges = _mnv2_teacher_and_student()
    task = DistillTask(student, teacher, ranges, freeze_stem=True,
                       train_stem_projection=True).train()
    mean_before = student.stem.features[0][1].running_mean.clone()
    task(_batch(student.cfg))['loss'].backward()
    assert all(p.grad is None for p in student.stem.features.parameters())
    grad = student.stem.proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert torch.equal(student.stem.features[0][1].running_mean, mean_before)
    gt = GroundTruthTask(create_model('tiny_mnv2'), freeze_stem=True, train_stem_projection=True)
    assert [n for n, p in gt.model.stem.named_parameters() if p.requires_grad] == \
        ['proj.weight', 'proj.bias']
    with pytest.raises(ValueError, match='no separate projection'):
        GroundTruthTask(create_model('tiny'), freeze_stem=True, train_stem_projection=True)


def test_log_size_loss_is_symmetric_in_scale():
    from track_core.train.losses import log_size_loss
    gt = torch.tensor([[0.5, 0.5, 0.2, 0.1]])
    twice = torch.tensor([[0.4, 0.6, 0.4, 0.2]])
    half = torch.tensor([[0.5, 0.5, 0.1, 0.05]])
    assert log_size_loss(gt, gt).item() == pytest.approx(0.0)
    assert log_size_loss(twice, gt).item() == pytest.approx(2 * math.log(2), rel=1e-5)
    assert log_size_loss(half, gt).item() == pytest.approx(log_size_loss(twice, gt).item())
    model = create_model('tiny')
    terms = GroundTruthTask(model, LossWeights(log_size=1.0))(_batch(model.cfg))
    assert terms['loss/box_log_size'] > 0
    assert 'loss/box_log_size' not in GroundTruthTask(model)(_batch(model.cfg))


def test_every_shipped_recipe_loads_and_its_inputs_come_from_another_recipe():
    from track_core.importers.cli import DEFAULT_OUT
    recipes = sorted((pathlib.Path(__file__).parents[1] / 'config' / 'train').glob('*.yaml'))
    assert len(recipes) >= 4
    configs = {r.name: load_config(TrainConfig, r) for r in recipes}
    outputs = {str(pathlib.PurePath(c.out_dir) / 'model.safetensors') for c in configs.values()}
    outputs |= set(DEFAULT_OUT.values())         # or from track-import (VitTrack's teacher)
    outputs.add('models/default.safetensors')    # or the shipped default (its score head)
    assert len({c.out_dir for c in configs.values()}) == len(configs)   # no shared run folder
    for name, cfg in configs.items():
        for needed in (cfg.init, cfg.distill.teacher):
            if needed:
                assert needed in outputs, f'{name}: {needed} is made by no recipe'


def _tasks():
    torch.manual_seed(0)
    teacher = create_model('tiny').eval()
    student = create_model('tiny', depth=2)
    ranges = stage_ranges(teacher.cfg.depth, 2)
    init_student_from_teacher(student, teacher, ranges)
    return {'distill': DistillTask(student, teacher, ranges),
            'prune': DepthPruneTask(create_model('tiny').eval(), remove=[1]),
            'teacher': GroundTruthTask(create_model('tiny'))}


@pytest.mark.parametrize('name', ['distill', 'prune', 'teacher'])
def test_a_task_moves_its_frozen_models_with_it(name):
    # .to() on the task must move every model it runs, frozen teachers included: a teacher
    # left behind fails at the first step on a GPU ("Input type (double) and bias type
    # (float)" is the same failure on the CPU).
    task = _tasks()[name].to(torch.float64)
    for _, model in task.frozen_models():
        assert all(p.dtype == torch.float64 for p in model.parameters())
        assert not any(p.requires_grad for p in model.parameters())
    batch = {k: v.double() for k, v in _batch(task.trained_model().cfg).items()}
    out = task(batch)
    assert out['loss'].dtype == torch.float64 and torch.isfinite(out['loss'])
    # frozen models stay outside what trains and what the trainer checkpoints
    assert not any(k.startswith('teacher.') for k in task.state_dict())


def test_a_task_keeps_its_frozen_models_in_eval_mode():
    task = _tasks()['distill'].train()
    assert task.student.training and not task.teacher.training


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device here')
def test_distillation_steps_on_cuda(tmp_path):
    task = _tasks()['distill']
    trainer = Trainer(task, [], OptimConfig(epochs=1, batch_size=2, num_workers=0), tmp_path,
                      device='cuda', progress=False)
    assert next(task.teacher.parameters()).is_cuda
    assert trainer.train_step(_batch(task.student.cfg)) is not None


def test_a_misspelt_model_override_names_the_key(tmp_path):
    from track_core.config import ConfigError
    from track_core.train.run import build_task
    cfg = load_config(TrainConfig, None, ['model=tiny', 'pretrained_stem=false',
                                          'model_overrides={depht: 2}'])
    with pytest.raises(ConfigError, match='depht'):
        build_task('teacher', cfg, log=lambda *_: None)
    cfg = load_config(TrainConfig, None, ['model=tiny', 'pretrained_stem=false',
                                          'model_overrides={depth: two}'])
    with pytest.raises(ConfigError, match='model_overrides.depth'):
        build_task('teacher', cfg, log=lambda *_: None)


def test_a_bad_student_attention_is_a_config_error(tmp_path):
    from track_core.config import ConfigError
    from track_core.train.run import build_task
    teacher = save_checkpoint(tmp_path / 't.safetensors', create_model('tiny'))
    for change, match in ((['distill.method=prune', 'distill.attention=masked'], "'masked'"),
                          (['distill.attention=asymmetric'], 'only the prune method')):
        cfg = load_config(TrainConfig, None, ['model=tiny', 'pretrained_stem=false',
                                              f'distill.teacher={teacher}', *change])
        with pytest.raises(ConfigError, match=match):
            build_task('distill', cfg, log=lambda *_: None)


def test_a_teacher_of_another_input_convention_sees_the_same_pixels():
    from track_core.net.config import PreprocessConfig
    from track_core.train.inputs import from_pixels, Renormalize
    rgb = torch.randint(0, 256, (2, 3, 8, 8)).float()
    imagenet = PreprocessConfig()
    raw_bgr = PreprocessConfig(mean=(0.0, 0.0, 0.0), std=(1 / 255,) * 3, channel_order='bgr')
    student_x = from_pixels(rgb, raw_bgr)
    assert torch.allclose(student_x, rgb.flip(1))              # NanoTrack: BGR 0..255
    teacher_x = Renormalize(raw_bgr, imagenet)(student_x)
    assert torch.allclose(teacher_x, from_pixels(rgb, imagenet), atol=1e-5)
    assert Renormalize(imagenet, imagenet).identity


def test_distilling_onto_the_nanotrack_stem_from_a_mobilenet_teacher(synthetic_root, tmp_path):
    common = [f'data.sot=["{synthetic_root}"]', 'data.stills_csv=[]',
              'data.samples_per_epoch=4', 'optim.epochs=1', 'optim.batch_size=2',
              'optim.num_workers=0', 'pretrained_stem=false']
    run('teacher', load_config(TrainConfig, None, common + [
        'model=tiny_mnv2', f'out_dir={tmp_path / "t"}']), progress=False)
    cfg = load_config(TrainConfig, None, common + [
        f'distill.teacher={tmp_path / "t" / "model.safetensors"}', 'distill.stages=1',
        'distill.student=tiny_nt3', 'distill.student_overrides={depth: 1}',
        'pretrained_stem=true', f'out_dir={tmp_path / "s"}'])
    run('distill', cfg, progress=False)
    tracker = load_tracker(tmp_path / 's' / 'model.safetensors', device='cpu')
    assert tracker.preprocess.channel_order == 'bgr' and tracker.preprocess.mean == (0, 0, 0)


def test_gpu_check_says_so_without_a_cuda_device():
    script = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'gpu_check.py'
    if torch.cuda.is_available():
        pytest.skip('a CUDA device is here: run make gpu-check itself')
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and 'no CUDA device' in proc.stdout, proc.stdout + proc.stderr


def test_the_ban_recipe_runs_with_a_cnn_teacher_on_its_points(synthetic_root, tmp_path):
    """The default model's recipe, shortened: NanoTrack v3 (white box) as the CNN teacher."""
    from track_core.data.sampler import PairDataset
    recipe = pathlib.Path(__file__).parents[1] / 'config' / 'train' / \
        'lighttrack_to_nt3_ban2.yaml'
    cfg = load_config(TrainConfig, recipe, [
        f'data.sot=["{synthetic_root}"]', 'data.stills_csv=[]', 'data.pseudo.clips=[]',
        'data.samples_per_epoch=4', 'optim.epochs=1', 'optim.batch_size=2',
        'optim.num_workers=0', 'cnn_teacher.kind=nanotrack_v3',
        f'cnn_teacher.folder={tmp_path / "no_onnx_here"}', f'out_dir={tmp_path / "run"}'])
    assert cfg.optim.head_lr_scale == 0.1
    seen = {}
    original = PairDataset.__getitem__

    def spy(self, index):
        item = original(self, index)
        seen.setdefault('teacher_score', item['teacher_score'].shape)
        return item
    PairDataset.__getitem__ = spy
    try:
        last = run('teacher', cfg, progress=False)
    finally:
        PairDataset.__getitem__ = original
    assert seen['teacher_score'] == (15, 15)          # resampled to the ban head's points
    assert {'loss/ban_cls', 'loss/ban_iou', 'loss/cnn_map'} <= set(last)
    tracker = load_tracker(tmp_path / 'run' / 'model.safetensors', device='cpu')
    assert tracker.model_cfg.head == 'ban' and tracker.preprocess.context == 'padded'
    assert tracker.window.shape == (15, 15)


def test_the_head_learns_at_its_own_rate():
    task = GroundTruthTask(create_model('tiny'))
    trainer = Trainer(task, list(range(4)), OptimConfig(lr=1e-3, head_lr_scale=0.1),
                      '/nonexistent-unused', progress=False)
    groups = trainer.optimizer.param_groups
    head = {id(p) for p in task.model.box_head.parameters()}
    assert [g['lr_scale'] for g in groups] == [1.0, 0.1]
    assert {id(p) for p in groups[1]['params']} == head
    batch = next(iter(torch.utils.data.DataLoader(
        [{'template': torch.rand(3, 32, 32), 'search': torch.rand(3, 64, 64),
          'box': torch.tensor([0.5, 0.5, 0.2, 0.2])}] * 2, batch_size=2)))
    trainer.train_step(batch)
    assert [g['lr'] for g in groups] == pytest.approx([1e-3, 1e-4])


def test_prediction_tokens_learn_at_their_heads_rate():
    task = GroundTruthTask(create_model('tiny_token'))
    trainer = Trainer(task, list(range(4)), OptimConfig(lr=1e-4, head_lr_scale=10.0),
                      '/nonexistent-unused', progress=False)
    groups = trainer.optimizer.param_groups
    head = {id(p) for p in task.model.box_head.parameters()} | {id(task.model.pred_tokens)}
    assert [g['lr_scale'] for g in groups] == [1.0, 10.0]
    assert {id(p) for p in groups[1]['params']} == head


def test_a_pretrained_stem_can_learn_slowly_and_keeps_its_statistics():
    model = create_model('nt3_ban2', pretrained_stem=True)
    task = GroundTruthTask(model)
    trainer = Trainer(task, list(range(4)), OptimConfig(lr=1e-3, head_lr_scale=0.1,
                                                        stem_lr_scale=0.05),
                      '/nonexistent-unused', progress=False)
    groups = trainer.optimizer.param_groups
    assert [g['lr_scale'] for g in groups] == [1.0, 0.05, 0.1]
    assert {id(p) for p in groups[1]['params']} == {id(p) for p in model.stem.parameters()}
    assert {id(p) for p in groups[2]['params']} == {id(p) for p in model.box_head.parameters()}
    bn = next(m for m in model.stem.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    task.train()
    assert not bn.training and model.blocks.training     # NanoTrack's statistics are kept
    batch = {'template': torch.rand(2, 3, 128, 128) * 255, 'search':
             torch.rand(2, 3, 256, 256) * 255, 'box': torch.tensor([[0.5, 0.5, 0.2, 0.2]] * 2)}
    weight = next(model.stem.parameters()).detach().clone()
    trainer.train_step(batch)
    assert [g['lr'] for g in groups] == pytest.approx([1e-3, 5e-5, 1e-4])
    assert not torch.equal(weight, next(model.stem.parameters()))   # the stem learnt
    assert torch.equal(before, bn.running_mean)
    with pytest.raises(ValueError, match='stem_lr_scale must be > 0'):
        Trainer(task, list(range(4)), OptimConfig(stem_lr_scale=0.0), '/nonexistent-unused',
                progress=False)


def test_compressing_a_ban_teacher_into_a_shallower_ban_student(synthetic_root, tmp_path):
    """Compress a ban teacher with CompressTracker: 4 blocks -> 2 stages."""
    from track_core.checkpoint import save_checkpoint
    from track_core.net.config import PreprocessConfig, stem_preprocess
    teacher = create_model('nt3_ban4', pretrained_stem=True)
    with torch.no_grad():                  # a teacher whose blocks do something
        for blk in teacher.blocks:
            blk.mlp.fc2.weight.normal_(0, 0.01)
    from track_core.runtime import TrackerConfig
    from track_core.runtime.loader import with_runtime
    own = TrackerConfig(window_blend=0.455, lost_threshold=0.95)
    ckpt = save_checkpoint(tmp_path / 'teacher.safetensors', teacher,
                           stem_preprocess(teacher.cfg, PreprocessConfig()),
                           with_runtime({}, own))
    cfg = load_config(TrainConfig, None, [
        f'data.sot=["{synthetic_root}"]', 'data.stills_csv=[]', 'data.samples_per_epoch=4',
        'optim.epochs=1', 'optim.batch_size=2', 'optim.num_workers=0', 'freeze_stem=true',
        f'distill.teacher={ckpt}', 'distill.stages=2', f'out_dir={tmp_path / "student"}'])
    last = run('distill', cfg, progress=False)
    assert {'loss/feature', 'loss/ban_cls'} <= set(last) and math.isfinite(last['loss'])
    tracker = load_tracker(tmp_path / 'student' / 'model.safetensors', device='cpu')
    assert (tracker.model_cfg.head, tracker.model_cfg.depth) == ('ban', 2)
    assert tracker.preprocess.context == 'padded'
    assert tracker.config == own                  # the student starts from its settings


def test_depth_pruning_a_ban_model_keeps_its_stem_and_head_statistics():
    torch.manual_seed(0)
    task = DepthPruneTask(create_model('nt3_ban2', pretrained_stem=True).eval(), remove=[1],
                          freeze_stem=True).train()
    student = task.student
    stats = student.box_head.cls_tower[1].running_mean.clone()
    backbone = student.stem.backbone.features[1].conv[1].running_mean.clone()
    batch = {'template': torch.rand(2, 3, 128, 128) * 255,
             'search': torch.rand(2, 3, 256, 256) * 255,
             'box': torch.tensor([[0.5, 0.5, 0.2, 0.3], [0.4, 0.6, 0.3, 0.2]])}
    task(batch)['loss'].backward()
    assert student.stem.backbone.features[0][0].weight.grad is None
    assert student.blocks[0].attn.qkv.weight.grad is not None
    assert torch.equal(student.box_head.cls_tower[1].running_mean, stats)
    assert torch.equal(student.stem.backbone.features[1].conv[1].running_mean, backbone)
    assert task.pruned_model().cfg.depth == 1

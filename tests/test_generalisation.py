"""Issue 6: the paper config stays the paper's; the options are honest."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep import synthetic
from experiments.lib import ablation
from experiments.lib import configs
from experiments.lib import data as data_lib
from experiments.lib import splits
from experiments.configs import improved_speaker
from experiments.configs import improved_speaker_e20
from experiments.configs import paper
from pathnet_jax import augment, model, pathway, slices, train
import tinyconfig


def test_paper_config_is_the_papers_method_with_every_option_off():
  c = paper.get_config()
  assert (c.model.num_layers, c.model.num_modules, c.model.module_units,
          c.model.max_active) == (3, 20, 20, 4)
  assert c.model.aggregate == 'mean' and c.model.module_type == 'dense'
  assert c.model.input_view == 'segment'
  assert (c.evolution.population_size, c.evolution.generations) == (20, 200)
  assert c.evolution.tournaments_per_generation == 1
  assert c.evolution.epochs_per_pathway == 1 and c.evolution.steps_per_pathway == 0
  assert (c.optim.optimizer, c.optim.learning_rate, c.optim.batch_size) == (
      'sgd', 0.02, 64)
  assert c.fitness == 'train' and not c.evolution.tiebreak_loss
  assert c.optim.weight_decay == 0.0 and c.optim.input_dropout == 0.0
  assert not c.augment.enabled and c.normalize == 'pixel'
  assert c.ensemble_size == 1  # the best pathway alone


def test_every_ablation_variant_changes_only_listed_settings():
  base = paper.get_config()
  for name, overrides in ablation.VARIANTS.items():
    c = configs.with_overrides(base, overrides)
    for dotted, value in overrides.items():
      node = c
      for part in dotted.split('.'):
        node = node[part]
      assert node == value, name
  assert ablation.VARIANTS['paper'] == {}


def test_joined_variants_merge_their_overrides():
  merged = ablation.variant_overrides('time_pooled+adam')
  assert merged == {**ablation.VARIANTS['time_pooled'],
                    **ablation.VARIANTS['adam']}
  with pytest.raises(ValueError, match='unknown variant'):
    ablation.variant_overrides('time_pooled+nope')


def test_selection_and_fitness_rows_never_overlap_training_or_test():
  fs = synthetic.make_corpus(seed=0, num_speakers=3, num_classes=3,
                             utterances_per_class=4)
  cfg = paper.get_config()
  cfg.fitness = 'validation'
  for train_rows, test_rows in splits.random_kfold(fs, 3, seed=0):
    fit, fitness, select = ablation.split_training_fold(cfg, fs, train_rows,
                                                        0.2, 0)
    utts = [set(fs.utterance[r]) for r in (fit, fitness, select, test_rows)]
    for a in range(4):
      for b in range(a + 1, 4):
        assert not utts[a] & utts[b]
    assert sorted(np.concatenate([fit, fitness, select])) == sorted(train_rows)


def test_augmentation_touches_training_loss_only_and_evaluation_is_fixed():
  cfg = tinyconfig.tiny_config()
  x, y = tinyconfig.blobs(n=32, shape=(8, 8, 3))
  params = model.init(jax.random.key(0), cfg, (8, 8, 3), 3)
  idx, w = pathway.slots(jnp.array([[0, 1], [2, 3]]))
  aug = lambda k, xb: augment.spec_augment(k, xb, freq_mask=4, time_mask=4,
                                           max_shift=2)
  part = slices.gather(params, idx)
  kw = dict(aggregate='mean', dropout_rate=0.0)
  plain = train.slice_loss(part, w, x, y, jax.random.key(1), augment=None,
                           **kw)
  augmented = train.slice_loss(part, w, x, y, jax.random.key(1), augment=aug,
                               **kw)
  assert float(plain) != float(augmented)
  a = train.evaluate(params, idx[None], w[None], x, y)
  b = train.evaluate(params, idx[None], w[None], x, y)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert float(a[1][0]) == pytest.approx(float(plain), rel=1e-5)


def test_ablation_runs_end_to_end_on_the_synthetic_corpus():
  cfg = tinyconfig.tiny_config(generations=2)
  cfg.target = 'synthetic'
  cfg.synthetic = dict(num_speakers=3, num_classes=3, utterances_per_class=3)
  cfg.n_splits = 3
  out = ablation.run(cfg, ['paper', 'time_pooled'], [0])
  for name in ('paper', 'time_pooled'):
    assert 0.0 <= out[name]['selection_ua_mean'] <= 1.0
    assert len(out[name]['folds']) == 1
  assert '| time_pooled |' in ablation.markdown(out)


def test_ablation_can_select_on_held_out_training_speakers():
  cfg = tinyconfig.tiny_config(generations=1)
  cfg.target = 'synthetic'
  cfg.synthetic = dict(num_speakers=4, num_classes=2, utterances_per_class=2)
  cfg.protocol, cfg.n_splits = 'speaker_kfold', 0
  fs = data_lib.load_corpus(cfg.target, cfg)
  train_rows, _ = splits.make_folds('speaker_kfold', fs, None, 0)[0]
  fit, _, select = ablation.split_training_fold(cfg, fs, train_rows, 0.34, 0,
                                                select_by='speaker')
  assert len(set(fs.speaker[select])) == 1
  assert not set(fs.speaker[select]) & set(fs.speaker[fit])
  out = ablation.run(cfg, ['paper'], [0], 0.34, select_by='speaker')
  assert 0.0 <= out['paper']['selection_ua_mean'] <= 1.0


def test_improved_speaker_e20_changes_only_the_epochs_of_improved_speaker():
  base, e20 = improved_speaker.get_config(), improved_speaker_e20.get_config()
  assert e20.evolution.epochs_per_pathway == 20
  assert base.evolution.epochs_per_pathway == 5
  e20.evolution.epochs_per_pathway = 5
  assert e20.to_dict() == base.to_dict()
  assert e20.normalize == 'speaker'  # transductive, like its base


def test_ensemble_variant_also_scores_its_best_pathway_alone():
  cfg = tinyconfig.tiny_config(generations=2)
  cfg.target = 'synthetic'
  cfg.synthetic = dict(num_speakers=3, num_classes=3, utterances_per_class=3)
  cfg.n_splits = 3
  out = ablation.run(cfg, ['paper', 'ensemble3'], [0])
  plain, ens = out['paper']['folds'][0], out['ensemble3']['folds'][0]
  assert ens['ensemble_size'] == 3 and plain['ensemble_size'] == 1
  # The same evolution as the plain config: its best pathway scores the same.
  assert ens['selection_ua_single_best'] == plain['selection_ua']
  assert ens['test_ua_single_best'] == plain['test_ua']

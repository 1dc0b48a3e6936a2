"""Issue 26: fitness on held-out rows of the training fold, the best pathway's
final phase on every row, and stopping when the held-out fitness stalls."""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_prep import synthetic
from experiments.lib import protocol
from experiments.lib import splits
from experiments.lib import validate
from pathnet_jax import generation as gen_lib
from pathnet_jax import ga as ga_lib
from pathnet_jax import pathway
from pathnet_jax import runs
from pathnet_jax import train as train_lib
from pathnet_jax import transfer
import tinyconfig


def _corpus_columns(num_speakers=6, utterances=8, segments=3):
  """label / utterance / speaker columns of `segments` rows per utterance."""
  utt = np.repeat(np.arange(num_speakers * utterances), segments)
  return types.SimpleNamespace(
      utterance=utt, speaker=np.array([f's{u // utterances}' for u in utt]),
      label=(utt % 4).astype(np.int32))


def _split_config(fitness, protocol_name):
  c = tinyconfig.tiny_config()
  c.fitness, c.protocol, c.validation_fraction = fitness, protocol_name, 0.25
  return c


@pytest.mark.parametrize('protocol_name,column', [
    ('speaker_kfold', 'speaker'), ('random_kfold', 'utterance')])
def test_heldout_rows_are_disjoint_by_protocol_and_never_in_the_test_fold(
    protocol_name, column):
  fs = _corpus_columns()
  cfg = _split_config('heldout', protocol_name)
  for i, (train_rows, test_rows) in enumerate(
      splits.make_folds(protocol_name, fs, 3, seed=0)):
    fit, held = protocol.fitness_split(cfg, fs, train_rows, seed=i)
    groups = getattr(fs, column)
    assert held.size and not set(groups[fit]) & set(groups[held])
    assert not set(fs.utterance[held]) & set(fs.utterance[test_rows])
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, held])),
                                  train_rows)
  if protocol_name == 'speaker_kfold':  # 4 training speakers: 1 held out
    assert np.unique(fs.speaker[held]).size == 1


def test_heldout_rows_are_fixed_by_seed_and_validation_is_unchanged():
  fs = _corpus_columns()
  rows = np.arange(fs.label.size)
  cfg = _split_config('heldout', 'speaker_kfold')
  first = protocol.fitness_split(cfg, fs, rows, seed=3)
  np.testing.assert_array_equal(first[1],
                                protocol.fitness_split(cfg, fs, rows, 3)[1])
  assert not np.array_equal(first[1],
                            protocol.fitness_split(cfg, fs, rows, 4)[1])
  # 'validation' holds out utterances as it always did, whatever the protocol.
  old = splits.validation_split(rows, fs.utterance, fs.label, 0.25, 3)
  new = protocol.fitness_split(_split_config('validation', 'speaker_kfold'),
                               fs, rows, 3)
  for a, b in zip(old, new):
    np.testing.assert_array_equal(a, b)
  fit, held = protocol.fitness_split(_split_config('train', 'random_kfold'),
                                     fs, rows, 3)
  assert held is None and fit is rows


def test_source_of_a_transfer_holds_out_whole_speakers():
  src = synthetic.make_corpus(seed=0, num_speakers=4, num_classes=2,
                              utterances_per_class=1)
  cfg = _split_config('heldout', 'speaker_kfold')
  run, = protocol.source_runs(cfg, src, [0])
  fit, held = protocol.fitness_split(cfg, src, np.arange(len(src)), 0)
  assert run.x.shape[0] == fit.size and run.fitness_x.shape[0] == held.size
  np.testing.assert_array_equal(run.fitness_y, src.label[held])
  assert not set(src.speaker[fit]) & set(src.speaker[held])
  plain, = protocol.source_runs(_split_config('train', 'speaker_kfold'), src,
                                [0])
  assert plain.fitness_x is None and plain.x.shape[0] == len(src)


def _heldout_run(key=0, n=48, held=24):
  """A run whose fitness rows are other draws of the same task."""
  x, y = tinyconfig.blobs(n=n, num_classes=3, seed=0)
  fx, fy = tinyconfig.blobs(n=held, num_classes=3, seed=1, spread=1.0)
  return runs.Run(key=jax.random.key(key), x=x, y=y, fitness_x=fx,
                  fitness_y=fy, num_classes=3, name=f'run {key}')


def _initial_genotypes(cfg, run):
  """The population evolve_runs starts `run` from (its key split as there)."""
  k_ga = jax.random.split(jax.random.split(run.key)[1])[0]
  return np.asarray(ga_lib.init(k_ga, cfg).genotypes)


@pytest.mark.parametrize('metric,mode', [('accuracy', 'sequential'),
                                         ('loss', 'parallel')])
def test_best_pathway_and_its_transfer_follow_the_heldout_fitness(metric,
                                                                   mode):
  # One generation in which every member plays (2 tournaments of 4): the
  # GA's best is the member with the best fitness on the held-out rows, as
  # measured on the weights it was told with; it is what transfer freezes.
  cfg = tinyconfig.tiny_config(generations=1, population_size=4,
                               tournaments_per_generation=2, train_mode=mode,
                               fitness_metric=metric)
  run = _heldout_run()
  result = runs.evolve_runs(cfg, [run])[0]
  genotypes = _initial_genotypes(cfg, run)
  acc, loss = train_lib.evaluate(
      result.params, *pathway.slots(jnp.asarray(genotypes)),
      jnp.asarray(run.fitness_x), jnp.asarray(run.fitness_y),
      batch_size=cfg.optim.eval_batch_size)
  fitness = np.asarray(acc if metric == 'accuracy' else -loss)
  best = int(np.argmax(fitness))
  assert np.sum(fitness == fitness[best]) == 1  # a clear winner
  np.testing.assert_array_equal(result.best_genotype, genotypes[best])
  np.testing.assert_allclose(result.best_fitness, fitness[best], rtol=1e-6)
  frozen, _ = transfer.freeze(result.params, result.best_genotype, cfg,
                              key=jax.random.key(1), num_classes=3)
  np.testing.assert_array_equal(
      frozen, np.asarray(pathway.to_mask(jnp.asarray(genotypes[best]),
                                         cfg.model.num_modules)) > 0)


def test_final_phase_trains_only_the_best_pathways_unfrozen_modules():
  cfg = tinyconfig.tiny_config(generations=2, heldout_training='final',
                               final_epochs=2)
  source = runs.evolve_runs(tinyconfig.tiny_config(generations=2),
                            [_heldout_run(key=5)])[0]
  run = _heldout_run(key=1, n=40, held=20)
  run.frozen, run.init_params = transfer.freeze(
      source.params, source.best_genotype, cfg, key=jax.random.key(2),
      num_classes=3)
  result = runs.evolve_runs(cfg, [run])[0]
  assert result.final_steps == 2 * 4  # 2 epochs of ceil(60 / 16) steps
  before, after = result.state.params, result.params  # evolution's, final
  best = np.asarray(pathway.to_mask(jnp.asarray(result.best_genotype),
                                    cfg.model.num_modules)) > 0
  for l in range(cfg.model.num_layers):
    w0 = np.asarray(before['layers'][l]['w'])
    w1 = np.asarray(after['layers'][l]['w'])
    np.testing.assert_array_equal(w1[run.frozen[l]], w0[run.frozen[l]])
    np.testing.assert_array_equal(w1[~best[l]], w0[~best[l]])
    trained = best[l] & ~run.frozen[l]
    assert trained.any()
    assert not np.allclose(w1[trained], w0[trained])
  assert not np.allclose(after['head']['w'], before['head']['w'])
  # Without 'final' the same evolution ends with the weights it had.
  cfg.evolution.heldout_training = 'never'
  plain = runs.evolve_runs(cfg, [run])[0]
  assert plain.final_steps == 0
  jax.tree_util.tree_map(np.testing.assert_array_equal, plain.params,
                         before)


def test_ensemble_ranks_members_on_the_weights_before_the_final_phase():
  cfg = tinyconfig.tiny_config(generations=2, heldout_training='final')
  cfg.ensemble_size = 3
  run = _heldout_run()
  result = runs.evolve_runs(cfg, [run])[0]
  members = protocol.scoring_genotypes(cfg, result, run.fitness_x,
                                       run.fitness_y)
  np.testing.assert_array_equal(members[0], result.best_genotype)
  genotypes = np.asarray(result.state.ga.genotypes)
  acc, _ = train_lib.evaluate(
      result.state.params, *pathway.slots(jnp.asarray(genotypes)),
      jnp.asarray(run.fitness_x), jnp.asarray(run.fitness_y),
      batch_size=cfg.optim.eval_batch_size)
  acc = np.asarray(acc)
  ranked = [acc[[np.flatnonzero((genotypes == m).all((1, 2)))[0]]][0]
            for m in members[1:]]
  assert ranked == sorted(ranked, reverse=True)


def _constant_run(key=7):
  """One class only: accuracy 1.0 is reached early and then never improves."""
  x, _ = tinyconfig.blobs(n=32, num_classes=3, seed=2)
  return runs.Run(key=jax.random.key(key), x=x, y=np.zeros(32, np.int32),
                  fitness_x=x[:16], fitness_y=np.zeros(16, np.int32),
                  num_classes=3, name='constant')


def _improving_run():
  """Close blobs: training accuracy still rises at generations 8 and 9."""
  x, y = tinyconfig.blobs(n=96, num_classes=3, seed=3, spread=1.0)
  return runs.Run(key=jax.random.key(3), x=x, y=y, num_classes=3,
                  name='improving')


def _stop_generation(best, patience):
  """Where a run with this best-fitness history stops: `patience` after
  its last improvement (1-based generations; the first always improves)."""
  improved = [g + 1 for g in range(len(best))
              if g == 0 or best[g] > best[g - 1]]
  return improved[-1] + patience


@pytest.mark.parametrize('batching', ['loop', 'vmap'])
def test_patience_stops_a_stalled_run_and_the_others_go_on(batching):
  cfg = tinyconfig.tiny_config(generations=10, checkpoint_every=3,
                               patience=3)
  seen = []
  stalled, other = runs.evolve_runs(
      cfg, [_constant_run(), _improving_run()], batching=batching,
      progress=lambda first, last, h, s: seen.append(h))
  assert stalled.best_fitness == 1.0
  assert stalled.generations_run == _stop_generation(
      stalled.history['best_fitness'], 3) < 10
  assert len(stalled.history['best_fitness']) == stalled.generations_run
  assert other.generations_run == 10  # never 3 generations without a gain
  assert _stop_generation(other.history['best_fitness'], 3) > 10
  # Progress after the stop: the best stays, nothing else ran.
  reported = {k: np.concatenate([h[k] for h in seen], axis=1)
              for k in ('best_fitness', 'loss')}
  ran = stalled.generations_run
  assert reported['best_fitness'].shape == (2, 10)
  np.testing.assert_array_equal(reported['best_fitness'][0, :ran],
                                stalled.history['best_fitness'])
  assert (reported['best_fitness'][0, ran:] == 1.0).all()
  assert np.isnan(reported['loss'][0, ran:]).all()
  assert not np.isnan(reported['loss'][1]).any()
  # The stopped run is the same run cut at its stop: nothing changed since.
  cut = tinyconfig.tiny_config(generations=stalled.generations_run,
                               checkpoint_every=3)
  alone = runs.evolve_runs(cut, [_constant_run()], batching=batching)[0]
  np.testing.assert_array_equal(stalled.state.ga.genotypes,
                                alone.state.ga.genotypes)
  np.testing.assert_array_equal(stalled.history['best_fitness'],
                                alone.history['best_fitness'])
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
      stalled.params, alone.params)


def test_stopped_reads_the_history_of_best_fitness():
  cfg = tinyconfig.tiny_config(generations=6)
  state = gen_lib.init_state(jax.random.key(0), cfg, {}, train_lib.
                             make_optimizer(cfg))

  def at(done, best):
    history = dict(state.history, best_fitness=jnp.asarray(
        best + [0.0] * (6 - len(best)), jnp.float32))
    return bool(gen_lib.stopped(state.replace(
        history=history, ga=state.ga.replace(generation=jnp.int32(done))), 2))
  assert not at(2, [0.5, 0.5])  # too early to tell
  assert at(3, [0.5, 0.5, 0.5])
  assert not at(3, [0.5, 0.5, 0.6])
  assert not at(4, [0.5, 0.5, 0.6, 0.6])
  assert at(5, [0.5, 0.5, 0.6, 0.6, 0.6])
  assert not bool(gen_lib.stopped(state, 0))  # patience 0: never


def test_a_killed_run_with_patience_resumes_to_the_same_results(tmp_path):
  cfg = tinyconfig.tiny_config(generations=10, checkpoint_every=2,
                               patience=2)
  whole = runs.evolve_runs(cfg, [_constant_run(), _heldout_run()],
                           workdir=str(tmp_path / 'whole'))

  class Killed(Exception):
    pass

  def kill_at_2(first, last, history, seconds):
    if last == 2:
      raise Killed
  with pytest.raises(Killed):
    runs.evolve_runs(cfg, [_constant_run(), _heldout_run()],
                     workdir=str(tmp_path / 'cut'), progress=kill_at_2)
  resumed = runs.evolve_runs(cfg, [_constant_run(), _heldout_run()],
                             workdir=str(tmp_path / 'cut'))
  for a, b in zip(resumed, whole):
    assert a.generations_run == b.generations_run
    np.testing.assert_array_equal(a.state.ga.genotypes, b.state.ga.genotypes)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a.params, b.params)


@pytest.mark.parametrize('field,value,message', [
    ('fitness', 'test', r"config.fitness must be one of \('train', "
     r"'validation', 'heldout'\), got 'test'"),
    ('evolution.fitness_metric', 'f1', 'evolution.fitness_metric must be one '
     r"of \('accuracy', 'loss'\)"),
    ('evolution.heldout_training', 'alternate', 'evolution.heldout_training '
     r"must be one of \('never', 'final'\), got 'alternate'"),
    ('evolution.patience', -1, r'evolution.patience must be >= 0'),
    ('evolution.final_epochs', 0, r'evolution.final_epochs must be >= 1'),
])
def test_check_fitness_names_the_field_and_its_allowed_values(field, value,
                                                              message):
  cfg = tinyconfig.tiny_config()
  cfg.fitness = 'heldout'
  *path, leaf = field.split('.')
  (cfg[path[0]] if path else cfg)[leaf] = value
  with pytest.raises(ValueError, match=message):
    validate.check_fitness(cfg)


def test_final_phase_needs_heldout_rows():
  cfg = tinyconfig.tiny_config(heldout_training='final')
  with pytest.raises(ValueError, match="config.fitness must be 'validation'"
                     " or 'heldout', got 'train'"):
    validate.check_fitness(cfg)
  cfg.fitness = 'heldout'
  validate.check_fitness(cfg)  # accepted


def test_improved_heldout_is_improved_compare_with_heldout_fitness():
  from experiments.configs import improved_compare, improved_heldout
  chosen = improved_heldout.get_config()
  validate.check_fitness(chosen)
  base = improved_compare.get_config().to_dict()
  changed = {k: v for k, v in chosen.to_dict().items() if base[k] != v}
  assert changed.pop('fitness') == 'heldout'
  assert set(changed) == {'evolution'}
  diff = {k for k, v in chosen.evolution.items()
          if base['evolution'][k] != v}
  assert diff == {'tiebreak_loss', 'heldout_training', 'final_epochs'}
  assert chosen.evolution.heldout_training == 'final'
  assert chosen.evolution.final_epochs == 5  # chosen: docs/results.md


def test_a_transfer_protocol_with_heldout_speakers_end_to_end(tmp_path):
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  from experiments.lib import data as data_lib
  config = tinyconfig.synthetic_run_config(
      generations=3, task='transfer', sources=('synthetic',),
      protocol='speaker_kfold', n_splits=0, fitness='heldout')
  config.evolution.heldout_training = 'final'
  config.evolution.patience = 1
  config.optim.batch_size = 8  # one training speaker: 13 segments
  fs = data_lib.load_corpus(config.target, config)
  p, = protocol.plan(config, fs, [0])
  speakers = [set(fs.speaker[r]) for r in (p.fit_rows, p.fitness_rows,
                                           p.test_rows)]
  assert all(speakers) and not (speakers[0] & speakers[1] or
                                speakers[0] & speakers[2] or
                                speakers[1] & speakers[2])
  results = pathnet_protocol.train_and_evaluate(config, str(tmp_path))
  fold, = results['folds']
  assert fold['n_fitness_rows'] == p.fitness_rows.size
  assert 2 <= fold['generations_run'] <= 3  # patience 1 may stop it at 2
  assert len(fold['history']['best_fitness']) == fold['generations_run']
  # One epoch over every training row of the fold, held-out ones included.
  assert fold['final_steps'] == runs.final_steps_for(config,
                                                     p.train_rows.size)
  assert 2 <= len(results['source_history']['best_fitness']) <= 3


def test_fitness_curve_says_which_rows_its_fitness_was_measured_on():
  from experiments.configs import default, improved_heldout  # pylint: disable=g-import-not-at-top
  from experiments.lib import outputs  # pylint: disable=g-import-not-at-top
  assert outputs.fitness_label(default.get_config()) == (
      'fitness (training accuracy)')
  chosen = improved_heldout.get_config()
  assert outputs.fitness_label(chosen) == 'fitness (held-out accuracy)'
  chosen.evolution.fitness_metric = 'loss'
  assert outputs.fitness_label(chosen) == 'fitness (-held-out loss)'


@pytest.mark.parametrize('name,source,target', [
    ('a_rav_emo_heldout', 'ravdess', 'emodb'),
    ('a_emo_rav_heldout', 'emodb', 'ravdess')])
def test_heldout_transfer_configs_are_their_scratch_twin_plus_a_source(
    name, source, target):
  import importlib  # pylint: disable=g-import-not-at-top
  from experiments.configs import improved_heldout  # pylint: disable=g-import-not-at-top
  transfer = importlib.import_module(f'experiments.configs.{name}').get_config()
  assert (transfer.task, tuple(transfer.sources), transfer.target) == (
      'transfer', (source,), target)
  scratch = improved_heldout.get_config()
  scratch.target = target
  transfer.task, transfer.sources = scratch.task, scratch.sources
  assert transfer.to_dict() == scratch.to_dict()


def _heldout_config(**evolution):
  cfg = tinyconfig.tiny_config(**{'generations': 3, **evolution})
  cfg.fitness = 'heldout'
  return cfg


@pytest.mark.parametrize('batching', ['loop', 'vmap'])
def test_heldout_fitness_records_the_training_accuracy_beside_it(batching):
  # With the training rows as the "held-out" rows, the recorded training
  # accuracy is the tournament fitness, generation by generation.
  x, y = tinyconfig.blobs(n=48, num_classes=3, seed=0)
  run = runs.Run(key=jax.random.key(0), x=x, y=y, fitness_x=x, fitness_y=y,
                 num_classes=3)
  cfg = _heldout_config()
  both = runs.evolve_runs(cfg, [run, run], batching=batching)
  for result in both:
    train_accuracy = result.history[gen_lib.TRAIN_ACCURACY]
    assert train_accuracy.shape == (3,)
    np.testing.assert_allclose(train_accuracy,
                               result.history['tournament_fitness'],
                               rtol=1e-6)
  # On other rows the two differ: the curve shows where they part.
  apart = runs.evolve_runs(cfg, [_heldout_run()])[0].history
  assert not np.allclose(apart[gen_lib.TRAIN_ACCURACY],
                         apart['tournament_fitness'])


def test_training_accuracy_is_recorded_only_beside_another_fitness():
  assert gen_lib.TRAIN_ACCURACY not in gen_lib.history_keys(
      tinyconfig.tiny_config())
  assert gen_lib.history_keys(_heldout_config()) == (
      gen_lib.HISTORY_KEYS + (gen_lib.TRAIN_ACCURACY,))


def test_recording_the_training_accuracy_changes_nothing_else(monkeypatch):
  cfg = _heldout_config()
  recorded = runs.evolve_runs(cfg, [_heldout_run()])[0]
  monkeypatch.setattr(gen_lib, 'history_keys',
                      lambda config: gen_lib.HISTORY_KEYS)
  plain = runs.evolve_runs(cfg, [_heldout_run()])[0]
  assert gen_lib.TRAIN_ACCURACY not in plain.history
  np.testing.assert_array_equal(recorded.best_genotype, plain.best_genotype)
  np.testing.assert_array_equal(recorded.state.ga.fitness,
                                plain.state.ga.fitness)
  for k in gen_lib.HISTORY_KEYS:
    np.testing.assert_array_equal(recorded.history[k], plain.history[k])
  jax.tree_util.tree_map(np.testing.assert_array_equal, recorded.params,
                         plain.params)


def test_fitness_png_draws_the_training_accuracy_beside_a_heldout_accuracy():
  from experiments.lib import outputs  # pylint: disable=g-import-not-at-top
  history = {'best_fitness': [0.5, 0.6], 'mean_fitness': [0.4, 0.5],
             'tournament_fitness': [0.45, 0.55], 'loss': [1.0, 0.9],
             gen_lib.TRAIN_ACCURACY: [0.7, 0.9]}
  config = _heldout_config()
  assert outputs.fitness_curves(history, config) == {
      'best': [0.5, 0.6], 'mean': [0.4, 0.5], 'tournament': [0.45, 0.55],
      'train': [0.7, 0.9]}
  only_fitness = {'best': [0.5, 0.6], 'mean': [0.4, 0.5]}
  config.evolution.fitness_metric = 'loss'  # -loss: not an accuracy's scale
  assert outputs.fitness_curves(history, config) == only_fitness
  del history[gen_lib.TRAIN_ACCURACY]
  assert outputs.fitness_curves(history, _heldout_config()) == only_fitness


def test_a_checkpoint_without_training_accuracy_is_set_aside_not_resumed(
    tmp_path, monkeypatch):
  # A held-out run checkpointed before history had train_accuracy: its
  # checkpoint no longer restores, so it is moved aside (kept) and the run
  # starts over, giving what a fresh run gives.
  cfg = _heldout_config(generations=4)
  with monkeypatch.context() as patch:
    patch.setattr(gen_lib, 'history_keys', lambda c: gen_lib.HISTORY_KEYS)
    runs.evolve_runs(_heldout_config(generations=2), [_heldout_run()],
                     workdir=str(tmp_path / 'old'))
  resumed = runs.evolve_runs(cfg, [_heldout_run()],
                             workdir=str(tmp_path / 'old'))[0]
  fresh = runs.evolve_runs(cfg, [_heldout_run()])[0]
  assert [p.name for p in (tmp_path / 'old').iterdir()
          if p.name.endswith('.corrupt')] == ['2.corrupt']
  np.testing.assert_array_equal(resumed.history[gen_lib.TRAIN_ACCURACY],
                                fresh.history[gen_lib.TRAIN_ACCURACY])
  np.testing.assert_array_equal(resumed.state.ga.genotypes,
                                fresh.state.ga.genotypes)


def test_training_accuracy_is_measured_as_fitness_is_under_augmentation():
  # Augmented runs keep raw rows for training (the view is taken after each
  # augmented batch); the training accuracy is measured on layer 1's view of
  # them (here time-pooled), as the fitness rows are.
  x, y = tinyconfig.blobs(n=48, num_classes=3, seed=0)
  run = runs.Run(key=jax.random.key(0), x=x, y=y, fitness_x=x, fitness_y=y,
                 num_classes=3)
  cfg = _heldout_config()
  cfg.model.input_view = 'time_pooled'
  result = runs.evolve_runs(cfg, [run], augment=lambda key, xb: xb)[0]
  np.testing.assert_allclose(result.history[gen_lib.TRAIN_ACCURACY],
                             result.history['tournament_fitness'], rtol=1e-6)

"""pathnet_jax.runs: a batch of evolutions gives what each gives alone, in
one compiled program, and a killed batch resumes to the same results."""
import jax
import numpy as np
import pytest

from pathnet_jax import evolve
from pathnet_jax import generation as gen_lib
from pathnet_jax import runs
from pathnet_jax import transfer
import tinyconfig


def _assert_trees_equal(a, b):
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def _assert_same_run(batched, alone):
  _assert_trees_equal(batched.params, alone.params)
  _assert_trees_equal(batched.state.ga, alone.state.ga)
  _assert_trees_equal(batched.state.opt_state, alone.state.opt_state)
  for k in gen_lib.HISTORY_KEYS:  # training loss included, bit for bit
    np.testing.assert_array_equal(batched.history[k], alone.history[k])
  assert batched.steps_per_pathway == alone.steps_per_pathway


def _assert_same_run_up_to_rounding(batched, alone, rtol, atol):
  """The same genotypes and fitness history; weights within rtol/atol."""
  np.testing.assert_array_equal(batched.state.ga.genotypes,
                                alone.state.ga.genotypes)
  np.testing.assert_array_equal(batched.history['best_fitness'],
                                alone.history['best_fitness'])
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=atol),
      batched.params, alone.params)


def _runs(sizes=(30, 70, 50), seed=0):
  """Runs of different row counts (and so step counts) on one task."""
  x, y = tinyconfig.blobs(n=max(sizes), num_classes=3, seed=seed)
  return [runs.Run(key=jax.random.key(10 + i), x=x[:n], y=y[:n],
                   num_classes=3, name=f'run {i}')
          for i, n in enumerate(sizes)]


def _alone(cfg, run, **kwargs):
  return evolve.evolve(run.key, cfg, run.x, run.y, fitness_x=run.fitness_x,
                       fitness_y=run.fitness_y, frozen=run.frozen,
                       init_params=run.init_params,
                       num_classes=run.num_classes, **kwargs)


@pytest.mark.parametrize('mode', ['sequential', 'parallel'])
def test_each_run_of_a_batch_equals_the_run_alone(mode):
  # 'loop', the CPU default: the same program per run, bit for bit.
  cfg = tinyconfig.tiny_config(generations=4, train_mode=mode,
                               run_batching='loop')
  batch = _runs()
  results = runs.evolve_runs(cfg, batch)
  assert [r.steps_per_pathway for r in results] == [2, 5, 4]  # batch 16
  for run, result in zip(batch, results):
    _assert_same_run(result, _alone(cfg, run))


def test_vmapped_runs_equal_the_runs_alone_up_to_rounding():
  # vmap batches the products, which may round differently (1 ulp seen on
  # CPU): the same pathways, weights within float32 rounding.
  cfg = tinyconfig.tiny_config(generations=3)
  batch = _runs()
  results = runs.evolve_runs(cfg, batch, batching='vmap')
  for run, result in zip(batch, results):
    _assert_same_run_up_to_rounding(result, _alone(cfg, run), rtol=1e-4,
                                    atol=1e-6)


def test_validation_fitness_rows_of_different_counts_equal_alone():
  cfg = tinyconfig.tiny_config(generations=3)
  batch = _runs((40, 64))
  fx, fy = tinyconfig.blobs(n=30, num_classes=3, seed=5)
  batch[0].fitness_x, batch[0].fitness_y = fx[:12], fy[:12]
  batch[1].fitness_x, batch[1].fitness_y = fx, fy
  for run, result in zip(batch, runs.evolve_runs(cfg, batch)):
    _assert_same_run(result, _alone(cfg, run))


def test_transfer_runs_with_different_frozen_modules_equal_alone():
  cfg = tinyconfig.tiny_config(generations=3)
  source = runs.evolve_runs(cfg, _runs((48,)))[0]
  batch = _runs((30, 50), seed=2)
  for i, (run, genotype) in enumerate(zip(batch, (
      source.best_genotype, np.zeros_like(source.best_genotype)))):
    run.frozen, run.init_params = transfer.freeze(
        source.params, genotype, cfg, key=jax.random.key(i), num_classes=3)
  assert batch[1].frozen.sum() < batch[0].frozen.sum()  # widths differ
  widest, widened = runs.evolve_runs(cfg, batch)
  _assert_same_run(widest, _alone(cfg, batch[0]))
  # The narrower frozen set is padded with weight-0 slots. Its sums are then
  # longer, and XLA:CPU may associate them differently on some hosts (seen:
  # 1 ulp in the head after 3 generations), so it equals its run alone only up
  # to rounding: the same genotypes and fitness, parameters to float32
  # rounding.
  _assert_same_run_up_to_rounding(widened, _alone(cfg, batch[1]), rtol=1e-5,
                                  atol=1e-7)
  for run, result in zip(batch, (widest, widened)):
    np.testing.assert_array_equal(
        np.asarray(result.params['layers'][0]['w'])[run.frozen[0]],
        np.asarray(run.init_params['layers'][0]['w'])[run.frozen[0]])


def test_one_compiled_program_serves_runs_of_every_size(monkeypatch):
  traced = []
  real = gen_lib.generation

  def counting(*args, **kwargs):
    traced.append(1)
    return real(*args, **kwargs)
  monkeypatch.setattr(gen_lib, 'generation', counting)
  runs.evolve_runs(tinyconfig.tiny_config(generations=4, checkpoint_every=2,
                                          run_batching='loop'), _runs())
  assert len(traced) == 1  # 3 runs x 2 calls, one trace


def test_a_call_past_the_last_generation_changes_nothing():
  # generations=5 in calls of 2: the third call runs one, skips one.
  cfg = tinyconfig.tiny_config(generations=5, checkpoint_every=2)
  run = _runs((40,))[0]
  result = runs.evolve_runs(cfg, [run])[0]
  assert int(result.state.ga.generation) == 5
  longer = runs.evolve_runs(tinyconfig.tiny_config(generations=6), [run])[0]
  np.testing.assert_array_equal(result.history['best_fitness'],
                                longer.history['best_fitness'][:5])


def test_killed_batch_resumes_to_the_results_of_an_uninterrupted_one(
    tmp_path):
  cfg = tinyconfig.tiny_config(generations=6, checkpoint_every=2)
  whole = runs.evolve_runs(cfg, _runs(), workdir=str(tmp_path / 'whole'))

  class Killed(Exception):
    pass

  def kill_at_4(first, last, history, seconds):
    del first, history, seconds
    if last == 4:
      raise Killed

  with pytest.raises(Killed):
    runs.evolve_runs(cfg, _runs(), workdir=str(tmp_path / 'cut'),
                     progress=kill_at_4)
  calls = []
  resumed = runs.evolve_runs(
      cfg, _runs(), workdir=str(tmp_path / 'cut'),
      progress=lambda first, last, h, s: calls.append((first, last)))
  assert calls == [(2, 4), (4, 6)]  # generations 1-2 from the checkpoint
  for a, b in zip(resumed, whole):
    _assert_same_run(a, b)


def test_progress_reports_every_runs_history_per_call():
  cfg = tinyconfig.tiny_config(generations=4, checkpoint_every=2)
  seen = []
  results = runs.evolve_runs(cfg, _runs(), progress=lambda *a: seen.append(a))
  assert [(f, l) for f, l, _, _ in seen] == [(0, 2), (2, 4)]
  best = np.concatenate([h['best_fitness'] for _, _, h, _ in seen], axis=1)
  np.testing.assert_array_equal(
      best, np.stack([r.history['best_fitness'] for r in results]))


def test_non_finite_steps_stop_the_batch_naming_the_run():
  cfg = tinyconfig.tiny_config(generations=2)
  batch = _runs((30, 40))
  batch[1].x = np.full_like(batch[1].x, np.nan)
  with pytest.raises(ValueError, match=r'^run 1: generation 1: \d+ of \d+ '
                     'training steps were skipped'):
    runs.evolve_runs(cfg, batch)


def test_a_bad_run_is_refused_before_any_work_naming_it():
  batch = _runs((30, 8))  # batch size 16 > 8 rows
  with pytest.raises(ValueError, match=r'^run 1: optim.batch_size must be '
                     r'in \[1, n_train=8\]'):
    runs.evolve_runs(tinyconfig.tiny_config(), batch)


@pytest.mark.parametrize('batching', ['loop', 'vmap'])
def test_log_probs_of_a_batch_equal_each_runs_alone(batching):
  cfg = tinyconfig.tiny_config(generations=2)
  results = runs.evolve_runs(cfg, _runs((30, 40)))
  tests = [tinyconfig.blobs(n=n, num_classes=3, seed=7)[0] for n in (9, 21)]
  members = [np.stack([r.best_genotype, r.state.ga.genotypes[0]])[:k]
             for r, k in zip(results, (1, 2))]
  together = runs.log_probs(cfg, [r.params for r in results], members,
                            [r.frozen_slots for r in results], tests,
                            batching=batching)
  for r, g, x, lp in zip(results, members, tests, together):
    alone = runs.log_probs(cfg, [r.params], [g], [r.frozen_slots], [x],
                           batching=batching)[0]
    assert lp.shape == (g.shape[0], x.shape[0], 3)
    np.testing.assert_allclose(lp, alone, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-5)

"""Smoke tests of experiments.benchmark at tiny sizes: it runs, its JSON and
tables are complete. No timing is asserted. Items 3 and 4 (generations,
transfer) compile whole evolutions and a CNN: they are `slow` tests."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.benchmarks import common
from experiments.benchmarks import faces
from experiments.benchmarks import generation
from experiments.benchmarks import registry
from experiments.benchmarks import transfer
import tinyconfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp('bench') / 'bench.json'
  # Two host devices from the start: no re-run of the benchmark needed.
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT,
             XLA_FLAGS='--xla_force_host_platform_device_count=2')
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.benchmark', '--quick',
       '--fake_devices=2', '--items=throughput,scaling',
       f'--out={out}'], cwd=ROOT, env=env, capture_output=True, text=True,
      timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(out) as f:
    return json.load(f), proc.stdout


def test_throughput_covers_every_case_and_compute(quick_run):
  rows = quick_run[0]['throughput']['rows']
  cases = {(r['pathways'], r['mode'], r['compute']) for r in rows}
  assert {(1, 'sequential', 'gather'), (2, 'sequential', 'gather'),
          (2, 'parallel', 'gather'), (4, 'parallel', 'gather'),
          (4, 'parallel', 'dense')} <= cases
  assert all(r['pathway_steps_per_s'] > 0 and r['fraction_of_dot_peak'] > 0
             for r in rows)


def test_throughput_relates_every_rate_to_the_machine_gemm_peak(quick_run):
  th = quick_run[0]['throughput']
  assert th['gemm_size'] == common.TINY.gemm_size
  for r in th['rows']:
    np.testing.assert_allclose(
        r['fraction_of_gemm_peak'],
        r['gflop_per_s'] / th['gemm_peak_gflop_per_s'], rtol=1e-6)


def test_scaling_measures_every_device_count(quick_run):
  rows = quick_run[0]['scaling']['rows']
  assert [r['devices'] for r in rows] == [1, 2]
  assert rows[1]['mesh'] == {'pathways': 2, 'data': 1}


def test_prints_the_markdown_tables(quick_run):
  stdout = quick_run[1]
  for heading in ('### 1–2.', 'Layer 1 alone', '### 5.'):
    assert heading in stdout


def test_time_to_fitness_sums_seconds_until_the_target():
  assert generation.time_to_fitness([1.0, 2.0, 3.0], [0.1, 0.5, 0.9],
                                   0.5) == 3.0
  assert generation.time_to_fitness([1.0], [0.1], 0.5) is None


@pytest.mark.slow
def test_generation_item_races_one_and_several_tournaments():
  g = generation.bench_generation(common.TINY, None)
  assert [r['tournaments'] for r in g['runs']] == [1, 3]
  assert [r['full_generations'] for r in g['runs']] == [200, 66]
  for r in g['runs']:
    assert r['folds_extrapolated_s'] > 0
    assert max(r['best_fitness']) >= g['target_fitness']
  assert 'EXTRAPOLATED' in registry.markdown(
      {'machine': common.machine(), 'sizes': {}, 'generation': g})


@pytest.mark.slow
def test_transfer_item_scores_both_methods():
  sizes = common.TINY
  r = transfer.bench_transfer(sizes, common.blob_features(sizes, 96))
  assert [row['method'] for row in r['rows']] == ['PathNet transfer',
                                                  'fine-tuned CNN']
  for row in r['rows']:
    assert 0.0 <= row['segment_wa'] <= 1.0 and row['wall_s'] > 0
  assert np.isfinite([row['utterance_wa'] for row in r['rows']]).all()


def test_face_item_crops_every_frame_of_its_photo_video():
  out = faces.bench_faces(8)
  assert out['frames'] == 8 and out['resolution'] == '640x480'
  assert out['frames_per_s'] == pytest.approx(8 / out['seconds'])


def test_protocol_item_counts_steady_generation_time_after_the_compile():
  from experiments.benchmarks import protocol  # pylint: disable=g-import-not-at-top
  # Calls of 2 generations: the first call (2 s per generation) compiled.
  results = {'folds': [{'history': {'seconds': [2.0, 2.0, 0.5, 0.5, 0.7,
                                                0.7, 0.5, 0.5]}}]}
  assert protocol.generation_compute_s(results, 8, 2) == pytest.approx(4.0)


def test_registry_runs_exactly_the_requested_items(monkeypatch):
  calls = []
  for name in registry.ITEMS:
    monkeypatch.setitem(registry.ITEMS, name, registry.Item(
        lambda ctx, name=name: calls.append(name) or {'ran': name},
        lambda result: [f"## {result['ran']}"]))
  results = registry.run(common.Context(common.TINY), ['faces', 'reference'])
  assert calls == ['reference', 'faces']  # in the registry's order
  assert results['faces'] == {'ran': 'faces'}
  assert set(results['item_seconds']) == {'reference', 'faces'}
  assert 'throughput' not in results
  text = registry.markdown(results)
  assert '## reference' in text and '## faces' in text


def test_long_items_run_only_on_request():
  assert 'protocol' not in registry.default_items()
  assert 'cnn_protocol' not in registry.default_items()
  assert {'throughput', 'faces', 'reference'} <= set(registry.default_items())


def test_an_unknown_item_is_one_clear_error_before_anything_runs():
  with pytest.raises(ValueError, match=r"unknown benchmark items \['nope'\]"):
    registry.run(common.Context(common.TINY), ['throughput', 'nope'])
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.benchmark', '--quick',
       '--items=throughput,nope'], cwd=ROOT, env=env, capture_output=True,
      text=True, timeout=tinyconfig.HANG_GUARD_S, check=False)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: unknown benchmark items ['nope']; valid: reference,")
  assert '[benchmark]' not in proc.stdout


@pytest.mark.slow
def test_cnn_protocol_item_agrees_between_its_sides():
  from experiments.benchmarks import cnn_protocol  # pylint: disable=g-import-not-at-top
  r = cnn_protocol.bench_cnn_protocol(common.Context(common.TINY, rounds=1))
  assert r['runs'] == 2 * 2  # tiny preset: 2 folds x 2 seeds
  assert r['batching'] == 'loop' and r['max_ua_difference'] == 0.0
  assert r['one_at_a_time_over_batched'] == pytest.approx(
      r['best_s']['one_at_a_time'] / r['best_s']['batched'])
  step = r['step']
  assert step['gflop_per_step'] > 0 and step['step_s'] > 0
  assert step['fraction_of_gemm_peak'] == pytest.approx(
      step['gflop_per_s'] / step['gemm_peak_gflop_per_s'])
  assert '### 8.' in '\n'.join(cnn_protocol.markdown(r))


def test_cost_growth_runs_only_on_request_and_fits_a_log_log_slope():
  from experiments.benchmarks import cost_growth  # pylint: disable=g-import-not-at-top
  assert 'cost_growth' not in registry.default_items()
  assert cost_growth.slope([10, 100, 1000], [2, 20, 200]) == pytest.approx(1)
  assert cost_growth.slope([10, 100], [3, 300]) == pytest.approx(2)


def test_cost_worker_writes_a_memory_mapped_synthetic_store(tmp_path):
  from data_prep import featureset  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import cost_worker  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'synthetic_6.fs')
  cost_worker.synthetic_store(path, 6)
  fs = featureset.load(path)
  assert isinstance(fs.x, np.memmap) and fs.x.shape == (30, 64, 64, 3)
  np.testing.assert_array_equal(fs.utterance, np.repeat(np.arange(6), 5))
  np.testing.assert_array_equal(fs.label, np.repeat(np.arange(6) % 4, 5))
  assert cost_worker.synthetic_store(path, 6) == 0.0  # reused, not rewritten


@pytest.mark.slow
def test_cost_growth_item_measures_every_point(tmp_path):
  from experiments.benchmarks import cost_growth  # pylint: disable=g-import-not-at-top
  s = common.TINY
  r = cost_growth.run(common.Context(sizes=s, out_dir=str(tmp_path)))
  assert [p['segments'] for p in r['rows']] == [5 * u for u in
                                                s.cost_utterances]
  assert all(p['train_rows'] == 4 * p['segments'] // 5 for p in r['rows'])
  assert not any(p['streamed'] for p in r['rows'])  # tiny: in memory
  assert [p['files'] for p in r['extract']] == list(s.cost_files)
  assert all(p['peak_rss_mb'] > 0 and p['generation_s'] > 0
             for p in r['rows'] + r['population'] + r['modules'] + r['runs'])
  assert os.path.isfile(tmp_path / cost_growth.FIGURE)
  assert '| utterances |' in '\n'.join(cost_growth.markdown(r))

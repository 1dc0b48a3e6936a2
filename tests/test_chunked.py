"""experiments.lib.chunked: a fold's segments larger than config.data_memory_gb
become layer 1's pooled view a block at a time, equal (to float32 rounding)
to the in-memory path; the in-memory path is unchanged below the limit."""
import numpy as np
import pytest

from data_prep import featureset
from experiments.lib import chunked
from experiments.lib import data
from experiments.lib import normalize
from experiments.lib import protocol
from experiments.lib import views
from pathnet_jax import model as model_lib
import tinyconfig

TINY_GB = 1e-9  # every fold is "too big"


def _segments(n=23, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(2.0, 3.0, (n, 4, 5, 3)).astype(np.float32)
  speaker = np.asarray(['a', 'b', 'c'])[np.arange(n) % 3]
  return x, speaker


def test_blocks_give_every_asked_row_once_with_its_values():
  x, _ = _segments()
  rows = np.asarray([20, 3, 4, 11, 0, 19])
  seen = np.zeros((rows.size, *x.shape[1:]), np.float32)
  count = np.zeros(rows.size, int)
  for pos, block in chunked.blocks(x, rows, block_rows=4):
    seen[pos] = block
    count[pos] += 1
  np.testing.assert_array_equal(count, 1)
  np.testing.assert_array_equal(seen, x[rows])


def test_blocks_read_a_memory_mapped_store_like_an_array(tmp_path):
  x, _ = _segments()
  np.save(tmp_path / 'x.npy', x)
  mapped = np.load(tmp_path / 'x.npy', mmap_mode='r')
  rows = np.asarray([7, 1, 22])
  out = np.concatenate([b for _, b in chunked.blocks(mapped, rows, 2)])
  order = np.concatenate([p for p, _ in chunked.blocks(mapped, rows, 2)])
  np.testing.assert_array_equal(out, x[rows[order]])


@pytest.mark.parametrize('mode', ['pixel', 'band_channel', 'speaker', 'none'])
def test_blockwise_statistics_equal_the_in_memory_ones(mode):
  x, speaker = _segments()
  rows = np.arange(2, 21)
  want = normalize.fit_normalizer(x, mode, rows=rows, speaker=speaker)
  got = chunked.fit_normalizer(x, mode, rows, speaker, block_rows=4)
  assert got.mode == want.mode and got.speakers == want.speakers
  np.testing.assert_allclose(got.mean, want.mean, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got.std, want.std, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('view', ['time_pooled', 'time_stats'])
def test_pooled_rows_are_the_models_view_of_the_normalised_rows(view):
  x, speaker = _segments()
  rows = np.asarray([5, 0, 17, 9])
  stats = normalize.fit_normalizer(x, 'pixel', rows=np.arange(23))
  want = np.asarray(model_lib.input_view(
      normalize.apply_normalizer(stats, x[rows]), view)).reshape(4, -1)
  got = chunked.pooled_rows(x, stats, speaker, rows, view, block_rows=3)
  assert got.shape == (4, 4 * model_lib.POOLED_STATS[view] * 3)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_limit_counts_float32_bytes_of_the_whole_set_and_zero_means_never():
  x = np.zeros((1000, 64, 64, 3), np.uint8)
  assert chunked.rows_gb(x) == pytest.approx(1000 * 12288 * 4 / 1e9)
  assert chunked.needed(x, 0.04)
  assert not chunked.needed(x, 0.05)
  assert not chunked.needed(x, 0.0)
  assert not chunked.needed(np.zeros((10**4, 6373)), 0.01)  # not segments


def test_the_segment_view_over_the_limit_is_an_error_naming_the_field():
  with pytest.raises(ValueError, match='data_memory_gb=0.5.*time_pooled'):
    chunked.check_view('segment', 3.0, 0.5)


@pytest.fixture(scope='module')
def synthetic():
  config = tinyconfig.synthetic_run_config()
  config.model.input_view = 'time_pooled'
  return config, data.load_corpus(config.target, config)


@pytest.mark.parametrize('normalize_mode', ['pixel', 'speaker'])
def test_a_fold_over_the_limit_trains_on_the_same_view(synthetic,
                                                         normalize_mode):
  config, fs = synthetic
  config = config.copy_and_resolve_references()
  config.normalize = normalize_mode
  config.data_memory_gb = 0.0
  whole, = protocol.plan(config, fs, [0])
  config.data_memory_gb = TINY_GB
  streamed, = protocol.plan(config, fs, [0])
  assert whole.x_fit.ndim == 4 and streamed.x_fit.ndim == 2  # view taken
  for a, b in ((whole.x_fit, streamed.x_fit), (whole.x_test, streamed.x_test)):
    pooled = np.asarray(model_lib.input_view(a, 'time_pooled'))
    np.testing.assert_allclose(b, pooled.reshape(len(a), -1), rtol=1e-4,
                               atol=1e-4)
  np.testing.assert_array_equal(whole.y_fit, streamed.y_fit)
  np.testing.assert_array_equal(whole.utt_test, streamed.utt_test)


def test_a_flat_view_row_builds_the_same_layer_shapes(synthetic):
  config, fs = synthetic
  import jax  # pylint: disable=g-import-not-at-top
  a = model_lib.init(jax.random.key(0), config, fs.x.shape[1:], 3)
  b = model_lib.init(jax.random.key(0), config, (64 * 2 * 3,), 3)
  assert a['layers'][0]['w'].shape == b['layers'][0]['w'].shape



@pytest.mark.slow
def test_a_whole_run_over_the_limit_scores_as_the_in_memory_run(tmp_path):
  from experiments.lib import pathnet_protocol  # pylint: disable=g-import-not-at-top
  scores = []
  for gb in (0.0, TINY_GB):
    c = tinyconfig.synthetic_run_config()
    c.model.input_view = 'time_pooled'
    c.data_memory_gb = gb
    r = pathnet_protocol.train_and_evaluate(c, str(tmp_path / f'gb{gb}'))
    scores.append(r['folds'][0]['utterance']['ua'])
  assert scores[0] == pytest.approx(scores[1], abs=1e-6)

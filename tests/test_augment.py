import jax
import jax.numpy as jnp
import numpy as np

from pathnet_jax import augment


def test_spec_augment_masks_one_band_run_and_one_frame_run():
  x = jax.random.normal(jax.random.key(0), (16, 12, 10, 3)) + 5.0
  out = np.asarray(augment.spec_augment(jax.random.key(1), x, freq_mask=3,
                                        time_mask=2, max_shift=0))
  xs = np.asarray(x)
  for i in range(16):
    changed = out[i] != xs[i]
    bands = np.flatnonzero(changed.all(axis=(1, 2)))
    frames = np.flatnonzero(changed.all(axis=(0, 2)))
    assert bands.size <= 3 and frames.size <= 2
    assert bands.size == 0 or np.all(np.diff(bands) == 1)
    # Outside the masked runs nothing moved.
    keep = np.ones(changed.shape[:2], bool)
    keep[bands, :] = False
    keep[:, frames] = False
    assert not changed[keep].any()


def test_spec_augment_shift_is_a_circular_roll_in_time():
  x = jax.random.normal(jax.random.key(0), (4, 6, 10, 3))
  out = np.asarray(augment.spec_augment(jax.random.key(2), x, freq_mask=0,
                                        time_mask=0, max_shift=3))
  for i in range(4):
    assert any(np.array_equal(out[i], np.roll(np.asarray(x[i]), s, axis=1))
               for s in range(-3, 4))


def test_augmentation_is_off_unless_enabled():
  from experiments.configs import default
  cfg = default.get_config()
  assert augment.from_config(cfg) is None
  cfg.augment.enabled = True
  fn = augment.from_config(cfg)
  x = jnp.zeros((2, 8, 8, 3))
  assert fn(jax.random.key(0), x).shape == x.shape

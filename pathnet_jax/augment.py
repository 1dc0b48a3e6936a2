"""SpecAugment-style augmentation of [B, bands, frames, channels] batches,
drawn on device inside the jitted training step (training inputs only)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _mask_run(key, length: int, max_width: int) -> jax.Array:
  """bool[length], True on one random run of width in [0, max_width]."""
  k_w, k_s = jax.random.split(key)
  width = jax.random.randint(k_w, (), 0, max_width + 1)
  start = jax.random.randint(k_s, (), 0, jnp.maximum(length - width, 0) + 1)
  pos = jnp.arange(length)
  return (pos >= start) & (pos < start + width)


def spec_augment_one(key, x, *, freq_mask: int, time_mask: int,
                     max_shift: int):
  """One example [H, W, C]: circular time shift, one band and one frame run
  set to the example's mean (0 after standardisation)."""
  k_shift, k_f, k_t = jax.random.split(key, 3)
  h, w = x.shape[0], x.shape[1]
  if max_shift:
    x = jnp.roll(x, jax.random.randint(k_shift, (), -max_shift, max_shift + 1),
                 axis=1)
  fill = x.mean()
  if freq_mask:
    x = jnp.where(_mask_run(k_f, h, freq_mask)[:, None, None], fill, x)
  if time_mask:
    x = jnp.where(_mask_run(k_t, w, time_mask)[None, :, None], fill, x)
  return x


def spec_augment(key, x, *, freq_mask: int = 8, time_mask: int = 8,
                 max_shift: int = 4):
  """Augment a batch [B, H, W, C] independently per example."""
  keys = jax.random.split(key, x.shape[0])
  return jax.vmap(functools.partial(
      spec_augment_one, freq_mask=freq_mask, time_mask=time_mask,
      max_shift=max_shift))(keys, x)


def from_config(config):
  """`augment(key, x)` for evolve(), or None when `config.augment` is off."""
  ac = config.augment
  if not ac.enabled:
    return None
  return functools.partial(spec_augment, freq_mask=int(ac.freq_mask),
                           time_mask=int(ac.time_mask),
                           max_shift=int(ac.max_shift))

"""Settings for the whole test session.

On GPUs and TPUs JAX runs float32 matrix products with reduced-precision
passes by default (TF32 on NVIDIA Ampere and later, bf16 on TPU: about 1e-3
relative error). The specs here compare against NumPy and full-tensor
references at float32 tolerances, so they ask for full float32 products.
On CPU this changes nothing.
"""
import jax

jax.config.update('jax_default_matmul_precision', 'highest')

"""Raw emotion corpora → FeatureSet arrays (log-mel segments or face crops).

Modules: audio (log-mel + Δ + ΔΔ), video (Haar face crops), labels
(harmonised vocabulary), corpora (readers), store (FeatureSet files, cache,
extraction), synthetic (built-in rendered corpus). Imports nothing from
pathnet_jax or experiments.
"""

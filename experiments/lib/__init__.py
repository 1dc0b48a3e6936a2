"""Library modules of the experiments: what the binaries in experiments/ call.

Binaries (experiments/*.py) are flags + main + cli.run; everything they do lives
here, so tests and the Colab notebook import it. Nothing here imports a binary.
"""

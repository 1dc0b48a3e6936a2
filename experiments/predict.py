r"""Emotion probabilities of one recording from a trained PathNet model.

  python -m experiments.predict --workdir=runs/a_emo --input=speech.wav
  python -m experiments.predict --workdir=runs/v_sav --input=clip.avi --json

Reads `workdir/model/` (written by experiments.train), computes the same
features as training and scores them as evaluation scores a test fold
(experiments/lib/inference.py): the utterance's class probabilities.

Inputs: the file types of data_prep.formats (the one list manifests and
data_prep use): audio (audio models), video containers (.mp4, .avi, .flv,
.mpg, ...: video and image models; an audio model uses the clip's sound
track, as training on eNTERFACE does), pictures (video and image models).
A model trained with config.faces='given' takes each frame or picture as the
face, as its training did. Anything else, an unreadable file or a modality
the model was not trained on is one `error: ...` line, exit code 1.
"""
from __future__ import annotations

import json
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from experiments.lib import cli
from experiments.lib import inference


def define_flags(flag_values: flags.FlagValues = flags.FLAGS,
                 argv: Sequence[str] | None = None) -> None:
  del argv  # no config flag: nothing is read at definition
  flags.DEFINE_string('workdir', None, 'Training workdir (holding model/).',
                      flag_values=flag_values)
  flags.DEFINE_string(
      'input', None, f'Recording: {"/".join(inference.AUDIO_EXTS)}, '
      f'{"/".join(inference.VIDEO_EXTS)} or '
      f'{"/".join(inference.IMAGE_EXTS)}.', flag_values=flag_values)
  flags.DEFINE_bool('json', False, 'Print JSON instead of a table.',
                    flag_values=flag_values)
  flags.mark_flags_as_required(['workdir', 'input'], flag_values=flag_values)


def main(argv: Sequence[str],
         flag_values: flags.FlagValues = flags.FLAGS) -> None:
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.ERROR)  # orbax logs its restores
  f = flag_values
  result = inference.predict_file(inference.load_model(f.workdir), f.input)
  print(json.dumps(result, indent=1) if f.json else
        inference.format_table(result), flush=True)


if __name__ == '__main__':
  cli.run(main, define_flags)

r"""Fine-tuning baseline (Zhang et al. 2018 style CNN) configuration.

  python -m experiments.finetune --config=experiments/configs/finetune.py \
      --workdir=runs/finetune_synthetic
  python -m experiments.finetune --config=experiments/configs/finetune.py:emodb \
      --workdir=runs/finetune_emodb
  # three seeds x leave-one-speaker-out, every (seed, fold) in one batch
  python -m experiments.finetune --config=experiments/configs/finetune.py:emodb \
      --config.protocol=speaker_kfold --config.seeds=0,1,2 \
      --workdir=runs/finetune_emodb_loso
  # transfer: pre-train on one corpus, fine-tune every layer on another
  python -m experiments.finetune --config=experiments/configs/finetune.py:emodb \
      --config.source=savee --workdir=runs/finetune_savee_emodb

Presets (after the colon): '' (synthetic corpus, CPU-sized CNN), 'emodb',
'alexnet' (AlexNet widths, for an accelerator), 'tiny' (tests).
"""
import ml_collections
from ml_collections import config_dict


def get_config(preset: str = '') -> ml_collections.ConfigDict:
  """The default config, changed by `preset`."""
  config = ml_collections.ConfigDict()
  # Data: corpus specs ('synthetic', 'emodb', 'ravdess', 'emodb:sex=f',
  # 'manifest:PATH.csv', ...; experiments/lib/data.py). source None = scratch.
  config.target = 'synthetic'
  config.source = config_dict.placeholder(str)
  config.modality = 'audio'
  # video/image: 'detect' a face per frame, or 'given': the files are face
  # crops already (as in configs/default.py).
  config.faces = 'detect'
  config.data_root = '../shared/data'  # relative to the working directory
  config.cache_dir = 'features'
  # Unreadable corpus files: 'raise' stops naming one; 'skip' leaves them
  # out (listed in results.json) up to this share of a corpus's files
  # (as in configs/default.py).
  config.on_error = 'raise'
  config.max_skipped_fraction_files = 0.05
  config.synthetic = ml_collections.ConfigDict(
      dict(num_speakers=6, num_classes=5, utterances_per_class=8))

  # Evaluation.
  config.protocol = 'random_kfold'  # | 'speaker_kfold' | 'leaky_segment_kfold'
  config.n_splits = 0  # 0: 5, or leave-one-speaker-out for speaker_kfold
  config.folds = ()  # run only these fold indices; empty = all
  config.seed = 0
  # Several seeds trained together with every fold as one batch; results per
  # seed in <workdir>/seed_<s>/. Empty: the one run of `seed` in <workdir>.
  config.seeds = ()
  config.normalize = 'pixel'  # | 'band_channel' | 'none'
  config.val_fraction = 0.0  # > 0: keep the epoch with best validation acc.
  # Learning curves: this fraction of each training fold's utterances (the
  # same ones experiments.train keeps); test folds unchanged.
  config.train_fraction = 1.0
  # Keep only the classes source and target share (needs config.source).
  config.shared_classes_only = False

  # AlexNet's shape at CPU scale: stride-2 first conv (AlexNet: stride 4 on
  # 224 px), 3x3/2 max-pools after conv 1, 2 and 5, two dropout dense layers.
  config.model = ml_collections.ConfigDict(dict(
      conv_features=(32, 64, 96, 96, 64),
      conv_kernels=(5, 3, 3, 3, 3),
      conv_strides=(2, 1, 1, 1, 1),
      pool_after=(0, 1, 4),
      dense_features=(256, 256),
      dropout=0.5,
  ))

  # Optimisation (fine-tuning updates every layer).
  config.optimizer = 'adam'  # | 'sgd' (with momentum)
  config.learning_rate = 1e-3
  config.momentum = 0.9
  config.weight_decay = 0.0
  config.batch_size = 64
  config.epochs = 10
  config.pretrain_epochs = 10
  config.pretrain_learning_rate = config_dict.placeholder(float)  # None: lr
  config.eval_batch_size = 256
  # How a batch's runs (folds x seeds) share the device: 'vmap' (one step
  # advances every run), 'loop' (the same compiled step once per run), or
  # 'auto': loop on CPU, vmap elsewhere (experiments/lib/cnn_runs.py).
  config.run_batching = 'auto'

  if preset == 'emodb':
    config.target = 'emodb'
  elif preset == 'alexnet':
    config.model.conv_features = (64, 128, 192, 192, 128)
    config.model.dense_features = (512, 512)
  elif preset == 'tiny':
    config.synthetic = ml_collections.ConfigDict(
        dict(num_speakers=4, num_classes=2, utterances_per_class=2))
    config.n_splits = 2
    config.model.conv_features = (4, 8, 8, 8, 8)
    config.model.dense_features = (16, 16)
    config.epochs = 1
    config.pretrain_epochs = 1
    config.batch_size = 8
  elif preset:
    raise ValueError(f'unknown preset {preset!r}')
  return config

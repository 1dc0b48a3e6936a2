"""The paper's method and hyper-parameters (Nguyen et al. 2023), on EMO-DB.

L=3 layers x M=20 modules of U=20 ReLU units, N<=4 active per layer, mean
aggregation; microbial GA with population 20, binary tournament (K=2), 200
generations; each pathway trains T = ceil(n_train/64) SGD steps (lr 0.02,
batch 64); fitness = training accuracy. Every other config starts from this.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  # Several seeds evolved together with every fold as one batch (one
  # compiled program); results per seed in <workdir>/seed_<s>/. Empty: the
  # one run of `seed`, its results in <workdir>.
  c.seeds = ()
  # What to run: 'scratch' (target only), 'transfer' (sources -> target),
  # 'multi_source' (pooled sources -> target).
  c.task = 'scratch'
  # What trains (issue 33, experiments/lib/controls.py): 'pathnet' (the
  # method), or a level-field control on the same engine, view and budget:
  # 'independent' (every module active, from scratch), 'finetune' (that
  # network trained on the source, then all of it on the target) or
  # 'fixed_pathway' (one random pathway, no selection).
  c.method = 'pathnet'
  c.modality = 'audio'  # | 'video' (face crop per frame) | 'image'
  # video/image: 'detect' a face in each frame (Viola-Jones, the paper) or
  # 'given': the files are face crops already (FER2013, CK+48), each frame is
  # resized as the face. A spec's 'faces=given' overrides it for one corpus.
  c.faces = 'detect'
  # Corpus specs: 'synthetic', 'emodb', 'savee', 'enterface', 'ravdess',
  # 'manifest:PATH.csv' or a FeatureSet .npz, with optional row filters, e.g.
  # 'emodb:sex=f', 'emodb:speaker=03,08', 'emodb:label=anger,sadness'; '+'
  # pools several (experiments/lib/data.py).
  c.target = 'emodb'
  c.sources = ()
  c.data_root = '../shared/data'  # holds <corpus>/ folders in their layouts
  c.cache_dir = 'features'
  # A corpus file that cannot be read (corrupt audio, a picture without a
  # face): 'raise' stops with an error naming it; 'skip' logs it, leaves it
  # out and lists it in results.json ('skipped_files')...
  c.on_error = 'raise'
  # ...unless more than this share of a corpus's files are skipped: then the
  # run stops, as the corpus is no longer the one the results would name.
  c.max_skipped_fraction_files = 0.05
  # Evaluation: 'random_kfold' (the paper, utterance-grouped), 'speaker_kfold'
  # (leave-one-speaker-out when n_splits is 0) or 'leaky_segment_kfold'.
  c.protocol = 'random_kfold'
  c.n_splits = 5
  c.folds = ()  # run only these fold indices; empty = all
  # 'pixel' | 'band_channel' (training-fold statistics) | 'speaker' (each
  # speaker by its own unlabelled segments: transductive for a test speaker,
  # see experiments/lib/normalize.py) | 'none'.
  c.normalize = 'pixel'
  # Segments (a corpus's, as float32) over this many GB are read from the
  # store a block at a time and become layer 1's pooled view block by block
  # (experiments/lib/chunked.py; pooled views only); at or under it, the
  # in-memory path. 0: always in memory.
  c.data_memory_gb = 2.0
  # Fitness rows: 'train' (the paper: training accuracy, which reaches 1.0
  # and then decides nothing, issue 26), 'validation' (held-out utterances)
  # or 'heldout': a held-out part of each training fold that is
  # speaker-disjoint under protocol='speaker_kfold' (what the test fold
  # measures) and utterance-disjoint otherwise. The part is fixed per run,
  # seeded by seed + fold (by seed for a transfer's source).
  c.fitness = 'train'
  # Share of the training fold's utterances (speakers, for 'heldout' under
  # speaker_kfold) held out for fitness.
  c.validation_fraction = 0.15
  # Learning curves: keep this fraction of each training fold's utterances
  # (stratified, seeded by seed + fold); test folds are unchanged.
  c.train_fraction = 1.0
  # Keep only the classes the target shares with the sources (in both), as
  # cross-corpus papers do; a scratch run with sources set then uses the
  # same rows as its transfer counterpart.
  c.shared_classes_only = False
  # Test time: average the class probabilities of the best pathway and the
  # fittest distinct others of the final population (1 = the paper: the best
  # pathway alone). No extra training; results keep the single best's scores.
  c.ensemble_size = 1

  c.model = ml_collections.ConfigDict()
  c.model.num_layers = 3
  c.model.num_modules = 20
  c.model.module_units = 20
  c.model.max_active = 4
  c.model.aggregate = 'mean'  # 'sum' is the original PathNet
  c.model.compute = 'gather'  # 'dense' computes all M modules then masks
  c.model.module_type = 'dense'  # 'conv': 3x3 conv modules (issue 6)
  c.model.input_view = 'segment'  # 'time_pooled': mean/std over frames;
  # 'time_stats': mean/std/min/max
  # A linear path from layer 1's input view to each task head (issue 35):
  # with optim.head_l2 and optim.loss='hinge' the head holds a linear SVM
  # over the view beside the pathway (pathnet_jax/model.py). Dense only.
  c.model.head_skip = False

  c.evolution = ml_collections.ConfigDict()
  c.evolution.population_size = 20
  c.evolution.generations = 200
  c.evolution.tournaments_per_generation = 1
  # First population: 'random' (PathNet) | 'one_random' | 'all_modules'
  # (every member the same pathway; set by config.method for the controls).
  c.evolution.population_init = 'random'
  c.evolution.train_mode = 'sequential'  # the paper; 'parallel' sums grads
  c.evolution.mutation_rate = ml_collections.FieldReference(None, float)
  c.evolution.mutation_boundary = 'wrap'
  c.evolution.epochs_per_pathway = 1
  c.evolution.steps_per_pathway = 0  # 0 = ceil(n_train / batch) * epochs
  c.evolution.checkpoint_every = 20  # also: generations per device call
  # How a batch's runs (folds x seeds) share the device: 'vmap' (one call
  # for all), 'loop' (one call per run, one compiled program), 'auto' (loop
  # on CPU, vmap on GPU/TPU; measured in docs/speed.md).
  c.evolution.run_batching = 'auto'
  c.evolution.frozen_always_active = True
  c.evolution.tiebreak_loss = False
  # What a pathway's fitness is on its fitness rows: 'accuracy' (the paper)
  # or 'loss' (fitness = -mean cross-entropy: rarely ties, so the GA keeps
  # selecting where held-out accuracy plateaus).
  c.evolution.fitness_metric = 'accuracy'
  # Do held-out fitness rows ever train? 'never', or 'final': after the last
  # generation the best pathway trains on all the fold's training rows for
  # `final_epochs` epochs (frozen modules stay frozen), so no labelled row
  # is wasted on the pathway that is scored. ('alternate' generations are
  # left out: fitness would then be measured on rows just trained on.)
  c.evolution.heldout_training = 'never'
  c.evolution.final_epochs = 1
  # Stop a run when its best fitness has not improved for this many
  # generations (0 = never: the paper's fixed budget). Per run of a batch.
  c.evolution.patience = 0
  # Stop when more than this fraction of a generation's steps are non-finite.
  c.evolution.max_skipped_fraction = 0.5

  c.optim = ml_collections.ConfigDict()
  c.optim.optimizer = 'sgd'
  c.optim.learning_rate = 0.02
  c.optim.momentum = 0.9
  c.optim.batch_size = 64
  c.optim.weight_decay = 0.0
  c.optim.input_dropout = 0.0
  # Training loss: 'cross_entropy' (the paper) or 'hinge' (multi-class,
  # Crammer-Singer: an SVM's loss). Fitness and scores are unchanged.
  c.optim.loss = 'cross_entropy'
  # L2 penalty head_l2/2 * |head|^2 (w and skip) added to the training loss,
  # an SVM's regulariser (1/C); weight_decay is the optimiser's, on modules
  # too. 0 = none (the paper).
  c.optim.head_l2 = 0.0
  c.optim.eval_batch_size = 1024

  c.augment = ml_collections.ConfigDict()
  c.augment.enabled = False
  c.augment.freq_mask = 8  # widest masked band run
  c.augment.time_mask = 8  # widest masked frame run
  c.augment.max_shift = 4  # frames of circular time shift
  return c

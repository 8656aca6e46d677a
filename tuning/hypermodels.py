"""The temporal-skip search space: where the skips go, their kind, starting weights, delay, span and the
learning rate.

Every point of the space is a buildable RRN; invalid combinations are not in it (they are not
left to fail at run time). `kerasrrn.choices.check_skips` decides which skips are valid; this
module asks it, unit by unit, instead of restating its rules. The parameterisation:

    learning_rate   Float, log scale, 1/10 .. 10 x the base config's rate
    delay           Int 1 .. min(MAX_DELAY, clip_length - 1)
    num_skips       Int 1 .. MAX_SKIPS: skips 1 .. num_skips are placed
    kind            Choice identity | scalar | channel | conv
    init            Choice default | difference (starting W); active when kind is not identity
    span_<group>    Int 1 .. MAX_SPAN (at most the longest stage); active when kind is in the
                    group (`conv`: conv; `fixed`: identity, scalar, channel)
    skip<i>_unit_span<s>_<group>   (i = 1 .. MAX_SKIPS)
                    Choice of the units that accept a skip of span s for every kind of the
                    group; active when kind is in the group and span_<group> == s

A skip whose source is the input of a stage that changes shape needs `conv`: those units are in
the `conv` lists only, so e.g. `conv3_block1` is offered with kind=conv and never with identity.
Placements come from per-skip unit Choices in conditional scopes, not from one Choice of unit
combinations, which would have ~20,000 entries for ResNet-152. Keras Tuner's scopes cannot also
depend on num_skips (a scope nests only under a parent declared inside the enclosing scope), so
the unit Choices of skips beyond num_skips are sampled and unused. Two skips may draw the same
unit: the point is still valid and is the model with the distinct units (in network order).
"""

import copy

import keras
import keras_tuner

from kerasrrn.choices import SKIP_INITS, SKIP_KINDS, STAGE_BLOCKS, SkipSpec, check_skips, unit_names
from kerasrrn.config import ConfigError
from kerasrrn.training import runtime
from kerasrrn.training.compile import compile_model
from kerasrrn.models import build_model

MAX_SKIPS = 5  # fit's default RRN has 5 skips: the base point must lie in the space
MAX_SPAN = 3
MAX_DELAY = 3
# check_skips treats the kinds that keep the source's shape alike; `conv` projects it.
LEARNED_KINDS = [kind for kind in SKIP_KINDS if kind != "identity"]
KIND_GROUPS = {"conv": ("conv",), "fixed": ("identity", "scalar", "channel")}


def kind_group(kind):
    """The `KIND_GROUPS` name of a skip kind."""
    return next(group for group, kinds in KIND_GROUPS.items() if kind in kinds)


def span_hp_name(group):
    """Name of the span Int of a kind group (`span_conv`, `span_fixed`)."""
    return f"span_{group}"


def unit_hp_name(skip_index, span, group):
    """Name of the unit Choice of skip `skip_index` (1-based) for a span and kind group."""
    return f"skip{skip_index}_unit_span{span}_{group}"


def valid_units(depth, span, kinds):
    """Units of a ResNet of `depth` that take a skip of `span` for every one of `kinds`.

    Returns:
        list of unit names in network order, as accepted by `check_skips`.
    """
    def accepts(unit, kind):
        try:
            check_skips(depth, {unit: SkipSpec(delay=1, kind=kind, span=span)}, clip_length=2)
        except ValueError:
            return False
        return True

    return [unit for unit in unit_names(depth) if all(accepts(unit, kind) for kind in kinds)]


def searched_spans(depth):
    """Spans 1 .. MAX_SPAN (at most the longest stage of `depth`) that every kind group can place."""
    spans = range(1, min(MAX_SPAN, max(STAGE_BLOCKS[depth])) + 1)
    return [span for span in spans if all(valid_units(depth, span, kinds) for kinds in KIND_GROUPS.values())]


def check_base_config(config):
    """Raises ConfigError (one line naming the flag) when `config` cannot seed a skip search."""
    if config.model.model != "rrn":
        raise ConfigError(f"--model {config.model.model}: the skip search tunes rrn models; use --model rrn")
    if config.data.clip_length < 2:
        raise ConfigError(
            f"--clip-length {config.data.clip_length}: a temporal skip needs clips of at least 2 frames"
        )
    for flag, value in (("--freeze-backbone-epochs", config.train.freeze_backbone_epochs),
                        ("--reduce-lr-on-plateau", config.train.reduce_lr_on_plateau)):
        if value:
            raise ConfigError(f"{flag} {value}: not available in the skip search (trials train in one phase)")
    if config.train.learning_rate <= 0:
        raise ConfigError(
            f"--learning-rate {config.train.learning_rate}: the search range is 1/10 .. 10 x this rate; "
            "expected a value > 0"
        )


def declare_skip_space(hp, base_config):
    """Registers the skip search space in `hp` (a `keras_tuner.HyperParameters`).

    Defaults are the base config's values where they lie in the space (else the first valid
    value), so the default point is valid too.
    """
    model, depth = base_config.model, base_config.model.depth
    learning_rate = base_config.train.learning_rate
    hp.Float("learning_rate", learning_rate / 10, learning_rate * 10, sampling="log", default=learning_rate)
    delays = list(range(1, min(MAX_DELAY, base_config.data.clip_length - 1) + 1))
    hp.Int("delay", delays[0], delays[-1], default=_within(model.skip_delay, delays))
    hp.Int("num_skips", 1, MAX_SKIPS, default=_within(len(model.skip_units), range(1, MAX_SKIPS + 1)))
    hp.Choice("kind", list(SKIP_KINDS), default=model.skip_kind)
    with hp.conditional_scope("kind", LEARNED_KINDS):
        hp.Choice("init", list(SKIP_INITS), default=model.skip_init)
    spans = searched_spans(depth)
    for group, kinds in KIND_GROUPS.items():
        # Keras Tuner nests a scope only under a parent declared in the enclosing scope, so each
        # kind group has its own span.
        with hp.conditional_scope("kind", list(kinds)):
            hp.Int(span_hp_name(group), spans[0], spans[-1], default=_within(model.skip_span, spans))
            for span in spans:
                units = valid_units(depth, span, kinds)
                with hp.conditional_scope(span_hp_name(group), [span]):
                    for skip_index in range(1, MAX_SKIPS + 1):
                        base_unit = model.skip_units[skip_index - 1] if skip_index <= len(model.skip_units) else None
                        hp.Choice(unit_hp_name(skip_index, span, group), units, default=_within(base_unit, units))


def _within(value, allowed):
    """`value` if it is one of `allowed`, else the first allowed value."""
    return value if value in allowed else list(allowed)[0]


def trial_config(base_config, hp):
    """The run Config of one point of the space.

    Args:
        base_config: `kerasrrn.config.Config`, the base point (data, training, backbone).
        hp: `keras_tuner.HyperParameters` with the values of the active hyperparameters.

    Returns:
        A new Config with `skip_units` (distinct, network order), `skip_kind`, `skip_init`,
        `skip_delay`, `skip_span` and `learning_rate` from `hp`.
    """
    config = copy.deepcopy(base_config)
    kind = hp.get("kind")
    group = kind_group(kind)
    span = hp.get(span_hp_name(group))
    chosen = {hp.get(unit_hp_name(index, span, group)) for index in range(1, hp.get("num_skips") + 1)}
    config.model.skip_units = [unit for unit in unit_names(config.model.depth) if unit in chosen]
    config.model.skip_kind = kind
    if kind in LEARNED_KINDS:  # identity has no weights: the base's init stays, unused
        config.model.skip_init = hp.get("init")
    config.model.skip_span = span
    config.model.skip_delay = hp.get("delay")
    config.train.learning_rate = float(hp.get("learning_rate"))
    return config


class SkipHyperModel(keras_tuner.HyperModel):
    """RRNs with searched temporal skips, trained like `python -m kerasrrn.fit` trains them.

    Args:
        base_config: `kerasrrn.config.Config`, the base point (`--model rrn`).
        data: `kerasrrn.runs.data.RunData` of the base config.
        patience: int, default 3. Epochs without a better `val_top1` before a trial stops.

    A trial's model maps clips `(B, T, S, S, 3)` (pixels in [0, 255]) to probabilities `(B, C)`;
    its objective is the best `val_top1` (centre clip per validation video, as `fit` logs it).
    """

    def __init__(self, base_config, data, patience=3):
        check_base_config(base_config)
        super().__init__(name="rrn_skips")
        self.base_config = base_config
        self.data = data
        self.patience = patience
        self.num_classes = len(data.class_names)
        train = base_config.train
        self.steps_per_epoch = data.steps_per_epoch(train.batch_size, train.steps_per_epoch)

    def declare_hyperparameters(self, hp):
        declare_skip_space(hp, self.base_config)

    def build(self, hp):
        config = trial_config(self.base_config, hp)
        # Every trial starts from the same seed: trials differ by their hyperparameters only.
        runtime.set_up(config.train.seed, config.train.precision)
        model = build_model(config, self.num_classes)
        return compile_model(model, config.train, self.steps_per_epoch, self.num_classes)

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        """Trains on the base config's training split with early stopping on `val_top1`.

        `kwargs` carries `epochs` (and Hyperband's `initial_epoch`) and `verbose` from the tuner.
        """
        batch_size = self.base_config.train.batch_size
        early_stopping = keras.callbacks.EarlyStopping(monitor="val_top1", mode="max", patience=self.patience)
        return model.fit(
            self.data.train_dataset(batch_size).repeat(),
            steps_per_epoch=self.steps_per_epoch,
            validation_data=self.data.val_dataset(batch_size),
            shuffle=False,  # tf.data shuffles; Keras cannot shuffle a dataset.
            callbacks=[*callbacks, early_stopping],
            **kwargs,
        )

"""Command-line flags made from the config's fields: each flag is defined once, by its field.

- `add_config_flags` + `parse_config`: one flag per field (`fit`, the skip search); values are
  checked by the config (`kerasrrn.config.coerce`, then `validate`). Precedence: defaults <
  `--config FILE` < flags.
- `add_field_flags`: chosen fields as flags of another command (`evaluate`, `predict`,
  `preview`, `serve_client`), typed and bounded by their field; `default` None means "not
  given" (the model's own setting).
"""

import argparse
import dataclasses

from kerasrrn import config as config_lib

# The clip flags `evaluate` and `predict` share: None (not given) keeps the model's.
VIEW_FIELDS = ("num_test_clips", "frame_step", "clip_length", "image_size")
VIEWS_GROUP = ("views (default: the run's config.json; for a SavedModel its signature's shape and "
               "`python -m kerasrrn.fit`'s defaults)")


def add_config_flags(parser):
    """Adds `--config` and one flag per config field to an argparse parser (all default to
    'not given')."""
    parser.add_argument("--config", help="JSON or YAML config file; flags override it")
    for section, cls in config_lib.SECTIONS.items():
        group = parser.add_argument_group(f"{section} options")
        for field in dataclasses.fields(cls):
            flag = config_lib.flag_name(field.name)
            help_text = f"{field.metadata['help']} (default: {_default_text(field)})"
            if field.type is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                group.add_argument(flag, default=None, metavar=_metavar(field), help=help_text)


def given_config_flags(args):
    """The config flags given on the command line (`--config` included), as typed."""
    given = ["--config"] if getattr(args, "config", None) else []
    return given + [config_lib.flag_name(name) for name in config_lib.field_index()
                    if getattr(args, name, None) is not None]


def from_args(args):
    """Resolves a Config from parsed flags: defaults < --config file < flags (each value
    checked; the rules between fields are `config.validate()`'s).

    Raises:
        ConfigError, one line naming the key or flag.
    """
    config = config_lib.load(args.config) if args.config else config_lib.Config()
    for name, (section, field) in config_lib.field_index().items():
        raw = getattr(args, name, None)
        if raw is None:
            continue
        flag = config_lib.flag_name(name)
        setattr(getattr(config, section), name, config_lib.coerce(field, _parse_flag(field, raw, flag), flag))
    return config


def parse_config(parser, argv=None):
    """Parses argv with `parser` (which has `add_config_flags`) into a validated (args,
    Config); usage errors and ConfigErrors exit 2 with one line."""
    args = parser.parse_args(argv)
    try:
        config = from_args(args)
        config.validate()
        return args, config
    except config_lib.ConfigError as error:
        parser.error(str(error))


def add_field_flags(group, names, defaults=None, aliases=None):
    """Adds the config fields `names` as flags of `group`, typed and bounded by their fields.

    Args:
        group: an argparse parser or argument group.
        names: field names, e.g. `VIEW_FIELDS`.
        defaults: dict of field name -> default, or None: every default is None ("not given").
        aliases: dict of field name -> extra option strings (a command's older spelling).
    """
    index = config_lib.field_index()
    for name in names:
        field = index[name][1]
        options = [config_lib.flag_name(name), *(aliases or {}).get(name, ())]
        default = (defaults or {}).get(name)
        shown = "" if default is None else " (default: %(default)s)"
        kwargs = {"dest": name, "default": default, "help": field.metadata["help"] + shown}
        if field.type is bool:
            group.add_argument(*options, action=argparse.BooleanOptionalAction, **kwargs)
        elif field.metadata["choices"]:
            group.add_argument(*options, choices=field.metadata["choices"], **kwargs)
        else:
            group.add_argument(*options, type=field_type(field), metavar=_metavar(field), **kwargs)


def add_view_flags(parser, names=VIEW_FIELDS):
    """The view flags of a command that runs a trained model (`evaluate`, `predict`)."""
    add_field_flags(parser.add_argument_group(VIEWS_GROUP), names)


def field_type(field):
    """The argparse type of a field: its type, choices and bounds, and one message saying what
    was expected (`expected an integer >= 1, got '0'`)."""
    noun = {int: "an integer", float: "a number"}.get(field.type)
    minimum = field.metadata["minimum"]
    expected = field.metadata["expected"] or (
        f"{noun} >= {minimum}" if noun and minimum is not None else config_lib.type_name(field.type)
    )

    def parse(text):
        try:
            return config_lib.coerce(field, _parse_flag(field, text, ""), "")
        except config_lib.ConfigError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None

    return parse


def view_overrides(args):
    """The `ClipSpec` overrides given on the command line, for `kerasrrn.runs.load_model`
    (None: not given)."""
    names = (*VIEW_FIELDS, "three_crop")
    return {name: getattr(args, name, None) for name in names}


def _default_text(field):
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    return ",".join(default) if isinstance(default, list) else repr(default)


def _metavar(field):
    if field.metadata["choices"]:
        return "{" + ",".join(map(str, field.metadata["choices"])) + "}"
    return {int: "INT", float: "FLOAT", str: "STR"}.get(field.type, "A,B,...")


def _parse_flag(field, raw, flag):
    if field.type in (bool, list):
        return raw
    try:
        if field.type is int:
            return int(raw)
        if field.type is float:
            return float(raw)
    except ValueError:
        raise config_lib.ConfigError(f"{flag}: expected {config_lib.type_name(field.type)}, got {raw!r}") from None
    return raw

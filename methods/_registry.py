"""The method registry, in the style of lm-evaluation-harness's ``register_model``.

A method is a config dataclass plus a class with a few hooks. Adding one is one file
in ``methods/`` (every module not starting with ``_`` is imported on package import)
and one entry under ``methods:`` in the config. Nothing here imports torch: the
Snakefile consults the registry while it builds the DAG.
"""
from __future__ import annotations

import dataclasses
import inspect
import types
from typing import Any, ClassVar

_REGISTRY: dict[str, type["Method"]] = {}


def _type_name(annotation) -> str:
    import typing

    args = typing.get_args(annotation)
    if args and typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _matches(value, annotation) -> bool:
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # YAML writes 1.0e-4 as a float and 1 as an int: both are numbers
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(origin or annotation, type):
        return isinstance(value, origin or annotation)
    return True  # an annotation this check does not know: the dataclass decides


def check_option_types(cls, data: dict[str, Any], where: str) -> None:
    """Raise ``ValueError`` naming ``where.<option>`` when a value does not have its dataclass
    field's type (``alpha: high`` for a float): found while the workflow parses the config,
    not inside a job."""
    import typing

    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if name in hints and not _matches(value, hints[name]):
            raise ValueError(f"{where}.{name}: expected {_type_name(hints[name])}, got {value!r} "
                             f"({type(value).__name__})")


@dataclasses.dataclass
class MethodConfig:
    """Options every method accepts. Subclasses add their own fields."""

    type: str = ""  # registry name; defaults to the config entry's key
    training: dict = dataclasses.field(default_factory=dict)  # overrides of the top-level `training:` block
    entry: str = dataclasses.field(default="", repr=False)  # the config entry's key (set by from_dict; errors name it)

    @property
    def where(self) -> str:
        """The config key of this entry, for error messages: ``methods.<entry>``."""
        return f"methods.{self.entry or self.type}"

    @classmethod
    def from_dict(cls, entry: str, data: dict[str, Any] | None) -> "MethodConfig":
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"entry"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"methods.{entry}: unknown option(s) {unknown} for method type "
                f"'{data.get('type') or entry}'; known options: {sorted(known)}"
            )
        check_option_types(cls, data, f"methods.{entry}")
        data.setdefault("type", entry)
        return cls(**data, entry=entry)


class Method:
    """Base class: the pretrained model, unchanged (the paper's "Baseline").

    Hooks a method may override (trl style: a variant overrides one hook):
    - ``prepare_data(rows)``: the training rows it fine-tunes on.
    - ``compute_loss(model, batch)``: the training objective (see ``_trainer``).
    - ``training_callbacks(context)``: work between optimizer steps (e.g. NADO updates).
    Class attributes tell the workflow what the method needs, without importing torch.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    trains: ClassVar[bool] = False  # True: the workflow fine-tunes a checkpoint for it
    guided: ClassVar[bool] = False  # True: it decodes under a NADO trained on its model's samples

    def __init__(self, config: MethodConfig):
        self.config = config

    def prepare_data(self, rows: list[dict]) -> list[dict]:
        return rows

    def check_training(self, training, where: str | None = None) -> None:
        """Raise ``ValueError`` if this method cannot train with ``training`` (its
        ``TrainingConfig``: the ``training:`` block merged with the entry's own overrides).
        The workflow calls it for every entry while it parses the config, with ``where``
        naming the entry (``methods.<name>``); the shared loop calls it again before it
        loads anything. Nothing to check by default."""

    def fine_tune(self, base_path, rows, config, out_dir, state_dir, seed, scorer=None, callbacks=None) -> dict:
        """The training job: by default the shared loop (``_trainer.fine_tune``) with this
        method's hooks. A method with a different kind of model (e.g. a classification
        head) overrides this; it must leave a Hugging Face causal-LM folder in ``out_dir``."""
        from methods._trainer import fine_tune

        return fine_tune(self, base_path, rows, config, out_dir, state_dir, seed, callbacks=callbacks, scorer=scorer)

    def training_callbacks(self, context) -> list:
        """``transformers.TrainerCallback``s to add to the shared loop (``_trainer.TrainContext``)."""
        return []

    def training_gpus(self, num_processes: int) -> int:
        """GPUs its train job asks for (the rule's ``gpu`` resource): one per process."""
        return num_processes

    def training_summary(self) -> dict:
        """Extra entries for the checkpoint's training log (e.g. per-iteration NADO records)."""
        return {}


def register_method(name: str):
    """Class decorator: ``@register_method("sft")``."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"register_method('{name}') expects a subclass of Method, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method '{name}' is already registered by {_REGISTRY[name].__module__} "
                             f"({_source_file(_REGISTRY[name])}); {cls.__module__} ({_source_file(cls)}) registers "
                             f"it again: give one of them another name")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _source_file(cls) -> str:
    try:
        return inspect.getsourcefile(cls) or "?"
    except TypeError:
        return "?"


def known_methods() -> list[str]:
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[Method]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown method type '{name}'; known methods: {', '.join(known_methods())}. "
            f"To add one, create methods/{name}.py with a class decorated "
            f"@register_method('{name}') (see README, 'Adding a method')"
        ) from None


def build_method(entry: str, data: dict | None) -> Method:
    """The method of one config entry (``methods: {<entry>: {type: ..., ...}}``)."""
    try:
        cls = get_method_class((data or {}).get("type") or entry)
    except ValueError as error:  # name the entry: with `type:`, the entry and the type differ
        raise ValueError(f"methods.{entry}: {error}") from None
    return cls(cls.config_class.from_dict(entry, data))

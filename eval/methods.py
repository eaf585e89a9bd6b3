"""The method registry: method name -> how to build it for a task.

A method is one module that calls :func:`register` plus one entry point in the
``tagrank.methods`` group of its package's metadata (``setup.cfg``
``[options.entry_points]``); the task protocols never change when a method is
added. The library's own methods come the same way, so a third-party package
(``pip install my-scorer``) adds rows to ``tagrank bench`` without touching
tagrank, and this module imports no method module by name. An entry point
names a module (importing it registers its methods) or a callable
(``module:function``) that registers them or returns the ``MethodSpec``(s) to
register. A method declares its *kind*, which tells every task how to fit it:

- ``text``: a :class:`baselines.base.TextScorer`; tasks fit it on their corpus
  (pair texts, the catalogue, item texts) and call ``score_pairs`` / ``top_k``;
  the recommend task wraps it as a content recommender.
- ``interaction``: a :class:`baselines.base.InteractionScorer` fitted on train
  interactions.
- ``task``: a method whose construction is specific to a task (``random``, the
  ``hybrid`` stack); its factory is keyed by task name and receives the context,
  including the other methods already fitted.

``grid`` lists candidate parameter sets; the protocol picks one on the valid
split (never on test) and records it in the results ``params``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tagrank.baselines.validation import TagrankInputError

#: The spec's method order; tables and runs follow it.
METHOD_ORDER = (
    "random", "popularity", "user_history", "item_cooccurrence", "jaccard", "tfidf", "bm25",
    "word2vec", "item2vec", "als", "bpr", "transformer_cls", "transformer", "transformer_whiten",
    "transformer_ft", "hybrid", "hybrid_no_prior",
)
TASKS = ("similarity", "search", "recommend", "taxonomy", "tagrec")


class MethodNotApplicable(TagrankInputError):
    """A factory raises this when its method does not apply to the dataset at hand (e.g.
    fine-tuning without a train split); the protocol skips the method and says so."""


@dataclass
class MethodContext:
    """What a factory may use to build a method for one task and dataset."""

    task: str
    dataset: str
    language: str = "en"
    device: str = "auto"
    random_state: int = 0
    cache_dir: Path | None = None
    #: transformer precision of the tables: float32 (``"auto"`` would pick bfloat16 on a CPU with AMX and
    #: float16 on CUDA, and the numbers would follow the hardware); passed to every class whose
    #: ``__init__`` takes a ``dtype``
    dtype: str = "float32"
    training_texts: Callable[[], list[str]] | None = None
    fitted: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    show_progress: bool = True

    def for_dataset(self, task: str, dataset: Any, data: dict[str, Any],
                    training_texts: Callable[[], list[str]] | None = None) -> MethodContext:
        """This run's settings (device, seed, cache, dtype, ...) for one task's ``dataset``, with its own
        ``data`` and an empty ``fitted`` (``training_texts`` None: this context's)."""
        return replace(self, task=task, dataset=dataset.name, language=dataset.language, data=data, fitted={},
                       training_texts=self.training_texts if training_texts is None else training_texts)


Factory = Callable[..., Any]


@dataclass(frozen=True)
class MethodSpec:
    """How to build one method: kind, factory (``factory(ctx, **params)``), tasks, grid."""

    name: str
    kind: str
    factory: Factory | Mapping[str, Factory]
    tasks: tuple[str, ...]
    grid: tuple[dict[str, Any], ...] = ({},)
    description: str = ""

    def build(self, ctx: MethodContext, **params: Any) -> Any:
        factory = self.factory
        if isinstance(factory, Mapping):
            if ctx.task not in factory:
                raise TagrankInputError(f"method {self.name!r} has no recipe for task {ctx.task!r}")
            factory = factory[ctx.task]
        return factory(ctx, **params)

    def grid_for(self, task: str) -> tuple[dict[str, Any], ...]:
        return self.grid


REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method; a name can be registered once."""
    if spec.name in REGISTRY:
        raise TagrankInputError(f"method {spec.name!r} is already registered")
    unknown = set(spec.tasks) - set(TASKS)
    if unknown:
        raise TagrankInputError(f"method {spec.name!r} names unknown task(s) {sorted(unknown)}")
    REGISTRY[spec.name] = spec
    return spec


def lazy(path: str, **fixed: Any) -> Factory:
    """A factory that imports ``module:Class`` on first use and passes the context's common settings."""
    module_name, _, attr = path.partition(":")

    def factory(ctx: MethodContext, **params: Any) -> Any:
        cls = getattr(importlib.import_module(module_name), attr)
        kwargs = {**fixed, **params}
        accepted = _init_params(cls)
        for key, value in (
            ("random_state", ctx.random_state),
            ("device", ctx.device),
            ("language", ctx.language),
            ("cache_dir", ctx.cache_dir),
            ("show_progress", ctx.show_progress),
            ("dtype", ctx.dtype),
        ):
            if key in accepted and key not in kwargs:
                kwargs[key] = value
        return cls(**kwargs)

    factory.__qualname__ = f"lazy({path})"
    return factory


def _init_params(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def methods_for(task: str, names: list[str] | None = None) -> list[MethodSpec]:
    """Registered methods for a task in the spec's order (optionally only ``names``)."""
    load_methods()
    if task not in TASKS:
        raise TagrankInputError(f"unknown task {task!r}; known: {list(TASKS)}")
    if names:
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise TagrankInputError(f"unknown method(s) {unknown}; known: {sorted(REGISTRY)}")
    order = {name: i for i, name in enumerate(METHOD_ORDER)}
    specs = [s for s in REGISTRY.values() if task in s.tasks and (not names or s.name in names)]
    return sorted(specs, key=lambda s: (order.get(s.name, len(order)), s.name))


#: The entry-point group the registry reads (built-in and third-party methods alike).
ENTRY_POINT_GROUP = "tagrank.methods"
_LOADED = False
_LOADING = False


class MethodPluginError(TagrankInputError):
    """The method plugins cannot be loaded: stale package metadata or a broken plugin."""


def method_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The ``tagrank.methods`` entry points: tagrank's own first (in metadata order), then the
    others by name; duplicates (a package seen twice on the path) once."""
    seen: set[tuple[str, str]] = set()
    own, others = [], []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        (own if ep.value.startswith("tagrank.") else others).append(ep)
    return own + sorted(others, key=lambda ep: (ep.name, ep.value))


def load_methods() -> None:
    """Register every method announced in the ``tagrank.methods`` entry-point group (once).

    Metadata without tagrank's own entries means the installed metadata predates this
    code (e.g. a checkout whose setup.cfg changed since ``pip install -e .``): that
    raises :class:`MethodPluginError` saying to reinstall, never an empty registry.
    A plugin that fails to import raises it too, naming the entry point.
    """
    global _LOADED, _LOADING
    if _LOADED or _LOADING:
        return
    entry_points = method_entry_points()
    if not any(ep.value.startswith("tagrank.") for ep in entry_points):
        found = ", ".join(f"{ep.name} = {ep.value}" for ep in entry_points) or "nothing"
        raise MethodPluginError(
            f"tagrank's built-in methods are missing from the installed package metadata "
            f"(entry-point group {ENTRY_POINT_GROUP!r} has {found}). The metadata is older than "
            f"this code: reinstall tagrank (from a checkout: pip install --no-deps -e .) so the "
            f"entry points in setup.cfg are registered."
        )
    _LOADING = True
    try:
        for ep in entry_points:
            _load_entry_point(ep)
        _LOADED = True
    finally:
        _LOADING = False


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> None:
    """Import one plugin; a callable is called and any ``MethodSpec`` it returns is registered."""
    where = f"method plugin {ep.name!r} ({ep.value}, entry-point group {ENTRY_POINT_GROUP!r})"
    try:
        obj = ep.load()
        if isinstance(obj, MethodSpec | types.ModuleType):
            returned = obj if isinstance(obj, MethodSpec) else None
        else:
            returned = obj() if callable(obj) else obj
    except TagrankInputError:
        raise
    except Exception as exc:  # a broken plugin: say which one, not a bare ImportError
        raise MethodPluginError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
    specs = [returned] if isinstance(returned, MethodSpec) else list(returned or ())
    for spec in specs:
        if not isinstance(spec, MethodSpec):
            raise MethodPluginError(f"{where} returned {spec!r}, not a MethodSpec")
        if REGISTRY.get(spec.name) is not spec:
            register(spec)

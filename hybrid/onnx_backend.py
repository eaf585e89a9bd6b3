"""The ONNX Runtime backend of the transformer encoder (``TransformerEncoder(backend="onnx")``).

The loaded model is exported once to ONNX, in memory, and run by onnxruntime on
the CPU. ONNX Runtime fuses attention, LayerNorm and GELU into single kernels
and its matrix products suit the small batches of serving: one short query ran
about twice as fast as through the default backend in ``benchmarks/perf_rank_latency.py``
on a busy 2-core machine (padded batches do not gain: ``perf_encode.py``). The hidden
states are the model's own float32 arithmetic: every export is checked against
the torch model on a padded probe batch (``EXPORT_TOLERANCE``) before it is used.

It is an optional extra (``pip install "tagrank[onnx]"``): without onnxruntime
``backend="onnx"`` raises a clear error, and ``backend="auto"`` never picks it,
so an environment with or without it encodes the same way by default.
"""

from __future__ import annotations

import io
import threading
import warnings
from typing import Any

import numpy as np
import torch
from tagrank.baselines.validation import TagrankInputError

#: the exported model's hidden states must match torch's on the probe batch within this (float32 rounding)
EXPORT_TOLERANCE = 1e-4
_OPSET = 17


def available() -> bool:
    """Whether onnxruntime can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def check_usable(model: Any, device: torch.device) -> None:
    """A clear error where ``backend="onnx"`` cannot run ``model`` on ``device``."""
    if not available():
        raise TagrankInputError('backend="onnx" needs onnxruntime: pip install "tagrank[onnx]" '
                                '(or use backend="auto")')
    if device.type != "cpu":
        raise TagrankInputError(f'backend="onnx" runs on the CPU; device is {device} (use backend="auto" there)')
    if getattr(model, "_tagrank_int8", False):
        raise TagrankInputError('backend="onnx" runs float32 models; dtype="int8" needs backend="auto"')
    dtype = next(model.parameters()).dtype
    if dtype != torch.float32:
        raise TagrankInputError(f'backend="onnx" runs float32 models; this one is {dtype} (use dtype="float32")')


class _LastHidden(torch.nn.Module):
    """``model(input_ids, attention_mask).last_hidden_state``: the graph that is exported."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class OnnxEncoder:
    """Last hidden states of a transformers encoder through ONNX Runtime (see the module docstring).

    One inference session per intra-op thread count, made on first use: the encoder
    asks for one thread on a small batch (a query) and for torch's setting otherwise.
    """

    def __init__(self, model: Any):
        self._onnx = _export(model)
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._check(model)

    def _session(self, threads: int) -> Any:
        with self._lock:
            session = self._sessions.get(threads)
            if session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.log_severity_level = 3
                if threads > 1:  # idle workers sleep instead of spinning: other work shares the cores
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = ort.InferenceSession(self._onnx, options, providers=["CPUExecutionProvider"])
                self._sessions[threads] = session
            return session

    def __call__(self, input_ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Hidden states [batch, width, hidden] (float32) of ``input_ids`` (``mask`` None: no padding)."""
        ids = np.ascontiguousarray(input_ids.cpu().numpy(), dtype=np.int64)
        attention = np.ones_like(ids) if mask is None else np.ascontiguousarray(mask.cpu().numpy(), dtype=np.int64)
        session = self._session(max(1, torch.get_num_threads()))
        out = session.run(None, {"input_ids": ids, "attention_mask": attention})[0]
        return torch.from_numpy(out)

    def _check(self, model: Any) -> None:
        """The export against the torch model on a padded probe batch (a silent wrong export must not serve)."""
        vocab = int(getattr(model.config, "vocab_size", 100))
        rng = np.random.default_rng(0)
        ids = torch.from_numpy(rng.integers(1, max(2, vocab), size=(2, 7), dtype=np.int64))
        mask = torch.ones_like(ids)
        mask[1, 4:] = 0
        with torch.inference_mode():
            want = model(input_ids=ids, attention_mask=mask).last_hidden_state.float().numpy()
        got = self(ids, mask.bool()).numpy()
        real = mask.bool().numpy()
        err = float(np.abs(got[real] - want[real]).max())
        if not err <= EXPORT_TOLERANCE:
            raise TagrankInputError(
                f"the ONNX export of {type(model).__name__} does not reproduce the model (max abs difference "
                f"{err:.3g} > {EXPORT_TOLERANCE}); use backend='auto'"
            )


def _export(model: Any) -> bytes:
    """The model's ``last_hidden_state`` graph as ONNX bytes, batch and width dynamic."""
    example = (torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long))
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on Python control flow fixed at export
            torch.onnx.export(
                _LastHidden(model).eval(), example, buffer, input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"], opset_version=_OPSET, dynamo=False,
                dynamic_axes={"input_ids": {0: "batch", 1: "width"}, "attention_mask": {0: "batch", 1: "width"},
                              "last_hidden_state": {0: "batch", 1: "width"}},
            )
    except Exception as exc:  # noqa: BLE001 - any exporter failure is the same answer to the user
        raise TagrankInputError(
            f"{type(model).__name__} could not be exported to ONNX ({type(exc).__name__}: {str(exc)[:200]}); "
            "use backend='auto'"
        ) from exc
    return buffer.getvalue()


__all__ = ["EXPORT_TOLERANCE", "OnnxEncoder", "available", "check_usable"]

"""TransformerClassifier: a fine-tuned encoder + linear head for product categorisation.

``texts -> encoder -> mean pooling -> dropout -> linear -> softmax``, trained end
to end with cross-entropy (plain ``torch`` + ``transformers``; default model:
the offline all-MiniLM-L6-v2). The head is freshly initialised (seeded by
``random_state``) and learns at ``head_learning_rate``; the encoder at
``learning_rate`` (or only LoRA adapters with ``lora=True``, merged before saving).

Validation (``valid_texts`` / ``valid_labels``) runs before training, every
``eval_every`` steps and at each epoch's end on ``valid_metric`` (``macro_f1``
or ``accuracy``); early stopping after ``early_stopping_patience``
evaluations without improvement; the best weights are restored.

Persistence (:meth:`save` / :meth:`load`): a directory with ``config.json``
(``format_version``, parameters, ``classes``, training history), ``encoder/``
(the fine-tuned encoder, ``save_pretrained(safe_serialization=True)`` + its
tokenizer: it also loads as a plain model, e.g. in ``TransformerEncoder``) and
``head.safetensors``. Never pickle.

Labels may be strings, integers or booleans (one type); ``classes_`` holds
them sorted, and the columns of :meth:`predict_proba` follow ``classes_``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagrank.baselines.saved import load_guard
from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_nonempty,
    check_same_length,
    check_texts,
    is_missing,
)
from tagrank.baselines.vectors import resolve_device
from tagrank.hybrid.finetune import (
    MIXED_PRECISION,
    POOLINGS,
    TrainLoop,
    apply_lora,
    autocast_dtype,
    check_positive_float,
    check_positive_int,
    collate,
    embed,
    encode_ids,
    forget_cached_model,
    load_trainable,
    merge_lora,
    seed_everything,
    tokenize,
)

FORMAT_VERSION = 1
VALID_METRICS = ("macro_f1", "accuracy")
CONFIG_FILE = "config.json"
HEAD_FILE = "head.safetensors"
ENCODER_DIR = "encoder"


class _Classifier(torch.nn.Module):
    """encoder -> pooling -> dropout -> linear."""

    def __init__(self, encoder: Any, hidden: int, n_classes: int, dropout: float, pooling: str):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(float(dropout))
        self.head = torch.nn.Linear(hidden, n_classes)
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = embed(self.encoder, input_ids, mask, self.pooling)
        return self.head(self.dropout(pooled)).float()


def _check_labels(labels: Any, n: int, field: str) -> list[Any]:
    if isinstance(labels, str):
        raise TagrankInputError(f"{field} must be a sequence of labels, got a single string")
    values = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if len(values) != n:
        raise TagrankInputError(f"mismatched lengths: {field} has {len(values)}, the texts have {n}")
    kinds = set()
    for i, v in enumerate(values):
        if is_missing(v):
            raise TagrankInputError(f"{field}[{i}] is missing (got {v!r})")
        if isinstance(v, np.generic):
            v = v.item()
            values[i] = v
        if not isinstance(v, str | int | bool):
            raise TagrankInputError(f"{field}[{i}] must be a str, int or bool label, got {type(v).__name__} {v!r}")
        kinds.add(bool if isinstance(v, bool) else type(v))
    if len(kinds) > 1:
        raise TagrankInputError(f"{field} mixes label types {sorted(k.__name__ for k in kinds)}: use one type")
    return values


class TransformerClassifier(Params):
    """Fine-tuned transformer text classifier (see the module docstring).

    After :meth:`fit`: ``classes_``, ``history_`` (``[{step, epoch, loss,
    valid_metric, lr, elapsed_s}]``), ``best_step_``, ``best_metric_``,
    ``train_seconds_``, ``device_``.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        learning_rate: float = 5e-5,
        head_learning_rate: float = 1e-3,
        epochs: int = 2,
        batch_size: int = 32,
        max_length: int = 64,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        dropout: float = 0.1,
        pooling: str = "mean",
        class_weight: str | None = None,
        lora: bool = False,
        lora_r: int = 8,
        lora_alpha: int = 16,
        eval_every: int | None = None,
        early_stopping_patience: int | None = 2,
        valid_metric: str = "macro_f1",
        max_steps: int | None = None,
        random_state: int = 0,
        device: str | torch.device = "auto",
        mixed_precision: str = "auto",
        show_progress: bool = True,
        *,
        model_name_or_path: str | os.PathLike | None = None,
    ) -> None:
        self.model = model
        self.model_name_or_path = model_name_or_path  # deprecated alias of model
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_length = max_length
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.pooling = pooling
        self.class_weight = class_weight
        self.lora = lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.eval_every = eval_every
        self.early_stopping_patience = early_stopping_patience
        self.valid_metric = valid_metric
        self.max_steps = max_steps
        self.random_state = random_state
        self.device = device
        self.mixed_precision = mixed_precision
        self.show_progress = show_progress

    def _check_params(self) -> None:
        if self.pooling not in POOLINGS:
            raise TagrankInputError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.valid_metric not in VALID_METRICS:
            raise TagrankInputError(f"valid_metric must be one of {VALID_METRICS}, got {self.valid_metric!r}")
        if self.class_weight not in (None, "balanced"):
            raise TagrankInputError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise TagrankInputError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        for name in ("epochs", "batch_size", "max_length", "lora_r", "lora_alpha"):
            check_positive_int(getattr(self, name), name)
        for name in ("eval_every", "early_stopping_patience", "max_steps"):
            check_positive_int(getattr(self, name), name, allow_none=True)
        check_positive_float(self.learning_rate, "learning_rate")
        check_positive_float(self.head_learning_rate, "head_learning_rate")
        check_positive_float(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive_float(self.warmup_ratio, "warmup_ratio", allow_zero=True)
        check_positive_float(self.dropout, "dropout", allow_zero=True)
        if self.warmup_ratio >= 1 or self.dropout >= 1:
            raise TagrankInputError("warmup_ratio and dropout must be < 1")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Any],
        valid_texts: Sequence[str] | None = None,
        valid_labels: Sequence[Any] | None = None,
    ) -> TransformerClassifier:
        """Fine-tune on (texts, labels); early-stop on the valid set when given."""
        self._check_params()
        x = check_texts(texts, "texts")
        check_nonempty(x, "texts (the training set)")
        y = _check_labels(labels, len(x), "labels")
        try:
            classes = np.unique(np.asarray(y))
        except TypeError as exc:  # pragma: no cover - mixed types are rejected above
            raise TagrankInputError(f"labels cannot be sorted: {exc}") from None
        if len(classes) < 2:
            raise TagrankInputError(f"labels need at least 2 classes, got only {classes.tolist()!r}")
        index = {c: i for i, c in enumerate(classes.tolist())}
        y_idx = np.asarray([index[v] for v in y], dtype=np.int64)

        has_valid = valid_texts is not None or valid_labels is not None
        if has_valid:
            if valid_texts is None or valid_labels is None:
                raise TagrankInputError("valid_texts and valid_labels must be given together")
            vx = check_texts(valid_texts, "valid_texts")
            vy = _check_labels(valid_labels, len(vx), "valid_labels")
            check_same_length(valid_texts=vx, valid_labels=vy)
            has_valid = len(vx) > 0
            # A valid label unseen in training can never be predicted: it counts as an error (-1).
            vy_idx = np.asarray([index.get(v, -1) for v in vy], dtype=np.int64)

        device = resolve_device(self.device)
        amp = autocast_dtype(self.mixed_precision, device)
        seed_everything(self.random_state)
        from tagrank.hybrid.model_path import chosen_model

        tokenizer, encoder, name = load_trainable(chosen_model(self.model, self.model_name_or_path, type(self).__name__))
        if self.lora:
            encoder = apply_lora(encoder, self.lora_r, self.lora_alpha)
        hidden = int(encoder.config.hidden_size)
        module = _Classifier(encoder, hidden, len(classes), self.dropout, self.pooling).to(device)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = tokenize(tokenizer, x, int(self.max_length))
        target = torch.from_numpy(y_idx).to(device)
        weight = None
        if self.class_weight == "balanced":
            counts = np.bincount(y_idx, minlength=len(classes)).astype(np.float64)
            weight = torch.tensor(len(y_idx) / (len(classes) * counts), dtype=torch.float32, device=device)

        def step_fn(rows: np.ndarray) -> torch.Tensor:
            input_ids, mask = collate(ids, rows, pad_id, device)
            logits = module(input_ids, mask)
            return torch.nn.functional.cross_entropy(logits, target[torch.from_numpy(rows).to(device)], weight=weight)

        def eval_fn() -> float | None:
            if not has_valid:
                return None
            pred = self._logits_with(module, tokenizer, vx, device, amp).argmax(axis=1)
            if self.valid_metric == "accuracy":
                return float(np.mean(pred == vy_idx))
            from sklearn.metrics import f1_score

            return float(f1_score(vy_idx, pred, average="macro", zero_division=0))

        self.classes_ = classes
        self.device_ = device.type
        self.model_name_ = name
        self.n_train_ = len(x)
        TrainLoop(self, module, len(x), device, amp, desc="fine-tune classifier").run(
            step_fn, eval_fn, head_prefix="head.", head_learning_rate=self.head_learning_rate
        )
        module.encoder = merge_lora(module.encoder)
        module.eval()
        self.module_, self.tokenizer_ = module, tokenizer
        return self

    # ------------------------------------------------------------------ predict
    def _logits_with(self, module: _Classifier, tokenizer: Any, texts: list[str], device: torch.device,
                     amp: torch.dtype | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, module.head.out_features), dtype=np.float64)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = tokenize(tokenizer, texts, int(self.max_length))
        bs = max(int(self.batch_size) * 2, 64)
        pooled = encode_ids(module.encoder, ids, pad_id, device, self.pooling, bs, amp, normalize=False)
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            logits = module.head(pooled.to(device, next(module.head.parameters()).dtype)).float().cpu().numpy()
        module.train(was_training)
        return logits.astype(np.float64)

    def _fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError("TransformerClassifier is not fitted: call fit() or load() first")

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits [n, n_classes] (columns follow ``classes_``)."""
        self._fitted()
        values = check_texts(texts, "texts")
        device = next(self.module_.parameters()).device
        return self._logits_with(self.module_, self.tokenizer_, values, device, autocast_dtype(self.mixed_precision, device))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities [n, n_classes] as float64 (columns follow ``classes_``; rows sum to 1)."""
        logits = self.decision_function(texts)
        logits = logits - logits.max(axis=1, keepdims=True) if len(logits) else logits
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True) if len(p) else p

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable class of each text (ties: the first in ``classes_``)."""
        proba = self.predict_proba(texts)
        return self.classes_[proba.argmax(axis=1)] if len(proba) else self.classes_[:0]

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings [n, hidden] from the fine-tuned encoder."""
        self._fitted()
        values = check_texts(texts, "texts")
        module = self.module_
        hidden = int(module.head.in_features)
        if not values:
            return np.zeros((0, hidden), dtype=np.float32)
        device = next(module.parameters()).device
        pad_id = self.tokenizer_.pad_token_id if self.tokenizer_.pad_token_id is not None else 0
        ids = tokenize(self.tokenizer_, values, int(self.max_length))
        return encode_ids(module.encoder, ids, pad_id, device, self.pooling, max(int(self.batch_size) * 2, 64),
                          autocast_dtype(self.mixed_precision, device)).numpy()

    def summary(self) -> dict[str, Any]:
        """Training facts for a results file: time, device, steps, best step and metric."""
        if not hasattr(self, "train_seconds_"):
            raise NotFittedError("TransformerClassifier has no training record in this process: call fit() first")
        return {
            "train_s": round(float(self.train_seconds_), 3),
            "train_device": self.device_,
            "n_train": int(self.n_train_),
            "n_classes": int(len(self.classes_)),
            "steps": int(self.n_steps_),
            "best_step": int(self.best_step_),
            "best_valid_metric": self.best_metric_,
            "valid_metric_name": self.valid_metric,
            "stopped_early": bool(self.stopped_early_),
            "base_model": self.model_name_,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json``, ``encoder/`` (safetensors + tokenizer) and ``head.safetensors``."""
        from safetensors.torch import save_file

        self._fitted()
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        self.module_.encoder.save_pretrained(str(root / ENCODER_DIR), safe_serialization=True)
        self.tokenizer_.save_pretrained(str(root / ENCODER_DIR))
        forget_cached_model(root / ENCODER_DIR)
        head = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.module_.head.state_dict().items()}
        save_file(head, str(root / HEAD_FILE))
        params = {k: (v if v is None or isinstance(v, bool | int | float | str) else str(v))
                  for k, v in self.get_params().items()}
        config = {
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "params": params,
            "classes": self.classes_.tolist(),
            "base_model": getattr(self, "model_name_", None),
            "history": getattr(self, "history_", []),
            "best_step": getattr(self, "best_step_", None),
            "best_metric": getattr(self, "best_metric_", None),
        }
        (root / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        return root

    @classmethod
    @load_guard
    def load(cls, path: str | os.PathLike, **overrides: Any) -> TransformerClassifier:
        """Rebuild a saved classifier; ``overrides`` replace saved params (e.g. ``device="cpu"``)."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        from tagrank.baselines.saved import read_json

        root = Path(path)
        config = read_json(root / CONFIG_FILE, cls.__name__)
        if config.get("format_version") != FORMAT_VERSION or config.get("class") != cls.__name__:
            raise TagrankInputError(
                f"{root}/{CONFIG_FILE} has format_version={config.get('format_version')!r}, "
                f"class={config.get('class')!r}; expected {FORMAT_VERSION} and {cls.__name__!r}"
            )
        est = cls(**{**config["params"], **overrides})
        device = resolve_device(est.device)
        tokenizer = AutoTokenizer.from_pretrained(str(root / ENCODER_DIR), use_fast=True, local_files_only=True)
        encoder = AutoModel.from_pretrained(str(root / ENCODER_DIR), dtype=torch.float32, local_files_only=True)
        classes = np.asarray(config["classes"])
        head = load_file(str(root / HEAD_FILE))
        if head["weight"].shape[0] != len(classes):
            raise TagrankInputError(
                f"{root}: the head has {head['weight'].shape[0]} outputs but config lists {len(classes)} classes"
            )
        module = _Classifier(encoder, int(head["weight"].shape[1]), len(classes), est.dropout, est.pooling)
        module.head.load_state_dict(head)
        module.to(device).eval()
        est.module_, est.tokenizer_, est.classes_ = module, tokenizer, classes
        est.model_name_ = config.get("base_model")
        est.history_ = config.get("history", [])
        est.best_step_ = config.get("best_step")
        best = config.get("best_metric")
        est.best_metric_ = None if best is None or not math.isfinite(best) else best
        return est

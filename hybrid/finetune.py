"""Bi-encoder fine-tuning: adapt a sentence encoder to labelled text pairs.

:class:`BiEncoderFineTuner` trains a Hugging Face encoder (plain ``torch`` +
``transformers``; default: the offline all-MiniLM-L6-v2) so that the cosine of
the mean-pooled embeddings of two texts follows the labels:

``cosent`` (graded pairs, Su 2022)
    ``log(1 + sum_{y_i > y_j} exp(scale * (cos_j - cos_i)))`` over every pair of
    pairs in the batch: only the *order* of the labels matters. Scores are
    normalised to [0, 1] with ``score_range`` (or the training data's range,
    recorded in ``score_range_``).
``mnrl`` (multiple negatives ranking, Henderson et al. 2017)
    ``(query, positive)`` pairs; cross-entropy of ``scale * cos(query_i,
    positive_j)`` over the batch with ``j = i`` the target, the other
    positives as in-batch negatives. Entries that are not true negatives (the
    same positive text, or another positive of the same query, in one batch)
    are masked out. ``scores`` are not used for training.
``cosine_mse``
    mean squared error between the cosine and the normalised score.

Validation (``valid_*``) runs every ``eval_every`` steps and at each epoch's
end (and once before training, at step 0, so a fine-tuning that only hurts
keeps the original weights): Spearman of cosine vs score for graded losses,
the mean reciprocal rank of each positive among every valid positive for
``mnrl``. Early stopping after ``early_stopping_patience`` evaluations without
improvement; the best weights are kept in memory and written to ``best_dir_``
(``output_dir`` or a fresh temporary directory) with
``save_pretrained(safe_serialization=True)`` + the tokenizer, a plain model
directory that loads through ``TransformerEncoder(model=best_dir_)``.
LoRA (``lora=True``, needs ``peft``: the ``finetune`` extra) adapters are merged
before saving, so the saved directory is a plain model as well.

Determinism: ``random_state`` seeds torch (dropout) and a numpy ``Generator``
(the shuffling); on CPU two runs with one seed give identical weights.
``mixed_precision="auto"`` uses bf16 (or fp16 with loss scaling) autocast on
CUDA only; CPU always trains in float32.

The encoder side (tokenisation with truncation at ``max_length``, mean pooling
under the attention mask, L2 normalisation) is the one of
:class:`hybrid.encoder.TransformerEncoder`, so validation cosines here are the
cosines the scorer computes after loading ``best_dir_``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagrank.baselines.params import Params
from tagrank.baselines.validation import (
    NotFittedError,
    TagrankInputError,
    check_nonempty,
    check_same_length,
    check_texts,
)
from tagrank.baselines.vectors import resolve_device

LOSSES = ("cosent", "mnrl", "cosine_mse")
POOLINGS = ("mean", "cls")
MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
GRADED_LOSSES = ("cosent", "cosine_mse")


# ---------------------------------------------------------------------------- shared helpers
def check_positive_int(value: Any, name: str, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise TagrankInputError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def check_positive_float(value: Any, name: str, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (float(value) >= 0 if allow_zero else float(value) > 0)
    if not ok:
        raise TagrankInputError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")


def seed_everything(random_state: int) -> None:
    """Seed torch's CPU and CUDA generators (dropout, head initialisation)."""
    torch.manual_seed(int(random_state))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(random_state))


def autocast_dtype(mixed_precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: None on CPU or with ``"no"``; bf16 where supported under ``"auto"``."""
    if mixed_precision not in MIXED_PRECISION:
        raise TagrankInputError(f"mixed_precision must be one of {MIXED_PRECISION}, got {mixed_precision!r}")
    if device.type != "cuda" or mixed_precision == "no":
        return None
    if mixed_precision == "bf16" or (mixed_precision == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def load_trainable(model_name_or_path: str | os.PathLike | None) -> tuple[Any, Any, str]:
    """(tokenizer, model in float32, resolved name) -- a private copy, not the encoder's shared one."""
    from transformers import AutoModel, AutoTokenizer

    from tagrank.hybrid.encoder import resolve_model

    from tagrank.hybrid.model_path import hub_options, model_load_error

    name, local = resolve_model(model_name_or_path)
    extra = {"local_files_only": True} if local else hub_options(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, use_fast=True, **extra)
    except (OSError, ValueError) as exc:  # not cached offline, not a model directory
        raise model_load_error(name, local, exc) from None
    try:
        model = AutoModel.from_pretrained(name, dtype=torch.float32, attn_implementation="sdpa", **extra)
    except (ValueError, ImportError):  # an architecture without SDPA support
        model = AutoModel.from_pretrained(name, dtype=torch.float32, **extra)
    return tokenizer, model, name


def apply_lora(model: Any, r: int, alpha: int, dropout: float = 0.0) -> Any:
    """Wrap ``model`` with LoRA adapters on its attention projections (needs ``peft``)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise TagrankInputError(
            "lora=True needs the 'peft' package: pip install 'tagrank[finetune]' (or pip install peft)"
        ) from None
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    targets = [t for t in ("query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin") if t in names]
    if not targets:
        raise TagrankInputError(f"lora=True: no attention projection found among the model's linear layers {sorted(names)}")
    config = LoraConfig(r=int(r), lora_alpha=int(alpha), lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(model, config)


def merge_lora(model: Any) -> Any:
    """The plain model with LoRA adapters merged into its weights (no-op without adapters)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def forget_cached_model(path: str | os.PathLike) -> None:
    """Drop ``path`` from the encoder's per-process model cache: a directory re-written by a
    new fine-tuning must not keep serving the weights loaded from it before."""
    try:
        from tagrank.hybrid import encoder as encoder_module
    except ImportError:  # pragma: no cover
        return
    cache = getattr(encoder_module, "_MODELS", None)
    lock = getattr(encoder_module, "_MODELS_LOCK", None)
    if not isinstance(cache, dict) or lock is None:
        return
    resolved = str(Path(path).expanduser().resolve())
    with lock:
        for key in [k for k in cache if k and str(k[0]) == resolved]:
            del cache[key]


def tokenize(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids of each text, truncated at ``max_length`` (as the encoder does)."""
    enc = tokenizer(
        texts, truncation=True, max_length=max_length, padding=False,
        return_attention_mask=False, return_token_type_ids=False,
    )
    return enc["input_ids"]


def collate(ids: list[list[int]], rows: Sequence[int], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of ``rows``, padded to the longest of them."""
    width = max(len(ids[r]) for r in rows)
    batch = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, r in enumerate(rows):
        batch[j, : len(ids[r])] = ids[r]
        mask[j, : len(ids[r])] = 1
    return torch.from_numpy(batch).to(device), torch.from_numpy(mask).to(device)


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Mean over the unmasked tokens (or the first token), in float32."""
    if pooling == "cls":
        return hidden[:, 0].float()
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).float().sum(dim=1) / m.float().sum(dim=1).clamp_min(1e-9)


def embed(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return pool(hidden, mask, pooling)


def encode_ids(
    model: Any, ids: list[list[int]], pad_id: int, device: torch.device, pooling: str,
    batch_size: int, amp: torch.dtype | None, normalize: bool = True,
) -> torch.Tensor:
    """Pooled float32 vectors [n, hidden] (on CPU) of pre-tokenised texts, in eval mode."""
    was_training = model.training
    model.eval()
    order = np.argsort([-len(x) for x in ids], kind="stable")
    out: torch.Tensor | None = None
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = collate(ids, rows, pad_id, device)
            with autocast(device, amp):
                vec = embed(model, input_ids, mask, pooling)
            if normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=1)
            vec = vec.float().cpu()
            if out is None:
                out = torch.empty((len(ids), vec.shape[1]), dtype=torch.float32)
            out[torch.from_numpy(rows)] = vec
    model.train(was_training)
    assert out is not None
    return out


def make_optimizer(
    named_params: list[tuple[str, torch.nn.Parameter]], learning_rate: float, weight_decay: float,
    head_prefix: str | None = None, head_learning_rate: float | None = None,
) -> torch.optim.Optimizer:
    """AdamW; biases and LayerNorm weights are not decayed; parameters named ``head_prefix...``
    (a freshly initialised head) learn at ``head_learning_rate``."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, p in named_params:
        if not p.requires_grad:
            continue
        head = head_prefix is not None and name.startswith(head_prefix)
        no_decay = p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((head, no_decay), []).append(p)
    out = []
    for (head, no_decay), params in sorted(groups.items()):
        lr = head_learning_rate if head and head_learning_rate is not None else learning_rate
        out.append({"params": params, "lr": float(lr), "weight_decay": 0.0 if no_decay else float(weight_decay)})
    return torch.optim.AdamW(out, lr=float(learning_rate))


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the trainable parameters (the in-memory best checkpoint)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def restore(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


class TrainLoop:
    """Steps, warm-up, evaluation cadence, early stopping and the best checkpoint.

    ``step_fn(rows) -> loss tensor`` computes the loss of one batch of training
    rows; ``eval_fn() -> float | None`` the validation metric (higher is better).
    """

    def __init__(self, owner: Any, model: torch.nn.Module, n_rows: int, device: torch.device,
                 amp: torch.dtype | None, desc: str):
        self.owner, self.model, self.n_rows, self.device, self.amp, self.desc = owner, model, n_rows, device, amp, desc

    def run(self, step_fn: Callable[[np.ndarray], torch.Tensor], eval_fn: Callable[[], float | None],
            head_prefix: str | None = None, head_learning_rate: float | None = None) -> None:
        from tqdm.auto import tqdm

        o = self.owner
        rng = np.random.default_rng(o.random_state)
        per_epoch = math.ceil(self.n_rows / o.batch_size)
        total = per_epoch * int(o.epochs)
        if o.max_steps is not None:
            total = min(total, int(o.max_steps))
        named = list(self.model.named_parameters())
        optimizer = make_optimizer(named, o.learning_rate, o.weight_decay, head_prefix, head_learning_rate)
        scheduler = linear_schedule(optimizer, int(round(o.warmup_ratio * total)), total)
        scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        trainable = [p for _, p in named if p.requires_grad]

        history: list[dict[str, Any]] = []
        step_losses: list[float] = []
        start_time = time.perf_counter()
        best_metric, best_state, best_step, bad_evals = -math.inf, None, 0, 0
        window: list[float] = []

        def evaluate(step: int, epoch: float) -> bool:
            """Log one history entry; returns True when early stopping says stop."""
            nonlocal best_metric, best_state, best_step, bad_evals, window
            metric = eval_fn()
            loss = float(np.mean(window)) if window else None
            window = []
            history.append({"step": step, "epoch": round(epoch, 4), "loss": loss,
                            "valid_metric": None if metric is None or not math.isfinite(metric) else float(metric),
                            "lr": float(scheduler.get_last_lr()[0]),
                            "elapsed_s": round(time.perf_counter() - start_time, 3)})
            if metric is None:
                return False
            metric = -math.inf if not math.isfinite(metric) else metric
            if metric > best_metric or best_state is None:
                best_metric, best_step, bad_evals = metric, step, 0
                best_state = snapshot(self.model)
                return False
            bad_evals += 1
            return o.early_stopping_patience is not None and bad_evals >= int(o.early_stopping_patience)

        evaluate(0, 0.0)  # the model before training: kept if fine-tuning never beats it
        validating = best_state is not None
        step, stopped = 0, False
        self.model.train()
        bar = tqdm(total=total, desc=self.desc, unit="step", disable=not o.show_progress, leave=False)
        try:
            for epoch in range(int(o.epochs)):
                order = rng.permutation(self.n_rows)
                for b in range(per_epoch):
                    if step >= total:
                        break
                    rows = order[b * o.batch_size : (b + 1) * o.batch_size]
                    with autocast(self.device, self.amp):
                        loss = step_fn(rows)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                        optimizer.step()
                    scheduler.step()
                    step += 1
                    value = float(loss.detach())
                    step_losses.append(value)
                    window.append(value)
                    bar.update(1)
                    bar.set_postfix(loss=f"{np.mean(step_losses[-50:]):.4f}")
                    end_of_epoch = b == per_epoch - 1 or step >= total
                    if (o.eval_every and step % int(o.eval_every) == 0) or end_of_epoch:
                        if evaluate(step, epoch + (b + 1) / per_epoch):
                            stopped = True
                            break
                        self.model.train()
                if stopped or step >= total:
                    break
        finally:
            bar.close()
        if validating and best_state is not None:
            restore(self.model, best_state)
        else:
            best_step = step
        o.history_ = history
        o.step_losses_ = step_losses
        o.n_steps_ = step
        o.best_step_ = best_step
        o.best_metric_ = None if not validating or not math.isfinite(best_metric) else float(best_metric)
        o.stopped_early_ = stopped
        o.train_seconds_ = time.perf_counter() - start_time


# ---------------------------------------------------------------------------- the fine-tuner
class BiEncoderFineTuner(Params):
    """Fine-tune a sentence encoder on text pairs (see the module docstring).

    After :meth:`fit`: ``best_dir_`` (the saved model directory), ``history_``
    (``[{step, epoch, loss, valid_metric, lr, elapsed_s}]``; step 0 is the
    model before training), ``step_losses_``, ``best_step_``, ``best_metric_``,
    ``score_range_``, ``train_seconds_``, ``device_``, ``n_train_``.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        loss: str = "cosent",
        learning_rate: float = 2e-5,
        epochs: int = 1,
        batch_size: int = 32,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        max_length: int = 128,
        pooling: str = "mean",
        scale: float = 20.0,
        lora: bool = False,
        lora_r: int = 8,
        lora_alpha: int = 16,
        eval_every: int | None = None,
        early_stopping_patience: int | None = 2,
        random_state: int = 0,
        device: str | torch.device = "auto",
        mixed_precision: str = "auto",
        max_steps: int | None = None,
        output_dir: str | os.PathLike | None = None,
        show_progress: bool = True,
        score_range: tuple[float, float] | None = None,
        *,
        model_name_or_path: str | os.PathLike | None = None,
    ) -> None:
        self.model = model
        self.model_name_or_path = model_name_or_path  # deprecated alias of model
        self.loss = loss
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.pooling = pooling
        self.scale = scale
        self.lora = lora
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.eval_every = eval_every
        self.early_stopping_patience = early_stopping_patience
        self.random_state = random_state
        self.device = device
        self.mixed_precision = mixed_precision
        self.max_steps = max_steps
        self.output_dir = output_dir
        self.show_progress = show_progress
        self.score_range = score_range

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.loss not in LOSSES:
            raise TagrankInputError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.pooling not in POOLINGS:
            raise TagrankInputError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        for name in ("epochs", "batch_size", "max_length", "lora_r", "lora_alpha"):
            check_positive_int(getattr(self, name), name)
        for name in ("eval_every", "early_stopping_patience", "max_steps"):
            check_positive_int(getattr(self, name), name, allow_none=True)
        check_positive_float(self.learning_rate, "learning_rate")
        check_positive_float(self.scale, "scale")
        check_positive_float(self.weight_decay, "weight_decay", allow_zero=True)
        check_positive_float(self.warmup_ratio, "warmup_ratio", allow_zero=True)
        if self.warmup_ratio >= 1:
            raise TagrankInputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.loss == "mnrl" and self.batch_size < 2:
            raise TagrankInputError("loss='mnrl' needs batch_size >= 2 (the in-batch negatives)")
        if self.score_range is not None:
            lo, hi = self._range_values(self.score_range, "score_range")
            if not hi > lo:
                raise TagrankInputError(f"score_range must be (min, max) with min < max, got {self.score_range!r}")

    @staticmethod
    def _range_values(value: Any, field: str) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise TagrankInputError(f"{field} must be a (min, max) pair of numbers, got {value!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise TagrankInputError(f"{field} must be finite, got {value!r}")
        return lo, hi

    @staticmethod
    def _scores(values: Any, n: int, field: str) -> np.ndarray:
        if isinstance(values, str):
            raise TagrankInputError(f"{field} must be a sequence of numbers, got a string")
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise TagrankInputError(f"{field} must be numeric: {exc}") from None
        if len(arr) != n:
            raise TagrankInputError(f"mismatched lengths: {field} has {len(arr)}, the pairs have {n}")
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.argmax(bad))
            raise TagrankInputError(f"{field}[{i}] is not a finite number (got {arr[i]!r})")
        return arr

    def _check_pairs(self, left, right, scores, prefix: str, required: bool) -> tuple[list[str], list[str], np.ndarray | None]:
        lt = check_texts(left, f"{prefix}left")
        rt = check_texts(right, f"{prefix}right")
        check_same_length(**{f"{prefix}left": lt, f"{prefix}right": rt})
        if required:
            check_nonempty(lt, f"{prefix}pairs (the training set)" if not prefix else f"{prefix}pairs")
        arr = None
        if scores is not None:
            arr = self._scores(scores, len(lt), f"{prefix}scores")
        elif self.loss in GRADED_LOSSES:
            raise TagrankInputError(f"loss={self.loss!r} needs {prefix}scores (graded pairs)")
        return lt, rt, arr

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        left: Sequence[str],
        right: Sequence[str],
        scores: Sequence[float] | None = None,
        valid_left: Sequence[str] | None = None,
        valid_right: Sequence[str] | None = None,
        valid_scores: Sequence[float] | None = None,
    ) -> BiEncoderFineTuner:
        """Fine-tune on (left[i], right[i]) pairs (graded by ``scores`` for cosent / cosine_mse),
        select the best checkpoint on the valid pairs and save it to ``best_dir_``."""
        self._check_params()
        lt, rt, y = self._check_pairs(left, right, scores, "", required=True)
        if self.score_range is not None:
            lo, hi = self._range_values(self.score_range, "score_range")
            if y is not None:
                out = (y < lo) | (y > hi)
                if out.any():
                    i = int(np.argmax(out))
                    raise TagrankInputError(f"scores[{i}] = {y[i]!r} is outside score_range [{lo}, {hi}]")
        elif y is not None:
            lo, hi = float(y.min()), float(y.max())
            if self.loss in GRADED_LOSSES and not hi > lo:
                raise TagrankInputError(
                    f"scores are all equal ({lo}): graded training needs at least two distinct scores "
                    "(or pass score_range)"
                )
        else:
            lo, hi = 0.0, 1.0
        self.score_range_ = (lo, hi)
        y01 = None if y is None else np.clip((y - lo) / (hi - lo), 0.0, 1.0)

        has_valid = valid_left is not None or valid_right is not None
        if has_valid:
            if valid_left is None or valid_right is None:
                raise TagrankInputError("valid_left and valid_right must be given together")
            vl, vr, vy = self._check_pairs(valid_left, valid_right, valid_scores, "valid_", required=False)
            has_valid = len(vl) > 0
        elif valid_scores is not None:
            raise TagrankInputError("valid_scores given without valid_left / valid_right")

        device = resolve_device(self.device)
        amp = autocast_dtype(self.mixed_precision, device)
        seed_everything(self.random_state)
        from tagrank.hybrid.model_path import chosen_model

        tokenizer, model, name = load_trainable(chosen_model(self.model, self.model_name_or_path, type(self).__name__))
        model.to(device)
        if self.lora:
            model = apply_lora(model, self.lora_r, self.lora_alpha)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        # Tokenise every distinct text once.
        position: dict[str, int] = {}
        li = np.fromiter((position.setdefault(t, len(position)) for t in lt), np.int64, len(lt))
        ri = np.fromiter((position.setdefault(t, len(position)) for t in rt), np.int64, len(rt))
        ids = tokenize(tokenizer, list(position), int(self.max_length))
        target = None if y01 is None else torch.tensor(y01, dtype=torch.float32, device=device)

        def step_fn(rows: np.ndarray) -> torch.Tensor:
            a_rows, b_rows = li[rows], ri[rows]
            both = np.concatenate([a_rows, b_rows])
            input_ids, mask = collate(ids, both, pad_id, device)
            vec = embed(model, input_ids, mask, self.pooling).float()
            a, b = vec[: len(rows)], vec[len(rows) :]
            if self.loss == "mnrl":
                return mnrl_loss(a, b, a_rows, b_rows, self.scale)
            cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
            t = target[torch.from_numpy(rows).to(device)]
            if self.loss == "cosent":
                return cosent_loss(cos, t, self.scale)
            return torch.nn.functional.mse_loss(cos, t)

        eval_fn: Callable[[], float | None] = lambda: None  # noqa: E731
        if has_valid:
            vpos: dict[str, int] = {}
            vli = np.fromiter((vpos.setdefault(t, len(vpos)) for t in vl), np.int64, len(vl))
            vri = np.fromiter((vpos.setdefault(t, len(vpos)) for t in vr), np.int64, len(vr))
            vids = tokenize(tokenizer, list(vpos), int(self.max_length))
            eval_bs = max(int(self.batch_size) * 2, 64)

            def eval_fn() -> float | None:
                emb = encode_ids(model, vids, pad_id, device, self.pooling, eval_bs, amp)
                if self.loss == "mnrl":
                    return mean_reciprocal_rank(emb, vli, vri)
                if vy is None:
                    raise TagrankInputError(f"loss={self.loss!r} needs valid_scores with the valid pairs")
                cos = (emb[vli] * emb[vri]).sum(dim=1).numpy()
                return spearman(cos, vy)

        self.device_ = device.type
        self.n_train_ = len(lt)
        self.n_valid_ = len(vl) if has_valid else 0
        self.model_name_ = name
        TrainLoop(self, model, len(lt), device, amp, desc=f"fine-tune ({self.loss})").run(step_fn, eval_fn)
        self.metric_name_ = None if not has_valid else ("mrr" if self.loss == "mnrl" else "spearman")

        model = merge_lora(model)
        model.eval()
        self.model_, self.tokenizer_ = model, tokenizer
        self.best_dir_ = self.save(self.output_dir if self.output_dir is not None else tempfile.mkdtemp(prefix="tagrank-ft-"))
        return self

    # ------------------------------------------------------------------ use
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised embeddings of ``texts`` with the fine-tuned (best) weights, float32 [n, hidden]."""
        if not hasattr(self, "model_"):
            raise NotFittedError("BiEncoderFineTuner is not fitted: call fit() first")
        values = check_texts(texts, "texts")
        device = next(self.model_.parameters()).device
        if not values:
            return np.zeros((0, int(self.model_.config.hidden_size)), dtype=np.float32)
        pad_id = self.tokenizer_.pad_token_id if self.tokenizer_.pad_token_id is not None else 0
        ids = tokenize(self.tokenizer_, values, int(self.max_length))
        return encode_ids(self.model_, ids, pad_id, device, self.pooling, batch_size, None).numpy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fine-tuned model (safetensors) and its tokenizer to the directory ``path``
        plus ``tagrank_finetune.json`` (parameters, score range, history); returns the path."""
        import json

        if not hasattr(self, "model_"):
            raise NotFittedError("BiEncoderFineTuner is not fitted: call fit() first")
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        self.model_.save_pretrained(str(root), safe_serialization=True)
        self.tokenizer_.save_pretrained(str(root))
        forget_cached_model(root)
        params = {k: (v if v is None or isinstance(v, bool | int | float | str) else str(v))
                  for k, v in self.get_params().items()}
        params["score_range"] = list(self.score_range) if self.score_range is not None else None
        doc = {
            "format_version": 1,
            "class": type(self).__name__,
            "base_model": self.model_name_,
            "params": params,
            "score_range": list(self.score_range_),
            "best_step": self.best_step_,
            "best_metric": self.best_metric_,
            "metric": self.metric_name_,
            "n_train": self.n_train_,
            "train_seconds": round(self.train_seconds_, 3),
            "device": self.device_,
            "history": self.history_,
        }
        (root / "tagrank_finetune.json").write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")
        return root

    def summary(self) -> dict[str, Any]:
        """Training facts for a results file: time, device, steps, best step and metric."""
        if not hasattr(self, "history_"):
            raise NotFittedError("BiEncoderFineTuner is not fitted: call fit() first")
        return {
            "train_s": round(float(self.train_seconds_), 3),
            "train_device": self.device_,
            "n_train_pairs": int(self.n_train_),
            "n_valid_pairs": int(self.n_valid_),
            "steps": int(self.n_steps_),
            "best_step": int(self.best_step_),
            "best_valid_metric": self.best_metric_,
            "valid_metric_name": self.metric_name_,
            "stopped_early": bool(self.stopped_early_),
            "score_range": list(self.score_range_),
            "base_model": self.model_name_,
        }


# ---------------------------------------------------------------------------- losses and metrics
def cosent_loss(cos: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """CoSENT: ``log(1 + sum over (i, j) with y_i > y_j of exp(scale * (cos_j - cos_i)))``."""
    s = cos * scale
    diff = s[None, :] - s[:, None]  # [i, j] = s_j - s_i
    valid = labels[:, None] > labels[None, :]  # y_i > y_j
    diff = diff.masked_fill(~valid, -1e12)
    return torch.logsumexp(torch.cat([torch.zeros(1, device=cos.device, dtype=diff.dtype), diff.reshape(-1)]), dim=0)


def mnrl_loss(a: torch.Tensor, b: torch.Tensor, a_keys: np.ndarray, b_keys: np.ndarray, scale: float) -> torch.Tensor:
    """In-batch negatives cross-entropy; off-diagonal entries that share the query or the positive
    text with the diagonal one (false negatives) are masked."""
    sims = scale * (torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T)
    ak = torch.from_numpy(a_keys).to(a.device)
    bk = torch.from_numpy(b_keys).to(a.device)
    false_neg = (ak[:, None] == ak[None, :]) | (bk[:, None] == bk[None, :])
    false_neg.fill_diagonal_(False)
    sims = sims.masked_fill(false_neg, -1e4)
    target = torch.arange(len(a), device=a.device)
    return torch.nn.functional.cross_entropy(sims, target)


def mean_reciprocal_rank(emb: torch.Tensor, left: np.ndarray, right: np.ndarray) -> float:
    """MRR of each pair's right text among every distinct right text of the pool, for its left text
    (the other positives of the same left text are left out of the ranking)."""
    queries = np.unique(left)
    cands = np.unique(right)
    col = {int(c): j for j, c in enumerate(cands)}
    sims = emb[torch.from_numpy(queries)] @ emb[torch.from_numpy(cands)].T
    row = {int(q): i for i, q in enumerate(queries)}
    positives: dict[int, list[int]] = {}
    for q, r in zip(left.tolist(), right.tolist(), strict=True):
        positives.setdefault(q, []).append(col[r])
    rr = []
    for q, r in zip(left.tolist(), right.tolist(), strict=True):
        s = sims[row[q]].clone()
        others = [c for c in positives[q] if c != col[r]]
        if others:
            s[others] = -math.inf
        rank = int((s > s[col[r]]).sum()) + 1
        rr.append(1.0 / rank)
    return float(np.mean(rr))

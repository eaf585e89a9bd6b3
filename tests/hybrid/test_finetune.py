"""BiEncoderFineTuner and the transformer_ft registration: tiny sets, max_length 16, a few steps."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tagrank.baselines.validation import TagrankInputError
from tagrank.hybrid.finetune import BiEncoderFineTuner, cosent_loss, mean_reciprocal_rank, mnrl_loss

LEFT = [
    "red running shoe", "blue denim jeans", "garden water hose", "espresso coffee maker",
    "leather dog leash", "non slip yoga mat", "cordless power drill", "matte red lipstick",
] * 2
RIGHT = [
    "red sneaker", "denim trousers", "hose pipe for the garden", "machine for espresso",
    "cat scratching post", "running shoes", "claw hammer", "car seat cover",
] * 2
SCORES = [5.0, 4.5, 4.0, 4.5, 1.0, 0.5, 1.5, 0.0] * 2

TINY = {"max_length": 16, "show_progress": False, "device": "cpu", "warmup_ratio": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tuner(**params) -> BiEncoderFineTuner:
    return BiEncoderFineTuner(**{**TINY, **params})


def test_cosent_loss_prefers_the_label_order():
    labels = torch.tensor([0.0, 0.5, 1.0])
    good = cosent_loss(torch.tensor([0.1, 0.5, 0.9]), labels, 20.0)
    bad = cosent_loss(torch.tensor([0.9, 0.5, 0.1]), labels, 20.0)
    assert float(good) < 0.01 < float(bad)


def test_mnrl_loss_masks_false_negatives_and_mrr():
    a = torch.eye(3)
    b = torch.eye(3)
    keys = np.array([0, 1, 2])
    assert float(mnrl_loss(a, b, keys, keys + 10, 20.0)) < 1e-6
    # rows 0 and 1 share their positive: neither counts as the other's negative
    b2 = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    masked = mnrl_loss(a, b2, keys, np.array([10, 10, 12]), 20.0)
    unmasked = mnrl_loss(a, b2, keys, np.array([10, 11, 12]), 20.0)
    assert float(masked) < float(unmasked)
    emb = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0.1], [0.1, 1.0]]), dim=1)
    assert mean_reciprocal_rank(emb, np.array([0, 1]), np.array([2, 3])) == 1.0
    assert mean_reciprocal_rank(emb, np.array([0, 1]), np.array([3, 2])) == 0.5


def test_loss_decreases_on_a_tiny_fixed_set(tmp_path):
    tuner = _tuner(batch_size=8, epochs=10, learning_rate=1e-4, output_dir=tmp_path / "m")
    tuner.fit(LEFT[:8], RIGHT[:8], SCORES[:8])  # the 8 distinct pairs: one full batch per step
    losses = tuner.step_losses_
    assert len(losses) == 10 and tuner.n_steps_ == 10
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert tuner.score_range_ == (0.0, 5.0)
    assert [h["step"] for h in tuner.history_] == list(range(0, 11))  # step 0 + each epoch
    assert all(h["valid_metric"] is None for h in tuner.history_)


def test_saved_model_reloads_through_the_encoder(tmp_path):
    from tagrank.hybrid.encoder import TransformerEncoder

    tuner = _tuner(batch_size=8, max_steps=2, learning_rate=1e-4, eval_every=1, output_dir=tmp_path / "m")
    tuner.fit(LEFT, RIGHT, SCORES, LEFT[:8], RIGHT[:8], SCORES[:8])
    assert tuner.best_dir_ == tmp_path / "m"
    assert (tmp_path / "m" / "model.safetensors").is_file() and (tmp_path / "m" / "tokenizer.json").is_file()
    assert [h["step"] for h in tuner.history_] == [0, 1, 2]
    assert all(-1 <= h["valid_metric"] <= 1 for h in tuner.history_)
    assert tuner.best_metric_ == max(h["valid_metric"] for h in tuner.history_)
    texts = LEFT[:8] + ["a much longer product title with several words in it"]
    enc = TransformerEncoder(model=tuner.best_dir_, max_length=16, show_progress=False, device="cpu", dtype="float32")
    np.testing.assert_allclose(enc.encode(texts), tuner.encode(texts), atol=1e-6)
    base = TransformerEncoder(max_length=16, show_progress=False, device="cpu", dtype="float32").encode(texts)
    if tuner.best_step_ > 0:  # the weights moved
        assert np.abs(base - tuner.encode(texts)).max() > 1e-4


def test_same_seed_same_weights_after_three_steps(tmp_path):
    def weights(seed, name, steps=3):
        t = _tuner(batch_size=4, max_steps=steps, random_state=seed, output_dir=tmp_path / name)
        t.fit(LEFT, RIGHT, SCORES)
        return {k: v.clone() for k, v in t.model_.state_dict().items()}, t.step_losses_

    (a, la), (b, lb) = weights(0, "a"), weights(0, "b")
    assert len(la) == 3 and la == lb
    assert all(torch.equal(a[k], b[k]) for k in a)
    _, lc = weights(1, "c", steps=1)
    assert lc[0] != la[0]  # another seed: another shuffle and dropout


def test_mnrl_trains_on_positive_pairs(tmp_path):
    tuner = _tuner(loss="mnrl", batch_size=8, max_steps=2, output_dir=tmp_path / "m")
    tuner.fit(LEFT[:8], RIGHT[:8], valid_left=LEFT[:8], valid_right=RIGHT[:8])
    assert tuner.metric_name_ == "mrr"
    assert all(0 < h["valid_metric"] <= 1 for h in tuner.history_)
    assert all(math.isfinite(x) for x in tuner.step_losses_)


@pytest.mark.parametrize(
    ("args", "params", "match"),
    [
        (([], [], []), {}, "empty"),
        ((LEFT, RIGHT, SCORES[:-1] + [6.0]), {"score_range": (0, 5)}, "outside score_range"),
        ((LEFT, RIGHT, SCORES[:-1] + [float("nan")]), {}, "not a finite number"),
        ((LEFT, RIGHT[:-1], SCORES), {}, "mismatched lengths"),
        ((LEFT, RIGHT, SCORES[:-1]), {}, "mismatched lengths"),
        ((LEFT[:-1] + ["  "], RIGHT, SCORES), {}, "empty"),
        ((LEFT[:-1] + [None], RIGHT, SCORES), {}, "missing"),
        ((LEFT, RIGHT), {}, "needs scores"),
        ((LEFT, RIGHT, [1.0] * len(LEFT)), {}, "all equal"),
        ((LEFT, RIGHT, SCORES), {"loss": "triplet"}, "loss must be"),
        ((LEFT, RIGHT, SCORES), {"score_range": (5, 0)}, "min < max"),
        ((LEFT, RIGHT, SCORES), {"epochs": 0}, "epochs"),
    ],
)
def test_bad_input_raises(args, params, match):
    with pytest.raises(TagrankInputError, match=match):
        _tuner(**params).fit(*args)


def test_bad_valid_input_raises():
    with pytest.raises(TagrankInputError, match="not a finite"):
        _tuner().fit(LEFT, RIGHT, SCORES, LEFT[:2], RIGHT[:2], [1.0, float("nan")])
    with pytest.raises(TagrankInputError, match="together"):
        _tuner().fit(LEFT, RIGHT, SCORES, valid_left=LEFT[:2])


# ---------------------------------------------------------------------------- registration
def _spec():
    import tagrank.eval.finetune_methods  # noqa: F401 - registers transformer_ft (idempotent import)
    from tagrank.eval.methods import REGISTRY

    return REGISTRY["transformer_ft"]


def _ctx(task, dataset, data):
    from tagrank.eval.methods import MethodContext

    return MethodContext(task=task, dataset=dataset, device="cpu", show_progress=False, data=data)


def test_transformer_ft_is_registered_and_skips_other_datasets():
    from tagrank.eval import finetune_methods as fm

    spec = _spec()
    assert spec.kind == "task" and set(spec.tasks) == {"similarity", "search", "taxonomy"}
    pairs = pd.DataFrame({"left": LEFT, "right": RIGHT, "score": SCORES})
    for dataset in ("wordsim353", "lcqmc"):
        with pytest.raises(fm.MethodNotApplicable):
            spec.build(_ctx("similarity", dataset, {"train": pairs, "valid": pairs, "corpus": LEFT}))
    with pytest.raises(fm.MethodNotApplicable, match="train pairs"):
        spec.build(_ctx("similarity", "stsb_en", {"train": pairs, "valid": pairs, "corpus": LEFT}))
    cat = spec.build(_ctx("taxonomy", "fashion", {"levels": ["a", "b"]}), epochs=1)
    assert type(cat).__name__ == "FineTunedCategoriser" and cat.levels == ["a", "b"]
    assert cat.classifier_params["epochs"] == 1 and cat.classifier_params["device"] == "cpu"


def _sts_ctx(monkeypatch, tmp_path):
    """A toy stsb_en context (the minimum train size lowered to the toy pairs)."""
    from tagrank.eval import finetune_methods as fm

    monkeypatch.setattr(fm, "MIN_TRAIN_PAIRS", 4)
    pairs = pd.DataFrame({"left": LEFT, "right": RIGHT, "score": SCORES})
    ctx = _ctx("similarity", "stsb_en", {"train": pairs, "valid": pairs.iloc[:8], "corpus": sorted(set(LEFT + RIGHT))})
    ctx.cache_dir = tmp_path
    return ctx


def test_similarity_factory_returns_a_fitted_scorer(monkeypatch, tmp_path):
    ctx = _sts_ctx(monkeypatch, tmp_path)
    scorer = _spec().build(ctx, max_steps=2, max_length=16, batch_size=8, eval_every=1)
    assert scorer.name == "transformer_ft"
    pred = scorer.score_pairs(LEFT[:3], RIGHT[:3])
    assert pred.shape == (3,) and np.all(np.abs(pred) <= 1 + 1e-6)
    params = scorer.results_params()
    assert params["steps"] == 2 and params["train_device"] == "cpu" and params["ft.loss"] == "cosine_mse"
    assert params["ft.max_length"] == 16 and params["train_s"] > 0
    assert [h["step"] for h in scorer.training_curve] == [0, 1, 2]
    # Named by task, dataset, loss and seed relative to the cache dir: no random or absolute path.
    assert params["finetuned_dir"].startswith("finetuned/similarity-") and "seed0" in params["finetuned_dir"]
    assert not params["finetuned_dir"].startswith("/")


def _search_data():
    from tagrank.eval.datasets import Dataset
    from tagrank.eval.tasks.search import SearchData

    rng = np.random.default_rng(0)
    products = ["red sneaker", "denim trousers", "garden hose", "espresso machine", "dog leash", "yoga mat",
                "power drill", "lipstick", "claw hammer", "ceiling fan", "bath towel", "board game"]
    items = pd.DataFrame({"item_id": [str(i) for i in range(len(products))], "text": products})
    rows = []
    for q in range(40):
        target = q % len(products)
        query = f"{products[target].split()[-1]} {q}"
        rows.append((query, str(target), 3.0))
        for other in rng.choice(len(products), 2, replace=False):
            if other != target:
                rows.append((query, str(other), float(rng.choice([1.0, 1.33, 2.0]))))
    judgments = pd.DataFrame(rows, columns=["query", "item_id", "label"])
    return SearchData(Dataset("toy", "test", "none", "en", items=items, judgments=judgments))


def test_search_factory_auto_picks_by_valid_ndcg(tmp_path):
    data = _search_data()
    assert all(len(data.parts[s]) for s in ("train", "valid"))
    ctx = _ctx("search", "toy", {"search": data, "train": data.parts["train"], "valid": data.parts["valid"]})
    ctx.cache_dir = tmp_path
    scorer = _spec().build(ctx, loss="auto", max_steps=1, max_length=16, batch_size=8)
    params = scorer.results_params()
    assert params["loss_selection"] == "auto" and params["ft.loss"] in ("mnrl", "cosine_mse")
    assert {"valid_ndcg@10.mnrl", "valid_ndcg@10.cosine_mse"} <= set(params)
    ids, scores = scorer.top_k(["garden hose"], k=3)
    assert ids.shape == (1, 3) and set(ids[0]) <= set(data.item_ids)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls a deprecated transformers property
def test_lora_adapters_are_merged_before_saving(tmp_path):
    pytest.importorskip("peft")
    from safetensors import safe_open

    from tagrank.hybrid.encoder import TransformerEncoder

    tuner = _tuner(lora=True, batch_size=8, max_steps=2, learning_rate=1e-3, output_dir=tmp_path / "m")
    tuner.fit(LEFT[:8], RIGHT[:8], SCORES[:8])
    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert keys and not any("lora" in k for k in keys)
    enc = TransformerEncoder(model=tmp_path / "m", max_length=16, show_progress=False, device="cpu", dtype="float32")
    np.testing.assert_allclose(enc.encode(LEFT[:4]), tuner.encode(LEFT[:4]), atol=1e-6)


def test_rewriting_a_directory_is_not_served_stale(tmp_path):
    from tagrank.hybrid.encoder import TransformerEncoder

    out = tmp_path / "m"
    first = _tuner(batch_size=8, max_steps=1, learning_rate=1e-3, output_dir=out).fit(LEFT, RIGHT, SCORES)
    enc = TransformerEncoder(model=out, max_length=16, show_progress=False, device="cpu", dtype="float32")
    v1 = enc.encode(LEFT[:2])
    np.testing.assert_allclose(v1, first.encode(LEFT[:2]), atol=1e-6)
    second = _tuner(batch_size=8, max_steps=1, learning_rate=1e-3, random_state=5, output_dir=out).fit(LEFT, RIGHT, SCORES)
    np.testing.assert_allclose(enc.encode(LEFT[:2]), second.encode(LEFT[:2]), atol=1e-6)


def test_search_cross_fitted_trains_each_fold_model_without_its_queries(monkeypatch, tmp_path):
    from tagrank.eval import finetune_methods as fm
    from tagrank.eval.splits import TRAIN
    from tagrank.hybrid.crossfit import query_folds

    data = _search_data()
    ctx = _ctx("search", "toy", {"search": data})
    ctx.cache_dir = tmp_path
    full = _spec().build(ctx, max_steps=1, max_length=16, batch_size=8)
    crossed = fm.search_cross_fitted(ctx, full, n_folds=2)
    folds = query_folds(data.parts[TRAIN]["key"].tolist(), 2)
    assert [held for _, held in crossed.folds] == folds
    for i, (model, held) in enumerate(crossed.folds):
        rest = [k for j, fold in enumerate(folds) if j != i for k in fold]
        # the full model's recipe (loss, steps, length) on the other folds' positive pairs only
        assert model.training_params_["n_train_pairs"] == len(fm.search_pairs(data, TRAIN, True, rest)[0])
        assert model.training_params_["ft.loss"] == full.training_params_["ft.loss"] == "mnrl"
        assert model.training_params_["ft.max_length"] == 16 and model.training_params_["steps"] == 1
        assert crossed.fold_params_[i]["held_out"] == len(held)
        query, title = held[0], data.item_texts[0]
        np.testing.assert_array_equal(crossed.score_pairs([query], [title]), model.score_pairs([query], [title]))
    valid_key = data.parts["valid"]["key"].iloc[0]
    np.testing.assert_array_equal(crossed.score_pairs([valid_key], [data.item_texts[1]]),
                                  full.score_pairs([valid_key], [data.item_texts[1]]))
    # hybrid and hybrid_no_prior cross-fit the same model on the same data: the folds train once
    trained = []
    original = fm._train_search
    monkeypatch.setattr(fm, "_train_search", lambda *a, **k: trained.append(1) or original(*a, **k))
    assert fm.search_cross_fitted(ctx, full, n_folds=2) is crossed and not trained
    assert fm.search_cross_fitted(ctx, full, n_folds=3) is not crossed and len(trained) == 3
    with pytest.raises(TagrankInputError, match="transformer_ft"):
        fm.search_cross_fitted(ctx, object(), 2)


def test_similarity_cross_fitted_trains_each_fold_model_without_its_pairs(monkeypatch, tmp_path):
    from tagrank.eval import finetune_methods as fm
    from tagrank.hybrid.crossfit import pair_folds

    ctx = _sts_ctx(monkeypatch, tmp_path)
    full = _spec().build(ctx, max_steps=1, max_length=16, batch_size=8, eval_every=1)
    crossed = fm.similarity_cross_fitted(ctx, full, n_folds=2)
    fold = pair_folds(LEFT, RIGHT, 2)
    assert crossed.by == "pair" and len(crossed.folds) == 2
    for f, (model, held) in enumerate(crossed.folds):
        assert set(held) == {(a, b) for a, b, g in zip(LEFT, RIGHT, fold, strict=True) if g == f}
        assert model.training_params_["n_train_pairs"] == int((fold != f).sum())
        assert model.training_params_["ft.loss"] == "cosine_mse" and model.training_params_["ft.max_length"] == 16
        a, b = held[0]
        np.testing.assert_array_equal(crossed.score_pairs([a], [b]), model.score_pairs([a], [b]))
    assert [r["fold"] for r in crossed.fold_params_] == [0, 1]
    # a pair outside the train split goes to the full model
    np.testing.assert_array_equal(crossed.score_pairs(["an unseen text"], [RIGHT[0]]),
                                  full.score_pairs(["an unseen text"], [RIGHT[0]]))

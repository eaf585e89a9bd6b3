"""Generate ``sample``: a small SYNTHETIC product catalogue embedded in tagrank.

Nothing here is real data: brands are invented, products are combinations of
brand x adjective x colour x product type in a 3-level taxonomy, and queries,
relevance labels, ratings and tag events are drawn from a numpy Generator with
a fixed seed, so the output is byte-for-byte reproducible. The sample exists so
that ``tagrank bench`` and the tests run on a fresh install without downloads;
benchmark tables use the real datasets only.

Run from a checkout to rewrite the committed CSVs::

    python data/make_sample.py            # writes data/sample/*.csv
    python data/make_sample.py --out DIR  # writes elsewhere
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240607
N_ITEMS = 400
N_QUERIES = 150
N_USERS = 300
N_TAGGING_USERS = 200
T0 = 1672531200  # 2023-01-01 00:00:00 UTC

# level1 -> level2 -> level3 -> (noun used in titles, tags, possible usages)
TAXONOMY: dict[str, dict[str, dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]]] = {
    "Apparel": {
        "Topwear": {
            "T-Shirts": ("t-shirt", ("tshirt", "cotton", "top"), ("casual", "sport")),
            "Shirts": ("shirt", ("shirt", "collar", "top"), ("formal", "casual")),
            "Hoodies": ("hoodie", ("hoodie", "warm", "top"), ("casual", "sport")),
        },
        "Bottomwear": {
            "Jeans": ("jeans", ("denim", "jeans", "trousers"), ("casual",)),
            "Shorts": ("shorts", ("shorts", "summer"), ("sport", "casual")),
            "Trousers": ("trousers", ("trousers", "chinos"), ("formal", "office")),
        },
        "Footwear": {
            "Running Shoes": ("running shoes", ("running", "shoes", "sport"), ("sport",)),
            "Sneakers": ("sneakers", ("sneakers", "shoes", "street"), ("casual",)),
            "Boots": ("boots", ("boots", "leather", "shoes"), ("outdoor", "casual")),
        },
    },
    "Home": {
        "Kitchen": {
            "Cookware": ("frying pan", ("cookware", "pan", "non-stick"), ("home",)),
            "Knives": ("chef knife", ("knife", "steel", "cooking"), ("home",)),
            "Mugs": ("coffee mug", ("mug", "coffee", "ceramic"), ("home", "office")),
        },
        "Bedding": {
            "Pillows": ("pillow", ("pillow", "sleep", "soft"), ("home",)),
            "Duvets": ("duvet", ("duvet", "sleep", "warm"), ("home",)),
        },
        "Lighting": {
            "Lamps": ("table lamp", ("lamp", "light", "decor"), ("home", "office")),
            "Bulbs": ("led bulb", ("bulb", "led", "light"), ("home",)),
        },
    },
    "Electronics": {
        "Audio": {
            "Headphones": ("headphones", ("headphones", "audio", "music"), ("casual", "office")),
            "Speakers": ("bluetooth speaker", ("speaker", "audio", "wireless"), ("home", "outdoor")),
            "Earbuds": ("earbuds", ("earbuds", "audio", "wireless"), ("sport", "casual")),
        },
        "Computing": {
            "Laptops": ("laptop", ("laptop", "computer", "portable"), ("office",)),
            "Keyboards": ("keyboard", ("keyboard", "computer", "typing"), ("office",)),
            "Mice": ("wireless mouse", ("mouse", "computer", "wireless"), ("office",)),
        },
    },
    "Sports": {
        "Fitness": {
            "Yoga Mats": ("yoga mat", ("yoga", "mat", "fitness"), ("sport",)),
            "Dumbbells": ("dumbbell set", ("dumbbells", "weights", "fitness"), ("sport",)),
        },
        "Outdoor": {
            "Tents": ("tent", ("tent", "camping", "outdoor"), ("outdoor",)),
            "Backpacks": ("backpack", ("backpack", "hiking", "bag"), ("outdoor", "casual")),
            "Water Bottles": ("water bottle", ("bottle", "hydration", "outdoor"), ("sport", "outdoor")),
        },
    },
}

# invented brand names (no real brands), per level-1 class
BRANDS = {
    "Apparel": ("Aurora", "Kestrel", "Nimbus", "Vantage", "Ridgeway"),
    "Home": ("Hearthly", "Oakmere", "Lumina", "Copperpot"),
    "Electronics": ("Voltix", "Sonora", "Pixelon", "Keystone"),
    "Sports": ("Trailhead", "Summitline", "Kestrel", "Flexa"),
}
ADJECTIVES = ("classic", "lightweight", "premium", "slim", "durable", "compact", "waterproof", "soft", "eco", "pro")
COLOURS = ("black", "white", "red", "blue", "navy", "grey", "green", "pink", "beige")
PERSONAL_TAGS = ("gift", "favourite", "bargain", "must-have", "wishlist", "quality", "comfy", "everyday")
SEASON_OVERRIDES = {"Shorts": "summer", "Hoodies": "winter", "Boots": "winter", "Duvets": "winter"}


def _classes() -> list[tuple[str, str, str]]:
    """All (level1, level2, level3) paths of the taxonomy, in a fixed order."""
    return [(l1, l2, l3) for l1, sub in TAXONOMY.items() for l2, leaves in sub.items() for l3 in leaves]


def _items(rng: np.random.Generator) -> pd.DataFrame:
    """Products: every level-3 class gets ~N_ITEMS / 27 products with random brand/colour/adjective."""
    classes = _classes()
    order = rng.permutation(N_ITEMS)
    rows = []
    for pos in range(N_ITEMS):
        l1, l2, l3 = classes[int(order[pos]) % len(classes)]
        noun, type_tags, usages = TAXONOMY[l1][l2][l3]
        brand = str(rng.choice(BRANDS[l1]))
        colour = str(rng.choice(COLOURS))
        adjective = str(rng.choice(ADJECTIVES))
        usage = str(rng.choice(usages))
        if l1 == "Apparel" or l2 == "Fitness":
            gender = str(rng.choice(["men", "women", "unisex"], p=[0.42, 0.42, 0.16]))
        else:
            gender = "unisex"
        if l3 in SEASON_OVERRIDES:
            season = SEASON_OVERRIDES[l3]
        elif l1 == "Apparel":
            season = str(rng.choice(["summer", "winter", "all-season"]))
        else:
            season = "all-season"
        gender_word = {"men": "men's ", "women": "women's ", "unisex": ""}[gender]
        title = f"{brand} {gender_word}{colour} {adjective} {noun}"
        tags = list(type_tags) + [adjective, colour, usage]
        if gender != "unisex":
            tags.append(gender)
        if season != "all-season":
            tags.append(season)
        tags = list(dict.fromkeys(tags))  # unique, order kept
        rows.append({
            "item_id": f"P{pos + 1:04d}", "title": title, "tags": "|".join(tags),
            "gender": gender, "colour": colour, "season": season, "usage": usage,
            "level1": l1, "level2": l2, "level3": l3, "brand": brand, "adjective": adjective,
        })
    return pd.DataFrame(rows)


def _to_thirds(value: float) -> float:
    """Round a relevance in [1, 3] to Home Depot's grid {1, 1.33, 1.67, ..., 3}."""
    return round(round(min(3.0, max(1.0, value)) * 3) / 3, 2)


def _queries(rng: np.random.Generator, items: pd.DataFrame) -> pd.DataFrame:
    """Queries built from a target product's words; ~6 judged products each, graded by match + noise."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    by_l3 = {k: v.index.to_numpy() for k, v in items.groupby("level3")}
    by_l2 = {k: v.index.to_numpy() for k, v in items.groupby("level2")}
    while len(seen) < N_QUERIES:
        target = items.iloc[int(rng.integers(len(items)))]
        noun = TAXONOMY[target.level1][target.level2][target.level3][0]
        attrs: dict[str, str] = {}
        if rng.random() < 0.5:
            attrs["colour"] = target.colour
        if rng.random() < 0.3:
            attrs["brand"] = target.brand
        if target.gender != "unisex" and rng.random() < 0.4:
            attrs["gender"] = target.gender
        if rng.random() < 0.2:
            attrs["adjective"] = target.adjective
        words = [attrs.get("brand", ""), attrs.get("colour", ""), attrs.get("adjective", ""), noun]
        words.append(attrs.get("gender", ""))
        query = " ".join(w for w in words if w).lower()
        if query in seen:
            continue
        seen.add(query)
        same_l3 = by_l3[target.level3]
        same_l2 = np.setdiff1d(by_l2[target.level2], same_l3)
        n_l3 = int(rng.integers(2, 5))
        n_l2 = int(rng.integers(1, 3))
        n_any = int(rng.integers(1, 3))
        picked = list(rng.choice(same_l3, size=min(n_l3, len(same_l3)), replace=False))
        if len(same_l2):
            picked += list(rng.choice(same_l2, size=min(n_l2, len(same_l2)), replace=False))
        picked += list(rng.choice(len(items), size=n_any, replace=False))
        for idx in dict.fromkeys(int(i) for i in picked):
            item = items.iloc[idx]
            if item.level3 == target.level3:
                type_score = 1.0
            elif item.level2 == target.level2:
                type_score = 0.35
            elif item.level1 == target.level1:
                type_score = 0.05
            else:
                type_score = 0.0
            matches = [item[field] == value for field, value in attrs.items()]
            attr_score = float(np.mean(matches)) if matches else 1.0
            score = type_score * (0.6 + 0.4 * attr_score)
            label = _to_thirds(1.0 + 2.0 * score + rng.normal(0.0, 0.2))
            rows.append({"query": query, "item_id": item.item_id, "label": label})
    return pd.DataFrame(rows)


def _interactions(rng: np.random.Generator, items: pd.DataFrame) -> pd.DataFrame:
    """Users with a taste for 1-3 level-2 categories: high ratings inside them, low outside."""
    level2 = sorted(items.level2.unique())
    popularity = 1.0 / np.arange(1, len(items) + 1) ** 0.8
    popularity = popularity[rng.permutation(len(items))]
    rows = []
    for u in range(N_USERS):
        favourites = set(rng.choice(level2, size=int(rng.integers(1, 4)), replace=False))
        in_fav = items.level2.isin(favourites).to_numpy()
        n_events = int(rng.integers(10, 23))
        t = T0 + int(rng.integers(0, 300 * 86400))
        used: set[int] = set()
        for _ in range(n_events):
            liked = rng.random() < 0.8
            pool = np.flatnonzero(in_fav if liked else ~in_fav)
            pool = np.array([i for i in pool if i not in used])
            if len(pool) == 0:
                continue
            weights = popularity[pool] / popularity[pool].sum()
            idx = int(rng.choice(pool, p=weights))
            used.add(idx)
            if liked:
                rating = int(rng.choice([3, 4, 5], p=[0.15, 0.4, 0.45]))
            else:
                rating = int(rng.choice([1, 2, 3, 4], p=[0.25, 0.35, 0.3, 0.1]))
            t += int(rng.exponential(2 * 86400)) + 60
            rows.append({"user_id": f"U{u + 1:03d}", "item_id": items.item_id.iat[idx],
                         "timestamp": t, "rating": rating})
    return pd.DataFrame(rows)


def _tag_events(rng: np.random.Generator, items: pd.DataFrame, interactions: pd.DataFrame) -> pd.DataFrame:
    """Users tag items they rated with the item's own tags and a few personal favourite tags."""
    tags_of = dict(zip(items.item_id, items.tags.str.split("|"), strict=True))
    users = sorted(interactions.user_id.unique())
    taggers = sorted(rng.choice(users, size=N_TAGGING_USERS, replace=False))
    rows = []
    for user in taggers:
        personal = list(rng.choice(PERSONAL_TAGS, size=2, replace=False))
        history = interactions[interactions.user_id == user].sort_values("rating", ascending=False, kind="stable")
        n = min(len(history), int(rng.integers(3, 7)))
        for _, event in history.head(n).iterrows():
            chosen: list[str] = []
            for _ in range(int(rng.integers(1, 4))):
                if rng.random() < 0.7:
                    chosen.append(str(rng.choice(tags_of[event.item_id])))
                else:
                    chosen.append(str(rng.choice(personal)))
            for tag in dict.fromkeys(chosen):
                rows.append({"user_id": user, "item_id": event.item_id, "tag": tag,
                             "timestamp": int(event.timestamp) + int(rng.integers(60, 86400))})
    return pd.DataFrame(rows)


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Build the four sample tables (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    items = _items(rng)
    queries = _queries(rng, items)
    interactions = _interactions(rng, items)
    tag_events = _tag_events(rng, items, interactions)
    items = items.drop(columns=["brand", "adjective"])
    return {"items": items, "queries": queries, "interactions": interactions, "tag_events": tag_events}


def write_sample(out_dir: str | Path, seed: int = SEED) -> list[Path]:
    """Write items.csv, queries.csv, interactions.csv and tag_events.csv into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in generate(seed).items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command line: regenerate the sample CSVs (default: data/sample next to this script)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "sample"),
                        help="output folder (default: the sample/ folder of this source tree)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in write_sample(args.out, args.seed):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

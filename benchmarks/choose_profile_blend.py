"""Choose each model's profile blend (``radius``, ``guard``, ``prior``: its registry ``blend``).

    .venv/bin/python benchmarks/choose_profile_blend.py [--writers 20] [--models knn,logreg]

On data the project makes, never on other people's images: simulated writers
(``digitlab.synth.writers``: a few styled digits and confusable ways each, one slant, width and
pen each) made from 1,000 MNIST validation digits, 25 samples of each digit; the first k of
each digit are taught, the rest predicted. The other 4,000 validation digits
measure what one writer's profile costs MNIST's own digits. The radius is searched in units
of the model's typical distance between a digit and its nearest neighbour of the same class.

A taught digit's radius is also bounded by ``guard`` times its distance to the nearest MNIST
training digit of another class (``profiles.adapt.guarded_radii``). Chosen per model: the fewest
pooled errors at k = 5 among the choices that cost no writer's profile more than 0.1 point on
those 4,000 digits, bring every taught digit back as taught and leave no writer with more
wrong digits than without a profile (the target's "no writer worse off").
"""

from __future__ import annotations

import argparse

import numpy as np

from digitlab.contract import answered_digits
from digitlab.evaluation.tables import markdown_table
from digitlab.models.registry import load_model, model_ids
from digitlab.profiles.adapt import (
    blend_distances,
    reference_embeddings,
    squared_distances,
)
from digitlab.synth.writers import first_k_of_each, simulated_writer
from digitlab.training.data import training_data

POOL = 1000  # validation digits the writers are made from; the rest measure MNIST's cost
PER_DIGIT = 25
# Radii in units of the typical distance from a digit to its nearest one of the same class.
RADII = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8)
# At most this many times the distance to the nearest MNIST digit of another class.
GUARDS = (0.25, 0.35, 0.5, 0.75, np.inf)
PRIORS = (0.03, 0.1, 0.3)
KS = (1, 3, 5)
PERCENT = {"k=1", "k=3", "k=5", "worst_cost", "back"}
MAX_COST = 0.001  # 0.1 point of MNIST validation accuracy, for every writer


def typical_distance(embedded: np.ndarray, labels: np.ndarray) -> float:
    """Median distance from a digit to its nearest other digit of the same class."""
    d2 = squared_distances(embedded[:1000], embedded[1000:])
    same = labels[:1000, None] == labels[None, 1000:]
    return float(np.sqrt(np.median(np.where(same, d2, np.inf).min(1))))


def other_class_distance(model, embedded: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each digit's distance to the nearest reference MNIST digit of another class."""
    ref, ref_labels = reference_embeddings(model)
    d2 = squared_distances(embedded, ref)
    return np.sqrt(np.where(ref_labels[None] != labels[:, None], d2, np.inf).min(1))


def prepare(model, writers, probe_emb):
    """Per writer and k: what the grid needs, computed once."""
    prepared = []
    for w in writers:
        emb, probs = model.embed(w.images), model.predict_proba_all(w.images)
        answered = answered_digits(probs, model.config)
        for k in KS:
            taught = first_k_of_each(w.labels, k)
            prepared.append({
                "k": k, "labels": w.labels, "taught": taught, "probs": probs,
                "base_wrong": int((answered[~taught] != w.labels[~taught]).sum()),
                "guard": other_class_distance(model, emb[taught], w.labels[taught]),
                "d2_rest": squared_distances(emb[~taught], emb[taught]),
                "d2_self": squared_distances(emb[taught], emb[taught]),
                "d2_probe": squared_distances(probe_emb, emb[taught]) if k == KS[-1] else None,
            })  # fmt: skip
    return prepared


def error_rate(model, prepared, k, radius, guard, prior, probe_base, probe_ok, probe_y) -> dict:
    """Pooled error of the rest at ``k``; taught digits back; worst MNIST cost (largest k);
    the most digits one writer gets wrong with the profile beyond those without it."""
    wrong = count = back = taught_n = 0
    worst_cost, worst_writer = 0.0, 0
    for p in (p for p in prepared if p["k"] == k):
        t, labels = p["taught"], p["labels"][p["taught"]]
        if radius == 0:
            rest = p["probs"][~t]
        else:
            radii = np.minimum(radius, guard * p["guard"])
            rest = blend_distances(p["probs"][~t], p["d2_rest"], labels, radii, prior)
            self_ = blend_distances(p["probs"][t], p["d2_self"], labels, radii, prior)
            back += int((answered_digits(self_, model.config) == labels).sum())
            if p["d2_probe"] is not None:
                probe = blend_distances(probe_base, p["d2_probe"], labels, radii, prior)
                ok = answered_digits(probe, model.config) == probe_y
                # Digits lost, counted (a difference of two shares can land a hair above an
                # exact 0.1 point in floating point), then as a share.
                lost = int(probe_ok.sum()) - int(ok.sum())
                worst_cost = max(worst_cost, lost / len(probe_y))
        mine = int((answered_digits(rest, model.config) != p["labels"][~t]).sum())
        worst_writer = max(worst_writer, mine - p["base_wrong"])
        wrong += mine
        count += int((~t).sum())
        taught_n += len(labels)
    return {
        "error": wrong / count,
        "back": back / taught_n,
        "worst_cost": worst_cost,
        "worst_writer": worst_writer,
    }


def measure(model, writers, probe_x, probe_y, scale) -> list[dict]:
    """Every (radius, guard, prior), and no profile first: pooled error per k, worst MNIST
    cost of one writer's profile (at the largest k), taught digits read back."""
    probe_base, probe_emb = model.predict_proba_all(probe_x), model.embed(probe_x)
    probe_ok = answered_digits(probe_base, model.config) == probe_y
    prepared = prepare(model, writers, probe_emb)
    grid = [(0.0, np.inf, 1.0)] + [(r, g, p) for r in RADII for g in GUARDS for p in PRIORS]
    rows = []
    for radius, guard, prior in grid:
        figures = {k: error_rate(model, prepared, k, radius * scale, guard, prior, probe_base,
                                 probe_ok, probe_y) for k in KS}  # fmt: skip
        last = figures[KS[-1]]
        rows.append({"radius": radius, "guard": guard, "prior": prior,
                     "abs_radius": radius * scale,
                     **{f"k={k}": figures[k]["error"] for k in KS},
                     "worst_cost": last["worst_cost"], "worst_writer": last["worst_writer"],
                     "back": last["back"] if radius else None})  # fmt: skip
    return rows


def within_cost(worst_cost: float, probe_n: int) -> bool:
    """At most ``MAX_COST`` of the ``probe_n`` MNIST digits lost, compared in digits."""
    return round(worst_cost * probe_n) <= MAX_COST * probe_n


def choose(rows: list[dict], probe_n: int) -> dict:
    """The fewest errors at k = 5 (then the smallest radius) among the blends that cost MNIST's
    probe digits at most ``MAX_COST``, bring every taught digit back and leave no writer with
    more wrong digits than without a profile."""
    allowed = [r for r in rows[1:] if within_cost(r["worst_cost"], probe_n) and r["back"] == 1.0
               and r["worst_writer"] <= 0]  # fmt: skip
    return min(allowed, key=lambda r: (r["k=5"], r["radius"]))


def summary_row(model_id: str, blend: dict, base: dict, best: dict) -> dict:
    """One model's chosen blend, its error with no profile and with it, per k."""
    return {"model": model_id, "blend": ", ".join(f"{k} {v:.3g}" for k, v in blend.items()),
            **{f"k={k}": f"{base[f'k={k}']:.2%} → {best[f'k={k}']:.2%}" for k in KS},
            "halved at k=5": "yes" if best["k=5"] <= base["k=5"] / 2 else "no"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--models", default="all", help="'all' or ids separated by commas")
    args = parser.parse_args()
    chosen_ids = model_ids() if args.models == "all" else args.models.split(",")
    data = training_data()
    order = np.random.default_rng(0).permutation(len(data.val_y))
    pool, probe = order[:POOL], order[POOL:]
    writers = [simulated_writer(data.val_x, data.val_y, pool, PER_DIGIT, seed)
               for seed in range(args.writers)]  # fmt: skip
    print(
        f"{len(writers)} simulated writers, {sum(len(w.labels) for w in writers)} digits; "
        f"MNIST cost on {len(probe)} other validation digits\n"
    )
    chosen, summary = {}, []
    for model_id in chosen_ids:
        model = load_model(model_id)
        probe_x, probe_y = data.val_x[probe], data.val_y[probe]
        scale = typical_distance(model.embed(probe_x), probe_y)
        rows = measure(model, writers, probe_x, probe_y, scale)
        best = choose(rows, len(probe_y))
        chosen[model_id] = {"radius": round(best["abs_radius"], 3), "guard": best["guard"],
                            "prior": best["prior"]}  # fmt: skip
        shown = [{key: (f"{v:.2%}" if isinstance(v, float) and key in PERCENT else
                        f"{v:.3g}" if isinstance(v, float) else str(v))
                  for key, v in r.items()} for r in rows]  # fmt: skip
        print(f"{model_id} (typical distance {scale:.3f}; radius 0 = no profile):")
        print(markdown_table(shown) + "\n", flush=True)
        summary.append(summary_row(model_id, chosen[model_id], rows[0], best))
    print(markdown_table(summary) + "\n")
    print("blend per model (models/registry.py):", chosen)


if __name__ == "__main__":
    main()

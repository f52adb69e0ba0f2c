"""Choose each model's profile blend (``radius``, ``prior`` in ``digitlab.profiles.BLEND``).

    PYTHONPATH=src .venv/bin/python benchmarks/choose_profile_blend.py [--writers 20]

On data the project makes, never on other people's images: simulated writers
(``digitlab.writers``) made from 1,000 MNIST validation digits, 25 samples of each digit; the
first k of each digit are taught, the rest predicted. The other 4,000 validation digits
measure what one writer's profile costs MNIST's own digits. The radius is searched in units
of the model's typical distance between a digit and its nearest neighbour of the same class.

Chosen per model: the fewest pooled errors at k = 5 among the choices that cost no writer's
profile more than 0.1 point on those 4,000 digits and bring every taught digit back as taught.
"""

from __future__ import annotations

import argparse

import numpy as np

from digitlab.evaluate import markdown_table
from digitlab.models.base import training_data
from digitlab.models.registry import MODEL_IDS, load_model
from digitlab.profiles import answered_digits, blend_distances, squared_distances
from digitlab.writers import first_k_of_each, simulated_writer

POOL = 1000  # validation digits the writers are made from; the rest measure MNIST's cost
PER_DIGIT = 25
# Radii in units of the typical distance from a digit to its nearest one of the same class.
RADII = (0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.4)
PRIORS = (0.03, 0.1, 0.3, 0.6)
KS = (1, 3, 5)
PERCENT = {"k=1", "k=3", "k=5", "worst_cost", "back"}
MAX_COST = 0.001  # 0.1 point of MNIST validation accuracy, for every writer


def typical_distance(embedded: np.ndarray, labels: np.ndarray) -> float:
    """Median distance from a digit to its nearest other digit of the same class."""
    d2 = squared_distances(embedded[:1000], embedded[1000:])
    same = labels[:1000, None] == labels[None, 1000:]
    return float(np.sqrt(np.median(np.where(same, d2, np.inf).min(1))))


def measure(model, writers, probe_x, probe_y, scale) -> list[dict]:
    """Every (radius, prior): pooled error per k, worst MNIST cost, taught digits back."""
    base_probe = model.predict_proba_all(probe_x)
    probe_emb = model.embed(probe_x)
    base_ok = answered_digits(base_probe, model.config) == probe_y
    prepared = []
    for w in writers:
        emb, probs = model.embed(w.images), model.predict_proba_all(w.images)
        for k in KS:
            taught = first_k_of_each(w.labels, k)
            d2_rest = squared_distances(emb[~taught], emb[taught])
            d2_self = squared_distances(emb[taught], emb[taught])
            d2_probe = squared_distances(probe_emb, emb[taught]) if k == 5 else None
            prepared.append((k, w, taught, probs, d2_rest, d2_self, d2_probe))
    rows = []
    for radius in RADII:
        for prior in PRIORS:
            r = radius * scale
            errors = dict.fromkeys(KS, 0)
            counts = dict.fromkeys(KS, 0)
            worst_cost, back, taught_n = 0.0, 0, 0
            for k, w, taught, probs, d2_rest, d2_self, d2_probe in prepared:
                labels_t = w.labels[taught]
                rest = blend_distances(probs[~taught], d2_rest, labels_t, r, prior)
                errors[k] += int((answered_digits(rest, model.config) != w.labels[~taught]).sum())
                counts[k] += int((~taught).sum())
                self_ = blend_distances(probs[taught], d2_self, labels_t, r, prior)
                back += int((answered_digits(self_, model.config) == labels_t).sum())
                taught_n += len(labels_t)
                if d2_probe is not None:
                    probe = blend_distances(base_probe, d2_probe, labels_t, r, prior)
                    ok = answered_digits(probe, model.config) == probe_y
                    worst_cost = max(worst_cost, float(base_ok.mean() - ok.mean()))
            rows.append({"radius": radius, "prior": prior, "abs_radius": r,
                         **{f"k={k}": errors[k] / counts[k] for k in KS},
                         "worst_cost": worst_cost, "back": back / taught_n})  # fmt: skip
    base_errors = {}
    for k in KS:
        wrong = total = 0
        for kk, w, taught, probs, *_ in prepared:
            if kk == k:
                wrong += int((answered_digits(probs[~taught], model.config)
                              != w.labels[~taught]).sum())  # fmt: skip
                total += int((~taught).sum())
        base_errors[k] = wrong / total
    rows.insert(
        0,
        {
            "radius": 0,
            "prior": "-",
            "abs_radius": 0,
            **{f"k={k}": base_errors[k] for k in KS},
            "worst_cost": 0.0,
            "back": None,
        },
    )
    return rows


def choose(rows: list[dict]) -> dict:
    allowed = [r for r in rows[1:] if r["worst_cost"] <= MAX_COST and r["back"] == 1.0]
    return min(allowed, key=lambda r: (r["k=5"], r["radius"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=20)
    args = parser.parse_args()
    data = training_data()
    order = np.random.default_rng(0).permutation(len(data.val_y))
    pool, probe = order[:POOL], order[POOL:]
    writers = [simulated_writer(data.val_x, data.val_y, pool, PER_DIGIT, seed)
               for seed in range(args.writers)]  # fmt: skip
    print(
        f"{len(writers)} simulated writers, {sum(len(w.labels) for w in writers)} digits; "
        f"MNIST cost on {len(probe)} other validation digits\n"
    )
    chosen = {}
    for model_id in MODEL_IDS:
        model = load_model(model_id)
        probe_x, probe_y = data.val_x[probe], data.val_y[probe]
        scale = typical_distance(model.embed(probe_x), probe_y)
        rows = measure(model, writers, probe_x, probe_y, scale)
        best = choose(rows)
        chosen[model_id] = {"radius": round(best["abs_radius"], 3), "prior": best["prior"]}
        shown = [{key: (f"{v:.2%}" if isinstance(v, float) and key in PERCENT else
                        f"{v:.3g}" if isinstance(v, float) else str(v))
                  for key, v in r.items()} for r in rows]  # fmt: skip
        print(f"{model_id} (typical distance {scale:.3f}; radius 0 = no profile):")
        print(markdown_table(shown) + "\n", flush=True)
    print("BLEND =", chosen)


if __name__ == "__main__":
    main()

"""What logistic regression should learn from besides MNIST, chosen on validation data only.

Each variant is fitted (C = 0.2, the value validation chose) on the 55,000 training-split
digits plus its extras, then read the 5,000 validation digits, validation digits rendered by
the pipeline and validation digits drawn in the styles MNIST lacks (other seeds than
training's). The variant with the best mean of the three is kept. Run::

    .venv/bin/python benchmarks/choose_logreg_extras.py
"""

from __future__ import annotations

import numpy as np

from digitlab.contract import NOT_A_DIGIT_CLASS as NOT_A_DIGIT
from digitlab.models.logreg import fit_softmax, flat_deskewed
from digitlab.synth.augment import rendered_pool
from digitlab.training.data import VALIDATION_SEED_OFFSET, extra_examples, training_data

C = 0.2


def main() -> None:
    data = training_data()
    extra_x, extra_y = data.extra_examples(6000, 8000, seed=0)
    rendered_x, rendered_y = data.rendered_pool(8000, 6000, seed=0)
    styled = extra_y != NOT_A_DIGIT
    negatives = extra_examples(data.val_x, data.val_y, 0, 2000, VALIDATION_SEED_OFFSET)[0]
    checks = {
        "val plain": (data.val_x, data.val_y),
        "val rendered": rendered_pool(data.val_x, data.val_y, 1000, 500, seed=1),
        "val styled": extra_examples(data.val_x, data.val_y, 1000, 0, VALIDATION_SEED_OFFSET),
    }
    parts = {
        "MNIST only": [(data.train_x, data.train_y)],
        "+ styled": [(data.train_x, data.train_y), (extra_x[styled], extra_y[styled])],
        "+ styled + rendered": [
            (data.train_x, data.train_y),
            (extra_x[styled], extra_y[styled]),
            (rendered_x, rendered_y),
        ],
        "+ styled + rendered + negatives": [
            (data.train_x, data.train_y),
            (extra_x, extra_y),
            (rendered_x, rendered_y),
        ],
    }
    print("| trained on | " + " | ".join(checks) + " | mean | negatives refused |")
    print("|---|" + "---|" * (len(checks) + 2))
    means = {}
    for name, pieces in parts.items():
        x = np.concatenate([p[0] for p in pieces])
        y = np.concatenate([p[1] for p in pieces])
        fitted = fit_softmax(flat_deskewed(x), y, C, seed=0)
        scores = [
            float((fitted.predict_proba(flat_deskewed(cx))[:, :10].argmax(1) == cy).mean())
            for cx, cy in checks.values()
        ]
        means[name] = float(np.mean(scores))
        refused = "-"
        if fitted.coef_.shape[0] == 11:
            refused = f"{(fitted.predict_proba(flat_deskewed(negatives))[:, 10] > 0.5).mean():.1%}"
        cells = " | ".join(f"{s:.2%}" for s in scores)
        print(f"| {name} | {cells} | {means[name]:.2%} | {refused} |", flush=True)
    print(f"\nchosen: {max(means, key=means.get)}")


if __name__ == "__main__":
    main()

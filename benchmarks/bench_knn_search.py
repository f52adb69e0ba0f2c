"""k-NN's exact search: FAISS's flat L2 index against our former torch code, in one run.

    .venv/bin/python benchmarks/bench_knn_search.py

Both search the shipped model's index (MNIST's 60,000 training digits plus its styled digits,
as PCA features) for the 10,000 test digits' features and must agree on the neighbours. The
torch search is the code k-NN used before (one matrix product and top-k per batch of 2,048
queries); memory is the largest extra array each holds: the torch search a 2,048 x rows
distance matrix per batch, FAISS one copy of the rows. Stores its figures in
``src/digitlab/results/knn_search.json`` for the README (``benchmarks/update_readme.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import torch

from digitlab.data.mnist import load_mnist
from digitlab.evaluation.mnist import best_of
from digitlab.evaluation.report import render_knn_search, write_results
from digitlab.models.knn import ExactSearch
from digitlab.models.registry import load_model

COMMAND = ".venv/bin/python benchmarks/bench_knn_search.py"

QUERY_BATCH = 2048


def torch_search(queries: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The former search: squared distances by one matrix product per batch, then top-k."""
    idx = torch.from_numpy(index)
    idx_sq = (idx * idx).sum(1)
    dists, found = [], []
    with torch.no_grad():
        for i in range(0, len(queries), QUERY_BATCH):
            q = torch.from_numpy(queries[i : i + QUERY_BATCH])
            d2 = (q * q).sum(1, keepdim=True) - 2 * q @ idx.T + idx_sq
            d, j = torch.topk(d2, k, dim=1, largest=False)
            dists.append(d.clamp_min(0).sqrt())
            found.append(j)
    return torch.cat(dists).numpy(), torch.cat(found).numpy()


def main() -> None:
    model = load_model("knn")
    rows, _ = model.index()
    queries = model.features(load_mnist("test")[0])
    k = model.config["k"]
    torch_s, (_, torch_idx) = best_of(3, lambda: torch_search(queries, rows, k))
    search = ExactSearch(rows)
    faiss_s, (_, faiss_idx) = best_of(3, lambda: search.search(queries, k))
    same = float((torch_idx == faiss_idx).mean())
    batch_mib = QUERY_BATCH * len(rows) * 4 / 2**20
    rows_mib = rows.nbytes / 2**20
    write_results("knn_search", {
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d}", "command": COMMAND,
        "index": f"{rows.shape[0]:,} x {rows.shape[1]} index, {len(queries):,} queries, k={k}",
        "speedup": torch_s / faiss_s,
        "searches": [
            {"name": "torch matmul + top-k (former)", "seconds": torch_s,
             "memory": f"{batch_mib:.0f} MiB distance matrix per batch", "same": None},
            {"name": "FAISS IndexFlatL2 (shipped)", "seconds": faiss_s,
             "memory": f"{rows_mib:.0f} MiB copy of the rows", "same": same},
        ],
    })  # fmt: skip
    print(render_knn_search())


if __name__ == "__main__":
    main()

"""Benchmark: the risk model and the records ceiling on fresh worlds, as a reviewer would.

For each world asked for (a seed, and a factor on every error rate), this makes the world,
loads every night through the connectors, trains linkage and links each night, trains the
risk models against the world's truth, scores the newest night, and then measures the
records ceiling beside the product on the same persons (`bench/risk_ceiling.py`). Nothing
is timed as a figure; each world's lines are printed as they come.

    .venv/bin/python bench/risk_worlds.py --people 60000 --seeds 21 --errors 1 3 \\
        --out /tmp/jworlds
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

# This folder's alerts.py would stand in for the alerts package: look from the top.
sys.path[0] = str(Path(__file__).resolve().parents[1])


def _ceiling_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "risk_ceiling", Path(__file__).with_name("risk_ceiling.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_world(people: int, seed: int, errors: float, out: Path, resamples: int) -> None:
    """Make, load, link, train and score one world; print the model's and the ceiling's."""
    from connectors.config import load_sources
    from connectors.ingest import ingest_night
    from connectors.warehouse import Warehouse
    from matching import link_night, train_model
    from risk_models import score_night, train_risk
    from world.config import ErrorRates, WorldConfig
    from world.generate import generate
    from world.police_api import BackgroundServer

    base = ErrorRates()
    rates = ErrorRates(
        **{k: min(1.0, v * errors) for k, v in base.model_dump().items()}  # type: ignore[arg-type]
    )
    cfg = WorldConfig(people=people, seed=seed, nights=2, errors=rates)
    folder = out / f"seed{seed}-errors{errors:g}"
    t = time.perf_counter()
    world = generate(cfg, folder / "world").out
    os.environ["JOINEDUP_DATA"] = str(folder)
    os.environ.pop("JOINEDUP_WAREHOUSE", None)
    warehouse = folder / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    nights = [
        dt.date.fromisoformat(n["date"])
        for n in json.loads((world / "world.json").read_text())["nights"]
    ]
    with BackgroundServer(world, "tok") as api:
        os.environ.update(
            {
                "JOINEDUP_WORLD": str(world),
                "JOINEDUP_POLICE_URL": api.url,
                "JOINEDUP_POLICE_TOKEN": "tok",
            }
        )
        sources = load_sources(Path(sys.path[0]) / "pipelines" / "config" / "sources.yaml")
        for night in nights:
            wh = Warehouse(warehouse)
            try:
                ingest_night(wh, sources, night)
            finally:
                wh.close()
            if night == nights[0]:
                model = train_model(warehouse, folder / "models")
            link_night(warehouse, night, model, 0.9)
    trained = train_risk(warehouse, folder / "models", world=world)
    score_night(warehouse, nights[-1], trained.folder)
    print(
        f"world seed {seed}, errors x{errors:g}, {people:,} people: made, loaded, linked, "
        f"trained and scored in {time.perf_counter() - t:.0f} s"
    )
    print("\n".join(f"  {line}" for line in trained.lines))
    _ceiling_module().main(
        ["--world", str(world), "--warehouse", str(warehouse), "--resamples", str(resamples)]
    )


def main() -> None:
    """Each seed with each error factor, one after the other."""
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=60_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[21])
    p.add_argument("--errors", type=float, nargs="+", default=[1.0, 3.0])
    p.add_argument("--resamples", type=int, default=200)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    for seed in args.seeds:
        for errors in args.errors:
            one_world(args.people, seed, errors, args.out, args.resamples)


if __name__ == "__main__":
    main()

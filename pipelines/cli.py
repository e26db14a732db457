"""The `joinedup` command."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.config import ConfigError, load_settings
from pipelines import demo
from pipelines.environment import police_token
from world.config import WorldConfig
from world.generate import WorldError, generate


class UsageError(Exception):
    """Bad options: printed as one clear message, exit status 2, nothing written."""


def world_config(args: argparse.Namespace) -> WorldConfig:
    """Settings from a YAML file, then --set overrides, then the named options."""
    overrides: dict[str, Any] = {}
    for item in args.set or []:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, for example errors.typo=0.05")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    for name in ("people", "seed", "nights", "first_night"):
        value = getattr(args, name)
        if value is not None:
            overrides.pop(name, None)  # the named option comes last: it wins
            overrides[name] = value
    path = Path(args.config) if args.config else None
    try:
        return load_settings(path, WorldConfig, expand_env=False, overrides=overrides)
    except ConfigError as exc:
        raise UsageError("invalid world settings:\n" + textwrap.indent(str(exc), "  ")) from exc


def cmd_world(args: argparse.Namespace) -> int:
    """joinedup world: make a synthetic world."""
    cfg = world_config(args)
    try:
        report = generate(cfg, Path(args.out))
    except WorldError as exc:
        raise UsageError(str(exc)) from exc
    demo.print_world(report)
    return 0


def cmd_police_api(args: argparse.Namespace) -> int:
    """joinedup police-api: serve a world's police incidents on loopback."""
    import uvicorn

    from world.police_api import create_app

    token = police_token() or secrets.token_urlsafe(24)
    if not police_token():
        print(f"JOINEDUP_POLICE_TOKEN not set; this run's token is: {token}")
    print(f"police API on http://127.0.0.1:{args.port}/api/v1/incidents (Ctrl-C stops it)")
    uvicorn.run(
        create_app(Path(args.world), token), host="127.0.0.1", port=args.port, log_level="warning"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """joinedup run: the nightly job in this process, night by night."""
    from pipelines.environment import world_dir
    from pipelines.nightly import run_night

    if args.all:
        root = world_dir() / "extracts"
        nights = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not nights:
            raise UsageError(f"--all: no nights found in {root}")
    else:
        nights = args.night or []
        if not nights:
            raise UsageError("name a night with --night YYYY-MM-DD, or --all")
    try:
        dates = [dt.date.fromisoformat(n) for n in nights]
    except ValueError as exc:
        raise UsageError(f"--night: {exc}; expected YYYY-MM-DD") from exc
    _warehouse_free()
    ok = True
    for night in dates:
        success, lines = run_night(night, args.source)
        print(f"night {night}: {'complete' if success else 'finished with failures'}")
        for line in lines:
            print(f"  {line}")
        ok = ok and success
    return 0 if ok else 1


def cmd_load(args: argparse.Namespace) -> int:
    """joinedup load release: accept a held load, as a person decided, with the reason."""
    import getpass

    from connectors.config import ConfigError, load_sources
    from connectors.ingest import ReleaseError, release_load
    from connectors.warehouse import Warehouse, WarehouseBusy
    from pipelines.environment import (
        set_world_defaults,
        sources_file,
        warehouse_path,
        warehouse_wait,
    )

    night = _date(args.night, "--night")
    if not warehouse_path().is_file():
        raise UsageError(f"no warehouse at {warehouse_path()}: nothing has been loaded")
    set_world_defaults()
    try:
        source = load_sources(sources_file(), only=[args.source])[args.source]
        wh = Warehouse(warehouse_path(), warehouse_wait())
    except (ConfigError, WarehouseBusy) as exc:
        raise UsageError(str(exc)) from exc
    try:
        report = release_load(
            wh, args.source, source, night, args.by or getpass.getuser(), args.reason
        )
    except ReleaseError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        wh.close()
    print(report.line())
    if report.status != "complete":
        return 1
    print(
        f"released by {report.released_by}, recorded in load_releases; link and score the "
        f"night again with `joinedup run --night {night}`"
    )
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    """joinedup sources check: try sources' config on their extract or a sample, writing nothing."""
    from connectors.check import CheckError, check_source, with_sample
    from connectors.config import ConfigError, load_sources
    from pipelines.environment import set_world_defaults, sources_file

    night = _date(args.night, "--night") if args.night else dt.date.today()
    if args.file and not args.source:
        raise UsageError("--file needs --source: the source whose config reads it")
    set_world_defaults()
    try:
        sources = load_sources(sources_file(), only=[args.source] if args.source else None)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    ok = True
    for name, configured in sources.items():
        try:
            source = (
                with_sample(configured, Path(args.file), args.table) if args.file else configured
            )
        except CheckError as exc:
            raise UsageError(str(exc)) from exc
        found = check_source(name, source, night)
        print("\n".join(found.lines()))
        ok = ok and found.ok
    return 0 if ok else 1


def _warehouse_free() -> None:
    """Stop with one sentence if another process holds the warehouse past the wait."""
    from connectors.warehouse import Warehouse, WarehouseBusy
    from pipelines.environment import warehouse_path, warehouse_wait

    try:
        Warehouse(warehouse_path(), warehouse_wait()).close()
    except WarehouseBusy as exc:
        raise UsageError(str(exc)) from exc


def cmd_link(args: argparse.Namespace) -> int:
    """joinedup link: train the linkage model, or link nights into persons."""
    from matching import latest_model, link_night, matching_config, train_model
    from pipelines.environment import matching_file, models_dir, warehouse_path, world_dir

    if args.action == "files":  # any configured extracts, to files: no warehouse
        return _link_files(args)
    warehouse = warehouse_path()
    if not warehouse.is_file():
        raise UsageError(f"no warehouse at {warehouse}: load some nights first (joinedup run)")
    if args.action == "train":
        try:
            path = train_model(warehouse, models_dir())
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        print(f"trained {path}")
        for skipped in json.loads(path.read_text()).get("skipped_em_sessions", []):
            print(f"  skipped {skipped}")
        return 0
    if args.action == "evaluate":
        return _evaluate(warehouse, args)
    try:
        settings = matching_config(matching_file())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    threshold = args.threshold if args.threshold is not None else settings.threshold
    if not 0.0 < threshold < 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, got {threshold}")
    model = latest_model(models_dir())
    if model is None:
        raise UsageError("no trained model: run `joinedup link train` first")
    if args.all:
        root = world_dir() / "extracts"
        nights = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    else:
        nights = args.night or []
    if not nights:
        raise UsageError("name a night with --night YYYY-MM-DD, or --all")
    for night in nights:
        try:
            report = link_night(
                warehouse,
                dt.date.fromisoformat(night),
                model,
                threshold,
                incremental=not args.full,
                max_pairs_per_rule=settings.max_pairs_per_rule,
                again=args.again,
            )
        except ValueError as exc:  # a model that does not fit, or nights out of order
            raise UsageError(str(exc)) from exc
        mode = "" if report.status != "linked" else f" ({report.mode})"
        print(f"night {night}{mode}: {report.line()}")
    return 0


def _link_files(args: argparse.Namespace) -> int:
    """Link the extracts a config names, or deduplicate one, writing files to --out."""
    from matching.files import LinkFilesError, link_files

    if not args.config or not args.out:
        raise UsageError("files needs --config FILE (sources and linkage) and --out DIR")
    model = Path(args.model) if args.model else None
    try:
        report = link_files(Path(args.config), Path(args.out), model, args.threshold, args.force)
    except LinkFilesError as exc:
        raise UsageError(str(exc)) from exc
    print("\n".join(report.lines()))
    return 0


def _evaluate(warehouse: Path, args: argparse.Namespace) -> int:
    """Score the newest night's pairs, links kept and persons against clerical labels."""
    import duckdb
    import polars as pl

    from matching.evaluate import (
        LabelsError,
        label_cluster_scores,
        label_scores,
        read_labels,
    )

    if not args.labels:
        raise UsageError("evaluate needs --labels FILE: a CSV of unique_id_l, unique_id_r, label")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        known = {
            r[0]
            for r in con.execute(
                "SELECT source || ':' || source_record_id FROM person_records"
                " WHERE valid_to IS NULL"
            ).fetchall()
        }
        pairs = con.sql("SELECT * FROM linkage_pairs").pl()
        persons = con.sql("SELECT unique_id, person_id FROM persons WHERE valid_to IS NULL").pl()
        run = con.execute(
            "SELECT night, threshold FROM linkage_runs ORDER BY night DESC, finished_at DESC"
            " LIMIT 1"
        ).fetchall()
    except duckdb.CatalogException as exc:
        raise UsageError("no linked night to evaluate: run `joinedup link run` first") from exc
    finally:
        con.close()
    try:
        labels = read_labels(args.labels, known)
    except LabelsError as exc:
        raise UsageError(str(exc)) from exc
    print(f"{labels.height:,} labelled pairs; newest night's {pairs.height:,} scored pairs")
    for threshold in (0.5, 0.8, 0.9, 0.95, 0.99):
        print(f"  pairs at {threshold}: {label_scores(pairs, labels, threshold).line()}")
    if run:
        night, threshold = run[0]
        kept = pairs.filter(~pl.col("refused_by_clustering").fill_null(False))
        print(
            f"  links kept at night {night}'s threshold {threshold} (none the clustering "
            f"refused): {label_scores(kept, labels, threshold).line()}"
        )
        print(
            f"  persons (clusters) of night {night}: {label_cluster_scores(persons, labels).line()}"
        )
    return 0


# The options each `joinedup risk` action reads; any other given is refused, not ignored.
RISK_OPTIONS = {
    "train": {"world"},
    "evaluate": {"model", "kind", "threshold", "capacity", "world", "out"},
    "score": {"night", "all", "model"},
    "backtest": {"model", "kind", "threshold", "capacity", "start", "end", "every", "out"},
}
RISK_FLAGS = {"start": "--from", "end": "--to"}


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r}: expected a date, YYYY-MM-DD") from exc


def cmd_risk(args: argparse.Namespace) -> int:
    """joinedup risk: train and judge the risk model, score nights, backtest."""
    from pipelines.environment import warehouse_path
    from risk_models import RISK_ERRORS

    given = {
        name
        for name in set().union(*RISK_OPTIONS.values())
        if getattr(args, name) not in (None, False, [])
    }
    unread = sorted(given - RISK_OPTIONS[args.action])
    if unread:
        flags = ", ".join(RISK_FLAGS.get(n, f"--{n}") for n in unread)
        raise UsageError(f"{args.action} does not take {flags}")
    warehouse = warehouse_path()
    if not warehouse.is_file():
        raise UsageError(f"no warehouse at {warehouse}: load and link some nights first")
    if args.world is not None and not (Path(args.world) / "truth").is_dir():
        raise UsageError(f"--world {args.world}: not a world folder (no truth/ in it)")
    try:
        if args.action == "train":
            return _risk_train(warehouse, args)
        if args.action == "evaluate":
            return _risk_evaluate(warehouse, args)
        if args.action == "score":
            return _risk_score(warehouse, args)
        return _risk_backtest(warehouse, args)
    except RISK_ERRORS as exc:
        raise UsageError(str(exc)) from exc


def _risk_train(warehouse: Path, args: argparse.Namespace) -> int:
    from pipelines.environment import models_dir
    from risk_models import train_risk

    print("\n".join(_bring_back_outcomes(warehouse, dt.datetime.now(dt.UTC))))
    report = train_risk(warehouse, models_dir(), Path(args.world) if args.world else None)
    print("\n".join(report.lines))
    for report_file in sorted(report.folder.glob("*/**/evaluation.html")):
        print(f"  report: {report_file}")
    return 0


def _risk_evaluate(warehouse: Path, args: argparse.Namespace) -> int:
    from pipelines.environment import models_dir
    from risk_models import evaluate_risk, model_folder

    report = evaluate_risk(
        warehouse,
        model_folder(models_dir(), args.model),
        args.kind,
        args.threshold,
        args.capacity,
        Path(args.world) if args.world else None,
        Path(args.out) if args.out else None,
    )
    print("\n".join(report.lines))
    for written in report.written:
        print(f"  wrote {written}")
    return 0


def _risk_score(warehouse: Path, args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.environment import models_dir
    from risk_models import linked_nights, model_folder, risk_settings, score_night, scoring_model

    if args.all == bool(args.night):
        raise UsageError("name a night with --night YYYY-MM-DD, or --all (not both)")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        linked = linked_nights(con)
    finally:
        con.close()
    nights = linked if args.all else [_date(n, "--night") for n in args.night]
    unlinked = [str(n) for n in nights if n not in linked]
    if unlinked or not nights:
        span = f"linked nights run {linked[0]} to {linked[-1]}" if linked else "none is linked"
        raise UsageError(f"night {', '.join(unlinked) or '(none)'} not linked: {span}")
    # Everything a night needs is checked before the first night is written.
    folder = model_folder(models_dir(), args.model)
    settings = risk_settings()
    scoring_model(folder)
    for night in sorted(nights):
        report = score_night(warehouse, night, folder, settings)
        print(f"night {night}: {report.line()}")
    return 0


def _risk_backtest(warehouse: Path, args: argparse.Namespace) -> int:
    from pipelines.environment import models_dir
    from risk_models import backtest_risk, model_folder

    if not args.start or not args.end:
        raise UsageError("backtest needs --from YYYY-MM-DD and --to YYYY-MM-DD")
    report = backtest_risk(
        warehouse,
        model_folder(models_dir(), args.model),
        _date(args.start, "--from"),
        _date(args.end, "--to"),
        args.every if args.every is not None else 7,
        args.kind,
        args.threshold,
        args.capacity,
        Path(args.out) if args.out else None,
    )
    print("\n".join(report.lines))
    for written in report.written:
        print(f"  wrote {written}")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    """joinedup alerts: select, route and deliver a night's alerts; retry; escalate."""
    from alerts import ConfigError, WarehouseError, escalate, retry_failed, run_alerts
    from pipelines.environment import alerts_file, store_url, warehouse_path

    now = dt.datetime.now(dt.UTC)
    try:
        if args.action == "outcomes":
            print("\n".join(_bring_back_outcomes(warehouse_path(), now)))
        elif args.action == "run":
            if not args.night:
                raise UsageError("name a night with --night YYYY-MM-DD")
            # Last night's closures go back to the warehouse before tonight's alerts.
            print("\n".join(_bring_back_outcomes(warehouse_path(), now)))
            for night in args.night:
                try:
                    date = dt.date.fromisoformat(night)
                except ValueError as exc:
                    raise UsageError(f"--night: {exc}; expected YYYY-MM-DD") from exc
                report = run_alerts(warehouse_path(), date, store_url(), alerts_file(), now)
                print("\n".join(report.lines()))
        elif args.action == "retry":
            print("\n".join(retry_failed(store_url(), alerts_file(), now).lines()))
        else:
            print("\n".join(escalate(store_url(), alerts_file(), now).lines()))
    except (ConfigError, WarehouseError) as exc:
        raise UsageError(str(exc)) from exc
    return 0


def _bring_back_outcomes(warehouse: Path, now: dt.datetime) -> list[str]:
    """Closed alerts' outcomes into the warehouse as labels (report lines)."""
    from inbox.outcomes import OutcomesCopyError, copy_outcomes
    from pipelines.environment import store_url
    from risk_models.features import FeaturesError

    url = store_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return [f"outcomes: no operational store at {url} yet: nothing to bring back"]
    try:
        return copy_outcomes(url, warehouse, now).lines()
    except (OutcomesCopyError, FeaturesError) as exc:
        raise UsageError(str(exc)) from exc


def cmd_inbox(args: argparse.Namespace) -> int:
    """joinedup inbox: seed demo users if there are none, then serve the inbox on loopback."""
    import os

    import uvicorn

    from alerts import ConfigError
    from inbox.app import create_app
    from inbox.users import seed_demo_store, sign_in_lines
    from pipelines.environment import alerts_file, inbox_secret, store_url

    # The inbox sends nothing, but the alerts config names the mail relay in its targets.
    os.environ.setdefault("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    secret = inbox_secret() or secrets.token_urlsafe(32)
    try:
        app = create_app(store_url(), alerts_file(), secret)
        made = seed_demo_store(store_url(), alerts_file(), dt.datetime.now(dt.UTC))
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    if made:
        print("Demo users (shown once; the store keeps only argon2 hashes):")
        print("\n".join(sign_in_lines(made)))
    if not inbox_secret():
        print("JOINEDUP_INBOX_SECRET is not set: sessions end when the inbox stops.")
    print(f"The inbox: http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """joinedup demo: the whole product as it stands, on the embedded default."""
    return demo.run(people=args.people, nights=args.nights, fresh=args.fresh)


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    p = argparse.ArgumentParser(prog="joinedup", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("world", help="make a synthetic multi-agency world")
    w.add_argument("--people", type=int, help="people on the first night (default 20000)")
    w.add_argument("--seed", type=int, help="random seed: the same seed gives the same bytes")
    w.add_argument("--nights", type=int, help="nightly extracts to write (default 3)")
    w.add_argument("--first-night", dest="first_night", help="date of the first night, YYYY-MM-DD")
    w.add_argument("--out", required=True, help="folder to write (new, empty, or an earlier world)")
    w.add_argument("--config", help="YAML file of settings (errors:, nightly:, population:)")
    w.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="one setting, for example errors.typo=0.05 (repeatable)",
    )
    w.set_defaults(func=cmd_world)

    a = sub.add_parser("police-api", help="serve a world's police incidents on 127.0.0.1")
    a.add_argument("--world", required=True, help="world folder")
    a.add_argument("--port", type=int, default=8765)
    a.set_defaults(func=cmd_police_api)

    r = sub.add_parser("run", help="run the nightly job in this process (no Dagster server)")
    r.add_argument("--night", action="append", help="night to load, YYYY-MM-DD (repeatable)")
    r.add_argument("--all", action="store_true", help="every night in the world, oldest first")
    r.add_argument("--source", action="append", help="only these sources (repeatable)")
    r.set_defaults(func=cmd_run)

    ld = sub.add_parser("load", help="release a held load: accept a drop a guard held")
    ld.add_argument("action", choices=["release"])
    ld.add_argument("--source", required=True, help="the source whose load was held")
    ld.add_argument("--night", required=True, help="the night held, YYYY-MM-DD")
    ld.add_argument("--reason", required=True, help="why the drop is real (recorded)")
    ld.add_argument("--by", help="who releases it (default: the signed-in user)")
    ld.set_defaults(func=cmd_load)

    sc = sub.add_parser(
        "sources", help="check sources' config against their extract or a sample, writing nothing"
    )
    sc.add_argument("action", choices=["check"])
    sc.add_argument("--source", help="one source (default: every one)")
    sc.add_argument("--file", help="a sample file or folder read in place of the night's extract")
    sc.add_argument("--table", help="the table the sample file is for, where a source has several")
    sc.add_argument("--night", help="the night to read, YYYY-MM-DD (default: today)")
    sc.set_defaults(func=cmd_sources)

    lk = sub.add_parser(
        "link", help="train the linkage model, link nights into persons, or link any files"
    )
    lk.add_argument("action", choices=["train", "run", "evaluate", "files"])
    lk.add_argument("--config", help="files: YAML naming the extracts and the linkage settings")
    lk.add_argument("--out", help="files: folder for pairs, clusters and the summary")
    lk.add_argument("--model", help="files: a saved model (data/models/linkage-vN.json)")
    lk.add_argument("--force", action="store_true", help="files: replace an earlier run's files")
    lk.add_argument("--labels", help="evaluate: CSV of unique_id_l, unique_id_r, label")
    lk.add_argument("--night", action="append", help="night to link, YYYY-MM-DD (repeatable)")
    lk.add_argument("--all", action="store_true", help="every night in the world, oldest first")
    lk.add_argument("--threshold", type=float, help="override pipelines/config/matching.yaml")
    lk.add_argument(
        "--full",
        action="store_true",
        help="score every record, even where the night could link incrementally",
    )
    lk.add_argument(
        "--again",
        action="store_true",
        help="link the newest night again even if nothing loaded since it was linked",
    )
    lk.set_defaults(func=cmd_link)

    rk = sub.add_parser(
        "risk", help="train and judge the risk model, score nights, backtest a model or threshold"
    )
    rk.add_argument("action", choices=list(RISK_OPTIONS))
    rk.add_argument("--world", help="train, evaluate: also judge against this world's truth")
    rk.add_argument("--model", help="a trained version, e.g. risk-v2 (default: the newest)")
    rk.add_argument("--kind", choices=["logistic", "boosted"], help="default: the one that scores")
    rk.add_argument("--threshold", type=float, help="override risk.yaml's model.threshold")
    rk.add_argument("--capacity", type=int, help="override risk.yaml's model.capacity")
    rk.add_argument("--night", action="append", help="score: night, YYYY-MM-DD (repeatable)")
    rk.add_argument("--all", action="store_true", help="score: every linked night, oldest first")
    rk.add_argument("--from", dest="start", help="backtest: the first as-of date, YYYY-MM-DD")
    rk.add_argument("--to", dest="end", help="backtest: the last as-of date, YYYY-MM-DD")
    rk.add_argument("--every", type=int, help="backtest: days between as-of dates (default 7)")
    rk.add_argument("--out", help="evaluate, backtest: folder for the files written")
    rk.set_defaults(func=cmd_risk)

    al = sub.add_parser(
        "alerts",
        help="select, route and deliver alerts; retry; escalate; bring closed alerts' "
        "outcomes back to the warehouse",
    )
    al.add_argument("action", choices=["run", "retry", "escalate", "outcomes"])
    al.add_argument("--night", action="append", help="run: night scored, YYYY-MM-DD (repeatable)")
    al.set_defaults(func=cmd_alerts)

    ib = sub.add_parser("inbox", help="serve the inbox (seeds demo users if there are none)")
    ib.add_argument("--host", default="127.0.0.1")
    ib.add_argument("--port", type=int, default=8000)
    ib.set_defaults(func=cmd_inbox)

    d = sub.add_parser("demo", help="run the product end to end on a default world")
    d.add_argument("--people", type=int, default=20_000)
    d.add_argument("--nights", type=int, default=3)
    d.add_argument("--fresh", action="store_true", help="make the world anew even if one is there")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `joinedup` console command."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"joinedup {args.command}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

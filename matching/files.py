"""`joinedup link files`: link any configured extracts, or deduplicate one, into files.

An analyst writes one YAML file: the extracts, as sources in the connectors' format
(`docs/connectors.md`), and a `linkage:` block. Each extract is read and standardised as
the nightly run would, but nothing goes to the warehouse: rows that cannot be standardised
are written to `quarantine.csv` with their reasons, and linkage goes on with the rest. A
model is trained on these records (or a saved one is used), pairs are scored, and records
are clustered. The out folder gets `pairs.csv`, `clusters.csv`, `quarantine.csv`,
`field_issues.csv`, `model.json` and `summary.json`, all at the end, or nothing at all.

In `link` mode only pairs of records from different sources are scored (Splink's
`link_only`); in `dedupe` mode every pair is (one source deduplicated, or several linked
and deduplicated at once).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from common import ConfigFile, read_yaml, validate
from connectors import (
    CONTRACT_FIELDS,
    QUARANTINE_SCHEMA,
    ConfigError,
    ExtractError,
    Source,
    extract_table,
    sources_in,
    standardise,
)
from matching.any_extracts import fit_to_mode
from matching.evaluate import (
    LabelsError,
    blocking_recall,
    label_cluster_scores,
    label_scores,
    read_labels,
)
from matching.evidence import prior_weight
from matching.fallbacks import Fallback, of_first_names, of_prior, of_threshold, of_training
from matching.link import ModelMismatch, check_model_fits, link, train
from matching.mapped import (
    Aside,
    Failed,
    failed_values,
    field_uses,
    take_beyond_contract,
    use_lines,
)
from matching.prepare import prepare, unique_id

OUTPUTS = (
    "pairs.csv",
    "clusters.csv",
    "quarantine.csv",
    "field_issues.csv",
    "model.json",
    "summary.json",
)
FILE_KINDS = ("csv", "xlsx", "parquet")


class LinkFilesError(ValueError):
    """A request that cannot be carried out; the message says which file, key or option."""


class LinkageSettings(BaseModel):
    """The `linkage:` block of a link-files config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["link", "dedupe"] | None = Field(
        None,
        description="link: pairs across sources only; dedupe: every pair. "
        "Unset: dedupe for one source, link for several",
    )
    threshold: float = Field(0.9, gt=0.0, lt=1.0, description="match probability to link at")
    night: dt.date | None = Field(
        None, description="the date put into {date} in locations; today if unset"
    )
    seed: int = Field(1, description="seed of the random pairs that estimate u")
    u_sample_pairs: int = Field(
        1_000_000, ge=10_000, le=100_000_000, description="random pairs that estimate u"
    )
    max_pairs_per_rule: int = Field(
        50_000_000, gt=0, description="refuse a blocking rule estimated to make more pairs"
    )
    one_record_per_person: list[str] = Field(
        default_factory=list,
        description="sources that hold at most one record of a person: none of their "
        "records is put in one cluster with another of them (1:1, or 1:many)",
    )
    task: Literal["persons", "households"] = Field(
        "persons",
        description="persons: records of one person together; households: records of "
        "people who live together, from address and surname",
    )
    postcode_rule: Literal["uk", "us", "au", "ie", "any"] | None = Field(
        None,
        description="whose postcodes the extracts hold, for every postcode field that does "
        "not say (`country:`): uk (the default), us (ZIP), au, ie (Eircode) or any (any code)",
    )
    one_to_one: bool = Field(
        False,
        description="every source holds a person once: each record links to at most one "
        "record of each other source (one_record_per_person for them all)",
    )
    labels: str | None = Field(
        None,
        description="CSV of pairs an analyst has judged (unique_id_l, unique_id_r, label: "
        "match, non-match or unsure, as `joinedup link review` writes), relative to this "
        "file: m where EM cannot train, and how well the run did on them",
    )
    first_names_vary: list[str] = Field(
        default_factory=list,
        description="sources known to abbreviate or replace first names: their first names "
        "are weighed in the score and never keep two records apart (found from the data "
        "too, where the pairs the rest of the evidence is sure of show it)",
    )


@dataclass(frozen=True)
class LinkConfig:
    """A validated link-files config: what to read and how to link it."""

    path: Path
    settings: LinkageSettings
    sources: dict[str, Source]
    asides: list[Aside] = field(default_factory=list)

    @property
    def one_per_person(self) -> list[str]:
        """The sources that hold a person once: every source with `one_to_one`."""
        if self.settings.one_to_one:
            return list(self.sources)
        return self.settings.one_record_per_person

    @property
    def mode(self) -> Literal["link", "dedupe"]:
        """The mode set, or the one implied by the number of sources."""
        if self.settings.mode is not None:
            return self.settings.mode
        return "link" if len(self.sources) > 1 else "dedupe"

    @property
    def night(self) -> dt.date:
        """The date that fills `{date}` in the sources' locations."""
        return self.settings.night or dt.date.today()


def _read_yaml(path: Path) -> ConfigFile:
    try:
        file = read_yaml(path)
    except ConfigError as exc:
        if not path.exists():
            raise LinkFilesError(f"{path}: no such config file") from exc
        raise LinkFilesError(str(exc)) from exc
    raw = file.data
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), dict):
        raise LinkFilesError(
            f"{path}: expected a top-level `sources:` mapping (the extracts, in the "
            "connectors' format) and an optional `linkage:` block"
        )
    unknown = sorted(set(raw) - {"sources", "linkage"})
    if unknown:
        raise LinkFilesError(f"{path}: unknown top-level key(s) {unknown}; known: sources, linkage")
    return file


def _sources(
    path: Path, file: ConfigFile, night: dt.date, postcode_rule: str | None
) -> tuple[dict[str, Source], list[Aside]]:
    """The sources, validated by the connectors' own loader, and the fields set aside
    before it (`matching.mapped.take_beyond_contract`); errors name this file's lines."""
    given, asides = take_beyond_contract(file.data["sources"], night, postcode_rule)
    try:
        sources = sources_in(ConfigFile(path, {"sources": given}, file.lines))
    except ConfigError as exc:
        raise LinkFilesError(str(exc)) from exc
    # Folders given relative to the config are read from beside it.
    here = path.resolve().parent
    located = {
        name: source.model_copy(update={"location": str(here / source.location)})
        if source.kind in FILE_KINDS and not Path(source.location).is_absolute()
        else source
        for name, source in sources.items()
    }
    return located, asides


def load_link_config(
    path: Path, postcode_rule: str | None = None, one_to_one: bool = False
) -> LinkConfig:
    """Read and validate a link-files config; errors name the file and the key.

    Args:
        path: the config.
        postcode_rule: overrides `linkage.postcode_rule`.
        one_to_one: sets `linkage.one_to_one`.
    """
    file = _read_yaml(path)
    try:
        settings = validate(
            LinkageSettings, file.data.get("linkage") or {}, origin=file, at=("linkage",)
        )
    except ConfigError as exc:
        raise LinkFilesError(f"invalid linkage settings:\n{exc}") from exc
    update: dict[str, Any] = {"one_to_one": True} if one_to_one else {}
    if postcode_rule is not None:
        update["postcode_rule"] = postcode_rule
    settings = settings.model_copy(update=update)
    night = settings.night or dt.date.today()
    sources, asides = _sources(path, file, night, settings.postcode_rule)
    config = LinkConfig(path, settings, sources, asides)
    if config.mode == "link" and len(config.sources) < 2:
        raise LinkFilesError(
            f"{path}: linkage.mode: `link` scores pairs across sources, and there is only "
            f"one ({', '.join(config.sources)}); use `mode: dedupe` to deduplicate it"
        )
    for key in ("one_record_per_person", "one_to_one"):
        if settings.task == "households" and getattr(settings, key):
            raise LinkFilesError(
                f"{path}: linkage.{key} is for persons; a household has many records in one source"
            )
    if settings.one_to_one and len(config.sources) < 2:
        raise LinkFilesError(
            f"{path}: linkage.one_to_one links each record to at most one of each other "
            f"source, and there is only one ({', '.join(config.sources)}): it would link nothing"
        )
    for key in ("one_record_per_person", "first_names_vary"):
        unknown = sorted(set(getattr(settings, key)) - set(config.sources))
        if unknown:
            raise LinkFilesError(
                f"{path}: linkage.{key}: no source named {', '.join(unknown)}; "
                f"the sources are {', '.join(config.sources)}"
            )
    for name, source in config.sources.items():
        if not any(t.person_records for t in source.tables):
            raise LinkFilesError(
                f"{path}: sources.{name}: no table maps onto person_records; nothing to link"
            )
    return config


def read_model(path: Path) -> dict[str, Any]:
    """A saved linkage model (`{"splink_model": ...}`, as `joinedup link train` writes)."""
    try:
        artifact = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LinkFilesError(f"--model {path}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise LinkFilesError(f"--model {path}: cannot read it as JSON: {exc}") from exc
    model = artifact.get("splink_model") if isinstance(artifact, dict) else None
    if not isinstance(model, dict) or "comparisons" not in model:
        raise LinkFilesError(
            f"--model {path}: not a linkage model; expected a JSON object with "
            '"splink_model" (as data/models/linkage-vN.json)'
        )
    try:
        check_model_fits(model)
    except ModelMismatch as exc:
        raise LinkFilesError(f"--model {path}: {exc}") from exc
    return model


@dataclass
class Extracts:
    """What the sources gave: person records to link, and the rows set aside."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    field_issues: pl.DataFrame
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # Postcodes and birth dates left empty, by column, with what they fit instead.
    failed: list[Failed] = field(default_factory=list)
    # Each source's mapped fields and the columns they read.
    mapped: dict[str, dict[str, str]] = field(default_factory=dict)


def read_extracts(config: LinkConfig) -> Extracts:
    """Read and standardise every source's person records; keep bad rows aside with reasons.

    Raises:
        LinkFilesError: a file cannot be read, or a column of birth dates is mostly not in
            the format given (a date-format problem, naming file, column, rows and the
            format that fits).
    """
    failed: list[Failed] = []
    mapped: dict[str, dict[str, str]] = {}
    records: list[pl.DataFrame] = []
    quarantined: list[pl.DataFrame] = []
    issues: list[pl.DataFrame] = []
    counts: dict[str, dict[str, int]] = {}
    for name, source in config.sources.items():
        tables = [t for t in source.tables if t.person_records]
        frames: list[pl.DataFrame] = []
        rows_in = staged = bad = 0
        for table in tables:
            # Persons only: a row is not lost to linkage for a bad event or allocation.
            only_people = table.model_copy(update={"events": None, "involvements": None})
            try:
                raw = extract_table(name, source, only_people, config.night)
            except ExtractError as exc:
                raise LinkFilesError(f"{config.path}: sources.{name}: {exc}") from exc
            if raw.held:  # truncated, or garbled by the wrong encoding: not worth linking
                raise LinkFilesError(f"{config.path}: sources.{name}: " + "; ".join(raw.held))
            done = standardise(raw, only_people, config.night)
            mapping = table.person_records or {}
            for mapped_field, spec in mapping.items():
                columns = ", ".join(spec.source_columns()) or "a constant"
                mapped.setdefault(name, {})[mapped_field] = columns
            postcode = mapping.get("postcode")
            dob = mapping.get("dob")
            failed += failed_values(
                name,
                raw.frame,
                mapping,
                done.field_issues,
                postcode.country if postcode else "uk",
                (dob.format if dob else None) or "%Y-%m-%d",
            )
            frames.append(done.contracts["person_records"])
            tag = pl.lit(name).alias("source")
            quarantined.append(done.quarantine.select(tag, pl.all()))
            issues.append(done.field_issues.select(tag, pl.all()))
            rows_in += done.rows_in
            staged += done.rows_staged
            bad += done.quarantine.height
        people = pl.concat(frames, how="diagonal_relaxed").unique(
            "source_record_id", keep="first", maintain_order=True
        )
        records.append(people.with_columns(pl.lit(name).alias("source")))
        counts[name] = {
            "rows_in": rows_in,
            "rows_staged": staged,
            "quarantined": bad,
            "records": people.height,
        }
    wrong = [f.line() for f in failed if f.wrong_format]
    if wrong:
        raise LinkFilesError(f"{config.path}: " + f"\n{config.path}: ".join(wrong))
    together = pl.concat(records, how="diagonal_relaxed")
    missing = [f for f in CONTRACT_FIELDS["person_records"] if f not in together.columns]
    together = together.with_columns(
        pl.lit(None, pl.Date if f == "dob" else pl.String).alias(f) for f in missing
    )
    return Extracts(
        records=together,
        quarantine=pl.concat(quarantined, how="diagonal_relaxed").select(
            "source", *QUARANTINE_SCHEMA.names()
        ),
        field_issues=pl.concat(issues, how="diagonal_relaxed"),
        counts=counts,
        failed=failed,
        mapped=mapped,
    )


def _labels(config: LinkConfig, records: pl.DataFrame) -> pl.DataFrame | None:
    """The analyst's judged pairs, read against these records; None without a labels file."""
    if config.settings.labels is None:
        return None
    path = config.path.resolve().parent / config.settings.labels
    known = set(records.select(unique_id()).to_series())
    try:
        return read_labels(str(path), known)
    except LabelsError as exc:
        raise LinkFilesError(f"{config.path}: linkage.labels: {exc}") from exc


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise LinkFilesError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LinkFilesError(
            f"--out {out}: the folder is not empty; name a new folder, or add --force to "
            f"replace the files of an earlier run ({', '.join(OUTPUTS)})"
        )


@dataclass
class LinkFilesReport:
    """What a link-files run did: the summary written to `summary.json`."""

    summary: dict[str, Any]

    def lines(self) -> list[str]:
        """A few lines for the terminal: counts and times, never personal values."""
        s = self.summary
        lines = [
            f"{name}: {c['rows_in']:,} rows in, {c['rows_staged']:,} staged, "
            f"{c['quarantined']:,} quarantined; {c['records']:,} person records"
            for name, c in s["sources"].items()
        ]
        lines.append(
            f"{s['mode']} at threshold {s['threshold']}: {s['records']:,} records, "
            f"{s['pairs_scored']:,} pairs scored, {s['pairs_above_threshold']:,} at or above "
            f"the threshold, {s['pairs_linked']:,} of them kept by clustering; "
            f"{s['clusters']:,} clusters ({s['clusters_of_two_or_more']:,} of two "
            f"or more records); {s['seconds']['total']:.1f} s"
        )
        lines += s["values_left_empty"]
        lines += use_lines(s["fields"])
        if "labels" in s:
            judged = s["labels"]
            lines.append(
                f"on {judged['judged_pairs']:,} judged pairs ({judged['matches']:,} matches): "
                f"clusters F1 {judged['clusters']['f1']:.3f}; blocking reaches "
                f"{judged['blocking'][-1]['cumulative']:.1%} of the matches"
                if judged["blocking"]
                else f"on {judged['judged_pairs']:,} judged pairs: no blocking rule"
            )
        lines.append(f"written to {s['out']}")
        if s["prior_method"] == "sure rules":
            lines.append(s["prior_from"])
        if s["fallbacks"]:
            lines.append(f"what this run fell back on ({len(s['fallbacks'])}):")
            lines += [f"  - {Fallback(**f).line()}" for f in s["fallbacks"]]
        return lines


def link_files(
    config_path: Path,
    out: Path,
    model_path: Path | None = None,
    threshold: float | None = None,
    force: bool = False,
    postcode_rule: str | None = None,
    one_to_one: bool = False,
) -> LinkFilesReport:
    """Link the extracts a config names and write pairs, clusters and a summary to a folder.

    Every check of the request (out folder, threshold, model, config) comes before any
    extract is read; nothing is written unless the whole run succeeds.

    Args:
        config_path: YAML with `sources:` (connectors' format) and `linkage:`.
        out: the folder to write; new, empty, or (with `force`) an earlier run's.
        model_path: a saved model to use instead of training one on these records.
        threshold: overrides `linkage.threshold`.
        force: replace the files of an earlier run in `out`.
        postcode_rule: overrides `linkage.postcode_rule`.
        one_to_one: every source holds a person once (`linkage.one_to_one`).
    """
    t0 = time.perf_counter()
    _check_out(out, force)
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise LinkFilesError(f"--threshold must be between 0 and 1, got {threshold}")
    saved = read_model(model_path) if model_path is not None else None
    config = load_link_config(config_path, postcode_rule, one_to_one)
    threshold = threshold if threshold is not None else config.settings.threshold
    extracts = read_extracts(config)
    if extracts.records.height < 2:
        raise LinkFilesError(
            f"{config_path}: only {extracts.records.height} person record(s) to link after "
            f"standardising; nothing is written"
        )
    t1 = time.perf_counter()
    skipped: list[str] = []
    fallbacks: list[Fallback] = []
    labels = _labels(config, extracts.records)
    matches = labels.filter(pl.col("label") == "match") if labels is not None else None
    task = config.settings.task
    if saved is not None:
        model = saved
    else:
        trained = train(
            extracts.records,
            seed=config.settings.seed,
            max_pairs=config.settings.u_sample_pairs,
            across=config.mode == "link",
            task=task,
            labels=matches,
        )
        model, skipped = trained.model, trained.skipped
        fallbacks = of_training(trained, task)
    model, prior = fit_to_mode(extracts.records, model, config.mode, task)
    fallbacks = of_prior(prior) + fallbacks
    t2 = time.perf_counter()
    try:
        linked = link(
            extracts.records,
            model,
            threshold,
            max_pairs_per_rule=config.settings.max_pairs_per_rule,
            one_per_person=frozenset(config.one_per_person),
            task=task,
            explain=True,
            first_names_vary=frozenset(config.settings.first_names_vary),
        )
    except ValueError as exc:  # a blocking rule over the ceiling
        raise LinkFilesError(f"{config_path}: {exc}") from exc
    fallbacks += of_first_names(linked.first_names_vary)
    fallbacks += of_threshold(linked.pairs, threshold, prior)
    ids = linked.clusters.select("unique_id", "source", "source_record_id")
    pairs = (
        linked.pairs.join(ids.rename(lambda c: f"{c}_l"), on="unique_id_l")
        .join(ids.rename(lambda c: f"{c}_r"), on="unique_id_r")
        .select(
            "unique_id_l",
            "unique_id_r",
            "source_l",
            "source_record_id_l",
            "source_r",
            "source_record_id_r",
            "match_probability",
            "match_weight",
            (pl.col("match_probability") >= threshold).alias("above_threshold"),
            "refused_by_clustering",
        )
        .sort(["match_probability", "unique_id_l", "unique_id_r"], descending=[True, False, False])
    )
    if linked.evidence is not None:  # the compared values and each comparison's weight
        pairs = pairs.join(linked.evidence, on=["unique_id_l", "unique_id_r"], how="left")
    clusters = (
        linked.clusters.with_columns(pl.len().over("cluster_id").alias("cluster_size"))
        .select("unique_id", "source", "source_record_id", "cluster_id", "cluster_size")
        .sort("cluster_id", "unique_id")
    )
    sizes = clusters.unique("cluster_id")["cluster_size"]
    summary: dict[str, Any] = {
        "config": str(config_path),
        "out": str(out),
        "mode": config.mode,
        "threshold": threshold,
        "night": config.night.isoformat(),
        "model": str(model_path) if model_path is not None else "trained on these records",
        "prior": model.get("probability_two_random_records_match"),
        "prior_from": prior.line(),
        "prior_method": prior.method,
        "prior_weight": prior_weight(model),
        "one_record_per_person": config.one_per_person,
        "postcode_rule": config.settings.postcode_rule or "uk",
        "values_left_empty": [f.line() for f in extracts.failed],
        "fields": field_uses(extracts.mapped, config.asides, extracts.records, model),
        "task": task,
        "em_sessions_skipped": skipped,
        "labels_file": str(config.path.resolve().parent / config.settings.labels)
        if config.settings.labels
        else None,
        "first_names_vary": {
            source: why if isinstance(why, str) else {"refused": why[0], "sure_pairs": why[1]}
            for source, why in linked.first_names_vary.items()
        },
        "fallbacks": [f.as_dict() for f in fallbacks],
        "sources": extracts.counts,
        "records": extracts.records.height,
        "quarantined": extracts.quarantine.height,
        "field_issues": extracts.field_issues.height,
        "pairs_scored": pairs.height,
        "pairs_above_threshold": int(pairs["above_threshold"].sum()),
        "pairs_linked": int((pairs["above_threshold"] & ~pairs["refused_by_clustering"]).sum()),
        "clusters": sizes.len(),
        "clusters_of_two_or_more": int((sizes > 1).sum()),
        "records_in_clusters_of_two_or_more": int(sizes.filter(sizes > 1).sum()),
        "seconds": {
            "read": round(t1 - t0, 2),
            "model": round(t2 - t1, 2),
            "predict": round(linked.seconds["predict"], 2),
            "cluster": round(linked.seconds["cluster"], 2),
        },
    }
    if labels is not None and matches is not None:
        summary["labels"] = _against_labels(
            extracts.records, model, pairs, clusters, labels, matches
        )
    artifact = {
        "trained_at": dt.datetime.now().isoformat(timespec="seconds") if saved is None else None,
        "from": str(model_path) if model_path is not None else None,
        "training_records": extracts.records.height if saved is None else None,
        "training_records_by_source": {n: c["records"] for n, c in extracts.counts.items()},
        "splink_model": model,
    }
    _write(out, force, pairs, clusters, extracts, artifact, summary, t0)
    return LinkFilesReport(summary)


def _against_labels(
    records: pl.DataFrame,
    model: dict[str, Any],
    pairs: pl.DataFrame,
    clusters: pl.DataFrame,
    labels: pl.DataFrame,
    matches: pl.DataFrame,
) -> dict[str, Any]:
    """How the run did on the analyst's judged pairs, and how far blocking reached them."""
    kept = pairs.filter(pl.col("above_threshold") & ~pl.col("refused_by_clustering"))
    together = label_cluster_scores(
        clusters.select("unique_id", pl.col("cluster_id").alias("person_id")), labels
    )
    linked = label_scores(kept.with_columns(pl.lit(1.0).alias("match_probability")), labels, 0.5)
    reach = blocking_recall(prepare(records), model, matches)
    return {
        "judged_pairs": labels.height,
        "matches": matches.height,
        "links_kept": {"precision": linked.precision, "recall": linked.recall, "f1": linked.f1},
        "clusters": {"precision": together.precision, "recall": together.recall, "f1": together.f1},
        "blocking": reach.to_dicts(),
    }


def _write(
    out: Path,
    force: bool,
    pairs: pl.DataFrame,
    clusters: pl.DataFrame,
    extracts: Extracts,
    artifact: dict[str, Any],
    summary: dict[str, Any],
    t0: float,
) -> None:
    """Write every file beside the out folder, then move them in: all of them or none."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        pairs.write_csv(staging / "pairs.csv")
        clusters.write_csv(staging / "clusters.csv")
        extracts.quarantine.write_csv(staging / "quarantine.csv")
        extracts.field_issues.write_csv(staging / "field_issues.csv")
        (staging / "model.json").write_text(json.dumps(artifact, indent=1, default=str))
        summary["seconds"]["total"] = round(time.perf_counter() - t0, 2)
        (staging / "summary.json").write_text(json.dumps(summary, indent=1))
        _check_out(out, force)  # still as it was when the run began
        out.mkdir(exist_ok=True)
        for name in OUTPUTS:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

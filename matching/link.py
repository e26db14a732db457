"""Train the linkage model, score pairs and cluster records into persons, with Splink on DuckDB.

The backend is made here and passed in, as Splink wants: `DuckDBAPI` over an in-memory
DuckDB. Training estimates u by random sampling and m by EM on blocks that do not lean on
address, so the model learns "same person", not "same household".
"""

from __future__ import annotations

import copy
import logging
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.exceptions import SplinkException  # Splink does not export it

from matching.cluster import constrained_clusters, first_names_varying, mark_refused, vetoes
from matching.evaluate import pair_key
from matching.evidence import explaining, pair_evidence
from matching.model import DWELLING_RULES, household_settings, settings
from matching.prepare import LINKAGE_COLUMNS, prepare, present_columns
from matching.splink_log import levels_unseen


@dataclass
class Linked:
    """Scored pairs and clusters of one linkage run."""

    # unique_id_l, unique_id_r, match_probability, match_weight, and (from a full link)
    # refused_by_clustering: at or above the threshold, yet its records are two persons
    pairs: pl.DataFrame
    clusters: pl.DataFrame  # unique_id, cluster_id, source, source_record_id
    seconds: dict[str, float]
    # With `explain`: each pair's compared values and weights (`matching.evidence`).
    evidence: pl.DataFrame | None = None
    # Sources whose first names weighed in the score only, each with why: "named", or
    # (refused, counted) pairs as `matching.cluster.first_names_varying` found them.
    first_names_vary: dict[str, str | tuple[int, int]] = field(default_factory=dict)


PAIR_COLUMNS = ["unique_id_l", "unique_id_r", "match_probability", "match_weight"]


class ModelMismatch(ValueError):
    """A saved model that does not fit the linkage input; retrain it."""


def check_model_fits(model: dict[str, Any]) -> None:
    """Stop before any work if the model compares columns the linkage input does not have."""
    wanted: set[str] = set()
    for comparison in model.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            wanted |= set(re.findall(r"\b([a-z_]+)_[lr]\b", level.get("sql_condition", "")))
    missing = sorted(wanted - set(LINKAGE_COLUMNS))
    if missing:
        raise ModelMismatch(
            f"the saved model compares column(s) {missing} that the linkage input does not "
            f"have (it has {', '.join(LINKAGE_COLUMNS)}); retrain with `joinedup link train`"
        )


class BlockingTooWide(ValueError):
    """A blocking rule would make more pairs than the configured ceiling."""


def check_blocking(prepared: pl.DataFrame, model: dict[str, Any], ceiling: int) -> None:
    """Stop before scoring if any blocking rule would make more pairs than the ceiling.

    Counts are Splink's estimate from a 5% sample of records on each side of each rule.
    """
    rules = [
        r["blocking_rule"] if isinstance(r, dict) else str(r)
        for r in model.get("blocking_rules_to_generate_predictions", [])
    ]
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="records")
    with warnings.catch_warnings():
        # A small sample for a narrow rule means few pairs: exactly what a ceiling allows.
        warnings.simplefilter("ignore", UserWarning)
        counts = count_comparisons_from_blocking_rules(
            table, blocking_rules=rules, link_type="dedupe_only"
        )
    for record in counts:
        if record["marginal_comparison_count"] > ceiling:
            raise BlockingTooWide(
                f"blocking rule {record['blocking_rule']!r} would make about "
                f"{record['marginal_comparison_count']:,} pairs, over the ceiling of "
                f"{ceiling:,}; narrow the rule or raise max_pairs_per_rule"
            )


def _linker(prepared: pl.DataFrame, model: Any, log_level: int = logging.ERROR) -> Linker:
    # Nightly runs log errors only; training shows Splink's warnings to the analyst.
    db = DuckDBAPI()
    table = db.register(prepared.to_arrow(), dataset_display_name="person_records")
    # Settings are checked when a model is trained; a night checks that the model fits its
    # columns (`check_model_fits`), and Splink's own check only logs, at a level not shown.
    return Linker(table, model, log_level=log_level, validate_settings=log_level < logging.ERROR)


# Pairs that these link are taken as one person: the prior is estimated from them.
SURE_RULES = (
    ("nhs_number",),
    ("ni_number",),
    ("upn",),
    ("first_name", "last_name", "dob"),
    # Where one side has no date of birth: full name at one house number and street.
    ("first_name", "last_name", "address_line"),
)
SURE_RECALL = 0.7
# EM blocks, none by address, so the model learns "same person", not "same household".
# Pairs sharing an NHS number are nearly all one person: the one block that shows how
# names and addresses differ between true matches, the surname's levels included (every
# other block shares a column with the surname comparison, so Splink would not train it).
EM_BLOCKS: tuple[tuple[str, ...], ...] = (("nhs_number",), ("dob",), ("first_name", "last_name"))
# Where those sessions left a comparison untrained (no NHS numbers, so the surname; or a
# date of birth on one side only, so the names too), one more session runs on pairs at one
# house number and street, else at one postcode, and gives those comparisons only: there
# the records of one person agree on their names, and a household's other members do not.
FALLBACK_BLOCKS: tuple[tuple[str, ...], ...] = (("address_line",), ("postcode",))
# EM on fewer pairs learns the few, not the model: a session on a handful of pairs drives
# m probabilities to 0 or 1 (which Splink 5 refuses) and spoils the sessions after it.
MIN_EM_PAIRS = 100
# A block with more pairs than this is too wide to say much (a ZIP code every record
# shares) and would take minutes and gigabytes: its session is skipped.
MAX_EM_PAIRS = 20_000_000


@dataclass(frozen=True)
class Recipe:
    """How the model of one linkage task is made and trained."""

    settings: Callable[[frozenset[str] | None], SettingsCreator]
    sure_rules: tuple[tuple[str, ...], ...]
    em_blocks: tuple[tuple[str, ...], ...]
    fallback_blocks: tuple[tuple[str, ...], ...]
    # Pairs linked by rule beside the model's scores, each rule with the columns it needs.
    linked_by_rule: tuple[tuple[tuple[str, ...], Any], ...] = ()
    # Comparisons where disagreeing counts neither way (m of the last level set to its u).
    neutral_when_different: tuple[str, ...] = ()


# Records into households: pairs at one property, or one address line, are of one
# household for sure, and so are records at one dwelling (`DWELLING_RULES`). EM on pairs
# sharing a surname learns the place; on pairs at one address, the surname. A household's
# members need not share a surname (partners, step-children, lodgers), but EM on pairs at
# one address learns that they always do, splitting a family from the rest of the
# address: a differing surname is made to count neither way.
TASKS: dict[str, Recipe] = {
    "persons": Recipe(settings, SURE_RULES, EM_BLOCKS, FALLBACK_BLOCKS),
    "households": Recipe(
        household_settings,
        (("uprn",), ("address_line",)),
        (("last_name",), ("address_line",)),
        (("postcode",),),
        linked_by_rule=DWELLING_RULES,
        neutral_when_different=("last_name",),
    ),
}


def _exact_name_levels(
    model: dict[str, Any],
) -> list[tuple[str, float | None, float | None, float | None]]:
    """Each name comparison's exact level: its comparison, m and u, and the m of its last
    level, where the names have nothing in common (None: not yet set)."""
    found = []
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] not in ("first_name", "last_name"):
            continue
        levels = comparison["comparison_levels"]
        for level in levels:
            if level.get("label_for_charts", "").startswith("Exact match"):
                found.append(
                    (
                        comparison["output_column_name"],
                        level.get("m_probability"),
                        level.get("u_probability"),
                        levels[-1].get("m_probability"),
                    )
                )
    return found


def untrained(model: dict[str, Any]) -> list[str]:
    """The comparisons no session has trained: the first of their levels seen among random
    pairs (with a u) has no m. A rare level set by hand does not count."""
    names = []
    for comparison in model["comparisons"]:
        seen = [lv for lv in comparison["comparison_levels"] if lv.get("u_probability") is not None]
        if seen and seen[0].get("m_probability") is None:
            names.append(comparison["output_column_name"])
    return names


def _hold(model: dict[str, Any], moving: list[str]) -> dict[str, Any]:
    """The model with every trained comparison's m fixed, but for the `moving` ones."""
    held = copy.deepcopy(model)
    for comparison in held["comparisons"]:
        if comparison["output_column_name"] not in moving:
            for level in comparison["comparison_levels"]:
                if level.get("m_probability") is not None:
                    level["fix_m_probability"] = True
    return held


def _fill(model: dict[str, Any], trained: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The model, with the m probabilities of the named comparisons taken from `trained`,
    level by level (by label: `trained` may hold fewer levels, as `_without_reading` left)."""
    learned = {c["output_column_name"]: c for c in trained["comparisons"]}
    filled = copy.deepcopy(model)
    for comparison in filled["comparisons"]:
        name = comparison["output_column_name"]
        if name in names and name in learned:
            new = {lv.get("label_for_charts"): lv for lv in learned[name]["comparison_levels"]}
            for level in comparison["comparison_levels"]:
                m = new.get(level.get("label_for_charts"), {}).get("m_probability")
                if m is not None and not level.get("is_null_level"):
                    level["m_probability"] = m
    return filled


def _without_reading(
    model: dict[str, Any], names: list[str], columns: tuple[str, ...]
) -> dict[str, Any] | None:
    """The model with the named comparisons' levels that read any of `columns` left out.

    Splink trains no comparison that reads a column of the session's block; without those
    levels (rare ones: names swapped, a new surname at one birth date), the rest of the
    comparison can be trained on that block, and its m put back by label (`_fill`).
    None where a comparison would keep fewer than two levels: nothing left to train.
    """
    reading = re.compile(r"\b(?:" + "|".join(columns) + r")_[lr]\b")
    less = copy.deepcopy(model)
    for comparison in less["comparisons"]:
        if comparison["output_column_name"] in names:
            comparison["comparison_levels"] = [
                level
                for level in comparison["comparison_levels"]
                if level.get("is_null_level") or not reading.search(level.get("sql_condition", ""))
            ]
            if sum(not lv.get("is_null_level") for lv in comparison["comparison_levels"]) < 2:
                return None
    return less


def _against_evidence(model: dict[str, Any]) -> str | None:
    """A name the model counts against a match where two records agree on it, if one is.

    Agreeing on a first name or surname is evidence for being one person whatever else
    is true, and most records of one person agree on it: a model with m below u there,
    or with more of one person's pairs disagreeing on the name outright than agreeing,
    has learned another grouping (on a block of one household's members, "same
    household", where first names differ).
    """
    for name, m, u, m_other in _exact_name_levels(model):
        if m is not None and u is not None and m < u:
            return f"an exact {name} counted against a match, m {m:.2g} < u {u:.2g}"
        if m is not None and m_other is not None and m < m_other:
            return (
                f"more records of one person with {name}s in nothing alike than with one "
                f"{name}, m {m_other:.2g} > {m:.2g}"
            )
    return None


@dataclass
class Trained:
    """A trained model, and what its training could and could not do."""

    model: dict[str, Any]
    skipped: list[str] = field(default_factory=list)  # EM sessions not run, each with why
    sessions: int = 0  # EM sessions that ran
    from_labels: list[str] = field(default_factory=list)  # comparisons whose m labels gave
    # Comparisons no session and no label could train: Splink's default m probabilities
    # (0.95 of one person's pairs at the first level, the rest spread evenly) stand.
    defaulted: list[str] = field(default_factory=list)
    # Comparisons the task's own sessions left untrained, and the fallback session that
    # trained them (an EM session on another block).
    from_fallback: dict[str, str] = field(default_factory=dict)
    # Levels some EM session saw no pair at, by comparison (Splink warns of each), and
    # how many warnings that made: kept off the terminal, summed up for the analyst.
    unseen: dict[str, list[str]] = field(default_factory=dict)
    unseen_warnings: int = 0


def _from_labels(
    prepared: pl.DataFrame, model: dict[str, Any], labels: pl.DataFrame, gaps: list[str]
) -> dict[str, Any]:
    """The model with the m of the `gaps` comparisons estimated from labelled true pairs.

    Args:
        labels: `unique_id_l`, `unique_id_r` of pairs known to be one person.
    """
    keyed = copy.deepcopy(model)
    keyed["source_dataset_column_name"] = "source"
    linker = _linker(prepared, keyed, log_level=logging.WARNING)
    source = prepared.select("unique_id", "source")
    table = (
        labels.join(
            source.rename({"unique_id": "unique_id_l", "source": "source_l"}), on="unique_id_l"
        )
        .join(source.rename({"unique_id": "unique_id_r", "source": "source_r"}), on="unique_id_r")
        .select("source_l", "unique_id_l", "source_r", "unique_id_r")
    )
    linker.table_management.register_table(table.to_arrow(), "labelled_pairs", overwrite=True)
    linker.training.estimate_m_from_pairwise_labels("labelled_pairs")  # type: ignore[no-untyped-call]
    return _fill(model, linker.misc.save_model_to_json(), gaps)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def sure_prior(
    prepared: pl.DataFrame, model: dict[str, Any], task: str = "persons"
) -> float | None:
    """The prior from pairs linked for sure, for the model's link type; None if none are."""
    linker = _linker(prepared, model)
    present = present_columns(prepared)
    rules: list[Any] = [block_on(*cols) for cols in TASKS[task].sure_rules if set(cols) <= present]
    if not rules:
        return None
    try:
        linker.training.estimate_probability_two_random_records_match(rules, recall=SURE_RECALL)
    except ValueError:  # more sure pairs than the recall allows: no estimate to trust
        return None
    estimated = linker.misc.save_model_to_json().get("probability_two_random_records_match")
    return estimated if isinstance(estimated, float) and 0.0 < estimated < 1.0 else None


def block_pairs(prepared: pl.DataFrame, columns: tuple[str, ...], across: bool = False) -> int:
    """How many pairs of records agree on every one of the columns (blank agrees with nothing).

    Args:
        across: count only pairs of records from two different sources.
    """
    kept = prepared.drop_nulls(list(columns))
    sizes = kept.group_by(columns).len()["len"]
    every = int((sizes * (sizes - 1) // 2).sum())
    if not across:
        return every
    within = kept.group_by([*columns, "source"]).len()["len"]
    return every - int((within * (within - 1) // 2).sum())


def _session(
    linker: Linker, prepared: pl.DataFrame, present: frozenset[str], block: tuple[str, ...]
) -> tuple[Linker, str | None]:
    """One EM session on pairs agreeing on `block`: the linker after it, or before it and why not.

    A session the records cannot support (a column they lack, too few pairs in its block,
    a failure, or one that learns "same household") leaves the model as it was.
    """
    name = f"EM on pairs sharing {' and '.join(block)}"
    missing = [c for c in block if c not in present]
    if missing:
        return linker, f"{name}: no {' or '.join(missing)} in these records"
    across = linker.misc.save_model_to_json().get("link_type") == "link_only"
    pairs = block_pairs(prepared, block, across)
    if pairs < MIN_EM_PAIRS:
        return linker, f"{name}: {pairs} pair(s) in its block, fewer than {MIN_EM_PAIRS}"
    if pairs > MAX_EM_PAIRS:
        return linker, f"{name}: {pairs:,} pairs in its block, more than {MAX_EM_PAIRS:,}"
    before = linker.misc.save_model_to_json()
    try:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*block))
    except (SplinkException, ValueError, ArithmeticError) as exc:
        # Splink leaves out the comparisons of a session's blocked columns while it runs,
        # and a session that fails does not put them back: the model would lose its names.
        # So the model goes back to what it was before the session.
        return _linker(prepared, before, log_level=logging.WARNING), f"{name}: {_reason(exc)}"
    wrong = _against_evidence(linker.misc.save_model_to_json())
    if wrong:
        # EM found two groups in the block, but not "same person" and "not": on a block of
        # one household's members it can learn "same household", where agreeing on a
        # first name counts against a match. That session is undone.
        return (
            _linker(prepared, before, log_level=logging.WARNING),
            f"{name}: it learned something other than 'same person' ({wrong})",
        )
    return linker, None


def train(
    records: pl.DataFrame,
    seed: int = 1,
    max_pairs: float = 5e6,
    across: bool = False,
    task: str = "persons",
    labels: pl.DataFrame | None = None,
) -> Trained:
    """Estimate the model's parameters from standardised person records.

    Comparisons and blocking rules on columns the records hold no value in are left out
    (`matching.model.settings`). The prior comes from pairs linked for sure (at an assumed
    recall of 0.7), u from random pairs, m from EM on each of the task's blocks, and the m
    of comparisons those left untrained from the first of its fallback blocks that can
    run, then from `labels` where given. A session the records cannot support is skipped
    and named (`_session`), not fatal; a comparison nothing could train keeps Splink's
    default m, and is named in `Trained.defaulted`.

    Args:
        across: learn from pairs across sources only (Splink's `link_only`), as a link of
            two files scores them: the pairs within one file (a census's households) then
            teach the model nothing it will not be asked.
        task: "persons", or "households" (records of people who live together).
        labels: `unique_id_l`, `unique_id_r` of pairs an analyst knows to be one person
            (or household).
    """
    with levels_unseen() as unseen:
        trained = _train(records, seed, max_pairs, across, task, labels)
    trained.unseen = {name: sorted(levels) for name, levels in sorted(unseen.levels.items())}
    trained.unseen_warnings = unseen.warnings
    return trained


def _train(
    records: pl.DataFrame,
    seed: int,
    max_pairs: float,
    across: bool,
    task: str,
    labels: pl.DataFrame | None,
) -> Trained:
    recipe = TASKS[task]
    prepared = prepare(records)
    present = present_columns(prepared)
    start: dict[str, Any] = _linker(prepared, recipe.settings(present)).misc.save_model_to_json()
    if across:
        start["link_type"] = "link_only"
        start["source_dataset_column_name"] = "source"
    prior = sure_prior(prepared, start, task)
    if prior is not None:  # otherwise the settings' own prior stands
        start["probability_two_random_records_match"] = prior
    # Splink's warnings are shown, but for those of levels a session saw no pair at, which
    # `train` counts for the analyst's summary.
    linker = _linker(prepared, start, log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    skipped: list[str] = []
    for block in recipe.em_blocks:
        linker, why = _session(linker, prepared, present, block)
        if why:
            skipped.append(why)
    ran = len(recipe.em_blocks) - len(skipped)
    model = linker.misc.save_model_to_json()
    gaps = untrained(model)
    from_fallback: dict[str, str] = {}
    # Then, where no such block can run (no address), the task's own blocks again, with
    # the levels of the untrained comparisons that read the block's columns left out.
    tries = [(block, False) for block in recipe.fallback_blocks]
    tries += [(block, True) for block in recipe.em_blocks if set(block) <= present]
    for block, less in tries:
        if not gaps:
            break
        # What the sessions above learned is held fixed: it anchors EM to "same person",
        # and only the untrained comparisons move.
        held = _hold(model, gaps)
        if less:
            fewer = _without_reading(held, gaps, block)
            if fewer is None:
                continue
            held = fewer
        trial, why = _session(_linker(prepared, held, logging.WARNING), prepared, present, block)
        session = f"EM on pairs sharing {' and '.join(block)}"
        if less:
            session += f" (without the levels of {', '.join(gaps)} that read {', '.join(block)})"
        if why:
            if not less:
                skipped.append(why)
            continue
        ran += 1
        model = _fill(model, trial.misc.save_model_to_json(), gaps)
        from_fallback.update((name, session) for name in gaps if name not in untrained(model))
        gaps = untrained(model)
    labelled: list[str] = []
    if gaps and labels is not None and labels.height:
        model = _from_labels(prepared, model, labels, gaps)
        labelled = [name for name in gaps if name not in untrained(model)]
        gaps = untrained(model)
    return Trained(
        _neutral(model, recipe.neutral_when_different), skipped, ran, labelled, gaps, from_fallback
    )


def _neutral(model: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The model where disagreeing on the named comparisons counts neither way (m = u)."""
    neutral = copy.deepcopy(model)
    for comparison in neutral["comparisons"]:
        if comparison["output_column_name"] in names:
            other = comparison["comparison_levels"][-1]
            if other.get("u_probability") is not None:
                other["m_probability"] = other["u_probability"]
    return neutral


def link(
    records: pl.DataFrame,
    model: dict[str, Any],
    threshold: float,
    max_pairs_per_rule: int | None = None,
    one_per_person: frozenset[str] = frozenset(),
    task: str = "persons",
    explain: bool = False,
    first_names_vary: frozenset[str] = frozenset(),
) -> Linked:
    """Score every blocked pair and cluster records whose links reach the threshold.

    Pairs come back with `refused_by_clustering` (`matching.cluster.mark_refused`): links
    at or above the threshold that the clustering would not take. `one_per_person` names
    sources that hold at most one record of a person (`constrained_clusters`).

    Args:
        explain: keep each pair's compared values and weights (`Linked.evidence`), and
            find the sources whose first names vary (`first_names_varying`).
        first_names_vary: sources known to abbreviate or replace first names: their
            records' first names weigh in the score, and never keep records apart.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
    check_model_fits(model)
    t0 = time.perf_counter()
    prepared = prepare(records)
    if max_pairs_per_rule is not None:
        check_blocking(prepared, model, max_pairs_per_rule)
    linker = _linker(prepared, explaining(model) if explain else model)
    predictions = linker.inference.predict(threshold_match_probability=min(threshold, 0.01))
    t1 = time.perf_counter()
    scored = predictions.as_duckdbpyrelation().pl()
    pairs = _with_rule_links(
        prepared, model, scored.select(PAIR_COLUMNS), TASKS[task].linked_by_rule
    )
    evidence = pair_evidence(scored, model) if explain else None
    varied: dict[str, str | tuple[int, int]] = dict.fromkeys(sorted(first_names_vary), "named")
    if evidence is not None:
        weighed = evidence.join(
            pairs.select(*PAIR_COLUMNS[:2], "match_weight"), on=PAIR_COLUMNS[:2]
        )
        for source, counts in first_names_varying(prepared, weighed).items():
            varied.setdefault(source, counts)
    clusters = constrained_clusters(
        prepared, pairs, threshold, one_per_person, vetoes(model), frozenset(varied)
    ).join(prepared.select("unique_id", "source", "source_record_id"), on="unique_id")
    pairs = mark_refused(pairs, clusters, threshold)
    t2 = time.perf_counter()
    return Linked(pairs, clusters, {"predict": t1 - t0, "cluster": t2 - t1}, evidence, varied)


def _with_rule_links(
    prepared: pl.DataFrame,
    model: dict[str, Any],
    pairs: pl.DataFrame,
    by_rules: tuple[tuple[tuple[str, ...], Any], ...],
) -> pl.DataFrame:
    """Scored pairs, and every pair a rule links (probability 1, no weight).

    For households the model scores records whose addresses are written differently, and
    records at one dwelling are one household by definition (`matching.model.DWELLING_RULES`).
    """
    present = present_columns(prepared)
    rules = [rule for needs, rule in by_rules if set(needs) <= present]
    if not rules:
        return pairs
    by_rule = copy.deepcopy(model)
    by_rule["blocking_rules_to_generate_predictions"] = [
        rule.create_blocking_rule_dict("duckdb") for rule in rules
    ]
    found = _linker(prepared, by_rule).inference.deterministic_link()
    dwellings = (
        found.as_duckdbpyrelation()
        .pl()
        .select(
            "unique_id_l",
            "unique_id_r",
            pl.lit(1.0).alias("match_probability"),
            pl.lit(None, pl.Float64).alias("match_weight"),
        )
    )
    together: pl.DataFrame = (
        pl.concat([dwellings, pairs.cast({"match_weight": pl.Float64})])
        .with_columns(*pair_key())
        .unique(["pair_a", "pair_b"], keep="first", maintain_order=True)
        .drop("pair_a", "pair_b")
    )
    return together


def _tf_columns(model: dict[str, Any]) -> set[str]:
    """The columns the model adjusts for term frequency."""
    return {
        level["tf_adjustment_column"]
        for comparison in model["comparisons"]
        for level in comparison["comparison_levels"]
        if level.get("tf_adjustment_column")
    }


def score_new(prepared: pl.DataFrame, model: dict[str, Any], changed: set[str]) -> pl.DataFrame:
    """Pairs that involve a new or changed record: among themselves and against the rest.

    Term frequencies come from all of `prepared`, as in a full run.

    Args:
        prepared: tonight's linkage input (`prepare`), every record.
        model: the trained model's JSON.
        changed: unique ids of records that are new or changed since pairs were last scored.

    Returns:
        `unique_id_l` < `unique_id_r`, `match_probability`, `match_weight`.
    """
    check_model_fits(model)
    db = DuckDBAPI()
    everyone = db.register(prepared.to_arrow(), dataset_display_name="person_records")
    linker = Linker(everyone, model, log_level=logging.ERROR, validate_settings=False)
    for column in sorted(_tf_columns(model)):
        linker.table_management.compute_tf_table(column)
    is_changed = pl.col("unique_id").is_in(list(changed))
    fresh = db.register(prepared.filter(is_changed).to_arrow(), dataset_display_name="changed")
    # One call scores the changed records against every record, one another included: a
    # pair of two changed records comes once each way round (the same score, as every
    # comparison is symmetric), and each record once against itself. Of the two, the one
    # with the smaller id on the left is kept, as a full night scores it: a model trained
    # before the swapped-name levels were symmetric can score the two differently.
    found = linker.inference.predict_between(fresh, everyone, threshold_match_probability=0.01)
    left, right = pl.col("unique_id_l"), pl.col("unique_id_r")
    ordered: pl.DataFrame = (
        found.as_duckdbpyrelation()
        .pl()
        .filter(left != right)
        .sort(left < right, descending=True)
        .select(
            pl.min_horizontal(left, right).alias("unique_id_l"),
            pl.max_horizontal(left, right).alias("unique_id_r"),
            "match_probability",
            "match_weight",
        )
        .unique(["unique_id_l", "unique_id_r"], keep="first", maintain_order=True)
    )
    return ordered

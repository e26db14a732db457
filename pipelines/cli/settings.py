"""Settings a nightly run needs from the environment: one sentence for each partner or step
whose config names a variable that is not set, saying what to set it to."""

from __future__ import annotations

from collections.abc import Sequence

# What each variable the shipped configs name is for, in the words of what to set it to.
WHAT_TO_SET = {
    "JOINEDUP_POLICE_URL": "the police API's incidents URL, e.g. "
    "http://127.0.0.1:8765/api/v1/incidents from `joinedup police-api --world DIR`",
    "JOINEDUP_POLICE_TOKEN": "the bearer token that API was started with",
    "JOINEDUP_SMTP_URL": "the mail relay, an Apprise URL such as mailto://127.0.0.1:2525",
}


def unset_sentences(sources: Sequence[str] | None) -> list[str]:
    """One sentence for each source (of `sources`, or every one) and for the alerts step
    whose config needs environment variables that are not set; none when all are set."""
    from alerts import load_config
    from common import ConfigError, UnsetVariables
    from connectors.config import load_sources, source_names
    from pipelines.environment import alerts_file, set_world_defaults, sources_file

    set_world_defaults()
    sentences = []
    try:
        names = list(sources or source_names(sources_file()))
    except ConfigError:
        return []  # a config that cannot be read fails the run in its own words
    for name in names:
        try:
            load_sources(sources_file(), only=[name])
        except UnsetVariables as exc:
            then = f"run the night again, or leave {name} out with --source"
            sentences.append(_sentence(f"the {name} source", exc.variables, then))
        except ConfigError:
            continue  # not a missing variable: the source's load says what is wrong
    try:
        load_config(alerts_file())
    except UnsetVariables as exc:
        then = "run the night again; until then no alert is sent"
        sentences.append(_sentence("the alerts step", exc.variables, then))
    except ConfigError:
        pass  # the alerts step says what is wrong
    return sentences


def _sentence(part: str, variables: dict[str, str], then: str) -> str:
    """`<part> needs X (what it is) and Y (...), which are not set: set them and <then>.`"""
    needed = [
        f"{name} ({WHAT_TO_SET.get(name) or _expected(where)})" for name, where in variables.items()
    ]
    listed = ", ".join(needed[:-1]) + " and " + needed[-1] if len(needed) > 1 else needed[0]
    which, it = ("which are", "them") if len(needed) > 1 else ("which is", "it")
    return f"{part} needs {listed}, {which} not set: set {it} and {then}."


def _expected(where: str) -> str:
    """`path:line: key` as `what key expects (path:line)`."""
    place, _, key = where.rpartition(": ")
    return f"what {key} expects ({place})" if place else f"what {where} expects"

"""Held branches: while a watch pre-warms a branch's new commit, the branch keeps naming the old one.

``HubState.held`` maps (repo, branch) to the commit served as the branch's head. File requests read
it in ``HfFrontend.locate``; API requests that name the branch (repo info, ``/revision/``, ``/tree/``,
``/paths-info/``) are sent upstream for the held commit instead, so ``repo_info().sha``,
``X-Repo-Commit`` and the file listing agree on one commit, all of whose files are cached.
"""

from __future__ import annotations

from adapters.hf.repo import ApiTarget, quote_revision
from adapters.hf.state import HubState

_REVISIONED = ("revision", "tree", "paths-info")


def held_path(state: HubState, target: ApiTarget | None, raw_path: str) -> str:
    """``raw_path`` with a held branch replaced by its held commit (unchanged when none is held)."""
    if target is None or not state.held:
        return raw_path
    held = state.held.get((target.repo, target.revision or "main"))
    if held is None:
        return raw_path
    path, sep, query = raw_path.partition("?")
    if target.action == "info":
        return f"{path.rstrip('/')}/revision/{held}{sep}{query}"
    if target.action in _REVISIONED and target.revision:
        marker = f"/{target.action}/{quote_revision(target.revision)}"
        at = path.find(marker)
        if at >= 0:
            path = path[:at] + f"/{target.action}/{held}" + path[at + len(marker):]
    return f"{path}{sep}{query}"

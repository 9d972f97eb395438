"""An operator command template for the tests: a build that starts long-running grandchildren (one
in its process group, one that left it with ``setsid``) and writes every PID of its process tree to
the ``pidfile`` parameter, one a line: the shell, the build process, the two sleeps."""

from __future__ import annotations

from proxy.artifacts.recipes.command import CommandRecipe, CommandTemplate

SCRIPT = ('sleep 600 & in_group=$!; setsid sleep 600 & escaped=$!; '
          'printf "%s\\n" $$ $PPID $in_group $escaped > "$1.tmp" && mv "$1.tmp" "$1"; wait')
RECIPE = CommandRecipe("spawner", CommandTemplate.model_validate({
    "argv": ["sh", "-c", SCRIPT, "sh", "{pidfile}"], "stdout": True,
    "params": {"pidfile": {"pattern": r"/[A-Za-z0-9_./-]+"}}, "target": {"test": "spawner"}}))

"""Finds and reads the templates shipped in this package with ``importlib.resources`` (so they
load from a wheel or a zip as well as from the source tree). Files are ``<id>.v<version>.md``;
a template's front matter must agree with its file name.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from prompts.errors import TemplateFormatError, UnknownPromptError
from prompts.template import PromptTemplate

__all__ = ["available", "load"]

_FILE = re.compile(r"(?P<id>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.md")


def available() -> dict[str, tuple[int, ...]]:
    """Each template id and its versions, ascending."""
    found: dict[str, list[int]] = {}
    for entry in resources.files(__package__ or "prompts").iterdir():
        match = _FILE.fullmatch(entry.name)
        if match and entry.is_file():
            found.setdefault(match["id"], []).append(int(match["version"]))
    return {name: tuple(sorted(versions)) for name, versions in sorted(found.items())}


def load(prompt_id: str, version: int | None = None) -> PromptTemplate:
    """The template ``prompt_id`` at ``version`` (the newest if ``None``).

    Raises:
        UnknownPromptError: no such template or version; the message lists what exists.
        TemplateFormatError: the file is malformed or disagrees with its name.
    """
    versions = available().get(prompt_id)
    if not versions or (version is not None and version not in versions):
        listing = ", ".join(f"{k} (v{', v'.join(map(str, v))})" for k, v in available().items())
        wanted = prompt_id if version is None else f"{prompt_id}.v{version}"
        raise UnknownPromptError(f"no prompt {wanted}; available: {listing or 'none'}")
    return _read(prompt_id, versions[-1] if version is None else version)


@functools.cache
def _read(prompt_id: str, version: int) -> PromptTemplate:
    name = f"{prompt_id}.v{version}.md"
    text = resources.files(__package__ or "prompts").joinpath(name).read_text(encoding="utf-8")
    template = PromptTemplate.parse(text, source=name)
    if (template.id, template.version) != (prompt_id, version):
        raise TemplateFormatError(
            f"{name}: front matter says {template.key}, the file name {prompt_id}.v{version}"
        )
    return template

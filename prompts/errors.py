"""Errors of the prompt templates (layer 0): a template that cannot be loaded, or a rendering
that would send the model something other than what the template declares.

```
PromptError (also ValueError)
 ├── TemplateFormatError        a template file is malformed (front matter, markers, names)
 ├── UnknownPromptError         no template of that name and version (also LookupError)
 ├── MissingVariablesError      render() was not given a declared variable
 └── UnknownVariablesError      render() was given a variable the template does not declare
```
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MissingVariablesError",
    "PromptError",
    "TemplateFormatError",
    "UnknownPromptError",
    "UnknownVariablesError",
]


class PromptError(ValueError):
    """A prompt template or its rendering is wrong; the message names the template."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TemplateFormatError(PromptError):
    """A template file cannot be read: bad front matter, markers, or undeclared placeholders."""


class UnknownPromptError(PromptError, LookupError):
    """No template has this name (and version); the message lists the available ones."""


class MissingVariablesError(PromptError):
    """Rendering lacks declared variables; ``names`` lists them, sorted."""

    def __init__(self, prompt: str, names: Iterable[str]) -> None:
        self.names = tuple(sorted(names))
        super().__init__(f"{prompt}: missing variables: {', '.join(self.names)}")


class UnknownVariablesError(PromptError):
    """Rendering got variables the template does not declare; ``names`` lists them, sorted."""

    def __init__(self, prompt: str, names: Iterable[str]) -> None:
        self.names = tuple(sorted(names))
        super().__init__(f"{prompt}: unknown variables: {', '.join(self.names)}")

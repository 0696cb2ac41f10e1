"""LLM prompt templates and the text hygiene every prompt's input goes through (layer 0: data,
a tiny loader and stdlib-only helpers; it imports nothing of ours and nothing outside the
standard library, so the pure planner may use it).

* :func:`load` reads ``<id>.v<version>.md`` from this package (:mod:`prompts.loader`), a
  :class:`PromptTemplate` (:mod:`prompts.template`) renders it into messages, failing on a
  missing or unknown variable.
* :class:`Redactor` (:mod:`prompts.redact`) removes secrets; rendering applies it to every value.
* :func:`fence` and :func:`clean` (:mod:`prompts.untrusted`) make untrusted text inert data.

The model client (``integrations.llm``) sends :class:`RenderedPrompt` objects; the planner decides
what the values are; the bot loads the templates at start-up.
"""

from __future__ import annotations

from prompts.errors import (
    MissingVariablesError,
    PromptError,
    TemplateFormatError,
    UnknownPromptError,
    UnknownVariablesError,
)
from prompts.loader import available, load
from prompts.redact import BUILTIN_PATTERNS, Redactor, redact_secrets
from prompts.template import Message, PromptTemplate, RenderedPrompt, Variable
from prompts.untrusted import FENCE_TAG, clean, defang, fence, new_nonce

__all__ = [
    "BUILTIN_PATTERNS",
    "FENCE_TAG",
    "Message",
    "MissingVariablesError",
    "PromptError",
    "PromptTemplate",
    "Redactor",
    "RenderedPrompt",
    "TemplateFormatError",
    "UnknownPromptError",
    "UnknownVariablesError",
    "Variable",
    "available",
    "clean",
    "defang",
    "fence",
    "load",
    "new_nonce",
    "redact_secrets",
]

"""Sandboxed Jinja2 templates in scenario replies: compiled at load, rendered per request.

Every string of a reply may be a template. ``TemplateEngine.compile_reply`` walks a
reply spec once, at load, and replaces each string holding ``{{`` or ``{%`` with a
compiled template (syntax errors and unknown variable names are load errors);
plain strings stay as they are and never touch Jinja. ``CompiledReply.render``
walks the compiled tree per request with the variables of ``TEMPLATE_VARIABLES``
plus the regex groups of the matched conditions.

Templates run in ``sandbox.ReplySandbox`` (Jinja2's immutable sandbox) with
``StrictUndefined``: they cannot reach dunder attributes or mutate the request, and
a misspelt variable is an error rather than an empty string. What the sandbox would
refuse while rendering is refused at load instead (``sandbox.unsafe_construct``),
and one reply's templates may render at most ``max_chars`` characters.

Inside ``arguments`` (tool call arguments), a string that is exactly one
``{{ expression }}`` keeps the expression's type, so
``days: "{{ faker.random_int(1, 5) }}"`` gives the number 3, not "3".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes

from ..errors import TemplateFailure, TemplateLimitError, TemplateProblem, TemplateRenderError
from .conditions import did_you_mean, format_key_path
from .fakernames import DEFAULT_LOCALE, faker_names
from .sandbox import DEFAULT_MAX_REPLY_CHARS, Budget, ReplySandbox, unsafe_construct

__all__ = [
    "CompiledReply",
    "TEMPLATE_VARIABLES",
    "TemplateEngine",
]

TEMPLATE_VARIABLES: tuple[str, ...] = ("faker", "request", "headers", "turn", "scenario", "call")

_SINGLE_EXPRESSION = re.compile(r"^\{\{((?:(?!\}\}|\{\{).)*)\}\}$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Text:
    """A string template: renders to a string."""

    template: jinja2.Template
    source: str


@dataclass(frozen=True, slots=True)
class _Expr:
    """A single-expression template inside ``arguments``: renders to any value."""

    expression: Any
    source: str


def _render(node: Any, context: Mapping[str, Any], budget: Budget) -> Any:
    kind = type(node)
    try:
        if kind is dict:
            return {k: _render(v, context, budget) for k, v in node.items()}
        if kind is list:
            return [_render(v, context, budget) for v in node]
        if kind is _Text:
            # What Template.render does, its chunks counted as they come, so a runaway
            # loop stops at the limit (without render's traceback rewriting).
            template = node.template
            return budget.join(template.root_render_func(template.new_context(dict(context))))
        if kind is _Expr:
            value = node.expression(**context)
            if isinstance(value, str):
                budget.charge(len(value))
            return value
    except TemplateFailure as failed:
        failed.found_in(node)
        raise
    except TemplateLimitError:
        raise
    except Exception as exc:  # sandbox violations, undefined names, faker's own errors
        raise TemplateFailure(node, exc) from exc
    return node


def _copy(node: Any) -> Any:
    kind = type(node)
    if kind is dict:
        return {k: _copy(v) for k, v in node.items()}
    if kind is list:
        return [_copy(v) for v in node]
    return node


@dataclass(frozen=True, slots=True)
class CompiledReply:
    """A reply spec with its templates compiled; ``static`` when it has none."""

    tree: Any
    static: bool
    # The characters all templates of one rendering may produce together.
    max_chars: int = DEFAULT_MAX_REPLY_CHARS
    # Whether a template reads ``call`` (the use count): if none does, and the scenario
    # has no other counter, resolving it need not wait for the state store.
    reads_call: bool = False
    # Where the reply sits in its scenario (``("reply",)``, ``("sequence", 1)``).
    where: tuple[str | int, ...] = ()

    def render(self, context: Mapping[str, Any], *, scenario: str = "") -> Any:
        """A fresh reply spec (callers may change it) with every template rendered.

        A template that fails at request time (a faker method that raises, a
        sandbox violation) is a TemplateRenderError (422, not retried) naming the
        scenario, the template's key path and its message; one that grows past a limit
        is a TemplateLimitError (422) naming it.
        """
        if self.static:
            return _copy(self.tree)
        try:
            return _render(self.tree, context, Budget(self.max_chars))
        except TemplateLimitError as exc:
            raise TemplateLimitError(
                f"scenario {scenario!r}: the reply template {exc.message}"
            ) from None
        except TemplateFailure as failed:
            path = (*self.where, *failed.path)
            cause = failed.cause
            raise TemplateRenderError(
                scenario, format_key_path(path), f"{type(cause).__name__}: {cause}", key_path=path
            ) from cause


class TemplateEngine:
    """The sandboxed Jinja2 environment, built once, and a cache of compiled sources.

    ``max_chars`` bounds what the templates of one reply may render (the
    ``max_reply_chars`` setting); ``faker_locale`` is the locale whose Faker the
    templates call (a ``faker.<name>`` it lacks is a load error).
    """

    __slots__ = ("_cache", "_faker_locale", "_faker_names", "env")

    def __init__(
        self, max_chars: int = DEFAULT_MAX_REPLY_CHARS, faker_locale: str = DEFAULT_LOCALE
    ) -> None:
        self._faker_locale = faker_locale
        # Listed when the first template that calls faker is compiled.
        self._faker_names: frozenset[str] | None = None
        self.env = ReplySandbox(
            max_chars,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        # Identical template sources (common across thousands of generated scenarios)
        # compile once per engine.
        self._cache: dict[tuple[str, bool], _Text | _Expr] = {}

    def compile_reply(
        self, spec: Any, path: tuple[str | int, ...] = (), names: Iterable[str] = ()
    ) -> CompiledReply:
        """Compile every template in ``spec``; ``names`` are the extra variables in scope.

        ``path`` is where ``spec`` sits; a bad template raises TemplateProblem with
        the path of its string.
        """
        allowed = frozenset(TEMPLATE_VARIABLES) | frozenset(names) | frozenset(self.env.globals)
        found: list[frozenset[str]] = []
        tree = self._compile(spec, path, allowed, False, found)
        return CompiledReply(
            tree,
            static=not found,
            max_chars=self.env.max_chars,
            reads_call=any("call" in names for names in found),
            where=path,
        )

    def _compile(
        self,
        node: Any,
        path: tuple[str | int, ...],
        allowed: frozenset[str],
        native: bool,
        found: list[frozenset[str]],
    ) -> Any:
        if isinstance(node, Mapping):
            return {
                k: self._compile(v, (*path, k), allowed, native or k == "arguments", found)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [
                self._compile(v, (*path, i), allowed, native, found) for i, v in enumerate(node)
            ]
        if isinstance(node, str) and ("{{" in node or "{%" in node or "{#" in node):
            return self._template(node, path, allowed, native, found)
        return node

    def _check_faker(self, parsed: nodes.Template, path: tuple[str | int, ...]) -> None:
        """Refuse a ``faker.<name>`` that the locale's Faker does not have."""
        for node in parsed.find_all(nodes.Getattr):
            if not (isinstance(node.node, nodes.Name) and node.node.name == "faker"):
                continue
            if self._faker_names is None:
                self._faker_names = faker_names(self._faker_locale)
            if node.attr not in self._faker_names:
                raise TemplateProblem(
                    f"faker has no {node.attr!r} in locale {self._faker_locale}"
                    f"{did_you_mean(node.attr, self._faker_names)} (template line "
                    f"{node.lineno}; its providers: https://faker.readthedocs.io)",
                    path,
                )

    def _template(
        self,
        source: str,
        path: tuple[str | int, ...],
        allowed: frozenset[str],
        native: bool,
        found: list[frozenset[str]],
    ) -> _Text | _Expr:
        """Compile one template; the variables it reads are appended to ``found``."""
        try:
            parsed = self.env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"bad template syntax: {exc.message} (template line {exc.lineno})", path
            ) from None
        names = frozenset(meta.find_undeclared_variables(parsed))
        unknown = names - allowed
        if unknown:
            raise TemplateProblem(
                f"unknown template variable {', '.join(map(repr, sorted(unknown)))} "
                f"(available: {', '.join(sorted(allowed - frozenset(self.env.globals)))})",
                path,
            )
        unsafe = unsafe_construct(parsed, self.env)
        if unsafe is not None:
            raise TemplateProblem(f"the template {unsafe[0]} (template line {unsafe[1]})", path)
        if "faker" in names:
            self._check_faker(parsed, path)
        found.append(names)
        single = _SINGLE_EXPRESSION.match(source) if native else None
        cache_key = (source, single is not None)
        compiled = self._cache.get(cache_key)
        if compiled is None:
            if single is not None:
                compiled = _Expr(
                    self.env.compile_expression(single.group(1), undefined_to_none=False), source
                )
            else:
                compiled = _Text(self.env.from_string(source), source)
            self._cache[cache_key] = compiled
        return compiled

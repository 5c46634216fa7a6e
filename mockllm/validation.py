"""Check request bodies (and generated replies) against the schemas; one FieldError per problem.

The fast path runs the ``SchemaSet``'s validator (jsonschema-rs): a valid body costs a
few microseconds. Only when it fails does ``jsonschema`` run, to report ALL problems at
once, each as a ``FieldError`` with the DTO path (``Messages[0].Role``), the JSON path
(``messages[0].role``), a ServiceStack ``errorCode``, an OpenAI ``code`` and a message in
ServiceStack's words (``'Temperature' must be between 0 and 2. You entered 3.``).

DTO names come from the schemas' ``title`` annotations (the generator writes the page's
field names there), so the error names match the documented DTO, not a guess.

A body that passes the schemas can still ask for the impossible: a ``json_schema``
response format whose ``schema`` is not a JSON Schema (``{"type": "bogus"}``). The
API refuses those with a 400, and so does :class:`RequestValidator`, after checking
the schema against its metaschema (the ``$schema`` it names, else draft 2020-12).
Clients send the same schema on every request, so each distinct one is checked once
per validator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import orjson

from .casing import KeyBinder, KeyClash
from .config import ValidationMode
from .errors import FieldError
from .memo import keep
from .naming import to_pascal
from .schemaset import REQUEST_SCHEMA, RESPONSE_SCHEMA, FastValidator, SchemaSet

if TYPE_CHECKING:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["RequestValidator", "ResponseValidator", "validate_response"]

_TYPE_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "string": "a string",
        "integer": "an integer",
        "number": "a number",
        "boolean": "a boolean",
        "array": "an array",
        "object": "an object",
        "null": "null",
    }
)
_MISMATCH = frozenset({"type"})
_DISCRIMINATING = frozenset({"const", "enum"})


def _shown(value: Any) -> str:
    """A value as the message shows it: 'text', 3, 2.5, true, or short JSON."""
    if isinstance(value, str):
        return f"'{value if len(value) <= 60 else value[:57] + '...'}'"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _rule(error: ValidationError) -> Any:
    """The failed keyword's value in the schema.

    Errors from ``iter_errors`` always carry it; the stubs type it ``Any | Unset`` only
    because a hand-built ``ValidationError`` may leave it out.
    """
    return error.validator_value


def _schema(error: ValidationError) -> Mapping[str, Any]:
    """The (sub)schema that failed; a boolean schema has no keywords to read."""
    schema = error.schema
    return schema if isinstance(schema, Mapping) else {}


def _types(schema_type: Any) -> list[str]:
    return [schema_type] if isinstance(schema_type, str) else list(schema_type or [])


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an error is: the DTO path, the JSON path, and a key to sort by document order."""

    field_name: str
    param: str
    order: tuple[tuple[int, str], ...]


class _Namer:
    """Names instance paths by walking the schemas: titles give the DTO names."""

    def __init__(self, schemas: SchemaSet, root: Mapping[str, Any]) -> None:
        self._schemas = schemas
        self._root = root

    def place(self, body: Any, path: Sequence[str | int]) -> _Place:
        """The names and sort key of ``path`` inside ``body``."""
        field_name, param = "", ""
        schemas: list[Mapping[str, Any]] = [self._root]
        order: list[tuple[int, str]] = []
        node = body
        for segment in path:
            if isinstance(segment, int):
                field_name += f"[{segment}]"
                param += f"[{segment}]"
                schemas = [
                    s["items"]
                    for s in self._schemas.expand(schemas)
                    if isinstance(s.get("items"), dict)
                ]
                order.append((segment, ""))
                node = node[segment] if isinstance(node, list) and segment < len(node) else None
                continue
            title, schemas, is_key = self._member(schemas, segment)
            if is_key:  # a dictionary key, not a DTO field
                field_name += f"[{segment}]"
                param += f".{segment}"
            else:
                field_name += f".{title}" if field_name else title
                param += f".{segment}" if param else segment
            keys = list(node) if isinstance(node, dict) else []
            order.append((keys.index(segment) if segment in keys else len(keys), segment))
            node = node.get(segment) if isinstance(node, dict) else None
        # The body itself (not an object at all): name it after the DTO.
        return _Place(field_name or str(self._root.get("title", "")), param, tuple(order))

    def title_of(self, schemas: Sequence[Mapping[str, Any]]) -> str | None:
        """The first title among ``schemas`` (after following refs)."""
        for schema in self._schemas.expand(schemas):
            if isinstance(schema.get("title"), str):
                return str(schema["title"])
        return None

    def _member(
        self, schemas: Sequence[Mapping[str, Any]], key: str
    ) -> tuple[str, list[Mapping[str, Any]], bool]:
        expanded = self._schemas.expand(schemas)
        found = [s["properties"][key] for s in expanded if key in s.get("properties", {})]
        if found:
            return self.title_of(found) or to_pascal(key), found, False
        values = [
            s["additionalProperties"]
            for s in expanded
            if isinstance(s.get("additionalProperties"), dict)
        ]
        if values:
            return key, values, True
        return to_pascal(key), [], False


class _Reporter:
    """Turns jsonschema errors into FieldErrors: one per problem, most relevant branch only."""

    def __init__(self, schemas: SchemaSet, root: Mapping[str, Any], dto: str) -> None:
        self._namer = _Namer(schemas, root)
        self._dto = dto

    def report(self, body: Any, errors: Iterable[ValidationError]) -> list[FieldError]:
        """All problems in ``errors``, deduplicated and in document order."""
        found: dict[tuple[str, str], tuple[_Place, FieldError]] = {}
        for error in errors:
            for place, problem in self._convert(body, error):
                found.setdefault((problem.param, problem.error_code), (place, problem))
        # A wrong type says it all: drop range/enum complaints about the same value.
        mistyped = {param for param, code in found if code == "InvalidType"}
        kept = [
            (place, problem)
            for (param, code), (place, problem) in found.items()
            if code == "InvalidType" or param not in mistyped
        ]
        kept.sort(key=lambda item: item[0].order)
        return [problem for _, problem in kept]

    def _convert(self, body: Any, error: ValidationError) -> Iterator[tuple[_Place, FieldError]]:
        keyword = error.validator
        path = list(error.absolute_path)
        if keyword in {"anyOf", "oneOf"} and error.context:
            yield from self._branch(body, error, path)
        elif keyword == "required":
            for name in _rule(error):
                if isinstance(error.instance, dict) and name not in error.instance:
                    place = self._namer.place(body, [*path, name])
                    message = (
                        _schema(error).get("description") or f"'{place.field_name}' is required."
                    )
                    yield (
                        place,
                        self._error(place, "NotNull", "missing_required_parameter", message),
                    )
        elif keyword == "additionalProperties" and isinstance(error.instance, dict):
            known = set(_schema(error).get("properties", {}))
            owner = (
                _schema(error).get("title") or self._namer.place(body, path).field_name or self._dto
            )
            for name in error.instance:
                if name not in known:
                    place = self._namer.place(body, [*path, name])
                    message = f"'{name}' is not a known field of {owner}."
                    yield place, self._error(place, "UnknownField", "unknown_parameter", message)
        elif "propertyNames" in error.relative_schema_path:
            place = self._namer.place(body, [*path, str(error.instance)])
            owner = self._namer.place(body, path).field_name
            yield place, self._key_error(place, owner, error)
        else:
            place = self._namer.place(body, path)
            yield place, self._value_error(place, error)

    def _branch(
        self, body: Any, error: ValidationError, path: list[str | int]
    ) -> Iterator[tuple[_Place, FieldError]]:
        """Report the branch of an anyOf/oneOf the value most likely meant."""
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        depth = len(path)

        def wrong_kind(subs: list[ValidationError]) -> bool:
            return any(s.validator in _MISMATCH and len(s.absolute_path) == depth for s in subs)

        def rank(subs: list[ValidationError]) -> tuple[int, int]:
            # A const/enum miss one level down is a discriminator (`type`) naming another branch.
            missed = sum(
                s.validator in _DISCRIMINATING and len(s.absolute_path) == depth + 1 for s in subs
            )
            return missed, len(subs)

        fitting = [subs for subs in branches.values() if not wrong_kind(subs)]
        if fitting:
            for sub in min(fitting, key=rank):
                yield from self._convert(body, sub)
            return
        # No branch takes this kind of value: one type error naming every accepted type.
        accepted: list[str] = []
        for subs in branches.values():
            for sub in subs:
                if sub.validator in _MISMATCH and len(sub.absolute_path) == depth:
                    accepted += [t for t in _types(_rule(sub)) if t not in accepted]
        place = self._namer.place(body, path)
        yield place, self._type_error(place, accepted, error.instance)

    def _value_error(self, place: _Place, error: ValidationError) -> FieldError:
        keyword, value, schema, name = (
            error.validator,
            error.instance,
            _schema(error),
            place.field_name,
        )
        said = schema.get("description") if "then" in error.relative_schema_path else None
        if keyword == "type":
            return self._type_error(place, _types(_rule(error)), value)
        if keyword == "enum":
            allowed = ", ".join(str(v) for v in _rule(error) if v is not None)
            message = said or f"'{name}' must be one of {allowed}. You entered {_shown(value)}."
            return self._error(place, "Enum", "invalid_value", message)
        if keyword == "const":
            message = (
                said or f"'{name}' must be {_shown(_rule(error))}. You entered {_shown(value)}."
            )
            return self._error(place, "Equal", "invalid_value", message)
        if keyword in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
            return self._range_error(place, error)
        if keyword in {
            "maxItems",
            "minItems",
            "maxLength",
            "minLength",
            "maxProperties",
            "minProperties",
        }:
            return self._size_error(place, keyword, _rule(error), value)
        if keyword == "pattern":
            message = f"'{name}' is not in the correct format. You entered {_shown(value)}."
            return self._error(place, "RegularExpression", "invalid_value", message)
        if keyword == "not":
            message = said or schema.get("description") or f"'{name}' must not be {_shown(value)}."
            return self._error(
                place, "NotNull" if value is None else "Predicate", "invalid_value", message
            )
        return self._error(place, "Predicate", "invalid_value", f"'{name}': {error.message}.")

    def _type_error(self, place: _Place, accepted: Sequence[str], value: Any) -> FieldError:
        words = [_TYPE_WORDS.get(t, t) for t in accepted if t != "null"] or ["null"]
        message = f"'{place.field_name}' must be {' or '.join(words)}. You entered {_shown(value)}."
        return self._error(place, "InvalidType", "invalid_type", message)

    def _range_error(self, place: _Place, error: ValidationError) -> FieldError:
        schema, value, name = _schema(error), error.instance, place.field_name
        low, high = schema.get("minimum"), schema.get("maximum")
        kind = "integer" if "integer" in _types(schema.get("type")) else "decimal"
        below = error.validator in {"minimum", "exclusiveMinimum"}
        code = f"{kind}_below_min_value" if below else f"{kind}_above_max_value"
        entered = f"You entered {_number(value)}."
        if low is not None and high is not None:
            message = f"'{name}' must be between {_number(low)} and {_number(high)}. {entered}"
            return self._error(place, "InclusiveBetween", code, message)
        if error.validator == "minimum":
            message = f"'{name}' must be greater than or equal to {_number(low)}. {entered}"
            return self._error(place, "GreaterThanOrEqual", code, message)
        if error.validator == "maximum":
            message = f"'{name}' must be less than or equal to {_number(high)}. {entered}"
            return self._error(place, "LessThanOrEqual", code, message)
        relation = "greater" if below else "less"
        message = f"'{name}' must be {relation} than {_number(_rule(error))}. {entered}"
        return self._error(place, "GreaterThan" if below else "LessThan", code, message)

    def _size_error(self, place: _Place, keyword: str, limit: int, value: Any) -> FieldError:
        name = place.field_name
        if keyword.endswith("Items"):
            noun, kind, count = "items", "array", len(value)
        elif keyword.endswith("Length"):
            noun, kind, count = "characters", "string", len(value)
        else:
            noun, kind, count = "entries", "object", len(value)
        if keyword == "minItems" and limit == 1 and count == 0:
            return self._error(place, "NotEmpty", "empty_array", f"'{name}' must not be empty.")
        if keyword.startswith("max"):
            message = f"'{name}' must have at most {limit} {noun}. You entered {count} {noun}."
            return self._error(place, "MaximumLength", f"{kind}_above_max_length", message)
        message = f"'{name}' must have at least {limit} {noun}. You entered {count} {noun}."
        return self._error(place, "MinimumLength", f"{kind}_below_min_length", message)

    def _key_error(self, place: _Place, owner: str, error: ValidationError) -> FieldError:
        key = _shown(error.instance)
        if error.validator == "maxLength":
            message = (
                f"Keys of '{owner}' must have at most {_rule(error)} characters. You entered {key}."
            )
            return self._error(place, "MaximumLength", "string_above_max_length", message)
        message = f"Key {key} of '{owner}' is not in the correct format."
        return self._error(place, "RegularExpression", "invalid_value", message)

    def clash(self, body: Any, clash: KeyClash) -> FieldError:
        """A property sent under two spellings (``topLogprobs`` and ``top_logprobs``)."""
        place = self._namer.place(body, clash.path)
        message = (
            f"'{place.field_name}' is sent twice, as '{clash.sent}' and "
            f"'{clash.path[-1]}'; send it once."
        )
        return self._error(place, "DuplicateField", "duplicate_parameter", message)

    @staticmethod
    def _error(place: _Place, error_code: str, code: str, message: str) -> FieldError:
        return FieldError(place.field_name, place.param, error_code, code, message)


class _Checker:
    """A fast validator backed by a detailed one for the report; each is built the
    first time it is needed (``jsonschema`` is imported with the first invalid body)."""

    def __init__(
        self,
        schemas: SchemaSet,
        fast: Callable[[], FastValidator],
        root: Mapping[str, Any],
        dto: str,
    ):
        self._schemas = schemas
        self._get_fast = fast
        self._fast: FastValidator | None = None
        self._root = root
        self._detail: Draft7Validator | None = None
        self._reporter = _Reporter(schemas, root, dto)

    def _detailed(self) -> Draft7Validator:
        if self._detail is None:
            from jsonschema import Draft7Validator

            self._detail = Draft7Validator(self._root, registry=self._schemas.registry)
        return self._detail

    def clash_error(self, body: Any, clash: KeyClash) -> FieldError:
        """The error for a property sent under two spellings."""
        return self._reporter.clash(body, clash)

    def check(self, body: Any) -> list[FieldError]:
        """[] when ``body`` is valid, else every problem found."""
        fast = self._fast
        if fast is None:
            fast = self._fast = self._get_fast()
        if fast.is_valid(body):
            return []
        problems = self._reporter.report(body, self._detailed().iter_errors(body))
        if problems:
            return problems
        # The two validators disagree (a bug in one of them): still refuse, and say so.
        try:
            fast.validate(body)
            fast_message = "refused by the fast validator only"
        except jsonschema_rs.ValidationError as exc:
            fast_message = exc.message
        return [FieldError("", "", "Predicate", "invalid_value", f"Invalid body: {fast_message}")]


_OUTPUT_SCHEMA_PATH = ("response_format", "json_schema", "schema")


class _OutputSchemaChecker:
    """Refuses a ``json_schema`` response format whose schema breaks its metaschema
    (module docstring); remembers the verdict on each distinct schema."""

    def __init__(self, namer: _Namer, *, size: int = 256) -> None:
        self._namer = namer
        self._verdicts: dict[bytes, str | None] = {}
        self._size = size

    def check(self, body: Mapping[str, Any]) -> list[FieldError]:
        """[] unless ``body`` asks for structured output with an invalid schema."""
        fmt = body.get("response_format")
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            return []
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or not isinstance(schema, dict):
            return []  # absent, or already refused by the request schema
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        if key in self._verdicts:
            problem = self._verdicts[key]
        else:
            problem = keep(self._verdicts, key, _schema_problem(schema), self._size)
        if problem is None:
            return []
        place = self._namer.place(body, _OUTPUT_SCHEMA_PATH)
        # OpenAI's words, which clients match on: "Invalid schema for response_format 'x': ..."
        message = f"Invalid schema for response_format '{spec.get('name', '')}': {problem}."
        return [
            FieldError(place.field_name, place.param, "Predicate", "invalid_json_schema", message)
        ]


def _schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (where and what), or None when it is."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as error:
        return f"In context={tuple(error.path)}, {error.message}"
    return None


class RequestValidator:
    """Validates ChatCompletion bodies in the configured mode; build once, call per request.

    Before any check, keys ServiceStack would bind to a DTO property under another
    spelling (``topLogprobs``, ``ToolChoice``) are renamed in place to the documented
    JSON name (``casing.KeyBinder``), so the body that goes on is the canonical one.

    Whether a body is valid depends on its bytes alone, so the bytes of up to
    ``remember`` valid bodies are remembered, with whether their keys needed renaming:
    a request sent again (a retry, a suite run again, a load test) is not checked
    again, nor walked for keys when none needed a new name.
    """

    def __init__(
        self,
        schemas: SchemaSet,
        mode: ValidationMode,
        *,
        remember: int = 1024,
        longest: int = 16384,
    ) -> None:
        self.mode = mode
        self._valid: dict[bytes, bool] = {}
        self._remember = remember
        self._longest = longest
        self._binder = KeyBinder(schemas)
        self._checker: _Checker | None = None
        self._output_schemas: _OutputSchemaChecker | None = None
        if mode is not ValidationMode.OFF:
            lenient = mode is ValidationMode.LENIENT
            root = schemas.request_schema(lenient=lenient)
            self._checker = _Checker(
                schemas,
                (lambda: schemas.fast_request_lenient)
                if lenient
                else (lambda: schemas.fast_request_strict),
                root,
                REQUEST_SCHEMA,
            )
            self._output_schemas = _OutputSchemaChecker(_Namer(schemas, root))

    def validate(self, body: Any, raw: bytes | None = None) -> list[FieldError]:
        """Every problem with ``body`` (empty when valid, or when validation is off);
        its keys are first renamed to the DTOs' JSON names, in place. ``raw``: the
        bytes ``body`` was parsed from, when known (see the class docstring)."""
        checker = self._checker
        if raw is not None and len(raw) > self._longest:
            raw = None  # hashing it would cost more than remembering saves
        # For bytes known valid: whether their keys need renaming (False: nothing to do).
        renames = self._valid.get(raw) if raw is not None else None
        if renames is False:
            return []
        try:
            renamed = self._binder.bind(body)
        except KeyClash as clash:
            return [checker.clash_error(body, clash)] if checker is not None else []
        if checker is None or self._output_schemas is None or renames is not None:
            return []
        problems = checker.check(body) or self._output_schemas.check(body)
        if not problems and raw is not None:
            keep(self._valid, raw, renamed, self._remember)
        return problems


class ResponseValidator:
    """Validates generated ChatResponse dicts (tests and the ``check_replies`` setting)."""

    def __init__(self, schemas: SchemaSet) -> None:
        root = dict(schemas.schema(RESPONSE_SCHEMA))
        self._checker = _Checker(schemas, lambda: schemas.fast_response, root, RESPONSE_SCHEMA)

    def validate(self, reply: Any) -> list[FieldError]:
        """Every way ``reply`` breaks the ChatResponse schema (empty when it conforms)."""
        return self._checker.check(reply)


def validate_response(schemas: SchemaSet, reply: Any) -> list[FieldError]:
    """One-off check of a ChatResponse dict; build a ``ResponseValidator`` to check many."""
    return ResponseValidator(schemas).validate(reply)

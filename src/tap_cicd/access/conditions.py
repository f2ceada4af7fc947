"""IAM condition operators, wildcards and policy variables, as the IAM reference defines them.

Pure functions over a request context: the condition keys AWS sends on a path, keyed by their
lower-cased names (``normalize_context``). A policy value that names a variable AWS cannot resolve
matches no request value. An operator this module does not know raises ``ValueError``: IAM would
have refused the policy when it was saved, so meeting one is a bug in the policy's builder.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

ContextValue = str | Sequence[str]
Context = Mapping[str, tuple[str, ...]]
"""Condition keys by lower-cased name; a key with no value is absent."""

VARIABLES_VERSION = "2012-10-17"
"""Policy variables exist from this policy-language version on; before it ``${...}`` is text."""

# Special characters and defaults: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_SET_QUALIFIERS = ("ForAllValues:", "ForAnyValue:")


def normalize_context(context: Mapping[str, ContextValue]) -> dict[str, tuple[str, ...]]:
    """Lower-case the key names and make every value a tuple; empty values are dropped (absent)."""
    # Key names are case-insensitive: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
    normalized = {
        key.lower(): (value,) if isinstance(value, str) else tuple(value)
        for key, value in context.items()
    }
    return {key: values for key, values in normalized.items() if values}


def _escape(text: str, *, specials: str) -> str:
    """Backslash-escape the backslash and ``specials`` so that they match literally."""
    return "".join("\\" + char if char == "\\" or char in specials else char for char in text)


def resolve(text: str, context: Context, *, variables: bool) -> str | None:
    """The policy value ``text`` as a glob (``*``, ``?``; ``\\x`` is a literal x).

    With ``variables``, every ``${key}`` is replaced by the key's single value in ``context``
    (escaped: a value's ``*`` is no wildcard), ``${*}``, ``${?}`` and ``${$}`` by that literal
    character and ``${key, 'default'}`` by the default when the key is absent. ``None`` when a
    variable cannot be resolved: such a value matches nothing.
    """
    if not variables:
        return _escape(text, specials="")
    parts: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(text):
        parts.append(_escape(text[position : found.start()], specials=""))
        value = _variable(found.group(1), context)
        if value is None:
            return None
        parts.append(_escape(value, specials="*?"))
        position = found.end()
    parts.append(_escape(text[position:], specials=""))
    return "".join(parts)


def _variable(inside: str, context: Context) -> str | None:
    if inside in _SPECIAL:
        return _SPECIAL[inside]
    with_default = _DEFAULT.match(inside)
    key, default = with_default.groups() if with_default else (inside.strip(), None)
    values = context.get(key.lower(), ())
    # A multivalued key cannot be a variable: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    return values[0] if len(values) == 1 else default


def literal(pattern: str) -> str:
    """The text a glob from ``resolve`` stands for, its escapes removed."""
    return re.sub(r"\\(.)", r"\1", pattern, flags=re.DOTALL)


@lru_cache(maxsize=4096)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    pieces: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            pieces.append(re.escape(next(chars, "\\")))
        elif char in "*?":
            pieces.append(".*" if char == "*" else ".")
        else:
            pieces.append(re.escape(char))
    return re.compile("".join(pieces), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Whether ``value`` matches the glob ``pattern`` whole (``*`` any run, ``?`` one character)."""
    return _regex(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-delimited parts matched on its own, case-sensitively."""
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        return False
    return all(map(glob_match, pattern_parts, value_parts))


def _number(text: str) -> float:
    return float(text)


def _instant(text: str) -> float:
    """A W3C ISO 8601 date-time (UTC when it names no zone) or epoch seconds, as epoch seconds."""
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _compare(parse: Callable[[str], float], compare: Callable[[float, float], bool]) -> Matcher:
    return lambda pattern, value: compare(parse(value), parse(literal(pattern)))


def _in_network(pattern: str, value: str) -> bool:
    # A bare address means /32 (or /128): ip_network does the same.
    return ipaddress.ip_address(value) in ipaddress.ip_network(literal(pattern), strict=False)


Matcher = Callable[[str, str], bool]
"""(policy value as a glob from ``resolve``, request value) -> whether they match."""

# The condition operators page, by category; each negated operator is its positive one, inverted.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
_MATCHERS: dict[str, Matcher] = {
    "StringEquals": lambda pattern, value: literal(pattern) == value,
    "StringEqualsIgnoreCase": lambda pattern, value: literal(pattern).lower() == value.lower(),
    "StringLike": glob_match,
    "NumericEquals": _compare(_number, operator.eq),
    "NumericLessThan": _compare(_number, operator.lt),
    "NumericLessThanEquals": _compare(_number, operator.le),
    "NumericGreaterThan": _compare(_number, operator.gt),
    "NumericGreaterThanEquals": _compare(_number, operator.ge),
    "DateEquals": _compare(_instant, operator.eq),
    "DateLessThan": _compare(_instant, operator.lt),
    "DateLessThanEquals": _compare(_instant, operator.le),
    "DateGreaterThan": _compare(_instant, operator.gt),
    "DateGreaterThanEquals": _compare(_instant, operator.ge),
    "Bool": lambda pattern, value: literal(pattern).lower() == value.lower(),
    "BinaryEquals": lambda pattern, value: literal(pattern) == value,
    "IpAddress": _in_network,
    "ArnEquals": arn_match,
    "ArnLike": arn_match,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
# Policy variables only in string, ARN and Bool values (the variables page and the operators page).
_TAKES_VARIABLES = ("String", "Arn", "Bool")


def _strings(values: Any) -> list[str]:
    """A condition's value(s) as strings: JSON true/false and numbers as IAM reads them."""
    items = values if isinstance(values, list) else [values]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def conditions_match(block: Mapping[str, Any], context: Context, *, variables: bool) -> bool:
    """Whether a statement's ``Condition`` element holds: every operator and every key (AND)."""
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
    return all(
        condition_matches(name, key, _strings(values), context, variables=variables)
        for name, keys in block.items()
        for key, values in keys.items()
    )


def condition_matches(
    name: str, key: str, policy_values: Iterable[str], context: Context, *, variables: bool
) -> bool:
    """One operator on one key: its values OR'ed (NOR'ed for a negated operator)."""
    qualifier = next((q for q in _SET_QUALIFIERS if name.startswith(q)), "")
    base = name.removeprefix(qualifier)
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    request_values = context.get(key.lower(), ())
    if base == "Null" and not (if_exists or qualifier):
        # "true": the key is absent; "false": it is present.
        return any((value.lower() == "true") != bool(request_values) for value in policy_values)
    positive = _NEGATED.get(base, base)
    if positive not in _MATCHERS:
        raise ValueError(f"unsupported condition operator {name!r}")
    if not request_values:
        # A missing key: ...IfExists is true; ForAllValues is true and ForAnyValue false (set
        # operators page); otherwise false, but true for a negated operator (operators page).
        return if_exists or qualifier == "ForAllValues:" or (not qualifier and base != positive)
    substitute = variables and base.startswith(_TAKES_VARIABLES)
    resolved = (resolve(value, context, variables=substitute) for value in policy_values)
    patterns = [pattern for pattern in resolved if pattern is not None]
    match = _MATCHERS[positive]
    negated = base != positive

    def holds(value: str) -> bool:
        return any(match(pattern, value) for pattern in patterns) != negated

    if qualifier == "ForAllValues:":
        return all(map(holds, request_values))
    if qualifier == "ForAnyValue:":
        return any(map(holds, request_values))
    matched = any(match(pattern, value) for pattern in patterns for value in request_values)
    return matched != negated

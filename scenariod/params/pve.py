"""The PVE dialect: PVE::JSONSchema (pve-common) and PVE::RESTHandler, with the wording of
those modules. Booleans are 0/1 (form values: only `1`/`0`; JSON `true`/`false`;
`yes`/`on`/... are accepted inside property strings only, as in Perl).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..wire import ApiError
from .formats import named_format
from .regexes import perl_pattern
from .validator import ObjectRules, Validator
from .values import (
    INT_RE,
    MAX_INT_DIGITS,
    MEMO_SIZE,
    NUM_RE,
    Check,
    Invalid,
    as_number,
    beyond_range,
    limit_text,
    parse_boolean,
    perl_num,
    perl_str,
    perl_true,
    truthy_flag,
)
from .wording import WORDING

_PW = WORDING["pve"]
_KV_RE = re.compile(r"^([^=]+)=(.+)$")


def _add_error(errors: dict[str, str], path: str, message: str, wording: dict[str, str]) -> None:
    if path in errors:
        errors[path] = errors[path] + wording["error_join"] + message
    else:
        errors[path] = message


def _ref_name(value: Any) -> str | None:
    """The Perl ref() of a decoded JSON value, or None for plain scalars."""
    if isinstance(value, bool):
        return _PW["ref_bool"]
    if isinstance(value, list):
        return _PW["ref_array"]
    if isinstance(value, dict):
        return _PW["ref_hash"]
    return None


def _scalar_conv(type_: Any) -> Callable[[Any, str], tuple[str | None, Any]]:
    """check_type for scalar types: (string form for the later checks, typed value).

    The string form is None when Perl would skip the scalar checks (a reference value).
    """
    type_msg = _PW["type"]
    ref_msg = _PW["type_ref"]

    def fail_ref(path: str, ref: str) -> Invalid:
        return Invalid({path: ref_msg.format(type=type_, ref=ref)})

    if type_ == "integer":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is str:
                if INT_RE.match(value):
                    return value, int(value)
                raise Invalid({path: type_msg.format(type="integer", value=value)})
            if tv is int:
                return str(value), value
            if tv is float:
                s = perl_num(value)
                if INT_RE.match(s):
                    return s, int(s)
                raise Invalid({path: type_msg.format(type="integer", value=s)})
            ref = _ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = perl_str(value)
            if INT_RE.match(s):
                return s, int(s)
            raise Invalid({path: type_msg.format(type="integer", value=s)})

        return conv

    if type_ == "number":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is int or tv is float:
                return perl_num(value), value
            ref = _ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = perl_str(value)
            if NUM_RE.match(s):
                return s, (int(s) if INT_RE.match(s) else float(s))
            raise Invalid({path: type_msg.format(type="number", value=s)})

        return conv

    if type_ == "boolean":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is bool:
                return None, 1 if value else 0  # JSON::is_bool: accepted, no further checks
            if tv is str:
                if value == "1":
                    return value, 1
                if value == "0":
                    return value, 0
                raise Invalid({path: type_msg.format(type="boolean", value=value)})
            ref = _ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = perl_str(value)
            if s == "1" or s == "0":
                return s, int(s)
            raise Invalid({path: type_msg.format(type="boolean", value=s)})

        return conv

    if type_ == "string":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            if type(value) is str:
                return value, value
            ref = _ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = perl_str(value)
            return s, s

        return conv

    if type_ == "null":

        def conv_null(value: Any, path: str) -> tuple[str | None, Any]:
            raise Invalid({path: _PW["type_null"]})

        return conv_null

    # no type, 'any', or a type Perl does not check
    def conv_any(value: Any, path: str) -> tuple[str | None, Any]:
        if _ref_name(value) is not None:
            return None, value
        s = perl_str(value)
        return s, value

    return conv_any


class PveValidator(Validator):
    """PVE::JSONSchema::check_prop and check_object (pve-common) compiled, with PVE's texts."""

    __slots__ = ()

    dialect = "pve"
    wording = _PW
    perl_object_rules = True

    def add_error(self, errors: dict[str, str], path: str, message: str) -> None:
        _add_error(errors, path, message, _PW)

    def failure(self, errors: dict[str, str]) -> ApiError:
        return ApiError(400, _PW["verification_failed"], errors=errors)

    def prop(self, schema: Mapping[str, Any], top: bool = False) -> Check:
        """check_prop for a present (defined) value."""
        type_ = schema.get("type")
        if type_ == "array":
            return self.array(schema, top)
        if type_ == "object":
            return self.object_prop(schema)
        if isinstance(type_, list):
            return self.union(schema, type_)
        return self.scalar(schema, type_, top)

    def union(self, schema: Mapping[str, Any], types: list[Any]) -> Check:
        alternatives = [self.prop({**schema, "type": t}) for t in types]
        message = self.wording["type_plain"].format(type="|".join(str(t) for t in types))

        def check(value: Any, path: str) -> Any:
            for alt in alternatives:
                try:
                    return alt(value, path)
                except Invalid:
                    continue
            raise Invalid({path: message})

        return check

    def scalar(self, schema: Mapping[str, Any], type_: Any, top: bool) -> Check:
        """check_type, then format, pattern, maxLength, minLength, maximum, minimum, enum.

        One closure with every check inlined: each request pays a type test and a few
        `is None` tests per parameter, not a walk over the schema.
        """
        w = self.wording
        slow_conv = _scalar_conv(type_)
        kind = {"integer": 1, "number": 2, "boolean": 3, "string": 4}.get(type_, 0) if isinstance(type_, str) else 0
        type_msg = w["type"]

        fmt = schema.get("format")
        fmt_verify: Callable[[str], str | None] | None = None
        prop_string: Callable[[str, str], str | None] | None = None
        if isinstance(fmt, dict):
            prop_string = self.property_string(fmt)
        elif isinstance(fmt, str) and fmt and fmt != "regex":
            fmt_verify = named_format(fmt)
        fmt_msg = w["format"]
        join_list = top and kind == 4 and isinstance(fmt, str) and fmt.endswith("-list")

        pattern_search = None
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern:
            compiled = perl_pattern(pattern)
            if compiled is not None:
                pattern_search = compiled.search
        pat_msg = w["pattern"]

        max_len = as_number(schema.get("maxLength"))
        min_len = as_number(schema.get("minLength"))
        max_len_msg = w["max_length"].format(limit=limit_text(schema.get("maxLength"))) if max_len is not None else ""
        min_len_msg = w["min_length"].format(limit=limit_text(schema.get("minLength"))) if min_len is not None else ""

        maximum, minimum = schema.get("maximum"), schema.get("minimum")
        max_n, min_n = as_number(maximum), as_number(minimum)
        has_range = max_n is not None or min_n is not None
        max_msg = w["maximum"].format(limit=limit_text(maximum)) if max_n is not None else ""
        min_msg = w["minimum"].format(limit=limit_text(minimum)) if min_n is not None else ""

        enum = schema.get("enum")
        enum_set = frozenset(perl_str(e) for e in enum) if isinstance(enum, list) and enum else None
        enum_msg = w["enum"]
        enum_values = ", ".join(perl_str(e) for e in enum) if enum_set is not None else ""

        int_match = INT_RE.match
        num_match = NUM_RE.match
        # Accepted string values -> typed value.  Every check here is a pure function of the
        # string, so a value that passed once passes again; most requests repeat node names,
        # VM IDs, storage IDs and property strings.
        memo: dict[str, Any] = {}
        memo_get = memo.get

        def check(value: Any, path: str) -> Any:
            try:
                if type(value) is str:
                    typed = memo_get(value)
                    if typed is not None:
                        return typed
                    s = value
                    if kind == 4 or kind == 0:
                        typed = s
                    elif kind == 1:
                        if s.isdecimal():
                            typed = int(s)
                        elif int_match(s) is None:
                            raise Invalid({path: type_msg.format(type="integer", value=s)})
                        else:
                            typed = int(s)
                    elif kind == 3:
                        if s == "1":
                            typed = 1
                        elif s == "0":
                            typed = 0
                        else:
                            raise Invalid({path: type_msg.format(type="boolean", value=s)})
                    else:
                        if num_match(s) is None:
                            raise Invalid({path: type_msg.format(type="number", value=s)})
                        typed = int(s) if int_match(s) else float(s)
                else:
                    if join_list and type(value) is list and value:
                        # PVE::RESTHandler: an array for a '-list' string is joined with ','
                        return check(",".join(perl_str(v) for v in value), path)
                    s, typed = slow_conv(value, path)
                    if s is None:
                        return typed
            except ValueError:  # more digits than int() converts: a number beyond every range
                raise Invalid({path: beyond_range(str(value), kind, max_msg, min_msg, type_msg)}) from None
            if fmt_verify is not None:
                err = fmt_verify(s)
                if err is not None:
                    raise Invalid({path: fmt_msg.format(message=err)})
            elif prop_string is not None:
                err = prop_string(s, path)
                if err is not None:
                    raise Invalid({path: err})
            if pattern_search is not None and pattern_search(s) is None:
                raise Invalid({path: pat_msg})
            if max_len is not None and len(s) > max_len:
                raise Invalid({path: max_len_msg})
            if min_len is not None and len(s) < min_len:
                raise Invalid({path: min_len_msg})
            if has_range:
                if kind == 1 or kind == 2:
                    number = typed
                elif num_match(s) is not None:
                    number = float(s) if len(s) > MAX_INT_DIGITS or not int_match(s) else int(s)
                else:
                    number = None
                if number is not None:
                    if max_n is not None and number > max_n:
                        raise Invalid({path: max_msg})
                    if min_n is not None and number < min_n:
                        raise Invalid({path: min_msg})
            if enum_set is not None and s not in enum_set:
                raise Invalid({path: enum_msg.format(value=s, values=enum_values)})
            if s is value:
                if len(memo) >= MEMO_SIZE:
                    memo.clear()
                memo[s] = typed
            return typed

        return check

    def property_string(self, fmt: Mapping[str, Any]) -> Callable[[str, str], str | None]:
        """parse_property_string + check_object over a hash format."""
        w = self.wording
        entries: dict[str, Mapping[str, Any]] = {k: v for k, v in fmt.items() if isinstance(v, dict)}
        default_key = next((k for k, v in entries.items() if truthy_flag(v.get("default_key"))), None)
        bools = frozenset(k for k, v in entries.items() if v.get("type") == "boolean")
        checks: dict[str, Check | None] = {}
        required: list[str] = []
        requires: dict[str, str] = {}
        for key, sub in entries.items():
            if sub.get("alias"):
                checks[key] = None
                continue
            checks[key] = self.prop(sub)
            if not (truthy_flag(sub.get("optional")) or sub.get("group")):
                required.append(key)
            if isinstance(sub.get("requires"), str):
                requires[key] = sub["requires"]
        fmt_msg = w["format"]

        def fail(message: str) -> str:
            return fmt_msg.format(message=message)

        def check(s: str, path: str) -> str | None:
            res: dict[str, Any] = {}
            used_default: str | None = None
            for part in s.split(","):
                if not part or part.isspace():
                    continue
                k, eq, v = part.partition("=")
                if eq and k and v and "\n" in v:
                    m = _KV_RE.match(part)  # Perl's /^([^=]+)=(.+)$/ around newlines
                    k, v = (m.group(1), m.group(2)) if m else ("", "")
                if k and v:
                    if k in res:
                        return fail(w["ps_duplicate_key"].format(key=k))
                    sub = entries.get(k)
                    if sub is not None and sub.get("alias"):
                        key_alias = sub.get("keyAlias")
                        if key_alias:
                            if key_alias in res:
                                return fail(w["ps_key_alias"].format(key=key_alias))
                            res[key_alias] = k
                        k = sub["alias"]
                        sub = entries.get(k)
                    if sub is None:
                        return fail(w["ps_invalid_key"].format(key=k))
                    if k in bools:
                        parsed = parse_boolean(v)
                        if parsed is not None:
                            v = parsed
                    res[k] = v
                elif not eq:
                    if used_default:
                        return fail(w["ps_duplicate_key"].format(key=used_default))
                    if default_key is None:
                        return fail(w["ps_no_default_key"])
                    used_default = default_key
                    if perl_true(res.get(default_key)):
                        return fail(w["ps_duplicate_key"].format(key=default_key))
                    res[default_key] = part
                else:
                    return fail(w["ps_missing_key"])

            errors: dict[str, str] = {}
            for key, value in res.items():
                if key not in entries:
                    _add_error(errors, f"{path}.{key}", w["not_defined"], w)
                    continue
                sub_check = checks[key]
                if sub_check is not None:
                    try:
                        sub_check(value, f"{path}.{key}")
                    except Invalid as exc:
                        for p, m in exc.errors.items():
                            _add_error(errors, p, m, w)
                if requires:
                    req = requires.get(key)
                    if req is not None and res.get(req) is None:
                        _add_error(errors, f"{path}.{req}", w["requires"].format(key=f"{path}.{key}"), w)
            if required:
                for key in required:
                    if key not in res:
                        _add_error(errors, f"{path}.{key}", w["missing"], w)
            if errors:
                text = w["ps_format_error"] + "".join(
                    w["ps_error_line"].format(path=p, message=m) for p, m in errors.items()
                )
                return fail(text)
            return None

        return check

    def array(self, schema: Mapping[str, Any], top: bool) -> Check:
        w = self.wording
        items = schema.get("items")
        item_check = self.prop(items) if isinstance(items, dict) else None
        item_optional = isinstance(items, dict) and truthy_flag(items.get("optional"))
        type_msg = w["type_plain"].format(type="array")

        def check(value: Any, path: str) -> Any:
            if type(value) is not list:
                # PVE::RESTHandler: a plain (form) value for an array parameter becomes [value]
                if top and _ref_name(value) is None and perl_true(value):
                    value = [value]
                else:
                    raise Invalid({path: type_msg})
            if item_check is None:
                return list(value)
            out = []
            errors: dict[str, str] = {}
            for i, element in enumerate(value):
                item_path = f"{path}[{i}]"
                if element is None:
                    if not item_optional:
                        _add_error(errors, item_path, w["missing"], w)
                    out.append(None)
                    continue
                try:
                    out.append(item_check(element, item_path))
                except Invalid as exc:
                    for p, m in exc.errors.items():
                        _add_error(errors, p, m, w)
            if errors:
                raise Invalid(errors)
            return out

        return check

    def object_prop(self, schema: Mapping[str, Any]) -> Check:
        w = self.wording
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        type_msg = w["type_plain"].format(type="object")
        has_object_checks = bool(props) or bool(additional)
        inner = ObjectRules(self, props if isinstance(props, dict) else {}, additional) if has_object_checks else None

        def check(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise Invalid({path: type_msg})
            if inner is None:
                return value
            out, errors = inner.run(value, path + ".")
            if errors:
                raise Invalid(errors)
            return out

        return check

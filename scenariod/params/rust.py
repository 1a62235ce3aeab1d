"""The Rust dialect: proxmox-schema's checks (PBS, PDM), with its wording."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..wire import ApiError
from .regexes import rust_pattern
from .validator import Validator
from .values import MEMO_SIZE, Check, Invalid, as_number, limit_text, truthy_flag
from .wording import WORDING

_RW = WORDING["rust"]


class RustValidator(Validator):
    """proxmox-schema (PBS, PDM) compiled, with its texts: patterns written `/.../`, JSON
    booleans for `additionalProperties`, nested schemas in `format`; booleans
    `1|0|true|false|yes|no|on|off` (any case), kept as `True`/`False` (JSON booleans, as
    PBS/PDM keep them)."""

    __slots__ = ()

    dialect = "rust"
    wording = _RW
    perl_object_rules = False

    def add_error(self, errors: dict[str, str], path: str, message: str) -> None:
        errors[path] = message

    def failure(self, errors: dict[str, str]) -> ApiError:
        return ApiError(400, _rust_error_text(errors, _RW), errors=errors)

    def prop(self, schema: Mapping[str, Any], top: bool = False) -> Check:
        type_ = schema.get("type")
        w = self.wording
        if type_ == "boolean":

            def check_bool(value: Any, path: str) -> Any:
                if type(value) is bool:
                    return value
                if type(value) is str:
                    low = value.lower()
                    if low in ("1", "on", "yes", "true"):
                        return True
                    if low in ("0", "off", "no", "false"):
                        return False
                    raise Invalid({path: w["bad_boolean"]})
                raise Invalid({path: w["expected_boolean"]})

            return check_bool
        if type_ in ("integer", "number"):
            return self.number(schema, type_ == "integer")
        if type_ == "string" or type_ is None:
            return self.string(schema)
        if type_ == "array":
            return self.array(schema, top)
        if type_ == "object":
            return self.object_prop(schema)
        return lambda value, path: value

    def number(self, schema: Mapping[str, Any], integer: bool) -> Check:
        w = self.wording
        maximum, minimum = schema.get("maximum"), schema.get("minimum")
        max_n, min_n = as_number(maximum), as_number(minimum)

        def constraints(v: int | float, path: str) -> None:
            if min_n is not None and v < min_n:
                raise Invalid({path: w["minimum"].format(limit=_rust_num(min_n, integer), value=_rust_num(v, integer))})
            if max_n is not None and v > max_n:
                raise Invalid({path: w["maximum"].format(limit=_rust_num(max_n, integer), value=_rust_num(v, integer))})

        def check(value: Any, path: str) -> Any:
            tv = type(value)
            if tv is str:
                v = _rust_parse_int(value, path, w) if integer else _rust_parse_float(value, path, w)
            elif tv is int or (tv is float and not integer):
                v = value
            else:
                raise Invalid({path: w["expected_integer" if integer else "expected_number"]})
            constraints(v, path)
            return v

        return check

    def string(self, schema: Mapping[str, Any]) -> Check:
        w = self.wording
        min_len, max_len = as_number(schema.get("minLength")), as_number(schema.get("maxLength"))
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        enum = schema.get("enum")
        verify: Callable[[str, str], None] | None = None
        if isinstance(fmt, dict):
            verify = self.property_string(fmt)
        elif isinstance(pattern, str) and pattern:
            compiled = rust_pattern(pattern)
            if compiled is not None:
                search = compiled.search

                def verify_pattern(s: str, path: str) -> None:
                    if not search(s):
                        raise Invalid({path: w["pattern"]})

                verify = verify_pattern
        elif isinstance(enum, list) and enum:
            allowed = frozenset(str(e) for e in enum)

            def verify_enum(s: str, path: str) -> None:
                if s not in allowed:
                    raise Invalid({path: w["enum"].format(value=s)})

            verify = verify_enum

        memo: dict[str, str] = {}

        def check(value: Any, path: str) -> Any:
            if type(value) is not str:
                raise Invalid({path: w["expected_string"]})
            if value in memo:
                return value
            if min_len is not None or max_len is not None:
                length = len(value)
                if min_len is not None and length < min_len:
                    raise Invalid({path: w["min_length"].format(limit=limit_text(min_len))})
                if max_len is not None and length > max_len:
                    raise Invalid({path: w["max_length"].format(limit=limit_text(max_len))})
            if verify is not None:
                verify(value, path)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[value] = value
            return value

        return check

    def property_string(self, fmt: Mapping[str, Any]) -> Callable[[str, str], None]:
        w = self.wording
        if fmt.get("type") == "array":
            items = fmt.get("items")
            item_check = self.prop(items) if isinstance(items, dict) else (lambda v, p: v)
            # The published data repeats the array's minLength as maxLength (a dump quirk of
            # proxmox-schema: REMOVE_VANISHED_ARRAY has only min_length(1)); only the minimum
            # is enforced.
            min_items = as_number(fmt.get("minLength"))

            def check_array(s: str, path: str) -> None:
                parts = [p for p in re.split(r"[,;\s]", s) if p]
                for part in parts:
                    try:
                        item_check(part.strip(), path)
                    except Invalid as exc:
                        message = next(iter(exc.errors.values()))
                        raise Invalid({path: w["array_element"].format(message=message)}) from None
                if min_items is not None and len(parts) < min_items:
                    raise Invalid({path: w["array_min"].format(limit=limit_text(min_items))})

            return check_array

        props = fmt.get("properties") if isinstance(fmt.get("properties"), dict) else {}
        additional = fmt.get("additionalProperties")
        default_key = fmt.get("default_key") if isinstance(fmt.get("default_key"), str) else None
        checks = {k: self.prop(v) for k, v in props.items() if isinstance(v, dict)}
        required = [k for k, v in props.items() if isinstance(v, dict) and not truthy_flag(v.get("optional"))]

        def check_object(s: str, path: str) -> None:
            errors: list[tuple[str, str]] = []
            seen: set[str] = set()
            for part in s.split(","):
                part = part.strip()
                if not part:
                    continue
                if "=" in part:
                    key, value = part.split("=", 1)
                    key, value = key.strip(), value.strip()
                elif default_key is not None:
                    key, value = default_key, part
                else:
                    raise Invalid({path: w["ps_no_default_key"]})
                if key in seen:
                    errors.append((key, w["duplicate_key"]))
                    continue
                seen.add(key)
                sub_check = checks.get(key)
                if sub_check is None:
                    if not truthy_flag(additional):
                        errors.append((key, w["not_defined_json"]))
                    continue
                try:
                    sub_check(value, key)
                except Invalid as exc:
                    errors.extend(exc.errors.items())
            for key in required:
                if key not in seen:
                    errors.append((key, w["missing_json"]))
            if errors:
                raise Invalid({path: _rust_error_text(errors, w)})

        return check_object

    def array(self, schema: Mapping[str, Any], top: bool) -> Check:
        w = self.wording
        items = schema.get("items")
        item_check = self.prop(items) if isinstance(items, dict) else (lambda v, p: v)

        def check(value: Any, path: str) -> Any:
            if type(value) is str and top:
                # form values: every occurrence is parsed as one element
                return [item_check(value, path)]
            if type(value) is not list:
                raise Invalid({path: w["expected_array_object" if type(value) is dict else "expected_array_scalar"]})
            out = []
            errors: dict[str, str] = {}
            for i, element in enumerate(value):
                try:
                    if type(element) is str and top:
                        out.append(item_check(element, path))
                    else:
                        out.append(item_check(element, f"{path}/[{i}]"))
                except Invalid as exc:
                    errors.update(exc.errors)
            if errors:
                raise Invalid(errors)
            return out

        return check

    def object_prop(self, schema: Mapping[str, Any]) -> Check:
        w = self.wording
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        additional = schema.get("additionalProperties")
        checks = {k: self.prop(v) for k, v in props.items() if isinstance(v, dict)}
        required = [k for k, v in props.items() if isinstance(v, dict) and not truthy_flag(v.get("optional"))]

        def check(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise Invalid({path: w["expected_object_array" if type(value) is list else "expected_object_scalar"]})
            errors: dict[str, str] = {}
            out: dict[str, Any] = {}
            for key, sub in value.items():
                sub_path = f"{path}/{key}"
                sub_check = checks.get(key)
                if sub_check is None:
                    if truthy_flag(additional):
                        out[key] = sub
                    else:
                        errors[sub_path] = w["not_defined_json"]
                    continue
                try:
                    out[key] = sub_check(sub, sub_path)
                except Invalid as exc:
                    errors.update(exc.errors)
            for key in required:
                if value.get(key) is None:
                    errors[f"{path}/{key}"] = w["missing_json"]
            if errors:
                raise Invalid(errors)
            return out

        return check


def _rust_num(value: int | float, integer: bool) -> str:
    if integer or isinstance(value, int):
        return str(int(value))
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


_RUST_FLOAT_RE = re.compile(r"^[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$", re.I)


def _rust_parse_int(value: str, path: str, w: dict[str, str]) -> int:
    """`value.parse::<isize>()` with Rust's error texts."""
    if value == "":
        raise Invalid({path: w["int_empty"]})
    digits = value[1:] if value[0] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise Invalid({path: w["int_invalid"]})
    number = int(value) if len(digits) <= 19 else (-(2**64) if value[0] == "-" else 2**64)
    if number > 2**63 - 1:
        raise Invalid({path: w["int_too_large"]})
    if number < -(2**63):
        raise Invalid({path: w["int_too_small"]})
    return number


def _rust_parse_float(value: str, path: str, w: dict[str, str]) -> float:
    if value == "":
        raise Invalid({path: w["float_empty"]})
    if not _RUST_FLOAT_RE.match(value):
        raise Invalid({path: w["float_invalid"]})
    return float(value)


def _rust_error_text(errors: list[tuple[str, str]] | dict[str, str], w: dict[str, str]) -> str:
    """proxmox-schema ParameterError's Display."""
    items = list(errors.items()) if isinstance(errors, dict) else errors
    if len(items) == 1:
        key, message = items[0]
        return w["verification_failed_one"].format(key=key, message=message)
    lines = [w["verification_failed_many"]]
    lines += [w["verification_failed_line"].format(key=k, message=m) for k, m in items]
    return "\n".join(lines).strip()

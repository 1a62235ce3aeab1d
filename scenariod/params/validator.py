"""The `Validator` interface: an operation's `parameters` schema compiled into check closures.

`Validator.validate(raw)` then costs a dict lookup and a closure call per parameter. Each
dialect is a subclass (pve.py: PVE::JSONSchema; rust.py: proxmox-schema, for PBS and PDM):
it compiles one property schema into a `Check` (`prop`), says how errors at one path add up
(`add_error`) and what a failed request answers (`failure`). The parameter object itself,
and PVE's nested objects, are `ObjectRules`, shared by both.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from ..wire import ApiError
from .values import Check, Invalid, perl_str, truthy_flag

# How many instances of an indexed parameter (`net[n]` -> net0..net31) the real products accept.
# The API data only says `net[n]`; these are the constants of qemu-server / pve-container /
# pve-cluster / pve-manager.  Names not listed accept any non-negative index.
INDEX_LIMITS: dict[str, int] = {
    "net": 32,  # qemu-server MAX_NETS, pve-container MAX_LXC_NETWORKS
    "ipconfig": 32,
    "ide": 4,
    "sata": 6,
    "scsi": 31,
    "virtio": 16,
    "unused": 256,
    "hostpci": 16,
    "serial": 4,
    "parallel": 3,
    "usb": 14,
    "numa": 8,
    "virtiofs": 10,
    "mp": 256,
    "dev": 256,
    "link": 8,  # corosync link0..link7
    "acmedomain": 5,
}

_INDEXED_KEY_RE = re.compile(r"^(.+)\[n\]$")
_INDEX_OF_RE = re.compile(r"^(\D+)(\d+)$")
_N_IS_RE = re.compile(r"\(n is 0 to (\d+)\)")


class _OneOf:
    """A parameter whose schema is chosen by another parameter (`type-property`, PVE SDN)."""

    __slots__ = ("type_property", "alternatives", "outer")

    def __init__(
        self, type_property: str, alternatives: list[tuple[frozenset[str] | None, Check, bool]], outer: Check
    ) -> None:
        self.type_property = type_property
        self.alternatives = alternatives
        self.outer = outer


class ObjectRules:
    """check_object for one object schema (PVE) compiled: per-key checks and object rules."""

    def __init__(self, compiler: Validator, properties: Mapping[str, Any], additional: Any, top: bool = False) -> None:
        self.compiler = compiler
        self.wording = compiler.wording
        self.checks: dict[str, Check] = {}
        self.required: list[str] = []
        self.requires: list[tuple[str, str]] = []
        self.indexed: dict[str, tuple[Check, int | None]] = {}
        self.oneof: dict[str, _OneOf] = {}
        self.oneof_required: list[str] = []
        perl = compiler.perl_object_rules
        prop_compiler = compiler.prop
        for name, schema in properties.items():
            if not isinstance(schema, dict):
                continue
            if perl and schema.get("oneOf") and schema.get("type-property"):
                self.oneof[name] = self._compile_oneof(compiler, schema, top)
                continue
            check = prop_compiler(schema, top)
            m = _INDEXED_KEY_RE.match(name)
            if m:
                base = m.group(1)
                self.indexed[base] = (check, _index_limit(base, schema))
                continue
            self.checks[name] = check
            optional = truthy_flag(schema.get("optional"))
            if not optional and not (perl and (schema.get("alias") or schema.get("group"))):
                self.required.append(name)
            if perl and isinstance(schema.get("requires"), str):
                self.requires.append((name, schema["requires"]))
        self.perl_rules = perl
        if additional is None:
            # PVE: an absent additionalProperties does not restrict; proxmox-schema: false
            self.allow_additional = perl
            self.additional_check: Check | None = None
        elif isinstance(additional, dict):
            self.allow_additional = True
            self.additional_check = prop_compiler(additional)
        else:
            self.allow_additional = truthy_flag(additional)
            self.additional_check = None
        # `run_plain` can decide: no rule reaches beyond one key's own check
        self.plain = not self.oneof and not self.requires

    def run_plain(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        """The usual request in one pass: every key declared and given a value that passes,
        nothing required missing. None for anything else: `run` then finds every error."""
        checks = self.checks
        out: dict[str, Any] = {}
        try:
            for key, value in raw.items():
                check = checks.get(key)
                if check is None or value is None:
                    return None
                out[key] = check(value, key)
        except Invalid:
            return None
        for name in self.required:
            if raw.get(name) is None:
                return None
        return out

    @staticmethod
    def _compile_oneof(compiler: Validator, schema: Mapping[str, Any], top: bool) -> _OneOf:
        alternatives = []
        for alt in schema.get("oneOf") or []:
            if not isinstance(alt, dict):
                continue
            types = alt.get("instance-types")
            alternatives.append(
                (
                    frozenset(types) if isinstance(types, list) else None,
                    compiler.prop(alt, top),
                    truthy_flag(alt.get("optional")),
                )
            )
        outer = compiler.prop({k: v for k, v in schema.items() if k not in ("oneOf", "items")}, top)
        return _OneOf(str(schema["type-property"]), alternatives, outer)

    def lookup_indexed(self, key: str) -> Check | None:
        m = _INDEX_OF_RE.match(key)
        if m is None:
            return None
        entry = self.indexed.get(m.group(1))
        if entry is None:
            return None
        digits = m.group(2)
        if len(digits) > 1 and digits[0] == "0":
            return None
        check, limit = entry
        if limit is not None and int(digits) >= limit:
            return None
        self.checks[key] = check  # a real property of the schema: remember it
        return check

    def run(self, raw: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, str]]:
        """Validate an object; returns (typed values, errors by path)."""
        out: dict[str, Any] = {}
        errors: dict[str, str] = {}
        checks = self.checks
        w = self.wording
        add_error = self.compiler.add_error
        for key, value in raw.items():
            check = checks.get(key)
            if check is None:
                if self.oneof and key in self.oneof:
                    self._run_oneof(key, value, raw, prefix, out, errors)
                    continue
                if self.indexed:
                    check = self.lookup_indexed(key)
                if check is None:
                    if self.allow_additional:
                        if self.additional_check is not None and value is not None:
                            try:
                                out[key] = self.additional_check(value, prefix + key)
                            except Invalid as exc:
                                errors.update(exc.errors)
                        else:
                            out[key] = value
                    else:
                        add_error(errors, prefix + key, w["not_defined"])
                    continue
            if value is None:
                continue
            try:
                out[key] = check(value, prefix + key)
            except Invalid as exc:
                for p, m in exc.errors.items():
                    add_error(errors, p, m)
        if self.perl_rules:
            for name in self.required:
                if raw.get(name) is None:
                    add_error(errors, prefix + name, w["missing"])
            for name, needed in self.requires:
                if raw.get(name) is not None and raw.get(needed) is None:
                    add_error(errors, prefix + needed, w["requires"].format(key=prefix + name))
            for name in self.oneof:
                if raw.get(name) is None:
                    self._oneof_missing(name, raw, prefix, errors)
        elif not errors:
            # proxmox-schema reports missing parameters only when nothing else failed
            for name in self.required:
                if raw.get(name) is None:
                    errors[prefix + name] = w["missing"]
        return out, errors

    def _instance_type(self, spec: _OneOf, raw: Mapping[str, Any]) -> str | None:
        value = raw.get(spec.type_property)
        return perl_str(value) if value is not None else None

    def _run_oneof(
        self, key: str, value: Any, raw: Mapping[str, Any], prefix: str, out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        spec = self.oneof[key]
        w = self.wording
        path = prefix + key
        if value is None:
            return
        instance_type = self._instance_type(spec, raw)
        matched = False
        typed = value
        try:
            if instance_type:
                for types, check, _optional in spec.alternatives:
                    if types is not None and instance_type in types:
                        typed = check(value, path)
            typed_outer = spec.outer(value, path)
            if typed is value:
                typed = typed_outer
        except Invalid as exc:
            for p, m in exc.errors.items():
                self.compiler.add_error(errors, p, m)
            return
        for types, _check, _optional in spec.alternatives:
            if types is None or (instance_type is not None and instance_type in types):
                matched = True
                break
        if not matched and not self.allow_additional:
            self.compiler.add_error(errors, path, w["not_defined"])
            return
        out[key] = typed

    def _oneof_missing(self, key: str, raw: Mapping[str, Any], prefix: str, errors: dict[str, str]) -> None:
        spec = self.oneof[key]
        instance_type = self._instance_type(spec, raw)
        if not instance_type:
            return
        for types, _check, optional in spec.alternatives:
            if types is not None and instance_type in types and not optional:
                self.compiler.add_error(errors, prefix + key, self.wording["missing"])
                return


def _index_limit(base: str, schema: Mapping[str, Any]) -> int | None:
    description = schema.get("description")
    if isinstance(description, str):
        m = _N_IS_RE.search(description)
        if m:
            return int(m.group(1)) + 1
    return INDEX_LIMITS.get(base)


class Validator(ABC):
    """A compiled `parameters` schema of one operation; a subclass per dialect compiles it."""

    __slots__ = ("_rules",)

    dialect: ClassVar[str]  # "pve" or "rust"
    wording: ClassVar[dict[str, str]]  # the dialect's texts (wording.py)
    # PVE::JSONSchema::check_object's rules beyond proxmox-schema's: `oneOf` chosen by a
    # `type-property`, `alias`/`group` keys never required, `requires`, an absent
    # `additionalProperties` that allows any key, and missing keys reported with the other
    # errors (proxmox-schema reports them only when nothing else failed).
    perl_object_rules: ClassVar[bool]

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        properties = parameters.get("properties")
        self._rules = ObjectRules(
            self,
            properties if isinstance(properties, dict) else {},
            parameters.get("additionalProperties"),
            top=True,
        )

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed parameters, or ApiError(400, ..., errors={param: message}) with every failure.

        `raw` holds path parameters (strings) plus query/form strings or JSON body values.
        PVE: integers -> int, numbers -> int/float, booleans -> 1/0, property strings and
        other strings unchanged, arrays -> lists.  Unknown keys are kept only when the schema
        allows additional properties.
        """
        rules = self._rules
        if rules.plain:
            plain = rules.run_plain(raw)
            if plain is not None:
                return plain
        out, errors = rules.run(raw)
        if errors:
            raise self.failure(errors)
        return out

    @property
    def known(self) -> frozenset[str]:
        """Names of the declared (non-indexed) parameters."""
        return frozenset(self._rules.checks) | frozenset(self._rules.oneof)

    # what each dialect provides

    @abstractmethod
    def prop(self, schema: Mapping[str, Any], top: bool = False) -> Check:
        """The check of one property's schema (`top`: a parameter of the request itself)."""
        raise NotImplementedError

    @abstractmethod
    def add_error(self, errors: dict[str, str], path: str, message: str) -> None:
        """Note an error at `path` (a second one at the same path: the dialect decides)."""
        raise NotImplementedError

    @abstractmethod
    def failure(self, errors: dict[str, str]) -> ApiError:
        """The answer to a request whose parameters failed."""
        raise NotImplementedError

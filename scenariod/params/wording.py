"""Every text a parameter error carries, per dialect: `WORDING["pve"]`, `WORDING["rust"]`.

Keys starting with "format:" are the messages of PVE's named format verifiers (Perl `die`
texts keep their trailing newline, which PVE puts on the wire: "invalid format - value does
not look like a valid VM ID\n").
"""

from __future__ import annotations

WORDING: dict[str, dict[str, str]] = {
    "pve": {
        # PVE::Exception / PVE::JSONSchema::validate
        "verification_failed": "Parameter verification failed.",
        # check_type
        "type": "type check ('{type}') failed - got '{value}'",
        "type_ref": "type check ('{type}') failed - got {ref}",
        "type_plain": "type check ('{type}') failed",
        "type_null": "type check ('null') failed - value is not null",
        # check_prop / check_object
        "missing": "property is missing and it is not optional",
        "not_defined": "property is not defined in schema and the schema does not allow additional properties",
        "requires": "missing property - '{key}' requires this property",
        "maximum": "value must have a maximum value of {limit}",
        "minimum": "value must have a minimum value of {limit}",
        "max_length": "value may only be {limit} characters long",
        "min_length": "value must be at least {limit} characters long",
        "enum": "value '{value}' does not have a value in the enumeration '{values}'",
        "pattern": "value does not match the regex pattern",
        "format": "invalid format - {message}",
        "object_required": "an object is required",
        # add_error joins two messages for one path with a literal backslash-n ('\n' in Perl)
        "error_join": "\\n",
        # parse_property_string
        "ps_invalid_key": "invalid key in comma-separated list property: {key}\n",
        "ps_duplicate_key": "duplicate key in comma-separated list property: {key}\n",
        "ps_key_alias": "key alias '{key}' is already defined\n",
        "ps_no_default_key": "value without key, but schema does not define a default key\n",
        "ps_missing_key": "missing key in comma-separated list property\n",
        "ps_format_error": "format error\n",
        "ps_error_line": "{path}: {message}\n",
        # names of Perl references in type check messages
        "ref_array": "ARRAY",
        "ref_hash": "HASH",
        "ref_bool": "JSON::PP::Boolean",
        # named formats (pve-common PVE::JSONSchema unless noted)
        "format:urlencoded": "invalid urlencoded string: {value}\n",
        "format:pve-configid": "invalid configuration ID '{value}'\n",
        "format:pve-storage-id": "storage ID '{value}' contains illegal characters\n",
        "format:acme-plugin-id": "ACME plugin ID '{value}' contains illegal characters\n",
        "format:pve-bridge-id": "invalid bridge ID '{value}'\n",
        "format:pve-vmid": "value does not look like a valid VM ID\n",
        "format:pve-node": "value does not look like a valid node name\n",
        "format:mac-addr": "value does not look like a valid unicast MAC address\n",
        "format:ipv4": "value does not look like a valid IPv4 address\n",
        "format:ipv6": "value does not look like a valid IPv6 address\n",
        "format:ip": "value does not look like a valid IP address\n",
        "format:ldap-simple-attr": "value '{value}' does not look like a simple ldap attribute name\n",
        "format:ipv4mask": "value does not look like a valid IP netmask\n",
        "format:CIDRv6": "value does not look like a valid IPv6 CIDR network\n",
        "format:CIDRv4": "value does not look like a valid IPv4 CIDR network\n",
        "format:CIDR": "value does not look like a valid CIDR network\n",
        "format:pve-ipv4-config": "value does not look like a valid ipv4 network configuration\n",
        "format:pve-ipv6-config": "value does not look like a valid ipv6 network configuration\n",
        "format:email": "value does not look like a valid email address\n",
        "format:email-or-username": "value does not look like a valid email address or user name\n",
        "format:dns-name": "value does not look like a valid DNS name\n",
        "format:pve-iface": "invalid network interface name '{value}'\n",
        "format:pve-vlan-id-or-range": "invalid VLAN configuration '{value}'\n",
        "format:pve-vlan-tag": "invalid VLAN tag '{value}'\n",
        "format:pve-vlan-range-order": "VLAN range must go from lower to higher tag '{value}'\n",
        "format:address": "value does not look like a valid address: {value}\n",
        "format:disk-size": "value does not look like a valid disk size: {value}\n",
        "format:pve-startup-order": "unable to parse startup options\n",
        "format:pve-tag": "invalid characters in tag\n",
        "format:pve-tfa-secret": "unable to decode TFA secret\n",
        "format:pve-task-status-type": "invalid status '{value}'\n",
        # storage-pair / bridge-pair (PVE::JSONSchema::parse_idmap)
        "format:idmap-entry": "entry '{entry}' contains invalid ID - {message}\n",
        "format:idmap-duplicate": "duplicate mapping for source '{value}'\n",
        "format:idmap-default-twice": "default target ID can only be provided once\n",
        "format:idmap-identity": "identity mapping cannot be combined with other mappings\n",
        # pve-access-control (PVE::Auth::Plugin, PVE::AccessControl)
        "format:pve-realm": "value does not look like a valid realm\n",
        "format:pve-userid-short": "user name '{value}' is too short\n",
        "format:pve-userid-long": "user name '{value}' is too long ({length} > 64)\n",
        "format:pve-userid": "value '{value}' does not look like a valid user name\n",
        "format:pve-tokenid": "value '{value}' does not look like a valid token ID\n",
        "format:pve-groupid": "group name '{value}' contains invalid characters\n",
        "format:pve-roleid": "role name '{value}' contains invalid characters\n",
        "format:pve-poolid": "pool name '{value}' contains invalid characters\n",
        "format:pve-poolid-depth": "pool name '{value}' nested too deeply (max levels = 3)\n",
        # pve-storage (PVE::Storage::Plugin)
        "format:pve-storage-path": "value does not look like a valid absolute path\n",
        "format:pve-storage-server": "value does not look like a valid server name or IP address\n",
        "format:pve-storage-vgname": "lvm name '{value}' contains illegal characters\n",
        "format:pve-storage-content": "invalid content type '{value}'\n",
        "format:pve-storage-options": "invalid options '{value}'\n",
        "format:pve-volume-id": "unable to parse volume ID '{value}'\n",
        "format:pve-dir-override": "invalid override '{value}'\n",
    },
    "rust": {
        # proxmox-schema ParameterError Display
        "verification_failed_one": "parameter verification failed - '{key}': {message}",
        "verification_failed_many": "parameter verification failed:",
        "verification_failed_line": "- '{key}': {message}",
        # parse_parameter_strings (form / query values)
        "not_defined": "schema does not allow additional properties.",
        "missing": "parameter is missing and it is not optional.",
        # verify_json (JSON values, objects, property strings)
        "not_defined_json": "schema does not allow additional properties",
        "missing_json": "property is missing and it is not optional",
        "duplicate_key": "duplicate key",
        "expected_boolean": "Expected boolean value.",
        "expected_integer": "Expected integer value.",
        "expected_number": "Expected number value.",
        "expected_string": "Expected string value.",
        "expected_array_object": "Expected array - got object.",
        "expected_array_scalar": "Expected array - got scalar value.",
        "expected_object_array": "Expected object - got array.",
        "expected_object_scalar": "Expected object - got scalar value.",
        # parse_simple_value
        "bad_boolean": "Unable to parse boolean option.",
        "int_empty": "cannot parse integer from empty string",
        "int_invalid": "invalid digit found in string",
        "int_too_large": "number too large to fit in target type",
        "int_too_small": "number too small to fit in target type",
        "float_empty": "cannot parse float from empty string",
        "float_invalid": "invalid float literal",
        # constraints
        "minimum": "value must have a minimum value of {limit} (got {value})",
        "maximum": "value must have a maximum value of {limit} (got {value})",
        "min_length": "value must be at least {limit} characters long",
        "max_length": "value may only be {limit} characters long",
        "pattern": "value does not match the regex pattern",
        "enum": "value '{value}' is not defined in the enumeration.",
        "array_min": "array must contain at least {limit} elements",
        "array_max": "array may only contain {limit} elements",
        "array_element": "unable to parse array element: {message}",
        "ps_no_default_key": "Value without key, but schema does not define a default key.",
    },
}

# How many instances of an indexed parameter (`net[n]` -> net0..net31) the real products accept.
# The API data only says `net[n]`; these are the constants of qemu-server / pve-container /

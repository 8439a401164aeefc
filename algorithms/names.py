"""Name checks of k8s.io/apimachinery/pkg/util/validation and the core resource-name helpers,
as the HPA validation calls them. Each returns the list of problems (empty = valid)."""

from __future__ import annotations

import re

# k8s.io/apimachinery/pkg/util/validation and the core resource-name helpers. Lengths are
# Go's len(), in bytes.

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
              "or '-', and must start and end with an alphanumeric character")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
              "end with an alphanumeric character")
_STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_STANDARD_RESOURCES = (
    *_STANDARD_CONTAINER_RESOURCES, "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers")
_HUGEPAGES = ("hugepages-", "requests.hugepages-")


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    # Go's RegexError, including its "'a',  or 'b', " punctuation.
    shown = "".join((" or " if i else "") + f"'{e}', " for i, e in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def path_segment_errors(name: str) -> list[str]:
    """IsValidPathSegmentName: the name must work as one segment of a URL path."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def dns1123_label_errors(value: str) -> list[str]:
    """IsDNS1123Label (container names)."""
    errs = [_max_len_error(63)] if len(value.encode()) > 63 else []
    if not re.fullmatch(_LABEL_FMT, value):
        if re.fullmatch(_SUBDOMAIN_FMT, value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_LABEL_MSG, _LABEL_FMT, "my-name", "123-abc"))
    return errs


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = [_max_len_error(253)] if len(value.encode()) > 253 else []
    if not re.fullmatch(_SUBDOMAIN_FMT, value):
        errs.append(_regex_error(_SUBDOMAIN_MSG, _SUBDOMAIN_FMT, "example.com"))
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName: an optional DNS subdomain prefix and '/', then a name part."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                   "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    if len(parts) == 2 and not parts[0]:
        errs.append("prefix part must be non-empty")
    elif len(parts) == 2:
        errs += ["prefix part " + m for m in _dns1123_subdomain_errors(parts[0])]
    name = parts[-1]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len_error(63))
    if not re.fullmatch(_QNAME_FMT, name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                "123-abc"))
    return errs


def container_resource_name_errors(value: str) -> list[str]:
    """ValidateContainerResourceName: cpu, memory, hugepages-*, or an extended resource."""
    errs = qualified_name_errors(value)
    if "/" in value:
        if "kubernetes.io/" not in value and not _is_extended_resource(value):
            errs.append("doesn't follow extended resource name standard")
        return errs
    if not errs and value not in _STANDARD_RESOURCES and not value.startswith(_HUGEPAGES):
        errs.append("must be a standard resource type or fully qualified")
    if value not in _STANDARD_CONTAINER_RESOURCES and not value.startswith("hugepages-"):
        errs.append("must be a standard resource for containers")
    return errs


def _is_extended_resource(value: str) -> bool:
    # IsExtendedResourceName for a name already known not to be native.
    return not value.startswith("requests.") and not qualified_name_errors("requests." + value)

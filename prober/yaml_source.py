"""Reading YAML we are given (prober.yaml, YAML-valued PROBER_ variables): strict and bounded.

    document = load_yaml(decode_utf8(data))        # YamlError: every problem, each with a line

Stricter than `yaml.safe_load` where it silently does the wrong thing, and bounded where it
can be made to work without end:

* the text is UTF-8 (a UTF-8 byte order mark is allowed); UTF-16/32 or a byte that is not UTF-8
  is refused with the fix, "save the file as UTF-8", instead of a UnicodeDecodeError;
* the same key twice in one mapping, at any depth, is an error naming both lines (YAML itself
  keeps the last one without a word, so a second `targets:` block would replace the first);
* anchors and aliases may not expand to more than MAX_VALUES values (a "billion laughs" alias
  bomb is one short error, not minutes of work and megabytes of messages), nor refer to
  themselves;
* nesting deeper than Python's recursion allows, and dates that do not exist
  (2025-02-30T10:00), are errors with a line, not tracebacks;
* numbers YAML 1.1 reads in a way nobody means are errors with the fix: `1:30` (base 60: 90)
  and `010` (octal: 8); quote them or write the number.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_VALUES = 100_000  # scalars, mappings and sequences after aliases are expanded
UTF8_FIX = "save the file as UTF-8"
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_MERGE = "tag:yaml.org,2002:merge"
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.1 reads `1:30` as 90 (base 60) and `010` as 8 (octal): numbers nobody meant.
_SURPRISING_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|0[0-7_]+)$")


@dataclass(frozen=True, slots=True)
class YamlProblem:
    line: int | None  # 1-based; None: the whole text
    message: str


class YamlError(ValueError):
    """YAML we refuse; `problems` has each with its line (the message says what to do)."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(
                p.message if p.line is None else f"line {p.line}: {p.message}" for p in problems
            )
        )


@dataclass(frozen=True, slots=True)
class YamlDocument:
    data: Any  # None for an empty document
    root: yaml.Node | None  # the node tree, for line numbers


def decode_utf8(data: bytes) -> str:
    """The text of a file that must be UTF-8; YamlError with the fix otherwise."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise YamlError([YamlProblem(None, f"the file is {name}-encoded; {UTF8_FIX}")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise YamlError(
            [YamlProblem(line, f"byte 0x{byte} is not UTF-8 (another encoding?); {UTF8_FIX}")]
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise YamlError([YamlProblem(line, f"a NUL character (UTF-16 without a byte order "
                                           f"mark?); {UTF8_FIX}")])  # fmt: skip
    return text


class _Loader(yaml.SafeLoader):
    """SafeLoader whose date-times that do not exist are YAML errors with a line."""

    def construct_checked_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a real date ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_checked_timestamp)


def load_yaml(text: str) -> YamlDocument:
    """One YAML document, checked as the module docstring says; YamlError otherwise."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # raises on characters YAML does not allow
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(None, None)
        problems = _Checker().check(root)
        if problems:
            raise YamlError(problems)
        return YamlDocument(loader.construct_document(root), root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = None if mark is None else mark.line + 1
        raise YamlError([YamlProblem(line, f"not valid YAML: {problem}")]) from None
    except RecursionError:
        raise YamlError([YamlProblem(None, "nested too deeply to read; flatten the structure")]
                        ) from None  # fmt: skip
    finally:
        if loader is not None:
            loader.dispose()


class _Checker:
    """Duplicate keys and the size of the tree with aliases expanded, in one walk that visits
    each node once (an alias is a second reference to an already visited node)."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()
        self.problems: list[YamlProblem] = []

    def check(self, root: yaml.Node) -> list[YamlProblem]:
        try:
            total = self.size(root, ())
        except _Refused as exc:
            return [exc.problem]
        if total > MAX_VALUES:
            return [_too_big(root)]
        return self.problems

    def size(self, node: yaml.Node, path: tuple[str, ...]) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            raise _Refused(YamlProblem(node.start_mark.line + 1, "an alias refers to a value "
                                      "that contains it; write the value out"))  # fmt: skip
        self.open.add(key)
        total = 1
        if (
            isinstance(node, yaml.ScalarNode)
            and node.style is None
            and node.tag in (_INT, _FLOAT)
            and _SURPRISING_NUMBER.match(node.value)
        ):
            where = ".".join(path) + ": " if path else ""
            self.problems.append(YamlProblem(node.start_mark.line + 1, (
                    f"{where}{node.value} would be read as the number "
                    f"{yaml.safe_load(node.value)!r} (YAML 1.1: base 60 or octal); quote it "
                    f"('{node.value}') or write the number you mean"
                )))  # fmt: skip
        if isinstance(node, yaml.MappingNode):
            self.duplicates(node, path)
            for k, v in node.value:
                name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
                total += self.size(k, path) + self.size(v, (*path, name))
                if total > MAX_VALUES:
                    raise _Refused(_too_big(node))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                total += self.size(item, (*path, str(i)))
                if total > MAX_VALUES:
                    raise _Refused(_too_big(node))
        self.open.discard(key)
        self.sizes[key] = total
        return total

    def duplicates(self, node: yaml.MappingNode, path: tuple[str, ...]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag == _MERGE:
                continue
            line = k.start_mark.line + 1
            first = seen.get((k.tag, k.value))
            if first is None:
                seen[(k.tag, k.value)] = line
            else:
                where = ".".join((*path, str(k.value)))
                self.problems.append(YamlProblem(line, (
                    f"{where}: the key {k.value!r} is given twice in the same mapping (first on "
                    f"line {first}); YAML would silently keep only the last, so merge the two "
                    "or delete one"
                )))  # fmt: skip


class _Refused(Exception):
    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem


def _too_big(node: yaml.Node) -> YamlProblem:
    return YamlProblem(node.start_mark.line + 1, (
        f"anchors and aliases expand to more than {MAX_VALUES} values (an alias bomb?); write "
        "the values out or use fewer nested aliases"
    ))  # fmt: skip

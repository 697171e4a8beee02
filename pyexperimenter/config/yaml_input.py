"""Reading a YAML file safely: the one place every config and credentials file is parsed.

`yaml.safe_load` already refuses to build objects, but three things it accepts would still
hurt: a file that is not UTF-8 (a `UnicodeDecodeError` naming no file), a key given twice
(the last one silently wins, so the user runs a grid they did not write) and aliases that
expand to a huge structure (a "billion laughs" file is a few hundred bytes). Each becomes one
ConfigError line naming the file, before anything else reads the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

MAX_NODES = 1_000_000  # values in the file with every alias expanded: far above any real config


class _Loader(yaml.SafeLoader):
    """safe_load's loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = seen.get(key)
            except TypeError:
                continue  # an unhashable key: construct_mapping below words that error
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {earlier.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes `node` stands for with its aliases expanded; shared nodes are counted
    once per use, but computed once (memo), so a bomb is measured without being built."""
    known = memo.get(id(node))
    if known == -1:
        raise yaml.composer.ComposerError(None, None, "an alias refers to a value that contains it", node.start_mark)
    if known is not None:
        return known
    memo[id(node)] = -1  # in progress: meeting it again is an alias inside itself
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    size = min(size, MAX_NODES + 1)
    memo[id(node)] = size
    return size


def read_yaml(path: Path) -> Any:
    """The parsed file; a missing or unreadable file, bytes that are not UTF-8, invalid YAML,
    a duplicate key or an alias bomb becomes one ConfigError line naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {raw[e.start]:#04x}); save the file as UTF-8") \
            from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise ConfigError(f"{path}: YAML aliases expand to more than {MAX_NODES:,} values; "
                              "write the values out or use a range")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML: {where}{problem}") from None
    finally:
        loader.dispose()

"""YAML text read and written through libyaml's parser and emitter when PyYAML has them.

The same data and text as ``yaml.safe_load`` and ``yaml.safe_dump`` (same resolver and
representer), several times faster: the config, the OpenAPI document and the OGC schemas
bundled into it are read or written on every server start and every `twin config`.
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load(text: str) -> Any:
    """``yaml.safe_load(text)``."""
    return yaml.load(text, Loader=_LOADER)


def dump(data: Any, **options: Any) -> str:
    """``yaml.safe_dump(data, **options)``."""
    return yaml.dump(data, Dumper=_DUMPER, **options)

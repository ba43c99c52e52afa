"""Partner images for multi-image ops (mosaic, copy-paste) in a dataset run.

Partners are chosen from the op's drawn fractions (themselves drawn from the output's own seed) over the sorted
item list of INPUT, so an output depends only on its seed and on the dataset, never on the workers or the order
of work. The item list is scanned once per process (and only when a spec has a multi-image op).
"""

from __future__ import annotations

import json
from pathlib import Path

from augment.compile.multi_image import Partner
from augment.io.annotations import AnnotationError, Item, Layout, read_item, scan
from augment.io.images import ImageReadError, decode_image
from augment.io.paths import OutsideRootError, read_bytes_within

_ITEMS: dict[tuple, tuple[list[Item], dict[str, Item]]] = {}


def _items(input_root: str, layout: dict, exclude: str | None):
    key = (input_root, json.dumps(layout, sort_keys=True, default=str), exclude)
    if key not in _ITEMS:
        items, _, _ = scan(Path(input_root), Layout.from_dict(layout), exclude=Path(exclude) if exclude else None)
        _ITEMS.clear()  # one dataset per process at a time
        _ITEMS[key] = (items, {it.image: it for it in items})
    return _ITEMS[key]


class DatasetPartners:
    def __init__(self, input_root: str, layout: dict, own: str, exclude: str | None = None) -> None:
        self.input_root, self.layout, self.own, self.exclude = input_root, layout, own, exclude

    def pick(self, draws: list[float]) -> list[str]:
        items, _ = _items(self.input_root, self.layout, self.exclude)
        n = len(items)
        names = []
        for u in draws:
            i = min(n - 1, int(u * n))
            if items[i].image == self.own and n > 1:  # another image than the item itself
                i = (i + 1) % n
            names.append(items[i].image)
        return names

    def load(self, name: str) -> Partner:
        _, by_name = _items(self.input_root, self.layout, self.exclude)
        item = by_name.get(name)
        if item is None:
            raise ValueError(f"partner {name} is not an item of INPUT (any more)")
        try:
            image, _ = decode_image(read_bytes_within(self.input_root, name))
            targets, _, _ = read_item(Path(self.input_root), Layout.from_dict(self.layout), item, image.shape[:2])
        except (ImageReadError, AnnotationError, OutsideRootError) as exc:
            raise ValueError(f"partner {name} is unusable: {exc}") from None
        except OSError as exc:
            raise ValueError(f"partner {name} cannot be read: {exc.strerror or exc}") from None
        return Partner(name, image, targets)


__all__ = ["DatasetPartners"]

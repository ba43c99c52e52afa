"""Pascal VOC: ``images/`` (or ``JPEGImages/``) + ``annotations/`` (or ``Annotations/``) with one XML per image.

Box coordinates are 1-based inclusive pixel indices: ``xmin=1, xmax=10`` covers the first ten pixels, which is
``[0, 10)`` in continuous pixels. The output XML is the source XML with the file name, the size and the boxes
updated and the dropped objects removed: every other element (``difficult``, ``truncated``, ``pose``, parts)
is kept as it was.
"""

from __future__ import annotations

import copy
import posixpath
import xml.etree.ElementTree as ET

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused_et

from augment.compile.targets import Targets
from augment.io.annotations.base import AnnotationError, Layout, Repairs, clip_box


def annotation_for(layout: Layout, image_rel: str) -> str:
    rest = posixpath.relpath(image_rel, layout.images) if layout.images else image_rel
    return posixpath.join(layout.annotations, posixpath.splitext(rest)[0] + ".xml")


def _parse(data: bytes, where: str) -> ET.Element:
    # defusedxml with DTDs forbidden: a DOCTYPE or an entity is refused wherever it sits (after a long comment,
    # padding) and in whatever encoding the document declares (UTF-16 billion laughs), before anything expands
    try:
        return defused_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise AnnotationError(f"{where}: XML with a DOCTYPE or entities is not read (possible entity expansion)") \
            from None
    except ET.ParseError as exc:
        raise AnnotationError(f"{where}: not well-formed XML ({exc})") from None


def _empty(out_image_rel: str, hw: tuple[int, int]) -> ET.Element:
    """The annotation of an image that had none: its file name and size, no objects."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = posixpath.basename(posixpath.dirname(out_image_rel))
    ET.SubElement(root, "filename").text = posixpath.basename(out_image_rel)
    size = ET.SubElement(root, "size")
    for key, value in (("width", hw[1]), ("height", hw[0]), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    return root


def _number(obj: ET.Element, path: str, where: str) -> float:
    text = obj.findtext(path)
    try:
        return float(text)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: <{path}> is {text!r}, not a number") from None


def read(data: bytes | None, layout: Layout, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    if data is None:  # an image of the set without an annotation file: no objects, written with an empty one
        repairs = Repairs()
        repairs.add("no_annotation_file_written_empty")
        return Targets(boxes=np.zeros((0, 4)), labels=[], extras=[]), repairs
    root = _parse(data, where)
    if root.tag != "annotation":
        raise AnnotationError(f"{where}: root element is <{root.tag}>, not <annotation>")
    h, w = hw
    repairs = Repairs()
    boxes, labels, extras = [], [], []
    for i, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise AnnotationError(f"{where}: object {i} has no <name>")
        if obj.find("bndbox") is None:
            raise AnnotationError(f"{where}: object {i} ({name}) has no <bndbox>")
        box = [_number(obj, f"bndbox/{k}", where) for k in ("xmin", "ymin", "xmax", "ymax")]
        box = [box[0] - 1.0, box[1] - 1.0, box[2], box[3]]
        boxes.append(clip_box(box, w, h, repairs, f"{where}: object {i} ({name})"))
        labels.append(name)
        extras.append({"index": i, **{k: obj.findtext(k).strip() for k in ("truncated", "difficult")
                                      if obj.findtext(k) is not None}})
    size_w, size_h = root.findtext("size/width"), root.findtext("size/height")
    if size_w is not None and size_h is not None and (size_w.strip(), size_h.strip()) != (str(w), str(h)):
        repairs.add("size_corrected")
    return Targets(boxes=np.asarray(boxes).reshape(-1, 4), labels=labels, extras=extras), repairs


def encode(source: bytes | None, targets: Targets, out_image_rel: str, hw: tuple[int, int]) -> bytes:
    root = copy.deepcopy(_parse(source, out_image_rel)) if source is not None else _empty(out_image_rel, hw)
    h, w = hw
    name = posixpath.basename(out_image_rel)
    if root.find("filename") is not None:
        root.find("filename").text = name
    path = root.find("path")
    if path is not None and path.text:
        path.text = posixpath.join(posixpath.dirname(path.text.replace("\\", "/")), name)
    size = root.find("size")
    if size is not None:
        for key, value in (("width", w), ("height", h)):
            el = size.find(key)
            if el is not None:
                el.text = str(value)
    objects = root.findall("object")
    own = {e["index"]: box for e, box in zip(targets.extras, targets.boxes) if "partner" not in e}
    for i, obj in enumerate(objects):
        if i not in own:
            root.remove(obj)
            continue
        _set_box(obj, own[i], w, h)
    for label, extra, box in zip(targets.labels, targets.extras, targets.boxes):
        if "partner" in extra:  # an object a mosaic or copy-paste brought in from another image
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = str(label)
            for key in ("truncated", "difficult"):
                if key in extra:
                    ET.SubElement(obj, key).text = extra[key]
            bnd = ET.SubElement(obj, "bndbox")
            for key in ("xmin", "ymin", "xmax", "ymax"):
                ET.SubElement(bnd, key)
            _set_box(obj, box, w, h)
    return ET.tostring(root, encoding="utf-8")


def _set_box(obj: ET.Element, box, w: int, h: int) -> None:
    x0, y0, x1, y1 = box
    xmin, ymin = min(int(round(x0)) + 1, w), min(int(round(y0)) + 1, h)
    xmax, ymax = max(xmin, int(round(x1))), max(ymin, int(round(y1)))
    for key, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
        obj.find(f"bndbox/{key}").text = str(value)


__all__ = ["annotation_for", "read", "encode"]

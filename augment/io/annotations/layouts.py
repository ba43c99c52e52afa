"""Annotated datasets found by what their files hold, not by what their folders are called.

Labelling tools lay datasets out in many ways (LabelImg and Roboflow VOC: ``foo.jpg`` + ``foo.xml`` side by side;
the VOC devkit: ``Annotations/`` + ``JPEGImages/``; Ultralytics: ``images/<split>`` + ``labels/<split>``; Roboflow
YOLO: ``<split>/images`` + ``<split>/labels``; Darknet and CVAT YOLO: ``foo.jpg`` + ``foo.txt`` with ``obj.names``;
Roboflow COCO: ``<split>/_annotations.coco.json``; CVAT COCO: ``annotations/instances_default.json`` + ``images/``;
Label Studio: ``result.json`` + ``images/``, or ``images/`` + ``labels/`` + ``classes.txt``). So each file is
looked at for what it is:

* a VOC annotation is an XML document whose root is ``<annotation>``; it names its image (``<filename>``,
  ``<path>``) and pairs with the image of that name, or of its own stem, nearest to it (same folder first, then
  the most folders in common);
* a YOLO label is a text file of ``class x y ...`` rows beside an image of its stem, or in the ``labels`` folder
  that mirrors the image's ``images`` folder; class names come from ``data.yaml``, ``classes.txt``,
  ``obj.names`` or ``notes.json`` (copied to OUTPUT as they are);
* a COCO file is a JSON object with ``images`` and ``annotations`` lists, at most two folders down; its images are
  found relative to the JSON, to INPUT, or to ``images/``.

``pair`` lists a layout's items with their annotation files (an image without one is an item with an empty
annotation, counted, never dropped), ``describe_layout`` reports what a run would see, and a folder that would be
read as class folders but holds annotation-like files is refused (``AnnotationsFoundError``).
"""

from __future__ import annotations

import json
import os
import posixpath
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from augment.io.annotations.base import AnnotationError, Layout
from augment.io.annotations.coco import load_index
from augment.io.annotations.mask_pairs import MaskPairs, find_mask_pairs, in_mask_folder
from augment.io.annotations.yolo import read_class_names, read_pose_fields
from augment.io.image_folder import FolderScan, non_data_reason, scan_image_folder
from augment.io.images import IMAGE_EXTENSIONS
from augment.io.paths import OutsideRootError, read_bytes_within, resolve_within

MAX_XML_BYTES = 16 * 2**20
MAX_LABEL_BYTES = 16 * 2**20
MAX_JSON_BYTES = 2 * 2**30
COCO_MAX_DEPTH = 3  # path components: x.json, train/x.json, a/annotations/x.json
CLASS_FILES = ("data.yaml", "data.yml", "dataset.yaml", "classes.txt", "obj.names", "notes.json")
SIDE_FILES = CLASS_FILES + ("obj.data",)  # copied to OUTPUT as they are


class FormatError(ValueError):
    """INPUT is not a dataset of the forced or detected format; one line for the user."""


class OutsideRootFormatError(FormatError):
    """A layout file (COCO JSON, data.yaml, classes.txt) resolves outside INPUT: never read (the service answers
    403, the CLI stops in one line)."""

    def __init__(self, rel: str) -> None:
        super().__init__(f"{rel}: resolves outside INPUT (a symlink leaving it); copy the file into INPUT")
        self.rel = rel


class AnnotationsFoundError(FormatError):
    """INPUT would be read as class folders, but it holds annotation-like files that would be lost."""


@dataclass(frozen=True)
class Item:
    image: str  # relative POSIX path of the image under INPUT
    annotation: str | None  # relative path of its annotation file (None: COCO, or an image without one)
    payload: dict | None = None  # COCO: {"image": entry, "annotations": [...], "json": the file}
    sidecar: str | None = None  # where its annotation file is (or, for an image without one, would be)


@dataclass
class Pairing:
    items: list[Item]
    problems: list[tuple[str, str]]  # per-item errors (errors.jsonl)
    folders: list[str]  # folders to mirror in OUTPUT
    ignored: list[tuple[str, str]]  # files that are not data, with why (counted apart)


# -- probes: what one file is ------------------------------------------------------------------------------------

def _read(root: Path, rel: str, limit: int) -> bytes | None:
    try:
        path = resolve_within(root, rel)
        if path.stat().st_size > limit:
            return None
        return read_bytes_within(root, rel)
    except (OSError, OutsideRootError):
        return None


def _probe_text(data: bytes) -> bytes:
    """The XML as UTF-8 bytes for the ``<annotation`` probe: an XML file may be UTF-16 or UTF-32 (with a BOM, or
    NUL bytes between ASCII characters), and such a file is still an annotation to pair (and then refuse or read),
    never an ignored file beside an image written without its boxes."""
    if b"\x00" not in data[:512]:
        return data
    for codec in ("utf-32", "utf-16", "utf-16-le", "utf-16-be"):
        try:
            return data.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            continue
    return data


def _voc_probe(root: Path, rel: str, objects: dict | None = None) -> tuple[bool, str | None]:
    """(is a VOC annotation, the image name it gives). A file that says ``<annotation`` but does not parse is
    one (paired by its stem; reading it is then that item's error). ``objects``: gets the file's object names."""
    data = _read(root, rel, MAX_XML_BYTES)
    if data is None or b"<annotation" not in _probe_text(data):
        return False, None
    from defusedxml import ElementTree as SafeET

    try:
        el = SafeET.fromstring(data)
    except Exception:  # ParseError, DTD/entity forbidden: still an annotation file, unreadable
        return True, None
    if el.tag != "annotation":
        return False, None
    if objects is not None:
        objects[rel] = tuple((obj.findtext("name") or "").strip() for obj in el.findall("object"))
    for key in ("filename", "path"):
        text = (el.findtext(key) or "").strip().replace("\\", "/")
        if text:
            return True, posixpath.basename(text)
    return True, None


def _yolo_rows(data: bytes) -> str:
    """'empty', 'rows' (every row is ``class`` then at least four numbers), 'some' (some rows are: a label file
    with bad rows, whose reading is then that item's error) or 'text' (no row is: a caption, a note)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "text"
    good = bad = 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        try:
            int(fields[0])
            [float(v) for v in fields[1:]]
            ok = len(fields) >= 5
        except ValueError:
            ok = False
        good, bad = good + ok, bad + (not ok)
    return "empty" if not good + bad else "rows" if not bad else "some" if good else "text"


def _coco_probe(root: Path, rel: str) -> tuple[str, dict | None]:
    """('coco', the parsed file: kept, so that detection and pairing never parse it again), ('like', None) for
    annotation-like JSON we cannot use (a Label Studio task list...), or ('', None)."""
    data = _read(root, rel, MAX_JSON_BYTES)
    if data is None or b'"annotations"' not in data:
        return "", None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "like", None
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and isinstance(doc.get("annotations"), list):
        return "coco", doc
    return "like", None


# -- the walk ----------------------------------------------------------------------------------------------------

def _dir(rel: str) -> str:
    return posixpath.dirname(rel)


def _stem(rel: str) -> str:
    return posixpath.splitext(posixpath.basename(rel))[0]


def _swap_dir(folder: str, old: str, new: str) -> str | None:
    """``a/images/train`` -> ``a/labels/train`` (the last component named ``old``, any case), or None."""
    parts = folder.split("/") if folder else []
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].lower() == old:
            return "/".join(parts[:i] + [new if parts[i].islower() else new.capitalize()] + parts[i + 1:])
    return None


@dataclass
class _Survey:
    listing: FolderScan
    voc: dict[str, str | None] = field(default_factory=dict)  # XML rel -> image name it gives
    yolo: dict[str, str] = field(default_factory=dict)  # label rel -> image rel
    coco: list[str] = field(default_factory=list)  # usable COCO files
    like: list[tuple[str, str]] = field(default_factory=list)  # annotation-like files no format reads
    texts_beside: set[str] = field(default_factory=set)  # .txt files sharing an image's stem (not YOLO rows)
    coco_outside: list[str] = field(default_factory=list)  # .json symlinks leaving INPUT (never read)
    masks: MaskPairs = field(default_factory=MaskPairs)  # gray/palette PNGs pairing with images by name
    coco_docs: dict[str, dict] = field(default_factory=dict)  # usable COCO files, parsed once
    objects: dict[str, tuple] = field(default_factory=dict)  # annotation file -> VOC names / YOLO class ids


def _images_by_dir(images: list[str]) -> dict[tuple[str, str], list[str]]:
    index: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rel in images:
        index[(_dir(rel).lower(), _stem(rel).lower())].append(rel)
    return index


def _survey(root: Path, exclude: Path | None = None) -> _Survey:
    listing = scan_image_folder(root, exclude=exclude)
    s = _Survey(listing, masks=find_mask_pairs(root, listing.images))
    for png in s.masks.colour:
        s.like.append((png, "a colour PNG where a segmentation mask would be (masks are gray or palette PNGs of "
                            "class indices)"))
    index = _images_by_dir(listing.images)
    empty = []
    for rel in listing.files:
        ext = posixpath.splitext(rel)[1].lower()
        if ext == ".xml":
            is_voc, name = _voc_probe(root, rel, s.objects)
            if is_voc:
                s.voc[rel] = name
        elif ext == ".txt" and posixpath.basename(rel).lower() not in CLASS_FILES:
            folder, stem = _dir(rel).lower(), _stem(rel).lower()
            image = next(iter(index.get((folder, stem), ())), None)
            swapped = _swap_dir(_dir(rel), "labels", "images")
            if image is None and swapped is not None:
                image = next(iter(index.get((swapped.lower(), stem), ())), None)
            if image is None:
                continue
            data = _read(root, rel, MAX_LABEL_BYTES)
            kind = _yolo_rows(data) if data is not None else "text"
            if kind in ("rows", "empty"):  # well-formed: its class ids, for the dry run's counts
                s.objects[rel] = tuple(int(line.split()[0]) for line in data.decode("utf-8").splitlines()
                                       if line.split())
            if kind in ("rows", "some"):
                s.yolo[rel] = image
            elif kind == "empty":
                empty.append((rel, image))
            else:
                s.texts_beside.add(rel)
        elif ext == ".json" and len(rel.split("/")) <= COCO_MAX_DEPTH + 2:
            kind, doc = _coco_probe(root, rel)
            if kind == "coco" and len(rel.split("/")) <= COCO_MAX_DEPTH:
                s.coco.append(rel)
                s.coco_docs[rel] = doc
            elif kind:
                s.like.append((rel, "JSON with annotations that is not a COCO file at most two folders down"))
    for rel, why in listing.problems:  # annotation files that are symlinks leaving INPUT are never read, but they
        if not why.startswith("symlink points outside"):  # still make the dataset what it is: their items are
            continue  # then refused (a per-item error; 403 in the service), not silently read as class folders
        ext = posixpath.splitext(rel)[1].lower()
        image = next(iter(index.get((_dir(rel).lower(), _stem(rel).lower()), ())), None)
        swapped = _swap_dir(_dir(rel), "labels", "images")
        if image is None and swapped is not None:
            image = next(iter(index.get((swapped.lower(), _stem(rel).lower()), ())), None)
        if ext == ".xml":
            s.voc[rel] = None
        elif ext == ".txt" and image is not None:
            s.yolo[rel] = image
        elif ext == ".json" and len(rel.split("/")) <= COCO_MAX_DEPTH:
            s.coco_outside.append(rel)
    for rel, image in empty:  # an empty label file is a YOLO background image, in a set that has labels
        if s.yolo:
            s.yolo[rel] = image
        else:
            s.texts_beside.add(rel)
    return s


# -- detection ---------------------------------------------------------------------------------------------------

def _class_fields(root: Path, listing: FolderScan) -> dict:
    """Layout fields from the class-name files of a YOLO set: ``data.yaml`` (names, kpt_shape, flip_idx),
    ``classes.txt``, ``obj.names`` or ``notes.json``, at the top or one folder down; all copied to OUTPUT."""
    import yaml

    for rel, why in listing.problems:  # a class-name file that leaves INPUT is refused, never silently dropped
        if why.startswith("symlink points outside") and len(rel.split("/")) <= 2 \
                and posixpath.basename(rel).lower() in SIDE_FILES:
            raise OutsideRootFormatError(rel)
    found = [rel for rel in listing.files if len(rel.split("/")) <= 2 and posixpath.basename(rel).lower() in SIDE_FILES]
    found.sort(key=lambda rel: (len(rel.split("/")), SIDE_FILES.index(posixpath.basename(rel).lower()), rel))
    fields: dict = {"extra_files": tuple(found)} if found else {}
    for rel in found:
        name = posixpath.basename(rel).lower()
        try:
            resolve_within(root, rel)
        except OutsideRootError:
            raise OutsideRootFormatError(rel) from None
        data = _read(root, rel, MAX_LABEL_BYTES)
        if data is None:
            raise FormatError(f"{rel}: unreadable or larger than {MAX_LABEL_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{rel}: not UTF-8 text") from None
        if name in ("data.yaml", "data.yml", "dataset.yaml"):
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise FormatError(f"{rel}: unreadable ({str(exc).splitlines()[0]})") from None
            try:
                pose = read_pose_fields(doc or {}, rel)
            except AnnotationError as exc:
                raise FormatError(str(exc)) from None
            return {**fields, "class_names": read_class_names(doc or {}), **pose}
        if name in ("classes.txt", "obj.names"):
            return {**fields, "class_names": tuple(line.strip() for line in text.splitlines() if line.strip())}
        if name == "notes.json":  # Label Studio: {"categories": [{"id": 0, "name": ...}]}
            try:
                cats = json.loads(text).get("categories") or []
                names = tuple(str(c["name"]) for c in sorted(cats, key=lambda c: int(c["id"])))
            except (ValueError, AttributeError, KeyError, TypeError):
                continue
            return {**fields, "class_names": names}
    return fields


def _load_coco(root: Path, rel: str, docs: dict[str, dict] | None) -> dict:
    if docs and rel in docs:
        return docs[rel]
    return load_index(read_bytes_within(root, rel), rel)


def _coco_layout(root: Path, files: list[str], docs: dict[str, dict]) -> Layout:
    cats_seen = None
    for rel in files:
        try:
            doc = _load_coco(root, rel, docs)
        except OutsideRootError:
            raise OutsideRootFormatError(rel) from None
        except (AnnotationError, OSError) as exc:
            raise FormatError(str(exc).splitlines()[0]) from None
        cats = doc.get("categories") or []
        if not isinstance(cats, list) or not all(isinstance(c, dict) and "id" in c for c in cats):
            raise FormatError(f"{rel}: 'categories' must be a list of objects with an id")
        if cats_seen is not None and cats != cats_seen[1]:
            raise FormatError(f"{rel} and {cats_seen[0]} list different categories; give one split per run")
        cats_seen = (rel, cats)
    cats = cats_seen[1]
    return Layout("coco", "", "", coco_json=files[0], class_names=tuple(str(c.get("name")) for c in cats),
                  categories=tuple(cats), coco_files=tuple(files) if len(files) > 1 else ())


def detect_by_content(root: Path, forced: str | None = None, exclude: Path | None = None) -> Layout | None:
    """The annotation layout of ``root`` (None: class folders). ``forced``: a format name, or "classification"."""
    if forced == "classification":
        return None
    return _detect(root, forced, _survey(root, exclude))


def detect_and_pair(root: Path, forced: str | None = None, exclude: Path | None = None
                    ) -> tuple[Layout | None, Pairing | None]:
    """``detect_by_content`` and ``pair`` from one walk of ``root``: each annotation file is probed (and a COCO
    file parsed) once, for both. (None, None) for class folders."""
    return _detect_and_pair(root, forced, exclude)[:2]


def _detect_and_pair(root: Path, forced: str | None, exclude: Path | None):
    if forced == "classification":
        return None, None, None
    s = _survey(root, exclude)
    layout = _detect(root, forced, s)
    return layout, (pair(root, layout, exclude, survey=s) if layout is not None else None), s


def _detect(root: Path, forced: str | None, s: _Survey) -> Layout | None:
    found: dict[str, Layout] = {}
    if s.voc:
        found["voc"] = Layout("voc", "", "")
    if s.yolo:
        found["yolo"] = Layout("yolo", "", "", **_class_fields(root, s.listing))
    if s.coco:
        found["coco"] = _coco_layout(root, s.coco, s.coco_docs)
    elif s.coco_outside:  # refused where it is used: the service's check_confined, the run's read (never read here)
        found["coco"] = Layout("coco", "", "", coco_json=s.coco_outside[0])
    if s.masks.pairs or s.masks.ambiguous:
        found["masks"] = Layout("masks", "", "")
    if forced:
        if forced not in found:
            raise FormatError(f"INPUT {root} is not a {forced} dataset ({_EXPECTED[forced]})")
        if forced == "masks" and s.masks.ambiguous:
            _refuse_ambiguous_masks(s.masks)
        return found[forced]
    if len(found) > 1:
        raise FormatError(f"INPUT {root} looks like several formats ({', '.join(sorted(found))}); "
                          "choose one with --format")
    if found:
        layout = next(iter(found.values()))
        if layout.format == "masks" and s.masks.ambiguous:
            _refuse_ambiguous_masks(s.masks)
        return layout
    if s.like:
        rel, why = s.like[0]
        raise AnnotationsFoundError(
            f"INPUT {root} holds annotation-like files that class folders would lose ({rel}: {why}; "
            f"{len(s.like)} in all); convert them to COCO, VOC or YOLO, or give --format classification "
            "to read INPUT as class folders and leave them out")
    return None


def _refuse_ambiguous_masks(masks: MaskPairs) -> None:
    rel, others = masks.ambiguous[0]
    more = f"; {len(masks.ambiguous) - 1} more like it" if len(masks.ambiguous) > 1 else ""
    raise FormatError(f"{rel} pairs with {' and '.join(others)} as image and segmentation mask{more}: keep one "
                      "mask per image (move the other out of INPUT), or give --format voc, yolo, coco or "
                      "classification to read INPUT without masks")


_EXPECTED = {
    "voc": "expected .xml files whose root element is <annotation>, beside their images or in another folder",
    "yolo": "expected .txt label rows (class cx cy w h) beside their images or in labels/ mirroring images/",
    "coco": "expected a COCO .json (with images and annotations lists) at most two folders down",
    "masks": "expected gray or palette PNG masks named like their images (masks/foo.png or foo_mask.png for "
             "foo.jpg)",
}


# -- pairing: the items of a layout ------------------------------------------------------------------------------

def _closeness(a: str, b: str) -> tuple[int, int]:
    """How near two files lie: (same folder, folders in common from the top and from the bottom)."""
    da, db = _dir(a).lower().split("/"), _dir(b).lower().split("/")
    if da == db:
        return 1, len(da)
    lead = next((i for i, (x, y) in enumerate(zip(da, db)) if x != y), min(len(da), len(db)))
    trail = next((i for i, (x, y) in enumerate(zip(reversed(da), reversed(db))) if x != y), min(len(da), len(db)))
    return 0, lead + trail


def _pair_voc(s: _Survey) -> tuple[dict[str, str], list[tuple[str, str]]]:
    by_name: dict[str, list[str]] = defaultdict(list)
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in s.listing.images:
        by_name[posixpath.basename(rel).lower()].append(rel)
        by_stem[_stem(rel).lower()].append(rel)
    pairs: dict[str, str] = {}  # image -> xml
    orphans = []
    left = []
    for xml in sorted(s.voc):  # first by stem (a renamed or copied file keeps a stale <filename>), nearest first
        name = (s.voc[xml] or "").lower()
        ranked = sorted(by_stem.get(_stem(xml).lower(), []), key=lambda im: (_closeness(xml, im),
                        posixpath.basename(im).lower() == name, im), reverse=True)
        image = next((im for im in ranked if im not in pairs), None)
        if image is None:
            left.append(xml)
        else:
            pairs[image] = xml
    for xml in left:  # then by the image the XML names
        name = (s.voc[xml] or "").lower()
        named = by_name.get(name, []) + (by_stem.get(name, []) if name and "." not in name else [])
        ranked = sorted(named, key=lambda im: (_closeness(xml, im), im), reverse=True)
        image = next((im for im in ranked if im not in pairs), None)
        if image is None:
            taken = next(iter(ranked), None) or next(iter(by_stem.get(_stem(xml).lower(), [])), None)
            why = (f"annotation whose image {taken} already has {pairs[taken]}" if taken in pairs
                   else "annotation without an image" + (f" (it names {s.voc[xml]})" if s.voc[xml] else ""))
            orphans.append((xml, why))
            continue
        pairs[image] = xml
    return pairs, orphans


def _beside(image: str, ext: str) -> str:
    return posixpath.join(_dir(image), _stem(image) + ext)


def _expected_sidecar(root: Path, image: str, ext: str, dir_map: dict[str, str]) -> str:
    """Where the annotation of an image without one goes: the folder its neighbours' annotations are in."""
    folder = dir_map.get(_dir(image))
    if folder is None:
        swapped = _swap_dir(_dir(image), "images", "labels" if ext == ".txt" else "annotations")
        folder = (swapped if swapped is not None and (swapped in dir_map.values() or (root / swapped).is_dir())
                  else _dir(image))
    return posixpath.join(folder, _stem(image) + ext)


def _expected_mask(root: Path, image: str, tail: str, dir_map: dict[str, str]) -> str:
    """Where the mask of an image without one goes: named and placed as its neighbours' masks are (never onto
    the image itself)."""
    folder = dir_map.get(_dir(image))
    if folder is None:
        swapped = _swap_dir(_dir(image), "images", "masks")
        folder = swapped if swapped is not None and (swapped in dir_map.values() or (root / swapped).is_dir()) \
            else _dir(image)
    if folder == _dir(image) and not tail:
        tail = "_mask"
    return posixpath.join(folder, _stem(image) + tail + ".png")


def pair(root: Path, layout: Layout, exclude: Path | None = None, survey: _Survey | None = None) -> Pairing:
    """The items of ``layout`` in ``root``: every image with its annotation file (or with none, then written with
    an empty one), the per-item problems, the folders to mirror, and the files ignored with why. ``survey``: the
    walk detection made of the same ``root`` and ``exclude`` (``detect_and_pair``), not repeated."""
    if layout.format == "coco":
        return _pair_coco(root, layout, exclude, survey)
    s = survey or _survey(root, exclude)
    listing = s.listing
    ignored = list(listing.ignored)
    problems = [(rel, why) for rel, why in listing.problems if not why.startswith("not an image file")]
    if layout.format == "voc":
        pairs, orphans = _pair_voc(s)
        ext, own = ".xml", set(s.voc)
    elif layout.format == "yolo":
        pairs, orphans, ext = {}, [], ".txt"
        for label, image in sorted(s.yolo.items()):
            if image in pairs:  # a label beside and one in labels/: the one in labels/ wins
                keep, drop = sorted([pairs[image], label], key=lambda r: _dir(r) == _dir(image))
                pairs[image] = keep
                orphans.append((drop, f"second label file for {image} (also {keep})"))
            else:
                pairs[image] = label
        own = set(s.yolo) | set(layout.extra_files)
        for rel in listing.files:  # YOLO rows in a labels folder with no image: an error, as before
            if (rel.endswith(".txt") and rel not in own and rel.lower().split("/")[-2:-1] == ["labels"]):
                orphans.append((rel, "annotation without an image"))
                own.add(rel)
    else:  # masks: gray/palette PNGs named like their images (mask_pairs)
        pairs, orphans, ext = dict(s.masks.pairs), [], ".png"
        own = set(pairs.values())
        ignored += s.masks.ignored
    masks_taken = set(s.masks.pairs.values()) | {m for m, _ in s.masks.ignored}
    dir_map: dict[str, str] = {}
    votes: dict[str, Counter] = defaultdict(Counter)
    for image, ann in pairs.items():
        votes[_dir(image)][_dir(ann)] += 1
    for folder, counter in votes.items():
        dir_map[folder] = counter.most_common(1)[0][0]
    annotated_stems = defaultdict(list)
    for image in pairs:
        annotated_stems[_stem(image).lower()].append(image)
    tails = Counter(_stem(ann)[len(_stem(image)):] for image, ann in pairs.items()
                    if _stem(ann).lower().startswith(_stem(image).lower()))
    tail = tails.most_common(1)[0][0] if tails else ""
    items = []
    for image in listing.images:
        ann = pairs.get(image)
        if ann is not None:
            items.append(Item(image, ann, None, ann))
            continue
        if image in masks_taken:
            if layout.format != "masks":  # a VOC devkit's SegmentationClass/, read as boxes: not an item
                owner = next((im for im, m in s.masks.pairs.items() if m == image), None)
                ignored.append((image, f"segmentation mask of {owner or 'an image'} (--format masks reads it); "
                                       "not an item"))
            continue
        if layout.format == "masks":
            twin = [im for im in annotated_stems.get(_stem(image).lower(), ()) if _dir(im) != _dir(image)]
            if twin and in_mask_folder(image):  # labelme2voc's SegmentationClassVisualization/foo.jpg
                ignored.append((image, f"a picture named like {twin[0]} in a mask folder (a visualisation of its "
                                       "mask); not an item"))
                continue
            items.append(Item(image, None, None, _expected_mask(root, image, tail, dir_map)))
            continue
        twin = [im for im in annotated_stems.get(_stem(image).lower(), ()) if _dir(im) != _dir(image)]
        if twin and layout.format == "voc" and posixpath.splitext(image)[1].lower() == ".png":
            ignored.append((image, f"a PNG named like the annotated image {twin[0]} (a VOC segmentation mask); "
                                   "not an item"))
            continue
        items.append(Item(image, None, None, _expected_sidecar(root, image, ext, dir_map)))
    for rel in listing.files:
        if rel in own or any(rel == o for o, _ in orphans):
            continue
        why = non_data_reason(posixpath.basename(rel))
        if rel in s.texts_beside:
            why = "text beside an image that is not YOLO label rows"
        elif posixpath.splitext(rel)[1].lower() == ".xml":
            why = "XML that is not a VOC <annotation> document"
        if why is None:
            problems.append((rel, f"not an image or {layout.format} annotation file; skipped"))
        elif (rel, why) not in ignored and not any(r == rel for r, _ in ignored):
            ignored.append((rel, why))
    problems += orphans
    taken = own | {o for o, _ in orphans}
    ignored = [(rel, why) for rel, why in ignored if rel not in taken]
    folders = {_dir(it.image) for it in items} | {_dir(it.sidecar) for it in items if it.sidecar}
    folders |= {f for f in listing.folders}
    folders.discard("")
    return Pairing(sorted(items, key=lambda it: it.image), sorted(problems), sorted(folders), sorted(ignored))


def coco_files(layout: Layout) -> tuple[str, ...]:
    return tuple(layout.coco_files) or ((layout.coco_json,) if layout.coco_json else ())


def coco_image_path(root: Path, json_rel: str, entry: dict) -> str | None:
    """Where a COCO image entry's file is, relative to INPUT: its ``file_name`` relative to the JSON's folder,
    to INPUT, or to ``images/`` (also by base name there, as Label Studio writes upload paths); None when it
    would leave INPUT. When none exists the first candidate is given (reported missing)."""
    raw = str(entry.get("file_name", "")).replace("\\", "/")
    name = posixpath.normpath(raw)
    if not raw or name.startswith("../") or name in ("..", ".") or ".." in name.split("/"):
        return None
    name = name.lstrip("/") if raw.startswith("/") else name
    base = _dir(json_rel)
    bases = [base, "", "images", posixpath.join(base, "images")]
    candidates = [posixpath.normpath(posixpath.join(b, name)) for b in dict.fromkeys(bases)]
    candidates += [posixpath.join(b, posixpath.basename(name)) if b else posixpath.basename(name)
                   for b in dict.fromkeys(bases)]
    if raw.startswith("/"):
        candidates = candidates[len(bases):]  # an absolute upload path: only its base name is looked for
    outside = None  # a candidate that exists but leaves INPUT: reported as such, never read, never "missing"
    for rel in dict.fromkeys(candidates):
        try:
            if resolve_within(root, rel).is_file():
                return rel
        except OutsideRootError:
            if outside is None and os.path.lexists(os.path.join(root, rel)):
                outside = rel
            continue
    return outside or (candidates[0] if candidates else None)


def _pair_coco(root: Path, layout: Layout, exclude: Path | None, survey: _Survey | None = None) -> Pairing:
    problems: list[tuple[str, str]] = []
    items, seen = [], set()
    bases: dict[str, str] = {}  # COCO file -> the folder its file_names are relative to
    for json_rel in coco_files(layout):
        try:
            doc = _load_coco(root, json_rel, survey.coco_docs if survey else None)
        except (OSError, OutsideRootError) as exc:
            problems.append((json_rel, f"cannot read: {exc}"))
            continue
        by_id: dict = {}
        for entry in doc["images"]:
            if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("file_name"), str):
                problems.append((json_rel, f"image entry without id or file_name: {json.dumps(entry)[:80]}"))
                continue
            by_id[entry["id"]] = entry
        anns: dict = {k: [] for k in by_id}
        for ann in doc["annotations"]:
            image_id = ann.get("image_id") if isinstance(ann, dict) else None
            if image_id not in anns:
                problems.append((f"{json_rel}#annotation-{ann.get('id') if isinstance(ann, dict) else '?'}",
                                 f"annotation for image_id {image_id!r}, which is not in images"))
                continue
            anns[image_id].append(ann)
        for image_id, entry in by_id.items():
            rel = coco_image_path(root, json_rel, entry)
            if rel is None:
                problems.append((str(entry["file_name"]), "file_name leaves INPUT; skipped"))
                continue
            if posixpath.splitext(rel)[1].lower() not in IMAGE_EXTENSIONS:
                problems.append((rel, "not an image file; skipped"))
                continue
            try:
                present = resolve_within(root, rel).is_file()
            except OutsideRootError:
                problems.append((rel, "resolves outside INPUT (a symlink leaving it); skipped"))
                continue
            if not present:
                problems.append((rel, f"image {image_id} of {json_rel} is missing"))
                continue
            if rel in seen:
                problems.append((rel, "listed twice in the COCO files; second entry skipped"))
                continue
            seen.add(rel)
            bases.setdefault(json_rel, _name_base(rel, str(entry["file_name"]), json_rel))
            payload = {"image": entry, "annotations": anns[image_id]}
            if len(coco_files(layout)) > 1:
                payload["json"] = json_rel
            items.append(Item(rel, None, payload))
    listing = survey.listing if survey else scan_image_folder(root, exclude=exclude)
    ignored = list(listing.ignored)
    homes = _coco_homes(items, layout)
    for rel in listing.images:  # a background image (no objects) that the tool left out of the JSON: kept, and
        if rel in seen:  # listed in the output JSON with no annotations (counted), as YOLO and VOC keep theirs
            continue
        json_rel = homes.get(_dir(rel)) or _nearest_json(rel, coco_files(layout))
        if json_rel is None:
            problems.append((rel, "image in no COCO file's folder (" + ", ".join(coco_files(layout)) +
                             "); add it to one, or move it out of INPUT"))
            continue
        base = bases.get(json_rel, _dir(json_rel))
        name = posixpath.relpath(rel, base) if base and (rel + "/").startswith(base + "/") else rel
        payload = {"image": {"id": None, "file_name": name}, "annotations": [], "unlisted": True}
        if len(coco_files(layout)) > 1:
            payload["json"] = json_rel
        items.append(Item(rel, None, payload))
    listed = set(coco_files(layout))
    ignored = [(rel, why) for rel, why in ignored if rel not in listed]
    for rel in listing.files:
        if rel not in listed and not any(r == rel for r, _ in ignored):
            ignored.append((rel, non_data_reason(posixpath.basename(rel)) or "not an image or COCO file"))
    folders = sorted({_dir(it.image) for it in items if _dir(it.image)})
    return Pairing(sorted(items, key=lambda it: it.image), sorted(problems), folders, sorted(ignored))


def _name_base(rel: str, file_name: str, json_rel: str) -> str:
    """The folder a COCO file's ``file_name`` values are relative to, from one resolved entry."""
    name = posixpath.normpath(file_name.replace("\\", "/").lstrip("/"))
    if rel == name or not rel.endswith("/" + name):
        return "" if rel == name else _dir(json_rel)
    return rel[: -len(name) - 1]


def _coco_homes(items: list[Item], layout: Layout) -> dict[str, str]:
    """Folder -> the COCO file whose images lie in it (the one holding most of them)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for it in items:
        votes[_dir(it.image)][(it.payload or {}).get("json") or coco_files(layout)[0]] += 1
    return {folder: counter.most_common(1)[0][0] for folder, counter in votes.items()}


def _nearest_json(image: str, files: tuple[str, ...]) -> str | None:
    """The COCO file for an image in a folder none of its listed images are in: the only one, or the one in
    whose folder (or its ``images/``) the image lies."""
    if len(files) == 1:
        return files[0]
    inside = [f for f in files if not _dir(f) or (image + "/").startswith(_dir(f) + "/")]
    inside.sort(key=lambda f: len(_dir(f)), reverse=True)
    if inside and (len(inside) == 1 or len(_dir(inside[0])) > len(_dir(inside[1]))):
        return inside[0]
    return None


def output_annotation(item: Item, out_image: str) -> str:
    """The annotation file of an output image: in its source annotation's folder, named after it with the
    suffix the output image's name adds (``Annotations/a.xml`` for ``JPEGImages/a.jpg`` ->
    ``Annotations/a__aug0.xml`` for ``JPEGImages/a__aug0.jpg``)."""
    src = item.sidecar or item.annotation
    src_stem, out_stem = _stem(item.image), _stem(out_image)
    suffix = out_stem[len(src_stem):] if out_stem.startswith(src_stem) else "__" + out_stem
    stem, ext = posixpath.splitext(posixpath.basename(src))
    if stem != src_stem and stem.startswith(src_stem) and ext.lower() == ".png":  # foo_mask.png, as the tool
        return posixpath.join(_dir(src), out_stem + stem[len(src_stem):] + ext)  # names it: foo__aug0_mask.png
    return posixpath.join(_dir(src), stem + suffix + ext)


# -- describing a layout -----------------------------------------------------------------------------------------

@dataclass
class LayoutReport:
    """What ``augment run`` would see in INPUT: ``augment run --dry-run`` prints it, the service's dataset view
    carries it."""

    root: str
    format: str  # voc | yolo | coco | masks | classification
    images: int = 0  # items a run would expand
    annotated_images: int = 0  # items with an annotation (file, or COCO entries)
    unannotated_images: int = 0  # items written with an empty annotation (counted in each record's repairs)
    objects: int = 0
    objects_per_class: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)  # class folders (classification) or class names
    annotation_files: list = field(default_factory=list)  # COCO files, class-name files copied
    ignored: list = field(default_factory=list)  # [{"path", "why"}]: not data, counted apart
    problems: list = field(default_factory=list)  # [{"path", "why"}]: per-item errors a run would log
    error: str | None = None  # INPUT cannot be run as it is (several formats, annotations in class folders)
    annotations_found: bool = False  # the error is annotation-like files in what would be class folders

    def as_dict(self) -> dict:
        return asdict(self)


def _count_objects(root: Path, layout: Layout, items: list[Item], known: dict[str, tuple] | None = None
                   ) -> tuple[Counter, int, list]:
    """Objects per class; ``known``: what the survey already read from each file (only others are read)."""
    counts: Counter = Counter()
    known = known or {}
    annotated, problems = 0, []
    for it in items:
        try:
            if layout.format == "coco":
                cats = {c["id"]: str(c.get("name", c["id"])) for c in layout.categories}
                annotated += bool(it.payload["annotations"])
                for ann in it.payload["annotations"]:
                    counts[cats.get(ann.get("category_id"), f"unknown category {ann.get('category_id')!r}")] += 1
                continue
            if it.annotation is None:
                continue
            annotated += 1
            if it.annotation in known:
                names = layout.class_names
                for obj in known[it.annotation]:
                    is_id = isinstance(obj, int)
                    counts[(names[obj] if 0 <= obj < len(names) else str(obj)) if is_id else obj] += 1
                continue
            data = read_bytes_within(root, it.annotation)
            if layout.format == "voc":
                from defusedxml import ElementTree as SafeET

                for obj in SafeET.fromstring(data).findall("object"):
                    counts[(obj.findtext("name") or "").strip()] += 1
            elif layout.format == "yolo":
                names = layout.class_names
                for line in data.decode("utf-8").splitlines():
                    if line.split():
                        cls = int(line.split()[0])
                        counts[names[cls] if 0 <= cls < len(names) else str(cls)] += 1
        except Exception as exc:  # reported, as the run would report it per item
            problems.append({"path": it.annotation or it.image, "why": f"unreadable: {str(exc).splitlines()[0][:120]}"})
    return counts, annotated, problems


def describe_layout(root: Path, forced: str | None = None, exclude: Path | None = None) -> LayoutReport:
    """What a run over ``root`` would see: its format, its images, how many carry annotations, the objects per
    class, and the files it would ignore (with why) or report as errors. Reads, never writes."""
    root = Path(root)
    try:
        layout, pairing, survey = _detect_and_pair(root, forced, exclude)
    except FormatError as exc:
        return LayoutReport(str(root), "unknown", error=str(exc),
                            annotations_found=isinstance(exc, AnnotationsFoundError))
    if layout is None:
        listing = scan_image_folder(root, exclude=exclude)
        classes = sorted({im.split("/")[0] for im in listing.images if "/" in im})
        return LayoutReport(str(root), "classification", images=len(listing.images), classes=classes,
                            ignored=[{"path": p, "why": w} for p, w in listing.ignored],
                            problems=[{"path": p, "why": w} for p, w in listing.problems])
    counts, annotated, bad = _count_objects(root, layout, pairing.items, survey.objects)
    if layout.format == "masks":
        annotated = sum(1 for it in pairing.items if it.annotation)
    return LayoutReport(
        str(root), layout.format, images=len(pairing.items), annotated_images=annotated,
        unannotated_images=(sum(1 for it in pairing.items if it.annotation is None) if layout.format != "coco"
                            else len(pairing.items) - annotated),
        objects=sum(counts.values()), objects_per_class=dict(sorted(counts.items())),
        classes=list(layout.class_names), annotation_files=[*coco_files(layout), *layout.extra_files],
        ignored=[{"path": p, "why": w} for p, w in pairing.ignored],
        problems=[{"path": p, "why": w} for p, w in pairing.problems] + bad)


__all__ = ["AnnotationsFoundError", "FormatError", "Item", "LayoutReport", "Pairing", "coco_files",
           "coco_image_path", "describe_layout", "detect_and_pair", "detect_by_content", "output_annotation", "pair"]

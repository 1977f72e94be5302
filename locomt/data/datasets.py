"""The dataset registry: one class per dataset, registered by name, declaring what it is and how it is read.

``@register_dataset("name")`` on a :class:`Dataset` subclass makes ``data.dataset: name`` work.
Each dataset declares its metadata ``files`` (below ``data.root``), the ``modalities`` its items
can have, the ``tasks`` it can be (``multiclass``, ``multilabel``; a manifest's file says which),
whether ``locomt.synth`` can generate it (``synthetic``), and answers from ``data`` alone: where
its media are (:meth:`Dataset.media_root`), how to get it (:meth:`Dataset.how_to_get`), its class
names and count (:meth:`Dataset.classes_without_data`), the settings of its split that belong in
the cache key (:meth:`Dataset.key_settings`) and every item to decode (:meth:`Dataset.plan`).
Code asks the dataset of ``data.dataset`` (:func:`get_dataset`, :func:`check_data`) rather than
comparing names. :func:`ensure_root` makes sure the metadata exists (generating synthetic data
when ``data.synthetic`` asks for it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, TypeVar

import numpy as np

from locomt.data.media import MediaFiles, MediaIndex, find_media
from locomt.data.synthetic.config import check_synthetic_root, synth_config
from locomt.modalities import DEFAULT_CODES

if TYPE_CHECKING:
    from locomt.config import DataConfig
    from locomt.data.manifest import Manifest

# The metadata readers (pandas) and the synthetic generator are imported where a dataset is read or
# made, not here: checking a config's data section against its dataset stays quick.

MODALITIES = tuple(DEFAULT_CODES)  # video, audio, text
TASKS = ("multiclass", "multilabel")


@dataclass(frozen=True)
class Item:
    """One metadata row: where it goes, its media, its text and its class indices."""

    split: str
    row: int
    item_id: str
    files: MediaFiles
    text: str
    labels: tuple[int, ...]


@dataclass(frozen=True)
class DatasetPlan:
    """Everything prepare needs to know about a dataset before decoding."""

    dataset: str
    task: str  # multiclass | multilabel
    class_names: tuple[str, ...]
    items: tuple[Item, ...]
    media_root: Path


class Dataset:
    """A dataset kind: what it declares (class attributes) and what it reads from ``data`` (methods)."""

    name: ClassVar[str] = ""  # set by @register_dataset
    title: ClassVar[str] = ""  # how messages name it
    files: ClassVar[tuple[str, ...]] = ()  # metadata files below data.root (their bytes are in the cache key)
    clip_names: ClassVar[str] = ""  # how its clips are named, for how_to_get
    modalities: ClassVar[tuple[str, ...]] = ()  # the modalities its items can have
    tasks: ClassVar[tuple[str, ...]] = ()  # the tasks it can be; a fixed dataset has exactly one
    synthetic: ClassVar[bool] = False  # locomt.synth can generate it (as the layout of the same name)

    def metadata_files(self, data: DataConfig) -> list[Path]:
        """The metadata files the dataset is read from (their bytes are part of the cache key)."""
        return [Path(data.root) / f for f in self.files]

    def media_root(self, data: DataConfig) -> Path:
        """``data.media_root``, or ``ROOT/media`` when empty."""
        return Path(data.media_root) if data.media_root else Path(data.root) / "media"

    def how_to_get(self, data: DataConfig) -> str:
        """One line on where the files go and how to get them (ends every missing-data error)."""
        root = data.root
        media = data.media_root or f"{root}/media"
        text = f"put the official {', '.join(self.files)} in {root} and the clips ({self.clip_names}) in {media}"
        if self.synthetic:
            text += (
                f", or generate a synthetic dataset: python -m locomt.synth --layout {self.name} --out {root} "
                f"--n 300 --seed 0 (or set data.synthetic, e.g. {{layout: {self.name}, n: 300, seed: 0}})"
            )
        return text

    def check(self, data: DataConfig) -> None:
        """ValueError naming the key for a data section this dataset cannot give: a modality its items
        lack, or ``data.synthetic`` arguments that ``locomt.synth`` refuses (:func:`synth_config`)."""
        for m in data.modalities:
            if m not in self.modalities:
                raise ValueError(f"data.modalities holds {m!r} but {self.title} has no {m}; "
                                 f"expected some of {', '.join(self.modalities)}")
        if data.synthetic:
            try:
                synth_config(data)
            except (TypeError, ValueError) as err:  # locomt.synth's own messages
                msg = str(err)
                if re.match(r"\w+=", msg):  # "n=1; expected at least 3 clips"
                    msg = f"data.synthetic.{msg}"
                elif not msg.startswith("data.synthetic"):
                    msg = f"data.synthetic={data.synthetic}: {msg}"
                raise ValueError(msg) from None

    def task(self, data: DataConfig) -> str:
        """``multiclass`` or ``multilabel``: the one task a fixed dataset declares."""
        return self.tasks[0]

    def class_names(self, data: DataConfig) -> tuple[str, ...]:
        """The class names, index order, from the metadata."""
        raise NotImplementedError

    def classes_without_data(self, data: DataConfig) -> tuple[int, str | None]:
        """The class count from the metadata alone (no media, no cache), and a note when it is assumed."""
        return len(self.class_names(data)), None

    def key_settings(self, data: DataConfig) -> dict:
        """Settings beyond the metadata that decide which item lands in which split (cache-key entries)."""
        return {}

    def plan(self, data: DataConfig) -> DatasetPlan:
        """Read the metadata of ``data`` (checked by :func:`check_data`) and match every row to its media
        files, split by split."""
        raise NotImplementedError

    def checked_media_root(self, data: DataConfig) -> Path:
        """:meth:`media_root`, or FileNotFoundError saying what it should hold and how to get it."""
        root = self.media_root(data)
        if not root.is_dir():
            raise FileNotFoundError(
                f"media root {root} does not exist; expected the folder holding the clips (data.media_root, "
                f"default ROOT/media); {self.how_to_get(data)}"
            )
        return root


# ---------------------------------------------------------------------------------------- registry

D = TypeVar("D", bound=type[Dataset])
_DATASETS: dict[str, Dataset] = {}


def register_dataset(name: str) -> Callable[[D], D]:
    """Class decorator: make a dataset usable as ``data.dataset: name``. Duplicate names are an error."""

    def add(cls: D) -> D:
        if name in _DATASETS:
            raise ValueError(f"dataset {name!r} is already registered (by {type(_DATASETS[name]).__name__})")
        cls.name = name
        _DATASETS[name] = cls()
        return cls

    return add


def list_datasets() -> list[str]:
    """Registered dataset names, in registration order."""
    return list(_DATASETS)


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name``; an unknown name is a one-line error naming the known ones."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise ValueError(f"data.dataset={name!r}: expected one of {', '.join(_DATASETS)}") from None


def check_data(data: DataConfig) -> Dataset:
    """The dataset of ``data``, which has checked the section (:meth:`Dataset.check`); an unknown
    dataset or modality is a one-line error naming the accepted ones."""
    ds = get_dataset(data.dataset)
    if not data.modalities:
        raise ValueError(f"data.modalities is empty; expected some of {', '.join(MODALITIES)}")
    for m in data.modalities:
        if m not in MODALITIES:
            raise ValueError(f"data.modalities: unknown modality {m!r}; expected some of {', '.join(MODALITIES)}")
    if len(set(data.modalities)) != len(data.modalities):
        raise ValueError(f"data.modalities {list(data.modalities)} repeats a modality; expected each at most once")
    if not 0.0 <= data.val_fraction < 1.0:
        raise ValueError(f"data.val_fraction {data.val_fraction}; expected a fraction in [0, 1)")
    ds.check(data)
    return ds


def classes_without_data(data: DataConfig) -> tuple[int, str | None]:
    """The class count of ``data``'s dataset from its metadata alone, and a note when it is assumed."""
    return get_dataset(data.dataset).classes_without_data(data)


def plan_dataset(data: DataConfig) -> DatasetPlan:
    """Every item of ``data``'s dataset with its media files, split by split (:meth:`Dataset.plan`)."""
    return check_data(data).plan(data)


def ensure_root(data: DataConfig, progress: bool = True) -> None:
    """Make sure the metadata exists: generate a synthetic dataset when ``data.synthetic`` says so,
    else raise FileNotFoundError naming the missing path and how to get the data."""
    ds = check_data(data)
    missing = [p for p in ds.metadata_files(data) if not p.is_file()]
    if not missing:
        if data.synthetic:
            check_synthetic_root(data)
        return
    if data.synthetic:
        from locomt.data.synthetic.layout import generate

        scfg = synth_config(data)
        print(f"generating synthetic {scfg.layout} data in {data.root} ({scfg.n} clips, seed {scfg.seed})")
        generate(data.root, scfg, progress=progress)
        return
    root = Path(data.root)
    what = f"data.root {root} does not exist" if not root.exists() else f"{missing[0]} not found"
    raise FileNotFoundError(f"{what}; {ds.how_to_get(data)}")


# ---------------------------------------------------------------------------------------- datasets


@register_dataset("audioset")
class AudioSetDataset(Dataset):
    """AudioSet: segment CSVs and the class table; multi-label; val is a seeded slice of balanced_train."""

    title = "AudioSet"
    class_table = "class_labels_indices.csv"
    files = (class_table, "balanced_train_segments.csv", "eval_segments.csv")
    clip_names = "YTID.mp4 or YTID_START_END.mp4"
    modalities = ("video", "audio")
    tasks = ("multilabel",)
    synthetic = True
    official_classes = 527  # the class count when the class table is absent

    def class_names(self, data: DataConfig) -> tuple[str, ...]:
        from locomt.data.audioset import read_class_labels

        return tuple(read_class_labels(Path(data.root) / self.class_table)["display_name"])

    def classes_without_data(self, data: DataConfig) -> tuple[int, str | None]:
        path = Path(data.root) / self.class_table
        if path.is_file():
            return len(self.class_names(data)), None
        if data.synthetic:  # generated on first use: locomt.synth writes its own class table
            from locomt.data.synthetic.rule import AUDIOSET_CLASSES

            return len(AUDIOSET_CLASSES), None
        return self.official_classes, f"{path} not found: assumed AudioSet's {self.official_classes} classes"

    def key_settings(self, data: DataConfig) -> dict:
        return {"split": {"val_fraction": data.val_fraction, "split_seed": data.split_seed}}

    def plan(self, data: DataConfig) -> DatasetPlan:
        """train = balanced_train minus a seeded ``data.val_fraction`` slice (seed ``data.split_seed``),
        which becomes val (AudioSet has no validation split); test = eval."""
        from locomt.data.audioset import read_audioset

        mroot = self.checked_media_root(data)
        index = MediaIndex(mroot)
        splits, classes = read_audioset(Path(data.root), ("balanced_train", "eval"))
        train = splits["balanced_train"]
        rng = np.random.default_rng(data.split_seed)
        n_val = int(round(data.val_fraction * len(train)))
        val_rows = set(rng.permutation(len(train))[:n_val].tolist())
        parts = {
            "train": train.iloc[[i for i in range(len(train)) if i not in val_rows]],
            "val": train.iloc[sorted(val_rows)],
            "test": splits["eval"],
        }
        items = [Item(split, row, str(ytid), files, "", tuple(int(i) for i in labels))
                 for split, df in parts.items()
                 for row, (ytid, labels, files) in enumerate(zip(df["ytid"], df["labels"], find_media(df, index)))]
        return DatasetPlan(self.name, self.task(data), tuple(classes["display_name"]), tuple(items), mroot)


@register_dataset("medvidcl")
class MedVidCLDataset(Dataset):
    """MedVidCL: a JSON file per split, 3 classes, text = title (+ subtitles)."""

    title = "MedVidCL"
    files = ("train.json", "val.json", "test.json")
    clip_names = "VIDEO_ID.mp4"
    modalities = ("video", "audio", "text")
    tasks = ("multiclass",)
    synthetic = True

    def class_names(self, data: DataConfig) -> tuple[str, ...]:
        from locomt.data.medvidcl import CLASSES

        return tuple(CLASSES)

    def plan(self, data: DataConfig) -> DatasetPlan:
        from locomt.data.medvidcl import read_medvidcl

        mroot = self.checked_media_root(data)
        index = MediaIndex(mroot)
        items = [Item(split, row, str(vid), files, str(text), (int(label),))
                 for split, df in read_medvidcl(Path(data.root)).items()
                 for row, (vid, text, label, files) in enumerate(
                     zip(df["video_id"], df["text"], df["label_index"], find_media(df, index)))]
        return DatasetPlan(self.name, self.task(data), self.class_names(data), tuple(items), mroot)


@register_dataset("manifest")
class ManifestDataset(Dataset):
    """A user's CSV manifest (see :mod:`locomt.data.manifest`); paths are relative to the manifest."""

    title = "a manifest"
    files = ("manifest.csv",)  # or data.root is the CSV itself
    modalities = ("video", "audio", "text")
    tasks = ("multiclass", "multilabel")  # a label column: multiclass; labels: multilabel

    def metadata_files(self, data: DataConfig) -> list[Path]:
        from locomt.data.manifest import manifest_path

        return [manifest_path(data.root)]

    def media_root(self, data: DataConfig) -> Path:
        """The manifest's folder (its paths are relative to it)."""
        return self.metadata_files(data)[0].parent

    def how_to_get(self, data: DataConfig) -> str:
        return (
            f"expected a manifest CSV (columns split,path,label or labels[,text]) at {data.root} "
            f"or {Path(data.root) / self.files[0]}; see locomt/data/manifest.py"
        )

    def _read(self, data: DataConfig) -> Manifest:
        from locomt.data.manifest import read_manifest

        return read_manifest(self.metadata_files(data)[0])

    def task(self, data: DataConfig) -> str:
        """What the manifest's header says: a label column is multiclass, labels multilabel."""
        return self._read(data).task

    def class_names(self, data: DataConfig) -> tuple[str, ...]:
        return self._read(data).class_names

    def plan(self, data: DataConfig) -> DatasetPlan:
        from locomt.data.manifest import SPLITS, media_files

        man = self._read(data)
        counters = dict.fromkeys(SPLITS, 0)
        items: list[Item] = []
        for split, path, labels, text in man.rows[["split", "path", "labels", "text"]].itertuples(index=False):
            row = counters[split]
            counters[split] += 1
            items.append(Item(split, row, Path(path).stem, media_files(path), text, tuple(labels)))
        return DatasetPlan(self.name, man.task, man.class_names, tuple(items), man.path.parent)

"""Serving the shipped Keras models with LiteRT (TensorFlow Lite, pip package ``ai-edge-litert``).

Keras stays the training and reference runtime. For serving, each shipped model also has a float32
``models/<name>.tflite`` flatbuffer (no quantization), exported from its ``.keras`` file by::

    python -m stampauth.modeling.litert export --models-dir models

which writes every ``.tflite`` next to its ``.keras`` and records in the model's JSON card::

    "tflite": {"file": ..., "sha256": ..., "source_sha256": ..., "max_abs_diff": ..., ...}

``max_abs_diff`` is the largest difference between the LiteRT and the Keras outputs on generated inputs
(several batch sizes / page shapes), measured at export. ``python -m stampauth.modeling.litert check`` measures it
again for the files on disk.

Which runtime a model is served with (:func:`choose_runtime`): ``litert`` when the card records an export and both
the ``.tflite`` file and the ``.keras`` file it was made from still have the recorded SHA-256, else ``keras``.
``STAMPAUTH_RUNTIME=keras`` forces Keras; ``STAMPAUTH_RUNTIME=litert`` insists on LiteRT (loading fails if it cannot
be used); an explicit ``runtime=`` argument wins over the environment.

:class:`LiteRTModel` runs a one-input, one-output flatbuffer from any number of threads: it keeps a small pool of
interpreters (an interpreter is not thread-safe, so each call borrows one), and resizes an interpreter's input only
when the shape of a call differs from the one it last ran (variable batch sizes, detector pages of varying size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from stampauth.errors import FailedPrecondition

log = logging.getLogger(__name__)

TFLITE_SUFFIX = ".tflite"
RUNTIME_ENV = "STAMPAUTH_RUNTIME"
RUNTIMES = ("litert", "keras")
#: More threads than this gained nothing on the 2-core machines this runs on (see :func:`default_threads`).
MAX_THREADS = 2


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Interpreter threads per call: the cores available, at most :data:`MAX_THREADS`."""
    return max(1, min(MAX_THREADS, available_cores()))


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ runtime


@dataclass
class _Slot:
    interpreter: object
    input_index: int
    output_index: int
    shape: tuple | None  # the input shape tensors are allocated for


class LiteRTModel:
    """``model(x: np.ndarray) -> np.ndarray`` for a float32 flatbuffer with one input and one output.

    Thread-safe: a call borrows an idle interpreter from a pool (one sized for the call's shape when there is
    one), creating up to ``max_interpreters``; further concurrent calls wait. ``num_threads`` is each
    interpreter's thread count (default :func:`default_threads`: 2 threads ran a call about 1.7x faster than 1 on
    2 cores, and two callers with an interpreter each got as much done as with one shared).
    """

    def __init__(self, model: bytes | str | Path, num_threads: int | None = None, max_interpreters: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter_class = Interpreter
        self._content = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
        self.num_threads = int(num_threads) if num_threads else default_threads()
        self.max_interpreters = max(1, int(max_interpreters))
        self._idle: list[_Slot] = []
        self._created = 0
        self._condition = threading.Condition()
        self.resizes = 0  # for measurement: input resizes (re-allocations) done
        first = self._new_slot()  # fail at load, not at the first call, if the flatbuffer is unusable
        self._created = 1
        self._idle.append(first)
        details = first.interpreter.get_input_details()[0]
        self.input_signature = tuple(int(v) for v in details["shape_signature"])  # -1 where any size goes
        self.output_signature = tuple(int(v) for v in first.interpreter.get_output_details()[0]["shape_signature"])

    def _new_slot(self) -> _Slot:
        interpreter = self._interpreter_class(model_content=bytes(self._content), num_threads=self.num_threads)
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"expected a model with one input and one output, got {len(inputs)} and {len(outputs)}")
        if inputs[0]["dtype"] != np.float32:
            raise ValueError(f"expected a float32 input, got {inputs[0]['dtype']}")
        return _Slot(interpreter, inputs[0]["index"], outputs[0]["index"], None)

    def _acquire(self, shape: tuple) -> _Slot:
        """An idle interpreter sized for ``shape`` (or not sized yet); else a new one while fewer than
        ``max_interpreters`` exist, so up to that many shapes stay allocated (portrait and landscape pages);
        else the least recently used idle one, to be resized."""
        with self._condition:
            while True:
                for wanted in (shape, None):  # sized for this shape, else never sized yet
                    for position, slot in enumerate(self._idle):
                        if slot.shape == wanted:
                            return self._idle.pop(position)
                if self._created < self.max_interpreters:
                    self._created += 1
                    break
                if self._idle:
                    return self._idle.pop(0)  # the least recently used: the shapes used last stay allocated
                self._condition.wait()
        try:
            return self._new_slot()
        except BaseException:
            with self._condition:
                self._created -= 1
                self._condition.notify()
            raise

    def _release(self, slot: _Slot | None) -> None:
        with self._condition:
            if slot is None:  # a failed call: its interpreter is dropped, another may be made
                self._created -= 1
            else:
                self._idle.append(slot)
            self._condition.notify()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        shape = tuple(batch.shape)
        if len(shape) != len(self.input_signature) or any(
                want not in (-1, got) for want, got in zip(self.input_signature, shape)):
            raise ValueError(f"input of shape {shape} does not fit the model's {self.input_signature} (-1: any size)")
        slot = self._acquire(shape)
        try:
            interpreter = slot.interpreter
            if slot.shape != shape:
                slot.shape = None
                interpreter.resize_tensor_input(slot.input_index, list(shape), strict=True)
                interpreter.allocate_tensors()
                slot.shape = shape
                self.resizes += 1
            interpreter.set_tensor(slot.input_index, batch)
            interpreter.invoke()
            output = interpreter.get_tensor(slot.output_index)  # a copy: safe once the interpreter is lent again
        except BaseException:
            self._release(None)
            raise
        self._release(slot)
        return output

    @property
    def interpreters(self) -> int:
        """Interpreters made so far (for measurement)."""
        return self._created


# ------------------------------------------------------------------------------------------------ choice


def tflite_path(directory: str | Path, stem: str, record: dict | None) -> Path:
    """Where a model's ``.tflite`` is: the card's ``tflite.file`` (in the models folder), else ``<stem>.tflite``."""
    name = (record or {}).get("file") or f"{stem}{TFLITE_SUFFIX}"
    return Path(directory) / Path(name).name


def litert_problem(record: dict | None, path: Path, source: Path | None = None) -> str | None:
    """Why the ``.tflite`` at ``path`` cannot serve the model (``None``: it can)."""
    if not record or not record.get("sha256"):
        return "its card records no LiteRT export"
    if not path.is_file():
        return f"{path.name} is missing"
    if file_sha256(path) != record["sha256"]:
        return f"{path.name} does not have the SHA-256 its card records"
    if source is not None and record.get("source_sha256") and source.is_file() \
            and file_sha256(source) != record["source_sha256"]:
        return f"{path.name} was exported from other weights than {source.name}"
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return "the ai-edge-litert package is not installed"
    return None


def requested_runtime(runtime: str | None = None) -> str:
    """``runtime`` if given, else ``$STAMPAUTH_RUNTIME``, else ``auto``."""
    value = (runtime or os.environ.get(RUNTIME_ENV) or "auto").strip().lower()
    if value not in (*RUNTIMES, "auto"):
        raise FailedPrecondition(f"unknown model runtime {value!r} (from the argument or ${RUNTIME_ENV}): "
                                 f"use one of {', '.join(RUNTIMES)} or auto")
    return value


def choose_runtime(record: dict | None, path: Path, source: Path | None = None, runtime: str | None = None,
                   name: str = "model") -> str:
    """``"litert"`` or ``"keras"`` for one model: see the module docstring."""
    wanted = requested_runtime(runtime)
    if wanted == "keras":
        return "keras"
    problem = litert_problem(record, path, source)
    if problem is None:
        return "litert"
    if wanted == "litert":
        raise FailedPrecondition(f"the LiteRT runtime was asked for {name} but {problem}; run "
                                 "'python -m stampauth.modeling.litert export' or use the keras runtime")
    if record and record.get("sha256"):  # an export was recorded but cannot be used: say so
        log.warning("serving %s with Keras: %s", name, problem)
    return "keras"


def load_for(record: dict | None, directory: Path, stem: str, runtime: str | None = None,
             **options) -> LiteRTModel | None:
    """The :class:`LiteRTModel` serving ``<directory>/<stem>`` or ``None`` when it is to be served with Keras."""
    path = tflite_path(directory, stem, record)
    source = Path(directory) / f"{stem}.keras"
    if choose_runtime(record, path, source, runtime, stem) != "litert":
        return None
    return LiteRTModel(path, **options)


# ------------------------------------------------------------------------------------------------ export


def convert(keras_model, input_shape: list) -> bytes:
    """A Keras model -> float32 ``.tflite`` bytes whose one input has ``input_shape`` (``None``: any size)."""
    import tensorflow as tf

    # Through a SavedModel: converting a Keras 3 model's concrete function directly loses its variables.
    with tempfile.TemporaryDirectory() as folder:
        keras_model.export(folder, format="tf_saved_model", verbose=False,
                           input_signature=[tf.TensorSpec(input_shape, tf.float32)])
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = []  # float32 weights and arithmetic: the same results as Keras
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def _ink_canvases(rng: np.random.Generator, n: int, height: int, width: int) -> np.ndarray:
    """Encoder-like inputs: pen strokes of varying darkness on empty paper (0), some with noise."""
    import cv2

    out = np.zeros((n, height, width), np.float32)
    for index in range(n):
        canvas = np.zeros((height, width), np.float32)
        for _ in range(rng.integers(2, 7)):
            points = rng.uniform([0, 0], [width, height], size=(rng.integers(3, 9), 2)).astype(np.int32)
            cv2.polylines(canvas, [points], False, float(rng.uniform(0.3, 1.0)), int(rng.integers(1, 4)),
                          cv2.LINE_AA)
        if index % 3 == 2:
            canvas = np.clip(canvas + rng.normal(0, 0.05, canvas.shape).astype(np.float32), 0, 1)
        out[index] = canvas
    return out


def encoder_samples(height: int, width: int, batch_sizes=(1, 3, 8), seed: int = 0) -> list[np.ndarray]:
    """``(n, H, W, 1)`` batches to compare runtimes on: drawn strokes, uniform noise, blank canvases."""
    rng = np.random.default_rng(seed)
    batches = [_ink_canvases(rng, n, height, width)[..., None] for n in batch_sizes]
    batches.append(rng.random((2, height, width, 1), dtype=np.float32))
    batches.append(np.zeros((1, height, width, 1), np.float32))
    return batches


def pair_samples(canvas: int, batch_sizes=(1, 3, 5), seed: int = 0) -> list[np.ndarray]:
    """``(n, S, S, 2)`` pair-model inputs: two stroke canvases per pair, a canvas paired with itself (what a
    genuine pair looks like), noise and blank pairs."""
    rng = np.random.default_rng(seed)
    batches = [np.stack([_ink_canvases(rng, n, canvas, canvas), _ink_canvases(rng, n, canvas, canvas)], -1)
               for n in batch_sizes]
    same = _ink_canvases(rng, 2, canvas, canvas)
    batches.append(np.stack([same, same], -1))
    batches.append(rng.random((2, canvas, canvas, 2), dtype=np.float32))
    batches.append(np.zeros((1, canvas, canvas, 2), np.float32))
    return batches


def page_samples(shapes=((640, 480), (480, 640), (640, 640), (224, 640)), seed: int = 0) -> list[np.ndarray]:
    """``(1, h, w, 3)`` detector inputs (BGR / 255): white pages with dark text lines and coloured round marks."""
    import cv2

    rng = np.random.default_rng(seed)
    pages = []
    for height, width in shapes:
        page = np.full((height, width, 3), 255, np.uint8)
        for _ in range(rng.integers(10, 30)):  # text lines
            x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 8))
            cv2.rectangle(page, (x, y), (x + int(rng.integers(20, width // 2)), y + 3), (40, 40, 40), -1)
        for _ in range(rng.integers(1, 4)):  # stamps
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            colour = tuple(int(v) for v in rng.integers(0, 200, 3))
            cv2.circle(page, centre, int(rng.integers(15, 50)), colour, 2, cv2.LINE_AA)
        page = np.clip(page.astype(np.float32) + rng.normal(0, 4, page.shape), 0, 255)
        pages.append((page / 255.0).astype(np.float32)[None])
    return pages


def max_abs_diff(keras_model, lite: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray]) -> float:
    """The largest ``|keras - lite|`` over every output of every batch."""
    worst = 0.0
    for batch in batches:
        expected = np.asarray(keras_model(batch, training=False))
        worst = max(worst, float(np.abs(lite(batch) - expected).max()))
    return worst


@dataclass(frozen=True)
class ExportSpec:
    stem: str  # models/<stem>.keras
    input_shape: list  # the flatbuffer's input signature, None for any size
    samples: Callable[[], list[np.ndarray]]


def export_specs(directory: str | Path) -> list[ExportSpec]:
    """What is exported from ``directory``: both encoders and the stamp pair model (any batch) and the detector
    (one page of any size)."""
    from stampauth.modeling.card import MODEL_FILES, ModelCard
    from stampauth.modeling.pair import PAIR_STEM, PairCard

    specs = []
    for stem in MODEL_FILES.values():
        card_path = Path(directory) / f"{stem}.json"
        if not card_path.is_file():
            continue
        height, width, channels = ModelCard.from_json(card_path.read_text()).input_shape
        sizes = (1, 3, 8, 48) if stem == "stamp_encoder" else (1, 3, 8)
        specs.append(ExportSpec(stem, [None, height, width, channels],
                                lambda h=height, w=width, s=sizes: encoder_samples(h, w, s)))
    pair_card = Path(directory) / f"{PAIR_STEM}.json"
    if pair_card.is_file():
        canvas = PairCard.from_json(pair_card.read_text()).canvas
        specs.append(ExportSpec(PAIR_STEM, [None, canvas, canvas, 2], lambda c=canvas: pair_samples(c)))
    if (Path(directory) / "mark_detector.json").is_file():
        specs.append(ExportSpec("mark_detector", [1, None, None, 3], page_samples))
    return specs


def _load_keras(path: Path):
    import keras

    import stampauth.modeling.layers  # noqa: F401  (registers custom layers for deserialization)

    return keras.saving.load_model(path, compile=False)


def export_model(directory: str | Path, spec: ExportSpec, write: bool = True) -> dict:
    """Export ``<directory>/<stem>.keras`` to ``<stem>.tflite``, measure it against Keras and record it in the card.

    Returns the card's new ``tflite`` record. The card's other fields are kept as they are.
    """
    import tensorflow as tf

    directory = Path(directory)
    source, card_path = directory / f"{spec.stem}.keras", directory / f"{spec.stem}.json"
    keras_model = _load_keras(source)
    content = convert(keras_model, spec.input_shape)
    lite = LiteRTModel(content, num_threads=1, max_interpreters=1)
    batches = spec.samples()
    record = {
        "file": f"{spec.stem}{TFLITE_SUFFIX}",
        "sha256": hashlib.sha256(content).hexdigest(),
        "source_sha256": file_sha256(source),
        "bytes": len(content),
        "input_shape": list(spec.input_shape),
        "dtype": "float32",
        "max_abs_diff": float(f"{max_abs_diff(keras_model, lite, batches):.3g}"),
        "compared_on": f"{len(batches)} generated batches, shapes "
                       + ", ".join("x".join(map(str, b.shape)) for b in batches),
        "converter": f"tensorflow {tf.__version__}",
        "command": "python -m stampauth.modeling.litert export --models-dir models",
    }
    if write:
        (directory / record["file"]).write_bytes(content)
        data = json.loads(card_path.read_text())
        data["tflite"] = record
        card_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return record


def check_model(directory: str | Path, spec: ExportSpec) -> dict:
    """Measure the ``.tflite`` on disk against its ``.keras`` again; says whether it would be served."""
    directory = Path(directory)
    record = json.loads((directory / f"{spec.stem}.json").read_text()).get("tflite")
    path = tflite_path(directory, spec.stem, record)
    problem = litert_problem(record, path, directory / f"{spec.stem}.keras")
    result = {"model": spec.stem, "usable": problem is None, "problem": problem}
    if path.is_file():
        keras_model = _load_keras(directory / f"{spec.stem}.keras")
        result["max_abs_diff"] = max_abs_diff(keras_model, LiteRTModel(path, 1, 1), spec.samples())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stampauth.modeling.litert", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("export", "check"))
    parser.add_argument("--models-dir", type=Path, default=None, help="default: the shipped models folder")
    parser.add_argument("--only", nargs="*", default=None, help="model stems, e.g. signature_encoder")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted max_abs_diff")
    args = parser.parse_args(argv)
    from stampauth.modeling.card import models_dir

    directory = args.models_dir or models_dir()
    failed = False
    for spec in export_specs(directory):
        if args.only and spec.stem not in args.only:
            continue
        result = export_model(directory, spec) if args.command == "export" else check_model(directory, spec)
        if args.command == "export":
            result = {"model": spec.stem, **{k: result[k] for k in ("file", "bytes", "sha256", "max_abs_diff")}}
        bad = result.get("max_abs_diff", 0.0) > args.tolerance or result.get("usable") is False
        failed |= bad
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

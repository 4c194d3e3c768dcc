"""Frame preprocessing per frame on real photos, beside each model's invoke time, before and after.

Decoding is excluded: every photo is decoded once (Pillow, RGB) before timing. Per frame and pass:

* **before** — the path at the commit before the resize policy moved into the runtime (kept here as
  a labelled baseline, :func:`_baseline_model_input`): the pipeline's ingest cropped and resized
  with Pillow's BILINEAR (``Image.resize(box=centred square)``), then the runtime made each
  model's input from the 224x224 frame with the TF-like float32 resize, ``(x - mean) / std`` and
  the model's input quantisation (``quantize_one``).
* **after (general)** — :func:`conform_frame` (the documented policy, numpy, float64), then the
  same float path for every model (``preprocess`` + ``quantize_one``).
* **after** — what ``Runtime.classify`` does now: :func:`conform_frame`, then
  :func:`model_input` per model (for uint8 inputs that quantise pixels to themselves, Coral's, one
  uint8-gathered resize and no float normalisation round trip; the same tensor, asserted here).
* **invoke** — each model's interpreter alone (``invoke_one``) on its input, as the runtime times it.

Every row is per frame in ms: median and the p10–p90 spread over ``--passes`` passes over the
``--photos`` (all resolutions of the bundle's models: crop + resize + normalise + quantise).

    .venv/bin/python -m mmnet.benchmarks.preprocessing --bundle /path/to/coral-bundle \\
        --photos ../shared/data/imagenet-sample-a --frames 100 --passes 5 --out results/preprocessing
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mmnet.benchmarks.results import write_results
from mmnet.format.bundle import load_bundle
from mmnet.format.errors import MmnetError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.runtime.interpreter import TFLiteClassifier
from mmnet.runtime.preprocessing import conform_frame, crop_box, model_input, preprocess

__all__ = ["main", "measure"]


def _baseline_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.intp)
    return lower, upper, (src - floor).astype(np.float32)


def _baseline_model_input(frame: np.ndarray, spec: PreprocessingSpec, resolution: int,
                          classifier: TFLiteClassifier) -> np.ndarray:
    """Baseline: the runtime's per-model input as it was (bilinear resize_frames with its tables
    recomputed per call, normalise, quantize_one)."""
    x = frame[None].astype(np.float32, copy=True)
    height, width = frame.shape[:2]
    if (height, width) != (resolution, resolution):
        y_lo, y_hi, t_y = _baseline_axis(height, resolution)
        x_lo, x_hi, t_x = _baseline_axis(width, resolution)
        left = np.take(x, x_lo, axis=2)
        rows = left + (np.take(x, x_hi, axis=2) - left) * t_x[None, None, :, None]
        top = np.take(rows, y_lo, axis=1)
        x = top + (np.take(rows, y_hi, axis=1) - top) * t_y[None, :, None, None]
    normalised = (x - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return classifier.quantize_one(normalised)


def _baseline_conform(image: Image.Image, size: int) -> np.ndarray:
    """Baseline: the ingest's Pillow crop + resize (centred square, BILINEAR)."""
    top, left, side, _ = crop_box(image.height, image.width, size, size, "center_crop")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)))


def _spread(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {"median": float(np.median(values)), "p10": float(np.percentile(values, 10)),
            "p90": float(np.percentile(values, 90))}


def measure(bundle_path: Path, photos: list[Path], passes: int) -> dict:
    """Per-frame timings (ms) of every stage; checks that "after" gives the general path's tensors."""
    bundle = load_bundle(bundle_path)
    spec = bundle.preprocessing
    height, width, channels = spec.frame_shape
    if channels != 3 or height != width:
        raise MmnetError(f"bundle {bundle_path} has frames {spec.frame_shape}; this benchmark takes square RGB frames")
    models = sorted(bundle.models, key=lambda m: m.resolution)
    classifiers = {m.id: TFLiteClassifier(bundle.model_path(m.id), use_xnnpack=m.metrics.get("xnnpack", True))
                   for m in models}
    images = []
    for path in photos:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))  # decoded once, outside every timing
    arrays = [np.asarray(image) for image in images]
    clock = time.perf_counter
    rows: dict[str, list[float]] = {key: [] for key in (
        "before: crop+resize (Pillow)", "before: model inputs", "after (general): model inputs",
        "after: crop+resize (conform_frame)", "after: model inputs")}
    per_model = {m.id: {"before": [], "after": [], "invoke": []} for m in models}
    for _ in range(passes):
        for image, pixels in zip(images, arrays):
            tick = clock()
            old_frame = _baseline_conform(image, height)
            rows["before: crop+resize (Pillow)"].append(1000 * (clock() - tick))
            tick = clock()
            frame = conform_frame(pixels, height, width, spec.resize_policy)
            rows["after: crop+resize (conform_frame)"].append(1000 * (clock() - tick))
            before = after = general = 0.0
            normalised: dict[int, np.ndarray] = {}
            for record in models:
                classifier = classifiers[record.id]
                tick = clock()
                _baseline_model_input(old_frame, spec, record.resolution, classifier)
                tock = clock()
                fast = model_input(frame, spec, record.resolution, classifier, normalised)
                done = clock()
                reference = classifier.quantize_one(preprocess(frame[None], spec, record.resolution))
                general_s = clock() - done
                if not np.array_equal(fast, reference):
                    raise MmnetError(f"{record.id}: the fast model input differs from the general path's")
                invoked = clock()
                classifier.invoke_one(fast)
                invoke_s = clock() - invoked
                before += tock - tick
                after += done - tock
                general += general_s
                per_model[record.id]["before"].append(1000 * (tock - tick))
                per_model[record.id]["after"].append(1000 * (done - tock))
                per_model[record.id]["invoke"].append(1000 * invoke_s)
            rows["before: model inputs"].append(1000 * before)
            rows["after: model inputs"].append(1000 * after)
            rows["after (general): model inputs"].append(1000 * general)
    before_total = np.add(rows["before: crop+resize (Pillow)"], rows["before: model inputs"])
    after_total = np.add(rows["after: crop+resize (conform_frame)"], rows["after: model inputs"])
    return {
        "bundle": str(bundle_path),
        "frame_shape": list(spec.frame_shape),
        "resize_policy": spec.resize_policy,
        "photos": len(photos),
        "passes": passes,
        "stages_ms": {key: _spread(values) for key, values in rows.items()}
        | {"before: total": _spread(list(before_total)), "after: total": _spread(list(after_total))},
        "models": [{"id": m.id, "resolution": m.resolution,
                    **{key: _spread(values) for key, values in per_model[m.id].items()}} for m in models],
    }


def _fmt(spread: dict[str, float]) -> str:
    return f"{spread['median']:.3f} ({spread['p10']:.3f}–{spread['p90']:.3f})"


def render(result: dict) -> str:
    lines = [
        f"# Frame preprocessing per frame ({result['photos']} photos x {result['passes']} passes, decode excluded)",
        "",
        f"Bundle {result['bundle']}: frames {tuple(result['frame_shape'])}, policy {result['resize_policy']}. "
        "ms per frame, median (p10–p90).",
        "",
        "| stage | ms per frame |",
        "|---|---|",
        *(f"| {key} | {_fmt(value)} |" for key, value in result["stages_ms"].items()),
        "",
        "| model | resolution | before: input | after: input | invoke |",
        "|---|---|---|---|---|",
        *(f"| {m['id']} | {m['resolution']} | {_fmt(m['before'])} | {_fmt(m['after'])} | {_fmt(m['invoke'])} |"
          for m in result["models"]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmnet.benchmarks.preprocessing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="a bundle with uint8-input models (Coral's)")
    parser.add_argument("--photos", type=Path, required=True, help="a folder of photos (any size; decoded before timing)")
    parser.add_argument("--frames", type=int, default=100, help="photos to use (default 100)")
    parser.add_argument("--passes", type=int, default=5, help="passes over the photos (default 5)")
    parser.add_argument("--out", type=Path, help="write preprocessing.json and .md here")
    args = parser.parse_args(argv)
    photos = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[: args.frames]
    if not photos:
        print(f"error: no .jpeg/.jpg/.png photos in {args.photos}", file=sys.stderr)
        return 2
    if args.frames < 1 or args.passes < 1:
        print("error: --frames and --passes must be >= 1", file=sys.stderr)
        return 2
    try:
        result = measure(args.bundle, photos, args.passes)
    except MmnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    markdown = render(result)
    if args.out is None:
        print(markdown)
    else:
        write_results(args.out, "preprocessing", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``gan-adapt report``: one self-contained HTML page about a run.

Everything the page shows is read from the run folder (no model is built): the target (the
run's own copy in ``target/``), the
reference image the latent search found, sample grids over training, the loss curves, the
``eval.json`` numbers, the final term values, the recipe and the environment. Images are
embedded as ``data:`` URIs and the style sheet is inline, so the single file can be mailed or
archived.

Every string on the page that comes from a file (the recipe, run.json, result.json, eval.json,
metrics, plugins.json, file names) goes through :func:`_text`, which HTML-escapes it whatever
its type: a run folder may come from someone else, and its strings are data, never markup.
Likewise every file it embeds is read with :func:`gan_adapt.io.safe_paths.read_inside`: a link
leading out of the folder, or a FIFO, is shown as missing and never read.
"""

from __future__ import annotations

import base64
import html
import tomllib
from pathlib import Path
from typing import Any

from gan_adapt.engine.run_folder import RunFolder, step_of
from gan_adapt.engine.run_records import read_json_object
from gan_adapt.errors import InputError
from gan_adapt.io.safe_paths import read_inside

#: A run's recipe.toml is a few KB; anything near this is not one.
MAX_RECIPE_BYTES = 16 << 20

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
overflow-wrap: break-word; }
td { overflow-wrap: anywhere; }
th, td:first-child, td.num { overflow-wrap: normal; white-space: nowrap; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.muted { color: #666; } figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figcaption { font-size: 0.85em; color: #555; } img { image-rendering: pixelated; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.25em 0.8em;
border-bottom: 1px solid #eee; text-align: left; } td.num { text-align: right;
font-variant-numeric: tabular-nums; } pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
"""


def _text(value: Any) -> str:
    """Any value from a file, as HTML-escaped text (quotes too: it may land in an attribute)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _record(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a damaged file shows nothing)."""
    return value if isinstance(value, dict) else {}


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str, caption: str | None = None, scale: int = 1,
         width: int | None = None) -> str:
    style = f' style="width:{width * scale}px"' if width else ""
    tag = f'<img src="{_data_uri(png)}" alt="{_text(alt)}"{style}>'
    if caption is None:
        return tag
    return f"<figure>{tag}<figcaption>{_text(caption)}</figcaption></figure>"


def _png_width(png: bytes) -> int:
    """Width from a PNG header (bytes 16-20 of the IHDR chunk)."""
    return int.from_bytes(png[16:20], "big") if png[:8] == b"\x89PNG\r\n\x1a\n" else 0


def _read_json(path: Path) -> Any:
    """A run record's JSON object, None when absent. A damaged file (not JSON, not an
    object, a FIFO, far too large) is one clear error naming it; odd values inside a
    well-formed record are shown, escaped, as they are."""
    return read_json_object(path)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, (int, float))
            text = (f"{value:.4f}" if isinstance(value, float) else str(value))
            cells.append(f'<td class="num">{_text(text)}</td>' if numeric
                         else f"<td>{_text(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _evenly(items: list[Any], k: int) -> list[Any]:
    """At most ``k`` items, evenly spaced, always keeping the first and the last."""
    if len(items) <= k:
        return items
    if k == 1:
        return items[-1:]
    picks = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in picks]


def _target_section(recipe: dict[str, Any], root: Path) -> str:
    """The target, from the run's own copy (``RUN/target/``): the path the recipe records may
    point anywhere on this machine and is never read (see :mod:`gan_adapt.engine.run_target`)."""
    from gan_adapt.engine.run_target import in_folder
    from gan_adapt.io.images import encode_png, load_image, load_image_folder

    recorded = _record(recipe.get("target"))
    target, notes = in_folder(root, recorded)
    parts = [f'<p class="muted">{_text(note)}</p>' for note in notes]
    if target.get("image"):
        try:
            png = encode_png(load_image(target["image"], 256))[0]
            parts.append(_img(png, "target image",
                              f"target: {Path(str(recorded['image'])).name}"))
        except Exception as exc:  # a damaged copy must not break the report
            parts.append(f'<p class="muted">the run\'s copy of its target image cannot be '
                         f"shown: {_text(exc)}</p>")
    if target.get("images"):
        try:
            for k, png in enumerate(encode_png(load_image_folder(target["images"], 128))[:16]):
                parts.append(_img(png, f"target image {k}", f"target {k}"))
        except Exception as exc:
            parts.append(f'<p class="muted">the run\'s copy of its target images cannot be '
                         f"shown: {_text(exc)}</p>")
    if target.get("text"):
        source = target.get("source_text")
        parts.append(f'<p>target text: <q>{_text(target["text"])}</q>'
                     + (f" (source: <q>{_text(source)}</q>)" if source else "") + "</p>")
    return "".join(parts) or '<p class="muted">no target recorded</p>'


def _eval_section(folder: RunFolder) -> str:
    from gan_adapt.evaluation.metric_help import METRIC_HELP

    record = _record(_read_json(folder.root / "eval.json"))
    if not isinstance(record.get("metrics"), dict):
        return ('<p class="muted" id="no-eval">Not evaluated yet: run '
                f"<code>gan-adapt eval {_text(folder.root)}</code>, then the report "
                "again.</p>")
    rows = [(key, value, METRIC_HELP.get(key, "")) for key, value in record["metrics"].items()]
    settings = _record(record.get("settings"))
    instruments = [(name, _record(info).get("weights") or _record(info).get("features", ""),
                    _record(info).get("from", ""))
                   for name, info in _record(record.get("instruments")).items()]
    return (f'<p>{_text(settings.get("n", "?"))} samples, seed '
            f'{_text(settings.get("seed", "?"))}, truncation '
            f'{_text(settings.get("truncation", "?"))}.</p>'
            + _table(rows, ("metric", "value", "meaning")).replace("<table>",
                                                                   '<table id="eval-metrics">')
            + "<p>Measured with:</p>" + _table(instruments, ("instrument", "weights", "from")))


def build_report(run_dir: str | Path, max_grids: int = 8) -> str:
    """The HTML text of the report of ``run_dir``."""
    folder = RunFolder(run_dir)
    if not folder.root.is_dir():
        raise InputError(f"{folder.root}: no such run folder")
    meta = folder.read_meta()
    raw = read_inside(folder.root, folder.recipe, MAX_RECIPE_BYTES)
    if raw is None:  # missing, a link out of the folder, a FIFO: one answer for all
        raise InputError(f"cannot read {folder.recipe}: not a regular file of the run folder")
    try:
        recipe_text = raw.decode("utf-8")
        recipe = tomllib.loads(recipe_text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise InputError(f"cannot read {folder.recipe}: {exc}") from None
    meta = _record(meta)
    name = recipe.get("name", folder.root.name)
    esc = _text
    sections = [f"<h1>{esc(name)}</h1>",
                f'<p class="muted">{esc(folder.root.resolve())} &middot; status '
                f'<b id="status">{esc(meta.get("status", "?"))}</b> &middot; '
                f'{esc(meta.get("steps_done", "?"))} adaptation steps &middot; created '
                f'{esc(meta.get("created", "?"))} &middot; device '
                f'{esc(meta.get("device", "?"))}</p>']
    if recipe.get("description"):
        sections.append(f"<p>{esc(recipe['description'])}</p>")

    sections.append('<h2 id="target">Target and reference</h2>')
    sections.append(_target_section(recipe, folder.root))
    png = read_inside(folder.root, folder.search / "target_vs_reference.png")
    if png is not None:
        sections.append(_img(png, "target and the reference found by the latent search",
                             "left: target, right: G_s(w_ref), the source image the search "
                             "found", scale=3, width=_png_width(png)))

    sections.append('<h2 id="samples">Samples over training</h2>')
    grids = _evenly(folder.list_samples(), max_grids)
    if grids:
        sections.append('<p class="muted">Each grid: the same latents through G_s (top row) '
                        "and G_t, the EMA of the adapted generator (bottom row).</p>")
        for path in grids:
            png = read_inside(folder.root, path)
            if png is None:
                continue  # changed since it was listed
            step = step_of(path, ".png")
            sections.append(_img(png, f"samples at step {step}", f"step {step}", scale=2,
                                 width=_png_width(png)))
    else:
        sections.append('<p class="muted">no sample grids</p>')

    sections.append('<h2 id="losses">Loss curves</h2>')
    curves = read_inside(folder.root, folder.root / "loss_curves.png")
    sections.append(_img(curves, "loss curves") if curves is not None
                    else '<p class="muted">no loss curves (run unfinished?)</p>')

    sections.append('<h2 id="evaluation">Evaluation</h2>')
    sections.append(_eval_section(folder))

    final = _record(_read_json(folder.root / "metrics.json"))
    if final:
        sections.append('<h2 id="terms">Final term values</h2>')
        sections.append('<p class="muted">Mean of each logged term over its last 10 logged '
                        "adaptation values.</p>")
        sections.append(_table([(k, v) for k, v in final.items()], ("term", "value")))

    sections.append('<h2 id="recipe">Recipe</h2>')
    sections.append(f"<pre>{esc(recipe_text)}</pre>")
    outputs = _record(_record(_read_json(folder.root / "result.json")).get("outputs"))
    if outputs:
        sections.append('<h2 id="outputs">Outputs</h2>')
        sections.append(_table([(k, str(v)) for k, v in outputs.items()], ("output", "file")))
    plugins = _record(_record(_read_json(folder.root / "plugins.json")).get("plugins"))
    if plugins:
        sections.append('<h2 id="plugins">Plugins</h2>')
        sections.append(_table([(name, _record(info).get("version", "?"),
                                 _record(info).get("origin", "?"),
                                 ", ".join(map(str, _record(info).get("components") or [])))
                                for name, info in plugins.items()],
                               ("plugin", "version", "origin", "components")))
    environment = _record(_read_json(folder.root / "environment.json"))
    if environment:
        sections.append('<h2 id="environment">Environment</h2>')
        sections.append(_table([(k, str(v)) for k, v in environment.items()], ("", "")))
    body = "\n".join(sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>gan-adapt report: {esc(name)}</title><style>{_STYLE}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None, max_grids: int = 8) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) and return its path."""
    from gan_adapt.io import atomic_files as files

    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    return files.write_text(path, build_report(run_dir, max_grids))

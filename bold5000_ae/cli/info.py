"""``bold5000-ae-info FILE``: what a prepared file holds and how it was made.

Prints the shape, voxel count, subjects, sessions, repeats and label counts, then the
provenance (command line, library versions, input files by SHA-256, config); ``--json`` prints
the same as one JSON object for machines, ``--inputs`` lists every input file. A file that is
not a readable prepared file is one line naming it, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.prepare.provenance import read_provenance
from bold5000_ae.utils.errors import InputError

LABEL_NAMES = {1: "living", 0: "non_living", -1: "unknown"}
INPUTS_SHOWN = 8


def describe_file(path: str | Path) -> dict[str, Any]:
    """Everything ``bold5000-ae-info`` shows, as plain JSON values."""
    with open_prepared(path) as h5:
        bold = h5["bold"]
        trials = read_trials(h5)
        attrs = read_attrs(h5)
        made = read_provenance(h5)
        shape, dtype = list(bold.shape), str(bold.dtype)
        grid = list(h5["mask"].shape)
        n_images, present = len(h5["image_names"]), int(h5["image_present"][()].sum())
    presentations = trials.drop_duplicates(["subject", "session", "run", "trial"])
    sessions = {f"CSI{int(s)}": sorted(int(x) for x in group.session.unique())
                for s, group in presentations.groupby("subject")}
    return {
        "file": str(Path(path).absolute()),
        "format_version": attrs.get("format_version"),
        "package_version": attrs.get("package_version"),
        "bold_shape": shape, "bold_dtype": dtype, "samples": shape[0], "voxels": shape[1],
        "grid": grid, "grid_kind": attrs.get("grid_kind", "volume"),
        "sample_mode": attrs.get("sample_mode"),
        "source": (attrs.get("source") or {}).get("source")
        if isinstance(attrs.get("source"), dict) else attrs.get("source"),
        "subjects": sorted(int(s) for s in trials.subject.unique()),
        "sessions": sessions,
        "runs": int(presentations.groupby(["subject", "session", "run"]).ngroups),
        "presentations": len(presentations),
        "repeats": {str(k): int(v) for k, v in
                    sorted(Counter(presentations.repeat_index.astype(int)).items())},
        "labels": {LABEL_NAMES.get(int(k), str(k)): int(v) for k, v in
                   sorted(Counter(trials.label.astype(int)).items(), reverse=True)},
        "images": n_images, "images_present": present,
        "provenance": made,
    }


# what one row of /bold is, by the file's sample_mode
SAMPLE_KINDS = {"each": "one volume", "mean": "a trial's mean volume",
                "lss": "a trial's LSS beta"}


def _repeats(counts: dict[str, int]) -> str:
    first = counts.get("0", 0)
    again = sum(n for k, n in counts.items() if k != "0")
    most = max((int(k) for k in counts), default=0)
    return (f"{first:,} first presentations, {again:,} repeats"
            + (f" (an image shown up to {most + 1} times)" if again else ""))


def _print(info: dict[str, Any], all_inputs: bool) -> None:
    console = Console()
    table = Table(title=f"{info['file']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = [
        ("bold", f"{info['bold_shape'][0]:,} samples x {info['voxels']:,} voxels "
                 f"({info['bold_dtype']})" + (f", a sample: {SAMPLE_KINDS[info['sample_mode']]}"
                                              if info["sample_mode"] in SAMPLE_KINDS else "")),
        ("grid", f"{' x '.join(map(str, info['grid']))} ({info['grid_kind']})"),
        ("source", str(info["source"])),
        ("subjects", ", ".join(f"CSI{s}" for s in info["subjects"])),
        ("sessions", "; ".join(f"{s}: {len(v)} ({v[0]}-{v[-1]})"
                               for s, v in info["sessions"].items())),
        ("runs", str(info["runs"])),
        ("presentations", f"{info['presentations']:,}"),
        ("repeats", _repeats(info["repeats"])),
        ("labels", ", ".join(f"{k} {v:,}" for k, v in info["labels"].items())),
        ("images", f"{info['images']:,} ({info['images_present']:,} present)"),
        ("format", f"version {info['format_version']}, bold5000_ae {info['package_version']}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    made = info["provenance"]
    if made is None:
        console.print("provenance: none recorded (prepared by an older bold5000_ae)")
        return
    console.print(f"made {made.get('created_utc')} in {made.get('cwd')} by:\n  "
                  f"{made.get('command_line')}", highlight=False, soft_wrap=True)
    console.print("libraries: " + ", ".join(f"{k} {v}" for k, v in made["versions"].items()),
                  highlight=False)
    inputs = made["inputs"]
    total = sum(e["bytes"] for e in inputs)
    console.print(f"inputs: {len(inputs):,} files, {total / 2**20:,.1f} MiB (SHA-256 each)",
                  highlight=False)
    folders = Counter(str(Path(e["path"]).parent) for e in inputs)
    shown = inputs if all_inputs else inputs[:INPUTS_SHOWN]
    for entry in shown:
        console.print(f"  {entry['sha256'][:16]}  {entry['bytes']:>12,}  {entry['path']}",
                      highlight=False, soft_wrap=True)
    if len(shown) < len(inputs):
        console.print(f"  ... {len(inputs) - len(shown):,} more in {len(folders)} folder(s) "
                      "(--inputs lists every one)", highlight=False)
    console.print("config: " + json.dumps(made["config"], sort_keys=True), highlight=False,
                  soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bold5000-ae-info",
        description="What a prepared HDF5 file holds and how it was made (docs/data_format.md).")
    parser.add_argument("file", help="a file bold5000-ae-prepare wrote")
    parser.add_argument("--json", action="store_true", help="one JSON object, for machines")
    parser.add_argument("--inputs", action="store_true", help="list every input file")
    args = parser.parse_args(argv)
    try:
        info = describe_file(args.file)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(InputError.exit_code) from None
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        _print(info, args.inputs)


if __name__ == "__main__":
    main()

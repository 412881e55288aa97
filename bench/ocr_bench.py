"""OCR benchmark: Chartvault's ocr_page against the raw tesseract CLI.

Overhead: seconds per page of ``ocr.service.ocr_page`` (render, clean-up,
Tesseract, PDF, PNG) against ``tesseract`` run by hand with
``OMP_THREAD_LIMIT=1`` on the same page already rasterised to grayscale PGM,
once producing only text and once producing the same outputs as Chartvault
(``pdf tsv txt``). Accuracy: character error rate (white space folded,
Levenshtein / length of the truth) on synthetic pages (clean, noisy, skewed
3 degrees, turned 90 and 180 degrees, faint, bi-level; small bi-level and gray pages)
and on the shared samples with a ground truth.

    .venv/bin/python bench/ocr_bench.py [--seeds 2] [--repeat 1] [--only bi-level] [--write-results]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFont
from rapidfuzz.distance import Levenshtein

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chartvault.settings import Settings  # noqa: E402
from chartvault.synthetic import fake_patients, make_chart, spec_for  # noqa: E402
from ocr.service import default_engine, ocr_page  # noqa: E402

SAMPLES = (REPO.parent / "shared" / "samples").resolve()
KINDS = {"clean": {}, "noisy": {"noise": True}, "skewed 3°": {"skew": 3.0},
         "turned 90°": {"rotate": 90}, "turned 180°": {"rotate": 180},
         # a light photocopy or a faded fax: the clean page's text at gray 213 on white
         "faint": {"fade": 6},
         # a bi-level scanner or a fax: 1-bit CCITT G4 TIFF at the page's own resolution
         "bi-level 200 dpi": {"fmt": "tiff-g4", "dpi": 200},
         "bi-level 300 dpi": {"fmt": "tiff-g4", "dpi": 300}}
# Small pages (labels, receipts, cropped snippets: Tesseract's phototest.tif is a 640x480
# 1-bit TIFF at 200 dpi): (kind, width px, height px, dpi, 1-bit?), a few lines of body text
SMALL = (("bi-level snippet 640x480 200 dpi", 640, 480, 200, True),
         ("bi-level label 400x160 200 dpi", 400, 160, 200, True),
         ("bi-level receipt 380x600 300 dpi", 380, 600, 300, True),
         ("gray snippet 640x480 300 dpi", 640, 480, 300, False))
SAMPLE_PAGES = [  # (kind, file, pages, truth file)
    ("sample linn (PNG)", "ocrmypdf-linn.png", (1,), "ocrmypdf-linn.ref.txt"),
    ("sample skew (PDF)", "ocrmypdf-skew.pdf", (1,), "ocrmypdf-linn.ref.txt"),
    ("sample CCITT G4 (PDF)", "ocrmypdf-ccitt.pdf", (1,), "ocrmypdf-linn.ref.txt"),
    ("sample typewritten (JPEG)", "scribe-multicol_05.jpg", (1,), "scribe-multicol_05.gt.txt"),
    ("sample Winnie (PDF, 3 pp)", "gcp-Winnie_the_Pooh_3_Pages.pdf", (1, 2, 3),
     "gcp-Winnie_the_Pooh_3_Pages.ref-docai.txt"),
]


@dataclass
class Case:
    kind: str
    source: Path
    pages: tuple[int, ...]
    truth: str


# ours: Chartvault with the CLI engine; api: with the tesserocr engine (the default);
# same: the CLI, text only, on the very pixels Chartvault reads (a PDF scan's own image).
STEPS = ("ours", "api", "render", "txt", "full", "same")


@dataclass
class Row:
    kind: str
    pages: int = 0
    wall: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    ours_text: str = ""
    api_text: str = ""
    raw_text: str = ""
    same_text: str = ""
    truth: str = ""


class Measure:
    """Wall seconds and CPU seconds (this process and its finished children) of a block.

    CPU time is the steadier figure on a shared machine: other people's load stretches
    wall time but not the work done."""

    def __init__(self, row: Row, step: str, times: int = 1) -> None:
        self.row, self.step, self.times = row, step, times

    def __enter__(self) -> Measure:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.row.wall[self.step] += (time.perf_counter() - self.wall) * self.times
        self.row.cpu[self.step] += (_cpu() - self.cpu) * self.times


def _cpu() -> float:
    own, kids = (resource.getrusage(who) for who in
                 (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cer(text: str, truth: str) -> float:
    got, want = " ".join(text.split()), " ".join(truth.split())
    return Levenshtein.distance(got, want) / max(1, len(want))


def synthetic_cases(folder: Path, seeds: int, dpi: int, only: str = "") -> list[Case]:
    cases = []
    for kind, options in KINDS.items():
        if only not in kind:
            continue
        options = dict(options)
        fade = options.pop("fade", None)
        fmt, page_dpi = options.pop("fmt", "pdf"), options.pop("dpi", dpi)
        for seed in range(seeds):
            spec = spec_for(fake_patients(1, 100 + seed)[0], 100 + seed, **options)
            path = folder / f"{kind.replace(' ', '-')}-{seed}.pdf"
            if fmt != "pdf":
                chart = make_chart(spec, path.with_suffix(".tif"), fmt, page_dpi)
            elif fade:  # the page rendered, its ink faded, as a one-page scanned PDF
                chart = make_chart(spec, path.with_suffix(".png"), "png", dpi)
                with Image.open(chart.path) as page:
                    faded = page.convert("L").point(lambda v, f=fade: 255 - (255 - v) // f)
                    faded.save(path, "PDF", resolution=dpi)
            else:
                chart = make_chart(spec, path, "pdf", dpi)
            cases.append(Case(kind, chart.path, (1,), chart.page_texts[0]))
    return cases + small_cases(folder, seeds, only)


def small_cases(folder: Path, seeds: int, only: str = "") -> list[Case]:
    """Lines of a chart's body text drawn on a small canvas, as a label or a snippet."""
    from PIL import ImageDraw

    from chartvault.synthetic import BODY_PT, FONT_REGULAR, _wrap, page_lines

    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for kind, width, height, dpi, one_bit in SMALL:
        if only not in kind:
            continue
        for seed in range(seeds):
            spec = spec_for(fake_patients(1, 200 + seed)[0], 200 + seed)
            font = ImageFont.truetype(str(FONT_REGULAR), round(BODY_PT * dpi / 72))
            step, margin = round(BODY_PT * dpi / 72 * 1.5), round(0.1 * dpi)
            body = " ".join(t for style, t in page_lines(spec, 1, 10_000, dpi)
                            if style == "body")
            lines = _wrap(body, font, width - 2 * margin)[:max(1, (height - margin) // step)]
            image = Image.new("L", (width, height), 255)
            draw = ImageDraw.Draw(image)
            for index, line in enumerate(lines):
                draw.text((margin, margin + index * step), line, fill=0, font=font)
            path = folder / f"{kind.split()[0]}-{width}x{height}-{seed}.tif"
            if one_bit:
                image.point(lambda v: 255 if v >= 128 else 0).convert("1").save(
                    path, "TIFF", compression="group4", dpi=(dpi, dpi))
            else:
                path = path.with_suffix(".png")
                image.save(path, "PNG", dpi=(dpi, dpi))
            cases.append(Case(kind, path, (1,), "\n".join(lines)))
    return cases


def sample_cases() -> list[Case]:
    if not SAMPLES.is_dir():
        print(f"samples not found at {SAMPLES}; synthetic pages only", file=sys.stderr)
        return []
    return [Case(kind, SAMPLES / name, pages, (SAMPLES / truth).read_text(encoding="utf-8"))
            for kind, name, pages, truth in SAMPLE_PAGES]


def rasterise(source: Path, number: int, dpi: int, out: Path) -> tuple[Path, int]:
    """The page as grayscale PGM, as a person would prepare it for the CLI, and the
    resolution to tell tesseract (0: let it estimate, as for an image without a DPI tag)."""
    if source.suffix.lower() == ".pdf":
        base = out.with_suffix("")
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-f", str(number), "-l",
                        str(number), "-singlefile", str(source), str(base)], check=True)
        return base.with_suffix(".pgm"), dpi
    with Image.open(source) as image:
        tag = image.info.get("dpi", (0, 0))[0]
        image.convert("L").save(out, "PPM")
    return out, round(tag) if tag >= 70 else 0


def as_chartvault_reads(source: Path, number: int, dpi: int, rendered: Path,
                        out: Path) -> Path:
    """The engine input Chartvault uses: a PDF scan's own image (its JPEG as stored, or
    its 1-bit image as PBM) when :mod:`ocr.scan` takes it out; else the rendered page."""
    from ocr.scan import page_image

    scan = page_image(source, number, dpi) if source.suffix.lower() == ".pdf" else None
    if scan is None:
        return rendered
    if scan.jpeg is not None:
        out = out.with_suffix(".jpg")
        out.write_bytes(scan.jpeg)
    else:
        out = out.with_suffix(".pbm")
        scan.image.convert("1", dither=Image.Dither.NONE).save(out, "PPM")
    return out


def raw_tesseract(image: Path, dpi: int, outputs: list[str]) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    base = image.with_name(image.stem + "-raw")
    args = ["tesseract", str(image), str(base), "-l", "eng", "--psm", "3"]
    if dpi:
        args += ["--dpi", str(dpi)]
    subprocess.run(args + outputs, env=env, check=True, capture_output=True)
    return base.with_suffix(".txt").read_text(encoding="utf-8")


def run_case(case: Case, settings: Settings, work: Path, repeat: int) -> Row:
    row = Row(case.kind, truth=case.truth)
    ours_texts, api_texts, raw_texts, same_texts = [], [], [], []
    cli_settings = settings.replace(ocr_engine="tesseract")
    api_settings = settings.replace(ocr_engine="tesserocr")
    for number in case.pages:
        work.mkdir(parents=True, exist_ok=True)
        with Measure(row, "render", times=repeat):
            pgm, dpi = rasterise(case.source, number, settings.ocr_dpi,
                                 work / f"raw-{number}.pgm")
        same = as_chartvault_reads(case.source, number, dpi, pgm, work / f"same-{number}")
        for attempt in range(repeat):  # interleaved, so load from others hits both alike
            with Measure(row, "ours"):
                result = ocr_page(case.source, number, work / f"ours-{attempt}", cli_settings,
                                  default_engine(cli_settings))
            with Measure(row, "api"):
                api = ocr_page(case.source, number, work / f"api-{attempt}", api_settings,
                               default_engine(api_settings))
            with Measure(row, "txt"):
                raw_text = raw_tesseract(pgm, dpi, ["txt"])
            with Measure(row, "full"):
                raw_tesseract(pgm, dpi, ["pdf", "tsv", "txt"])
            with Measure(row, "same"):
                same_text = raw_tesseract(same, dpi, ["txt"])
        ours_texts.append(result.text)
        api_texts.append(api.text)
        raw_texts.append(raw_text)
        same_texts.append(same_text)
        row.pages += repeat
    row.ours_text, row.raw_text = "\n".join(ours_texts), "\n".join(raw_texts)
    row.api_text, row.same_text = "\n".join(api_texts), "\n".join(same_texts)
    return row


def merge_rows(rows: list[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.kind, []).append(row)
    return grouped


def report(rows: list[Row], command: str) -> str:
    lines = [
        "Seconds per page as wall / CPU (CPU includes child processes). Ratios are CPU. "
        "Chartvault = `ocr_page` with the CLI engine (`CHARTVAULT_OCR_ENGINE=tesseract`) and "
        "with the tesserocr engine (the default: model kept loaded in the process).",
        "",
        "| pages | n | Chartvault, CLI engine | Chartvault, tesserocr | raw render | raw "
        "tesseract, txt | raw tesseract, same outputs (pdf tsv txt) | raw tesseract, txt, the "
        "pixels Chartvault reads | CLI engine / (render + same outputs) | CLI engine / raw txt "
        "| tesserocr / raw txt | tesserocr / raw txt on its pixels | CER CLI engine | "
        "CER tesserocr | CER raw | CER raw on Chartvault's pixels |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    upright = dict.fromkeys(STEPS, 0.0)
    for kind, group in merge_rows(rows).items():
        n = sum(r.pages for r in group)
        wall = {k: sum(r.wall[k] for r in group) / n for k in STEPS}
        cpu = {k: sum(r.cpu[k] for r in group) / n for k in STEPS}
        c_ours = sum(cer(r.ours_text, r.truth) for r in group) / len(group)
        c_api = sum(cer(r.api_text, r.truth) for r in group) / len(group)
        c_raw = sum(cer(r.raw_text, r.truth) for r in group) / len(group)
        c_same = sum(cer(r.same_text, r.truth) for r in group) / len(group)
        if not kind.startswith("turned"):
            for k in STEPS:
                upright[k] += cpu[k] * n
        cells = " | ".join(f"{wall[k]:.2f} / {cpu[k]:.2f}" for k in STEPS)
        lines.append(f"| {kind} | {n} | {cells} | {cpu['ours'] / (cpu['render'] + cpu['full']):.2f}"
                     f" | {cpu['ours'] / cpu['txt']:.2f} | {cpu['api'] / cpu['txt']:.2f}"
                     f" | {cpu['api'] / cpu['same']:.2f}"
                     f" | {c_ours:.4f} | {c_api:.4f} | {c_raw:.4f} | {c_same:.4f} |")
    u = upright
    if u["render"] + u["full"] and u["txt"] and u["same"]:
        lines += [
            "", "Upright pages overall, CPU (turned pages excluded: they need orientation "
            "detection and a second read by design): CLI engine / (raw render + raw tesseract "
            f"same outputs) = {u['ours'] / (u['render'] + u['full']):.2f}; CLI engine / raw "
            f"tesseract same outputs = {u['ours'] / u['full']:.2f}; CLI engine / raw tesseract "
            f"txt only = {u['ours'] / u['txt']:.2f}; tesserocr engine / raw tesseract txt only "
            f"= {u['api'] / u['txt']:.2f}; tesserocr engine / raw tesseract txt on the same "
            f"pixels = {u['api'] / u['same']:.2f}."]
    lines += [
        "", f"Command: `{command}`"]
    return "\n".join(lines)


def write_results(section: str) -> None:
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    body = f"## OCR\n\n{section}\n"
    if "## OCR\n" in text:
        head, rest = text.split("## OCR\n", 1)
        cut = rest.find("\n## ")
        text = head + body + ("\n" + rest[cut + 1:] if cut >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="synthetic pages per kind")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per page")
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--no-samples", action="store_true")
    parser.add_argument("--only", default="", help="only the synthetic kinds naming this")
    parser.add_argument("--write-results", action="store_true",
                        help="replace the '## OCR' section of bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cv-ocr-bench-") as tmp:
        folder = Path(tmp)
        settings = Settings(home=folder / "home", ocr_dpi=args.dpi, ocr_page_timeout=300)
        cases = synthetic_cases(folder / "charts", args.seeds, args.dpi, args.only)
        cases += [] if args.no_samples or args.only else sample_cases()
        rows = []
        for index, case in enumerate(cases):
            print(f"[{index + 1}/{len(cases)}] {case.kind}: {case.source.name}", file=sys.stderr)
            rows.append(run_case(case, settings, folder / f"work-{index}", args.repeat))
    command = "cd /work/main && .venv/bin/python bench/ocr_bench.py " + " ".join(sys.argv[1:])
    section = report(rows, command.strip())
    print(section)
    if args.write_results:
        write_results(section + f"\n\nMachine: {os.cpu_count()} cores, tesseract "
                      + subprocess.run(["tesseract", "--version"], capture_output=True,
                                       text=True).stdout.split()[1] + ".")


if __name__ == "__main__":
    main()

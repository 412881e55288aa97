"""Search benchmark: synthetic OCR corpus -> index -> query latency, twice, same answers.

    .venv/bin/python bench/search_bench.py --pages 1000000            # Tantivy
    .venv/bin/python bench/search_bench.py --backend elasticsearch --pages 100000

The corpus is deterministic (``--seed``): a vocabulary of real clinical words
followed by a long tail of made-up words, drawn with Zipf weights (s=1.1),
250 words a page, 1-8 pages a document, MRNs from a pool of patients, service
dates 2010-2024. Targets: >= 2,000 pages/s indexed, p95 <= 20 ms per query.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search import DocumentEntry, PageEntry, SearchIndex, SearchQuery  # noqa: E402

CLINICAL = """patient history hypertension diabetes metformin insulin lisinopril asthma
copd inhaler chest pain shortness breath fever cough nausea vomiting abdominal tenderness
discharge admission surgery anesthesia fracture radiology xray mri ultrasound biopsy
pathology carcinoma benign malignant oncology chemotherapy radiation cardiology
echocardiogram arrhythmia fibrillation warfarin heparin aspirin statin cholesterol
triglycerides kidney renal dialysis creatinine potassium sodium glucose hemoglobin
anemia transfusion platelet infection antibiotic amoxicillin vancomycin sepsis pneumonia
bronchitis allergy penicillin rash dermatitis psoriasis eczema arthritis osteoporosis
depression anxiety sertraline fluoxetine insomnia migraine seizure epilepsy stroke
dementia neuropathy physical therapy rehabilitation wound dressing sutures follow
appointment referral consultation signature physician nurse medication dosage daily
twice tablet injection intravenous prescription pharmacy laboratory results normal
abnormal elevated decreased stable improved worsened pregnancy prenatal delivery
cesarean newborn pediatric vaccination immunization influenza hepatitis thyroid
levothyroxine obesity smoking alcohol cessation counseling invoice insurance billing""".split()

DOC_TYPES = ("discharge", "lab", "radiology", "consult", "operative", "progress", "billing")
FACILITIES = ("North Clinic", "South Hospital", "East Campus", "West Surgery Center")
SYLLABLES = [a + b for a in "bcdfghklmnprstvz" for b in ("a", "e", "i", "o", "u", "ae", "io")]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words = list(dict.fromkeys(CLINICAL))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    rng.shuffle(words)  # clinical words spread over the head and the middle of the curve
    return words


class Corpus:
    def __init__(self, seed: int, vocab_size: int = 60_000, words_per_page: int = 250) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary(vocab_size, self.rng)
        self.cum = list(itertools.accumulate(1 / (r ** 1.1) for r in range(1, vocab_size + 1)))
        self.words_per_page = words_per_page

    def text(self) -> str:
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.cum, k=self.words_per_page))

    def documents(self, pages: int) -> Iterator[DocumentEntry]:
        patients = max(1, pages // 20)
        made, n = 0, 0
        while made < pages:
            count = min(self.rng.randint(1, 8), pages - made)
            n += 1
            yield DocumentEntry(
                document_id=f"bench-{n:08d}",
                mrn=f"TST{self.rng.randrange(patients):06d}",
                doc_type=self.rng.choice(DOC_TYPES),
                pages=tuple(PageEntry(i + 1, self.text()) for i in range(count)),
                patient_name=f"Testpatient, P{n % 997}",
                service_date=date(2010, 1, 1) + timedelta(days=self.rng.randrange(5479)),
                facility=self.rng.choice(FACILITIES),
                batch_id=f"batch-{n // 100:05d}",
            )
            made += count


def query_mix(vocab: list[str], per_kind: int, seed: int, stress: bool = False
              ) -> list[tuple[str, SearchQuery]]:
    """The fixed mix: mid-frequency words (ranks 20-2000) so each query has real work.

    Phrases pair words of ranks 20-300, which the corpus puts side by side tens to
    hundreds of times. ``stress`` adds phrases of two of the 50 commonest words
    (stop-word-like, in most pages): reported apart, not in the headline mix.
    """
    rng = random.Random(seed + 1)
    mid = vocab[20:2000]
    long_words = [w for w in mid if len(w) >= 6]
    kinds: dict[str, Callable[[], str]] = {
        "word": lambda: rng.choice(mid),
        "two_words": lambda: f"{rng.choice(mid)} {rng.choice(mid)}",
        "phrase": lambda: f'"{rng.choice(vocab[20:300])} {rng.choice(vocab[20:300])}"',
        "prefix": lambda: rng.choice(long_words)[:4] + "*",
        "fuzzy": lambda: _typo(rng.choice(long_words), rng) + "~",
        "mrn_word": lambda: f"mrn:TST{rng.randrange(50):06d} {rng.choice(vocab[:200])}",
        "date_word": lambda: _date_range(rng) + " " + rng.choice(mid),
    }
    if stress:
        kinds = {"phrase_common": lambda: f'"{rng.choice(vocab[:50])} {rng.choice(vocab[:50])}"'}
    return [(kind, SearchQuery(make())) for kind, make in kinds.items() for _ in range(per_kind)]


def _date_range(rng: random.Random) -> str:
    start = rng.randint(2010, 2022)
    return f"date:{start}-01..{start + rng.randint(0, 2)}-06"


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def run_mix(index: SearchIndex, mix: list[tuple[str, SearchQuery]],
            cpu: dict[str, list[float]] | None = None,
            totals: dict[str, list[int]] | None = None) -> tuple[dict[str, list[float]], str]:
    """Wall-clock ms per kind (and CPU ms, totals if asked), and a digest of the answers."""
    latencies: dict[str, list[float]] = {}
    digest = hashlib.sha256()
    for kind, query in mix:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = index.search(query)
        latencies.setdefault(kind, []).append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.setdefault(kind, []).append((time.process_time() - start_cpu) * 1000)
        if totals is not None:
            totals.setdefault(kind, []).append(result.total)
        answer = [result.total] + [(h.document_id, [p.page for p in h.pages]) for h in result.hits]
        digest.update(json.dumps([query.text, answer]).encode())
    return latencies, digest.hexdigest()


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "p99": round(q[98], 2)}


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class _Counter:
    def __init__(self, documents: Iterator[DocumentEntry], every: int) -> None:
        self.documents, self.every, self.pages, self.docs = documents, every, 0, 0
        self.start = time.perf_counter()

    def __iter__(self) -> Iterator[DocumentEntry]:
        for doc in self.documents:
            before = self.pages // self.every
            self.pages += len(doc.pages)
            self.docs += 1
            if self.pages // self.every != before:
                rate = self.pages / (time.perf_counter() - self.start)
                print(f"  {self.pages:>9,} pages  {rate:,.0f} pages/s", file=sys.stderr, flush=True)
            yield doc


def open_backend(args: argparse.Namespace, workdir: Path, stack: ExitStack
                 ) -> tuple[SearchIndex, Path | None]:
    if args.backend == "tantivy":
        from search.tantivy_index import TantivyIndex

        path = workdir / "index"
        index = TantivyIndex(path, shards=args.shards, parallel=not args.inline)
        return stack.enter_context(closing(index)), path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
    from osmem import elasticsearch_stand_in

    from search.elastic_index import ElasticIndex

    url = stack.enter_context(elasticsearch_stand_in())
    # osmem bulk-loads slowly (~80 pages/s): long timeouts so no request is retried
    index = ElasticIndex(url, "bench-pages", request_timeout=900)
    return stack.enter_context(closing(index)), None


def measure_generation(seed: int, pages: int) -> float:
    corpus, start = Corpus(seed + 99), time.perf_counter()
    for _ in range(pages):
        corpus.text()
    return pages / (time.perf_counter() - start)


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    corpus = Corpus(args.seed)
    report: dict[str, object] = {"backend": args.backend, "pages": args.pages, "seed": args.seed,
                                 "loadavg_start": _loadavg()}
    if args.backend == "tantivy":
        report.update(shards=args.shards, searchers="in-process" if args.inline else "processes")
    with ExitStack() as stack:
        index, path = open_backend(args, workdir, stack)
        if args.reuse:
            report["reused_index"] = str(path)
        else:
            report.update(index_phase(index, corpus, args))
        if path is not None:
            report["index_bytes"] = dir_size(path)
        report.update(query_phase(index, corpus, args))
    report["generation_pages_per_s"] = round(measure_generation(args.seed, 20_000))
    report["loadavg_end"] = _loadavg()
    return report


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def index_phase(index: SearchIndex, corpus: Corpus, args: argparse.Namespace) -> dict:
    counter = _Counter(corpus.documents(args.pages), every=max(args.pages // 20, 1000))
    start = time.perf_counter()
    index.rebuild(counter)
    seconds = time.perf_counter() - start
    return {"documents": counter.docs, "index_seconds": round(seconds, 1),
            "pages_per_s": round(counter.pages / seconds),
            "upsert_one_by_one": measure_upserts(index, corpus, args.upserts)}


def query_phase(index: SearchIndex, corpus: Corpus, args: argparse.Namespace) -> dict:
    mix = query_mix(corpus.vocab, args.per_kind, args.seed)
    cold, first = run_mix(index, mix)
    cpu: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    warm, second = run_mix(index, mix, cpu, totals)
    stress = query_mix(corpus.vocab, args.per_kind, args.seed, stress=True)
    stress_totals: dict[str, list[int]] = {}
    stress_ms, _ = run_mix(index, stress, totals=stress_totals)
    return {
        "identical_results_between_runs": first == second,
        "results_sha256": second,
        "latency_ms_cold": percentiles([v for vs in cold.values() for v in vs]),
        "latency_ms": percentiles([v for vs in warm.values() for v in vs]),
        "cpu_ms_note": "this process only: searcher processes' CPU is not in it",
        "cpu_ms": percentiles([v for vs in cpu.values() for v in vs]),
        "cpu_ms_by_kind": {k: percentiles(v) for k, v in cpu.items()},
        "latency_ms_by_kind": {k: percentiles(v) for k, v in warm.items()},
        "mean_total_by_kind": _means(totals),
        "stress_latency_ms": {k: percentiles(v) for k, v in stress_ms.items()},
        "stress_mean_total": _means(stress_totals),
    }


def measure_upserts(index: SearchIndex, corpus: Corpus, count: int) -> dict[str, float]:
    """Documents indexed one call each (what a worker does after OCR), commit per call."""
    docs = [DocumentEntry(f"upsert-{i:05d}", d.mrn, d.doc_type, d.pages, d.patient_name,
                          d.date_of_birth, d.service_date, d.facility, d.batch_id)
            for i, d in enumerate(itertools.islice(corpus.documents(count * 10), count))]
    start = time.perf_counter()
    for doc in docs:
        index.upsert(doc)
    seconds = time.perf_counter() - start
    pages = sum(len(d.pages) for d in docs)
    return {"documents": count, "docs_per_s": round(count / seconds, 1),
            "pages_per_s": round(pages / seconds, 1)}


def _means(totals: dict[str, list[int]]) -> dict[str, float]:
    """Mean number of matching documents per query kind."""
    return {k: round(statistics.mean(v), 1) for k, v in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tantivy", "elasticsearch"), default="tantivy")
    parser.add_argument("--pages", type=int, default=None,
                        help="pages to index (default 1,000,000; 100,000 for elasticsearch)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--per-kind", type=int, default=100, help="queries of each kind")
    parser.add_argument("--upserts", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2, help="Tantivy shards (new index)")
    parser.add_argument("--inline", action="store_true",
                        help="search the shards one after another in this process")
    parser.add_argument("--workdir", type=Path, default=None, help="kept if given")
    parser.add_argument("--reuse", action="store_true",
                        help="query an index already built in --workdir (skip indexing)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.pages is None:
        args.pages = 1_000_000 if args.backend == "tantivy" else 100_000
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="search-bench-"))
    try:
        report = bench(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if report["identical_results_between_runs"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

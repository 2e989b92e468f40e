"""``stampauth batch``: verify a folder of documents, one record per document, resumable.

The results file is the ledger: a document with a record in it is finished, so running the same command again
after an interruption (Ctrl-C, a crash, a lost server) does only the rest. Each record is written in one piece
and flushed to disk before the next document counts as done; a record torn by a crash is cut off and its
document redone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from stampauth import errors
from stampauth.documents import DocumentClaim
from stampauth.errors import InvalidInput, StampAuthError

DOCUMENT_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pdf"}
CLAIM_COLUMNS = ("file", "identity_id", "kind", "page", "expected_text")
CSV_COLUMNS = ("file", "status", "identity_id", "claim_kind", "claim_page", "outcome", "verdict", "mark_index",
               "mark_page", "mark_kind", "box", "detection_score", "similarity", "threshold", "model_version",
               "explanation", "error_code", "error")
# Errors that stop the batch instead of being recorded: every later document would fail the same way.
FATAL = (errors.Unavailable, errors.Unauthenticated, errors.PermissionDenied)


@dataclass(frozen=True)
class BatchItem:
    name: str  # path relative to the batch folder, with '/' separators: the record's key
    path: Path | None  # None: a claims row names a file that is not there
    claims: tuple[DocumentClaim, ...]


def read_claims(path: str | Path) -> dict[str, list[DocumentClaim]]:
    """claims.csv -> {file: claims}. Columns: file, identity_id (required), kind, page, expected_text ('|'-separated)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InvalidInput(f"cannot read the claims file {path}: {error.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in ("file", "identity_id") if c not in header]
    if missing:
        raise InvalidInput(f"{path}: the header must name the columns file,identity_id (and optionally kind, page, "
                           f"expected_text); it lacks {', '.join(missing)}")
    unknown = [c for c in header if c not in CLAIM_COLUMNS]
    if unknown:
        raise InvalidInput(f"{path}: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(CLAIM_COLUMNS)}")
    claims: dict[str, list[DocumentClaim]] = {}
    for line, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("file") or not row.get("identity_id"):
            raise InvalidInput(f"{path} line {line}: file and identity_id must both be given")
        kind = row.get("kind") or None
        if kind not in (None, "signature", "stamp"):
            raise InvalidInput(f"{path} line {line}: kind must be signature, stamp or empty (either), not {kind!r}")
        page = row.get("page") or "0"
        if not page.isdigit():
            raise InvalidInput(f"{path} line {line}: page must be a page number (or empty for any), not {page!r}")
        expected = tuple(t.strip() for t in (row.get("expected_text") or "").split("|") if t.strip())
        name = Path(row["file"]).as_posix()
        claims.setdefault(name, []).append(DocumentClaim(row["identity_id"], kind, int(page), expected_text=expected))
    return claims


def plan(root: str | Path, claims: dict[str, list[DocumentClaim]], only_claimed: bool = False) -> list[BatchItem]:
    """Every document under ``root`` (sorted), with its claims; claimed files that are missing come too, to be
    reported."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a folder: name the folder that holds the documents")
    found = {p.relative_to(root).as_posix(): p for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES}
    names = sorted(set(found) | set(claims)) if not only_claimed else sorted(claims)
    return [BatchItem(name, found.get(name), tuple(claims.get(name, ()))) for name in names]


class ResultsFile:
    """The results ledger in JSONL (one object per document) or CSV (one row per claim or mark)."""

    def __init__(self, path: str | Path, fmt: str | None = None):
        self.path = Path(path)
        self.format = fmt or ("csv" if self.path.suffix.lower() == ".csv" else "jsonl")

    def finished(self, retry_errors: bool = False) -> set[str]:
        """Names of the documents with a complete record (errors excluded with ``retry_errors``), after cutting
        off a record torn by a crash; with ``retry_errors`` the error records are removed so the redo replaces them."""
        if not self.path.exists():
            return set()
        original = text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # torn last record: its document is redone
        if self.format == "jsonl":
            records = []
            for number, line in enumerate(text.splitlines(), start=1):
                try:
                    records.append((json.loads(line), line))
                except json.JSONDecodeError:
                    raise InvalidInput(f"{self.path} line {number} is not JSON: is this a results file of "
                                       "'stampauth batch'? Use another --out, or repair it") from None
            keep = [(r, line) for r, line in records if not (retry_errors and r.get("status") == "error")]
            kept_text = "".join(line + "\n" for _, line in keep)
            done = {r["file"] for r, _ in keep}
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
            if rows and "file" not in rows[0]:
                raise InvalidInput(f"{self.path} has no 'file' column: is this a results file of 'stampauth batch'?")
            keep = [r for r in rows if not (retry_errors and r.get("status") == "error")]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(keep)
            kept_text = buffer.getvalue() if keep or text else ""
            done = {r["file"] for r in keep}
        if kept_text != original:
            self.path.write_text(kept_text, encoding="utf-8")
        return done

    def append(self, record: dict) -> None:
        """Write one document's record in one piece and flush it to disk."""
        if self.format == "jsonl":
            data = json.dumps(record, ensure_ascii=False) + "\n"
        else:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore")
            if not self.path.exists() or self.path.stat().st_size == 0:
                writer.writeheader()
            writer.writerows(csv_rows(record))
            data = buffer.getvalue()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def csv_rows(record: dict) -> list[dict]:
    """A document's record as CSV rows: one per claim (with the mark it was judged on), or one per identified
    mark when there were no claims, or a single row."""
    base = {"file": record["file"], "status": record["status"]}
    if record["status"] == "error":
        return [{**base, "error_code": record["error"]["code"], "error": record["error"]["message"]}]
    marks = {v["mark_index"]: v for v in record["verifications"]}

    def mark_fields(v: dict | None) -> dict:
        if v is None:
            return {}
        return {"mark_index": v["mark_index"], "mark_page": v["page"], "mark_kind": v["kind"],
                "box": " ".join(map(str, v["box"])), "detection_score": v["detection_score"],
                "similarity": v["similarity"], "threshold": v["threshold"], "model_version": v["model_version"]}

    if record["claims"]:
        return [{**base, "identity_id": c["identity_id"], "claim_kind": c["kind"] or "", "claim_page": c["page"] or "",
                 "outcome": c["outcome"], "verdict": c["verdict"], "explanation": c["explanation"],
                 **mark_fields(next((v for v in record["verifications"] if v["mark_index"] == c["mark_index"]
                                     and v["identity_id"] == c["identity_id"]), marks.get(c["mark_index"])))}
                for c in record["claims"]]
    if record["verifications"]:
        return [{**base, "identity_id": v["identity_id"], "verdict": v["verdict"], **mark_fields(v)}
                for v in record["verifications"]]
    return [base]


def _error_code(error: StampAuthError) -> str:
    code = getattr(error, "grpc_code", None)
    if code is not None:
        return code.name
    from stampauth.server.errors import STATUS_OF

    code = STATUS_OF.get(type(error))
    return code.name if code is not None else "UNKNOWN"


def verify_one(client, item: BatchItem, args) -> dict:
    """One document's record: the verification, or the error that stopped it (fatal errors propagate)."""
    from stampauth.cli_service import document_verification_json, write_annotated

    record = {"file": item.name}
    started = time.perf_counter()
    if item.path is None:
        return {**record, "status": "error", "error": {"code": "NOT_FOUND", "message":
                "the claims file names this document but it is not in the folder; check the name"}}
    try:
        result = client.verify_document(item.path, item.claims, kinds=args.kinds, min_score=args.min_score,
                                        pdf_dpi=args.pdf_dpi, annotate=bool(args.annotate_dir), ocr=args.ocr,
                                        ocr_languages=tuple(args.ocr_lang or ()), ocr_budget_ms=args.ocr_budget_ms)
    except FATAL:
        raise
    except StampAuthError as error:
        return {**record, "status": "error", "error": {"code": _error_code(error), "message": error.message}}
    record.update(status="ok", **document_verification_json(result),
                  annotated=write_annotated(args.annotate_dir, item.name, result.annotated_pages),
                  elapsed_ms=round(1000 * (time.perf_counter() - started), 1))
    return record


def run_batch(client, args) -> int:
    """The ``batch`` command with an open client; returns the exit code."""
    from stampauth.cli_service import (EXIT_FILES_FAILED, EXIT_INTERRUPTED, EXIT_NOT_SATISFIED, exit_code_of,
                                       progress_bar)

    claims = read_claims(args.claims) if args.claims else {}
    if args.only_claimed and not args.claims:
        raise InvalidInput("--only-claimed needs --claims")
    items = plan(args.dir, claims, args.only_claimed)
    results = ResultsFile(args.out, args.format)
    finished = results.finished(args.retry_errors)
    todo = [item for item in items if item.name not in finished]
    skipped = len(items) - len(todo)
    show = progress_bar("documents") if (args.progress or sys.stderr.isatty()) and todo else None
    counts = {"satisfied": 0, "not satisfied": 0, "identified": 0, "failed": 0}
    if skipped:
        print(f"batch: {skipped} of {len(items)} document(s) already have a record in {results.path}; "
              f"doing the other {len(todo)}", file=sys.stderr)

    def count(record: dict) -> None:
        if record["status"] == "error":
            counts["failed"] += 1
            print(f"\nbatch: {record['file']}: {record['error']['code']}: {record['error']['message']}", file=sys.stderr)
        elif not record["claims"]:
            counts["identified"] += 1
        else:
            counts["satisfied" if record["all_claims_satisfied"] else "not satisfied"] += 1

    workers = max(1, args.workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="batch")
    pending: set = set()
    queue = iter(todo)
    done = 0
    try:
        while True:
            while len(pending) < 2 * workers:  # a bounded window: memory stays flat on huge folders
                item = next(queue, None)
                if item is None:
                    break
                pending.add(pool.submit(verify_one, client, item, args))
            if not pending:
                break
            finished_now, pending = wait(pending, return_when=FIRST_COMPLETED)
            # record every finished document before a fatal error (or an interruption) in one of them stops the run
            failure = next((f.exception() for f in finished_now if f.exception() is not None), None)
            for future in finished_now:
                if future.exception() is not None:
                    continue
                record = future.result()
                results.append(record)
                count(record)
                done += 1
                if show:
                    show(done, len(todo), f"ok {done - counts['failed']}, failed {counts['failed']}")
            if failure is not None:
                raise failure
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        print(f"\nbatch: interrupted after {done} document(s); run the same command again to do the remaining "
              f"{len(todo) - done}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FATAL as error:
        pool.shutdown(wait=False, cancel_futures=True)
        print(f"\nbatch: stopped: {error.message}; {done} document(s) recorded this run; run the same command "
              "again once the server is back to do the rest", file=sys.stderr)
        return exit_code_of(error)
    pool.shutdown(wait=True)
    summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to do"
    print(f"batch: {len(todo)} document(s) this run ({summary}); {skipped} done before; records in {results.path}",
          file=sys.stderr)
    if counts["failed"]:
        return EXIT_FILES_FAILED
    return EXIT_NOT_SATISFIED if counts["not satisfied"] else 0

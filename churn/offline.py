"""Offline scoring of a CSV file: streamed, vectorized, one output row per input row, in input order.

The engine behind `campaign.py --offline`. Arrow's C++ reader parses the file in chunks; each
chunk's columns are dictionary-encoded, so the validator's own rules (normalization, number parsing,
allowed flags) run once per distinct value rather than once per cell, and scoring is column-wise
with the model's weights summed in Scorer's order. A row that fails any check is handed, as the
dict csv.DictReader would give, to CustomerValidator.validate, so its error is exactly the one
ChurnService.score_rows reports. Memory is bounded by the chunk size, not the file size.

Output columns: customerid, churn_probability, churn (true/false), percentile, reasons (reason codes
joined with ";", only when explain > 0), error ("<code>: <message>" of a rejected row).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from churn import features
from churn.errors import Code
from churn.schemas import MAX_ID_LENGTH, FieldError, InvalidCustomer, parse_number
from churn.scoring import sigmoids
from churn.service import ChurnService

OUTPUT_COLUMNS = ("customerid", "churn_probability", "churn", "percentile", "reasons", "error")
CHUNK_BYTES = 4 << 20  # Arrow parses ~4 MiB at a time (~25,000 Telco rows): bounded memory, few Python calls


@dataclass
class Summary:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    churners: int = 0


def score_csv(
    input_path: Path | str,
    output_path: Path | str,
    service: ChurnService,
    *,
    explain: int = 0,
    chunk_bytes: int = CHUNK_BYTES,
) -> Summary:
    """Score every row of input_path into output_path; the threshold is the service's."""
    header = read_header(Path(input_path))
    names = {features.normalize(h): h for h in header}
    if len(names) != len(header):
        raise ValueError("the CSV header names a column twice (after normalizing case and spaces)")
    read = pacsv.ReadOptions(block_size=chunk_bytes)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False)
    summary = Summary()
    chunker = Chunk(service, names, explain)
    schema = pa.schema([(c, t) for c, t in OUTPUT_TYPES.items()])
    with (
        pacsv.open_csv(input_path, read_options=read, convert_options=convert) as reader,
        pacsv.CSVWriter(output_path, schema, write_options=pacsv.WriteOptions(quoting_style="needed")) as writer,
    ):
        for batch in reader:
            writer.write_table(chunker.score(batch, summary))
    return summary


OUTPUT_TYPES = {
    "customerid": pa.string(),
    "churn_probability": pa.float64(),
    "churn": pa.bool_(),
    "percentile": pa.float64(),
    "reasons": pa.string(),
    "error": pa.string(),
}


def read_header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise ValueError(f"{path} is empty: expected a header line")
    return header


class Chunk:
    """Validate and score one parsed chunk of rows."""

    def __init__(self, service: ChurnService, names: dict[str, str], explain: int):
        self.service = service
        self.scorer = service.scorer
        self.explainer = service.model.explainer
        self.names = names  # canonical field -> the input's header
        self.explain = explain
        self.flags = service.validator.flag_values
        self.fields = self.scorer.fields
        self.name_rank = np.argsort(np.argsort(np.array(self.fields)))  # tie-break of reasons: by field name

    def score(self, batch: pa.RecordBatch, summary: Summary) -> pa.Table:
        n = batch.num_rows
        bad = np.zeros(n, dtype=bool)
        terms: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for field in self.fields:
            terms[field], codes[field], invalid = self.column(batch, field)
            bad |= invalid
        bad |= self.bad_ids(batch)
        categorical = np.array([terms[f] for f in self.scorer.categorical]).reshape(len(self.scorer.categorical), n)
        logits = self.scorer.logits_from_columns(categorical, terms)
        probabilities = sigmoids(logits)
        errors = self.errors(batch, np.flatnonzero(bad))
        good = ~bad
        churn = probabilities >= self.service.threshold
        percentile = self.explainer.percentiles(probabilities)
        summary.rows += n
        summary.scored += int(good.sum())
        summary.rejected += int(bad.sum())
        summary.churners += int((churn & good).sum())
        reasons = self.reasons(terms, codes, good) if self.explain else pa.nulls(n, pa.string())
        return pa.table(
            {
                "customerid": self.customerids(batch),
                "churn_probability": pa.array(probabilities, mask=bad),
                "churn": pa.array(churn, mask=bad),
                "percentile": pa.array(percentile, mask=bad),
                "reasons": reasons,
                "error": pa.array(errors, pa.string()),
            }
        )

    def column(self, batch: pa.RecordBatch, field: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A field's term per row (weight, or value for numbers), its reason code per row, and bad rows."""
        n = batch.num_rows
        header = self.names.get(field)
        if header is None:  # the column is missing: every row fails (missing_field)
            return np.zeros(n), np.full(n, "", dtype=object), np.ones(n, dtype=bool)
        encoded = pc.dictionary_encode(batch.column(header))
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        parsed = [self.parse(field, value) for value in encoded.dictionary.to_pylist()]
        term = np.array([p[0] for p in parsed] or [0.0], dtype=np.float64)
        code = np.array([p[1] for p in parsed] or [""], dtype=object)
        invalid = np.array([p[2] for p in parsed] or [True], dtype=bool)
        return term[indices], code[indices], invalid[indices]

    def parse(self, field: str, value: str) -> tuple[float, str, bool]:
        """One distinct cell value: (weight or number, reason code, invalid), by the validator's rules."""
        table = self.scorer.categorical.get(field)
        if table is not None:
            canonical = (table.get(value) is not None and value) or features.normalize(value)
            if canonical in table:
                return table[canonical], f"{field}={canonical}", False
            return 0.0, "", True
        errors: list[FieldError] = []
        number = parse_number(field, value, errors)
        if number is None:
            return 0.0, "", True
        allowed = self.flags.get(field)
        if allowed is not None:
            return (float(int(number)), f"{field}={int(number)}", False) if number in allowed else (0.0, "", True)
        high = number > self.explainer.means[field] if field in self.explainer.means else False
        return number, f"{field}={'high' if high else 'low'}", False

    def bad_ids(self, batch: pa.RecordBatch) -> np.ndarray:
        header = self.names.get(features.ID_FIELD)
        if header is None:
            return np.zeros(batch.num_rows, dtype=bool)
        lengths = pc.utf8_length(batch.column(header)).to_numpy(zero_copy_only=False)
        return np.asarray(lengths > MAX_ID_LENGTH)

    def customerids(self, batch: pa.RecordBatch) -> pa.Array:
        header = self.names.get(features.ID_FIELD)
        if header is None:
            return pa.nulls(batch.num_rows, pa.string())
        ids = batch.column(header)
        too_long = pc.greater(pc.utf8_length(ids), MAX_ID_LENGTH)
        return pc.if_else(too_long, pa.scalar(None, pa.string()), ids)  # the validator drops such an id

    def errors(self, batch: pa.RecordBatch, bad: np.ndarray) -> list[str | None]:
        """The per-row validator's error for each bad row, as "<code>: <message>"."""
        out: list[str | None] = [None] * batch.num_rows
        if len(bad):
            for i, row in zip(bad.tolist(), batch.take(pa.array(bad)).to_pylist(), strict=True):
                try:
                    self.service.validator.validate(row)
                except InvalidCustomer as e:
                    out[i] = f"{Code.VALIDATION_FAILED}: {e}"
                else:  # cannot happen: the chunk's checks are the validator's; fail loudly rather than guess
                    raise AssertionError(f"row {i} was rejected column-wise but passes the validator")
        return out

    def reasons(self, terms: dict[str, np.ndarray], codes: dict[str, np.ndarray], good: np.ndarray) -> pa.Array:
        """The `explain` codes raising the risk most, as Explainer.reasons orders them, joined with ";"."""
        contributions = np.stack(
            [self.term(f, terms[f]) - base for f, base in zip(self.fields, self.explainer.baseline, strict=True)],
            axis=1,
        )
        ranks = np.broadcast_to(self.name_rank, contributions.shape)
        order = np.lexsort((ranks, contributions), axis=1)[:, ::-1][:, : self.explain]
        chosen = np.take_along_axis(contributions, order, axis=1)
        code_matrix = np.stack([codes[f] for f in self.fields], axis=1)
        chosen_codes = np.take_along_axis(code_matrix, order, axis=1)
        # Sorted from the largest contribution down, the positive ones are a prefix of each row.
        positive = chosen > 0
        offsets = np.concatenate(([0], np.cumsum(positive.sum(axis=1)))).astype(np.int32)
        codes_list = pa.ListArray.from_arrays(pa.array(offsets), pa.array(chosen_codes[positive], pa.string()))
        joined = pc.binary_join(codes_list, ";")
        return pc.if_else(pa.array(good), joined, pa.scalar(None, pa.string()))

    def term(self, field: str, values: np.ndarray) -> np.ndarray:
        """A field's term in the log-odds, as Scorer.contributions computes it."""
        weight = self.scorer.numeric.get(field)
        return values if weight is None else weight * values

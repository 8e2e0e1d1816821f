"""The pieces of `churn forget` that need no model: the id file, keyed hashes, finding feature
matrices, the report check, the key and the manifest recount."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from features.errors import ChurnError
from pipelines.catalog import erasure
from pipelines.catalog.scores import recounted
from pipelines.forget import hashed, read_ids


def test_the_id_file_is_one_id_a_line_stripped_and_deduplicated(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("C1\n  C2 \n\nC1\nC3")
    assert read_ids(path) == ["C1", "C2", "C3"]
    path.write_text("\n \n")
    with pytest.raises(ChurnError, match="no customer id"):
        read_ids(path)
    with pytest.raises(ChurnError, match="no such file"):
        read_ids(tmp_path / "missing.txt")


def test_hashes_are_keyed_sha256_and_never_the_id():
    digests = hashed(["1001", "1002"], b"secret")
    assert digests == sorted(
        hmac.new(b"secret", raw, hashlib.sha256).hexdigest() for raw in (b"1001", b"1002")
    )
    assert hashlib.sha256(b"1001").hexdigest() not in digests  # a plain hash is guessable
    assert hashed(["1001"], b"other") != hashed(["1001"], b"secret")


def test_only_parquet_files_with_customer_and_cutoff_are_matrices(tmp_path):
    when = pd.Timestamp("2026-01-01", tz="UTC")
    pd.DataFrame({"customer_id": ["a"], "cutoff": [when], "x": [1.0]}).to_parquet(
        tmp_path / "m.parquet"
    )
    (tmp_path / "data").mkdir()
    pd.DataFrame({"customer_id": ["a"], "signup_at": [when]}).to_parquet(
        tmp_path / "data" / "customers.parquet"
    )
    (tmp_path / ".staging").mkdir()
    (tmp_path / "m.parquet").rename(tmp_path / ".staging" / "m.parquet")
    assert erasure.matrix_files(tmp_path) == []  # hidden folders are not outputs
    (tmp_path / ".staging" / "m.parquet").rename(tmp_path / "m.parquet")
    assert erasure.matrix_files(tmp_path) == [tmp_path / "m.parquet"]


def test_a_matrix_without_the_ids_is_left_untouched(tmp_path):
    path = tmp_path / "m.parquet"
    pd.DataFrame({"customer_id": ["a", "b", "a"], "x": [1, 2, 3]}).to_parquet(path)
    before = path.stat().st_mtime_ns
    assert erasure.drop_from_matrix(path, {"zz"}) == (frozenset(), 0, 3)
    assert path.stat().st_mtime_ns == before
    assert erasure.drop_from_matrix(path, {"a", "zz"}) == (frozenset({"a"}), 2, 1)
    assert pd.read_parquet(path).to_dict("list") == {"customer_id": ["b"], "x": [2]}


def test_the_report_check_reads_text_not_embedded_images(tmp_path):
    path = tmp_path / "r.html"
    path.write_text('<p>Customers: 1,204</p><img src="data:image/png;base64,QzAwMDAwMDI=C0000002">')
    assert erasure.ids_in_report(path, {"C0000002", "C0000003"}) == frozenset()
    path.write_text("<td>C0000003</td>")
    assert erasure.ids_in_report(path, {"C0000002", "C0000003"}) == {"C0000003"}


def test_the_key_is_made_once_owner_only_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv(erasure.KEY_ENV, raising=False)
    key, where = erasure.erasure_key(tmp_path)
    assert erasure.erasure_key(tmp_path) == (key, where) and len(key) == 64
    assert (tmp_path / "erasure-key").stat().st_mode & 0o077 == 0
    monkeypatch.setenv(erasure.KEY_ENV, "from-vault")
    assert erasure.erasure_key(tmp_path) == (b"from-vault", f"${erasure.KEY_ENV}")


def test_the_manifest_is_recounted_on_the_rows_kept():
    manifest = {
        "rows": 3, "active_customers": 3, "data": {"rows": 3, "hash": "h"}, "drift": {"s": 1},
        "tiers": {"high": {"customers": 2, "revenue_at_risk": 9.0, "value": 20.0}},
    }  # fmt: skip
    kept = pd.DataFrame(
        {"customer_id": ["b"], "tier": ["high"], "expected_loss": [4.0], "value": [10.0]}
    )
    out = recounted(manifest, [kept], 2, {"at": "now"})
    assert (out["rows"], out["active_customers"], out["data"]) == (1, 1, {"rows": 1, "hash": "h"})
    assert out["tiers"]["high"] == {
        "customers": 1, "control": 0, "revenue_at_risk": 4.0, "value": 10.0, "expected_profit": 0.0
    }  # fmt: skip
    assert out["tiers"]["medium"]["customers"] == 0 and out["drift"] == {"s": 1}
    assert out["erasures"][0]["rows_removed"] == 2 and out["erasures"][0]["at"] == "now"
    # A day scored with decisions: its control group and the treated's expected profit.
    decided = kept.assign(control=[False], expected_profit=[3.5])
    again = recounted(manifest, [decided, decided.assign(control=[True])], 0, {"at": "now"})
    assert again["tiers"]["high"]["control"] == 1
    assert again["tiers"]["high"]["expected_profit"] == 3.5

"""Listings into a file: formats, atomic replacement, no change when the bytes are the same."""

import hashlib
import os
import stat

import pytest

from ansible_collections.cloudpartner.csp.plugins.module_utils.errors import CspValidationError
from ansible_collections.cloudpartner.csp.plugins.module_utils.files import AtomicFile, atomic_write, file_sha1
from ansible_collections.cloudpartner.csp.plugins.module_utils.listing import (
    ListingFile,
    check_dest,
    page_records,
    select_columns,
)


def test_select_columns():
    assert select_columns({"$select": "id, displayName,,mail"}) == ["id", "displayName", "mail"]
    assert select_columns({"$SELECT": ["id"]}) == ["id"]
    assert select_columns({"$top": 5}) == [] and select_columns(None) == []


def test_page_records():
    assert page_records({"value": [1, 2], "@odata.nextLink": "x"}) == [1, 2]
    assert page_records({"value": []}) == []
    assert page_records({"id": "o"}) == [{"id": "o"}]  # not a collection: the response is the record
    assert page_records({}) == [] and page_records(None) == []


def test_check_dest(tmp_path):
    check_dest(str(tmp_path / "a.jsonl"), "jsonl", None)
    with pytest.raises(CspValidationError, match=r"\$select"):
        check_dest(str(tmp_path / "a.csv"), "csv", {"$top": 1})
    with pytest.raises(CspValidationError, match="does not exist"):
        check_dest(str(tmp_path / "x" / "a.jsonl"), "jsonl", None)
    with pytest.raises(CspValidationError, match="is a directory"):
        check_dest(str(tmp_path), "jsonl", None)


def test_listing_jsonl_unicode_and_checksum(tmp_path):
    path = tmp_path / "l.jsonl"
    with ListingFile(str(path)) as listing:
        listing.add([{"displayName": "Zoë"}])
        listing.add([])
        listing.add([{"id": 2}])
        assert listing.finish() is True
    data = path.read_bytes()
    assert data == '{"displayName":"Zoë"}\n{"id":2}\n'.encode("utf-8")
    assert listing.result() == {"dest": str(path), "count": 2, "size": len(data),
                                "checksum": hashlib.sha1(data).hexdigest()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_listing_csv_quoting(tmp_path):
    path = tmp_path / "l.csv"
    with ListingFile(str(path), fmt="csv", columns=["id", "displayName", "tags"]) as listing:
        listing.add([{"id": "1", "displayName": 'A, "B"', "tags": {"b": 1, "a": None}}, {"id": "2"}])
        listing.finish()
    assert path.read_bytes().decode("utf-8") == (
        'id,displayName,tags\r\n1,"A, ""B""","{""a"":null,""b"":1}"\r\n2,,\r\n')


def test_listing_same_bytes_leave_the_file_alone(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"id":1}\n')
    os.chmod(path, 0o600)
    inode = path.stat().st_ino
    with ListingFile(str(path)) as listing:
        listing.add([{"id": 1}])
        assert listing.finish() is False
    assert path.stat().st_ino == inode and os.listdir(tmp_path) == ["l.jsonl"]


def test_listing_same_bytes_other_mode_is_a_change(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text('{"id":1}\n')
    os.chmod(path, 0o644)
    with ListingFile(str(path)) as listing:
        listing.add([{"id": 1}])
        assert listing.finish() is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_listing_without_write_only_hashes(tmp_path):
    path = tmp_path / "l.jsonl"
    with ListingFile(str(path), write=False) as listing:
        listing.add([{"id": 1}])
        assert listing.finish() is True
    assert os.listdir(tmp_path) == [] and listing.count == 1


def test_listing_error_leaves_no_temp_file(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with ListingFile(str(path)) as listing:
            listing.add([{"id": 1}])
            raise RuntimeError("page 2 failed")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["l.jsonl"]


def test_atomic_file_and_atomic_write(tmp_path):
    path = tmp_path / "f"
    with AtomicFile(str(path), mode=0o640) as handle:
        handle.write(b"a")
        handle.write(b"b")
        assert not path.exists()
        handle.commit()
    assert path.read_bytes() == b"ab" and stat.S_IMODE(path.stat().st_mode) == 0o640
    atomic_write(str(path), "text")
    assert path.read_text() == "text" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert file_sha1(str(path)) == hashlib.sha1(b"text").hexdigest()
    assert file_sha1(str(tmp_path / "missing")) is None
    assert os.listdir(tmp_path) == ["f"]

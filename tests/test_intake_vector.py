"""The shared intake layer as the vector sources (traffic stations, parcels) use it: no
database needed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely

from etl.geometry import check_in_region
from etl.io.sniff import Kind, kind_of
from etl.sources.base import LoadOptions, VectorSource
from etl.sources.parcels import AAA, AVE
from etl.sources.traffic import HOURLY_COLUMNS, TrafficSource
from twin.errors import SourceError
from twin.registry import PARCELS


def test_a_zip_of_several_text_files_is_text_so_the_text_reader_names_them(
        tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "Zst;Datum\n1;240101\n")
        archive.writestr("b.txt", "Zst;Datum\n2;240101\n")
    assert kind_of(path) is Kind.TEXT
    with pytest.raises(SourceError, match="expected one file in the ZIP archive, found 2"):
        list(TrafficSource().read([path], LoadOptions()))


def test_points_outside_the_region_name_the_column_that_is_wrong() -> None:
    geoms = np.array([shapely.Point(654_320, 5_734_000), shapely.Point(454_000, 6_100_000)])
    errors = check_in_region(geoms, np.array([2, 3]), [None, None], path="s.csv",
                             field=("x", "y"))
    assert [(e.row, e.field) for e in errors] == [("2", "x"), ("3", "y")]


def test_a_workbook_is_not_taken_for_a_stations_list(tmp_path: Path) -> None:
    import openpyxl  # a dependency of the twin (spreadsheets), never skipped
    path = tmp_path / "stations.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Zst", "x", "y"])
    book.save(path)
    with pytest.raises(SourceError, match="save the file as one of them"):
        list(TrafficSource().read([path], LoadOptions()))


def test_hourly_columns_drop_only_what_is_not_bast_with_a_note() -> None:
    header = ["TKNR", "Zst", "Datum", "Stunde", "KFZ_R1", "KFZ_R2", "Lkw_R1", "Lkw_R2",
              "K_KFZ_R1", "PLZ_R1", "Bemerkung"]
    columns = HOURLY_COLUMNS.match(header, path=Path("h.csv"))
    assert columns.get("k_kfz_r1") == "K_KFZ_R1" and columns.dropped == ("Bemerkung",)
    assert columns.note() == "h.csv: columns not published and dropped: Bemerkung"


def test_parcel_schemas_are_told_apart_and_nested_aaa_names_read() -> None:
    fields = ("gml_id", "flurstueckskennzeichen", "gemarkung|AX_Gemarkung_Schluessel|land",
              "gemarkungsnummer", "eigentuemer")
    aaa = AAA.match(fields, path=Path("f.gml"), required=False)
    assert aaa.get("flstkennz") == "flurstueckskennzeichen"
    assert aaa.get("gemarkung_land") == "gemarkung|AX_Gemarkung_Schluessel|land"
    assert aaa.dropped == ("eigentuemer",)
    assert "flstkennz" not in AVE.match(fields, path=Path("f.gml"), required=False)


def test_a_vector_source_declares_its_columns_from_the_registry_and_renames() -> None:
    class Renamed(VectorSource):
        name = "renamed"
        collections = (PARCELS,)
        required = ("flstkennz",)
        renames = {"kennzeichen": "flstkennz"}

    columns = Renamed.columns()
    assert columns.spellings_of("flstkennz") == ("kennzeichen", "flstkennz")
    with pytest.raises(SourceError, match="required field 'flstkennz' is missing"):
        columns.match(["flur"], path=Path("p.gpkg"))

"""NAS-XML (the ALKIS exchange format of GeoInfoDok 6/7): recognise a delivery and hand its
``AX_Flurstueck`` features to the ordinary vector reader.

GDAL's NAS driver reads NAS; the GDAL inside pyogrio's wheel lacks it, Debian's ``gdal-bin``
(``ogr2ogr``) has it (``make setup`` installs it). Only the ``AX_Flurstueck`` layer is converted,
into a GeoPackage in a temporary directory that is removed afterwards: the owners a NAS delivery
holds (``AX_Person``, ``AX_Anschrift``, ``AX_Buchungsblatt``...) are never written anywhere.
"""

from __future__ import annotations

import enum
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from twin.errors import SourceError

#: The namespace of the AAA application schema, any version (6.0, 7.1...).
ADV_NAMESPACE = "http://www.adv-online.de/namespaces/adv/gid/"

#: Root elements of a differential update (NBA), which carry wfs:Transaction (Insert, Replace,
#: Delete) of changed objects rather than the objects of an area.
_NBA_ROOTS = frozenset({"AX_NutzerbezogeneBestandsdatenaktualisierung_NBA"})
#: Root elements of a full delivery of the objects of an area.
_FULL_ROOTS = frozenset({"AX_Bestandsdatenauszug", "AX_Auszug"})

#: The one layer read from a NAS file.
LAYER = "AX_Flurstueck"


class NasKind(enum.Enum):
    """What a NAS file delivers."""

    FULL = "full"  # AX_Bestandsdatenauszug: every object of the area
    UPDATE = "update"  # NBA: changes since the last delivery


def sniff(path: Path) -> NasKind | None:
    """The kind of NAS delivery ``path`` is, or None when it is no NAS file (a WFS answer in
    the AAA schema, whose root is wfs:FeatureCollection, is not NAS: GDAL's GML driver reads it).

    Raises SourceError for other NAS documents (orders such as AX_Fortfuehrungsauftrag)."""
    try:
        with path.open("rb") as fh:
            if fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"<":
                return None
            fh.seek(0)
            # Only the first start tag is parsed: the rest is GDAL's to read.
            for _, element in ET.iterparse(fh, events=("start",)):
                tag = element.tag
                break
            else:
                return None
    except (OSError, ET.ParseError):
        return None
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if not namespace.startswith(ADV_NAMESPACE):
        return None
    if local in _NBA_ROOTS:
        return NasKind.UPDATE
    if local in _FULL_ROOTS:
        return NasKind.FULL
    raise SourceError(f"a NAS document of kind '{local}' holds no data to load; send a full "
                      "NAS delivery (AX_Bestandsdatenauszug)", path=str(path))


def refuse_update(path: Path) -> SourceError:
    """The refusal of a differential update: what to send instead."""
    return SourceError(
        "this NAS file is a differential update (NBA, AX_NutzerbezogeneBestandsdatenaktualisierung"
        "_NBA): it holds only the changes since an earlier delivery, which the twin does not "
        "keep; send a full NAS delivery of the city instead (AX_Bestandsdatenauszug, "
        "'Bestandsdatenauszug' from GEOBROKER)", path=str(path))


@contextmanager
def flurstuecke(path: Path) -> Iterator[Path]:
    """A temporary GeoPackage holding the ``AX_Flurstueck`` layer of the NAS file ``path``
    (curves kept: the vector reader linearises them); removed on leaving."""
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr is None:
        raise SourceError(
            "NAS files are read with GDAL's NAS driver through the command ogr2ogr, which is "
            "not installed; run `make setup` (or `apt-get install gdal-bin`)", path=str(path))
    with tempfile.TemporaryDirectory(prefix="twin-nas-") as tmp:
        out = Path(tmp) / "flurstuecke.gpkg"
        command = [
            ogr2ogr,
            # GDAL 3.6 (Debian 12) identifies NAS by schema file names in the first bytes: look
            # for the AAA namespace instead. Newer GDAL wants the driver named (-if NAS).
            "--config", "NAS_INDICATOR", "adv-online.de/namespaces/adv/gid",
            "-if", "NAS", "-f", "GPKG", "-nlt", "GEOMETRY", str(out), str(path), LAYER,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if "Unknown option name '-if'" in result.stderr:
            command.remove("-if")
            command.remove("NAS")
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not out.exists():
            message = " ".join(line.removeprefix("ERROR 1: ") for line in
                               result.stderr.splitlines() if line.startswith("ERROR"))
            if "Couldn't fetch requested layer" in result.stderr:
                message = f"the NAS file holds no {LAYER} (parcels)"
            raise SourceError(f"GDAL's NAS driver could not read the file: "
                              f"{message or result.stderr.strip()}", path=str(path))
        yield out

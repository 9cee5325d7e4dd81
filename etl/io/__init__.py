"""The intake layer: every source's files are told apart, decoded and read here.

* :mod:`etl.io.sniff`: what a file is, by its content (text table, workbook, JSON, vector);
* :mod:`etl.io.text`: delimited text tables (CSV, BASt's ``.txt``, zipped or not), whole or
  streamed;
* :mod:`etl.io.sheets`: workbooks (XLSX, ODS), the header found on each sheet;
* :mod:`etl.io.vector`: anything GDAL reads, in Arrow batches, curves linearised.

Every reader gives rows with the number a user finds them under (line, sheet row, feature),
so that a refusal names file, row and field. What a source's columns are called is declared
in :mod:`etl.columns`; what its cells mean, in :mod:`etl.cells`; where its coordinates may
lie, in :mod:`etl.geometry`.
"""

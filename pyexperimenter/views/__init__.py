"""What the commands show, as data and as renderings; nothing here changes a row.

Each view has its data apart from its drawing, so `--json`, Python callers and the
drawings agree: `status_data.py` is `pyexp status` as data, drawn for the terminal by
`terminal.py` (with `sparkline.py`'s last-hour line); `report_data.py` is `pyexp report`
and `pyexp dashboard` as data, drawn as one HTML page by `html/`. `formatting.py` writes
durations and id lists alike for both. Nothing is imported here: `pyexp status` must not
load the report's modules, nor the other way round.
"""

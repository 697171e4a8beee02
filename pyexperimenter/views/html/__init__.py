"""`pyexp report` (one self-contained HTML file) and `pyexp dashboard` (the same page, live).

`figures.py` turns report_data's aggregates into plotly figures, `sections.py` into HTML
tables, `report.py` puts them in the page of templates/ with plotly.js inlined, and
`dashboard.py` serves that page and its data from the standard library's http.server.
"""

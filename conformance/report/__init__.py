"""HTML reports of conformance runs: model → build → render → write.

`model.py` reads a result dict into dataclasses, `build.py` derives the view (matrix, scores,
findings), `render.py` turns it into one self-contained HTML page, `writer.py` writes it.
"""

from conformance.report.curl import curl_command
from conformance.report.model import ResultError
from conformance.report.writer import load_result, write_html, write_index

__all__ = ["ResultError", "curl_command", "load_result", "write_html", "write_index"]

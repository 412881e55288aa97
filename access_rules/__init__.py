"""One access rule for every door: the web page, the API, the command line, exports.

:mod:`access_rules.service` decides what a reader may see of the charts: searches
leave out the restricted documents the reader has not opened (break the glass),
listings show them as stubs, and every answer is audited once. The views and the
CLI call it; none of them filters results itself.
"""

from access_rules.service import (
    Reader,
    SearchAnswer,
    Stub,
    hidden_documents,
    may_open,
    patient_documents,
    search,
)

__all__ = ["Reader", "SearchAnswer", "Stub", "hidden_documents", "may_open",
           "patient_documents", "search"]

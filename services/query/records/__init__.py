"""ListRecords and GetRecord.

A page of records is one set of rows, however it is read: the records passing every filter, in the
order asked for, from where the page token says. How to read it depends on the filters and on
what the newest records say of the search, and is decided apart from reading it:

- query.py: the request, parsed and resolved (RecordQuery); estimate.py: the sample of the
  newest records (Estimate);
- choose.py: the pure choice of a plan from those two;
- plans/: one module per way of reading, with its SQL (plans/__init__.py lists them); clauses.py
  holds the SQL every plan shares, spread.py how records spread over time;
- reads.py: RecordReads, the API's side: parse, resolve, choose, read, then the page's scores.
"""

"""OpsDesk benchmark: a fast dataset generator and a harness that times the app against bare SQL.

``python -m bench.generate --orders N --db PATH`` writes a realistic database;
``python -m bench --orders N --out FILE.json`` measures the queue, the lookups, ingest and
the queue page under AppTest (DESIGN.md section 2, targets from the benchmark issue).
"""

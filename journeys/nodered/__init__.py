"""Critical User Journeys of Node-RED 4.1 with adminAuth on (docs/nodered.md).

Each module declares journeys with the public `prober` API only; `_nodered.py` holds what they
share about Node-RED: its admin API, its editor's selectors, per-run flows and the sweep.
"""

"""Critical User Journeys of the reference workflow platform (`prober sandbox`).

Every module here declares journeys with the public `prober` API only; `_platform.py` holds what
they share about this platform (its pages' test ids, its API, the canvas fixture).
"""

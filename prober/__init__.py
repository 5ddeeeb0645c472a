"""cuj-prober: synthetic probes for the Critical User Journeys of a workflow platform."""

__version__ = "0.1.0"

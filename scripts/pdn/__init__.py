"""pdn: automation for Indonesia's national data centres (Pusat Data Nasional)."""

__version__ = "0.1.0"

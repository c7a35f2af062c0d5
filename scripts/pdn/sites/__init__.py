"""The national site model: typed models, loader with line-accurate errors, topology rules."""

from pdn.sites.loader import SiteFileError, load_sites, parse_sites
from pdn.sites.model import Site, SiteModel
from pdn.sites.rules import Violation, check

__all__ = ["Site", "SiteFileError", "SiteModel", "Violation", "check", "load_sites", "parse_sites"]

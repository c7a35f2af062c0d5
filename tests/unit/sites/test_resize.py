"""A resized copy of the site model: only the one pool changes, the repository's file never."""

from __future__ import annotations

from pathlib import Path

from pdn import paths
from pdn.sites import load_sites
from pdn.sites.resize import resized_model


def test_only_the_named_pool_changes_and_the_model_stays_valid(tmp_path: Path) -> None:
    before = paths.sites_file().read_bytes()
    path = resized_model(tmp_path, "ikn", 1)
    original, resized = load_sites(), load_sites(path)
    assert paths.sites_file().read_bytes() == before
    for site in original.sites:
        other = resized.site(site.id)
        pools = [(p.name, p.replicas) for p in other.kubernetes.worker_pools]
        expected = [(p.name, p.replicas) for p in site.kubernetes.worker_pools]
        if site.id == "ikn":
            expected[0] = (expected[0][0], 1)
        assert pools == expected
    assert resized_model(tmp_path, "ikn", 2) != path  # a new file per size: the loader caches by path


def test_a_copy_at_another_release_lists_the_one_it_moves_from(tmp_path: Path) -> None:
    path = resized_model(tmp_path, "ikn", 1, version="v1.34.4", upgrade_from=("v1.34.3",))
    site = load_sites(path).site("ikn")
    assert site.kubernetes.version == "v1.34.4" and site.kubernetes.versions == ["v1.34.3", "v1.34.4"]
    assert resized_model(tmp_path, "ikn", 1, version="v1.34.3") != path
    assert load_sites(resized_model(tmp_path, "ikn", 1, version="v1.34.3")).site("ikn").kubernetes.versions == [
        "v1.34.3"
    ]

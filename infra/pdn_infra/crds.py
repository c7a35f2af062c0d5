"""Install the pinned CRDs (Cluster API, Velero) into lab and CI clusters.

In production the management cluster runs the real Cluster API and Velero installations, which
own their CRDs; lab and CI clusters have neither, so the stack installs the CRDs itself to let a
real API server validate every object it creates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pdn.stacks.crds import needed_crds


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("status", None)
    return doc


class CrdBundle(pulumi.ComponentResource):
    """One ``CustomResourceDefinition`` resource per needed kind."""

    def __init__(
        self,
        name: str,
        crd_dir: str,
        opts: pulumi.ResourceOptions | None = None,
        groups: tuple[str, ...] | None = None,
    ) -> None:
        """``groups``: only the CRDs of these API groups (a cluster whose Cluster API CRDs belong
        to its management plane gets Velero's only)."""
        super().__init__("pdn:infra:CrdBundle", name, None, opts)
        self.crds: list[pulumi.Resource] = []
        for _, found in needed_crds(Path(crd_dir)):
            if groups is not None and found["spec"]["group"] not in groups:
                continue
            doc = _strip(found)
            crd_name = doc["metadata"]["name"]
            self.crds.append(
                k8s.apiextensions.v1.CustomResourceDefinition(
                    f"{name}-{crd_name}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=crd_name, annotations=doc["metadata"].get("annotations")),
                    spec=doc["spec"],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.register_outputs({"count": len(self.crds)})

"""The local sovereign lab: per site a real Kubernetes control plane, kwok nodes and MinIO.

``pdn.lab.endpoints`` tells how to reach a site; ``pdn.lab.runtime`` starts and stops it. See
docs/lab.md.
"""

"""Pulumi components of the PDN site stacks.

One program serves the four site stacks; every difference between sites comes from the site
model (``stacks/sites.yaml``) and the stack config (``stacks/Pulumi.<site>.yaml``).
"""

"""Cluster API in the lab: the management plane that reconciles a site stack's Cluster."""

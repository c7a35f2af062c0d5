"""Legacy migration toolkit: inventory -> duplicates and super apps -> waves -> manifests -> data.

One module per stage; every stage reads files, writes files into an output folder and never
touches its inputs. ``pdn migrate --help`` lists the stages in pipeline order.
"""

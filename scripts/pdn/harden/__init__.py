"""Node hardening: run the playbooks (``pdn harden``) and judge the result (``pdn harden report``)."""

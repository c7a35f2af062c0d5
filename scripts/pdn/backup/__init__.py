"""Cross-region backup: status of each site's backups and the restore drill on a partner site."""

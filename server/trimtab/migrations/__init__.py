"""The migrations folder (journal, snapshots, checksums), tracking table, runner."""

"""Proxmox Backup Server behaviours, by resource (what PBS shares with PDM is in `restserver`).

- `model`: datastores, their backup snapshots (seeded per datastore as a list at
  `/admin/datastore/{store}/snapshots`), usage and garbage, and the syncs that keep
  `/config/...` and `/admin/...` agreeing;
- `datastores`: `/config/datastore` and `/admin/datastore`, status, usage and RRD;
- `contents`: snapshots, groups, notes, protection, owners and namespaces of a datastore;
- `maintenance`: garbage collection, prune and verify as worker tasks whose effects land in
  state, and the job status views.
"""

"""Proxmox Datacenter Manager behaviours, by resource: the remotes it manages and the views over them.

A real PDM asks its remotes, and so does the mock when a remote is live (remote_client.py:
every one of its `nodes` names a loopback host, or it says `live: true`): its resources,
guests, their status and config, power actions, migration, snapshots, tasks and task logs
(`/pve/remotes/...`), its datastores, snapshots and status (`/pbs/remotes/...`) and its
part of `/resources/list`, `/resources/status`, `/resources/subscription` and
`/resources/top-entities` are the remote's own answers, asked over HTTPS with the remote's
token and kept for `limits.remote_cache`; what PDM does to it, it does on the remote. A
remote that fails is answered as PDM answers it (a 400 with the error; in `/resources/list`
an entry with `error` and no resources). Any other remote answers from what the scenario
declares it has:

- `/remotes/remote`: the managed remotes (`id`, `type` pve|pbs, `nodes`, `authid`, `token`).
  Adding one through the API (POST) makes it managed; deleting it forgets it (its declared
  data stays, so adding it again shows the same resources).
- `/pve/remotes/{id}/resources`: what a PVE remote has, as PVE's `/cluster/resources` lists
  it (entries of type node, qemu, lxc, storage with node, vmid, name, status, cpu, maxmem...).
  Items seeded at `/pve/remotes/{id}/nodes`, `/qemu`, `/lxc` and
  `/nodes/{node}/storage` are merged in, so either spelling works. Every per-remote view
  (nodes, guests, guest status and config, cluster status, storage) is derived from it, and
  guest operations (start, stop, shutdown, migrate, ...) run as tasks on the remote (UPIDs
  `REMOTE!UPID:...` in the remote's own format) whose effects change it.
- `/pbs/remotes/{id}/datastore`: what a PBS remote has (items keyed by `datastore`, with
  optional `total`/`used` bytes), its snapshots at `.../datastore/{ds}/snapshots` and its
  node at `/pbs/remotes/{id}/status`.
- `/resources/list`, `/resources/status`, `/resources/subscription`,
  `/resources/top-entities` and `/remotes/tasks/...` are computed over the managed remotes.

Modules: `model` (remote configs and what each remote has, kept derived), `remotes` (remote
configuration), `pve_remotes` and `pbs_remotes` (per-remote views), `tasks` (remote tasks),
`operations` (guest power, migration and other workers on a remote), `resources` (the views
over all remotes), `remote_client` (asking live remotes), `passthrough` (the other GETs of a
live remote, asked at the same place on it).
"""

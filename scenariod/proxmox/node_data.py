"""What a freshly installed node holds: its hardware, packages, services and appliance list.

Data only (node.py builds the answers from it), modelled on a PVE 9 node installed on a
small server: two onboard NICs, `vmbr0` over the first, two SATA SSDs, no subscription.
"""

from __future__ import annotations

from typing import Any

GiB = 1024**3

# Physical NICs (the installer bridges the first into vmbr0) and the bridge's network.
NICS = ("eno1", "eno2")
BRIDGE = "vmbr0"
NETWORK: dict[str, Any] = {
    "prefix": "192.0.2",
    "gateway": "192.0.2.1",
    "bits": 24,
    "first_host": 10,
}
DNS = {"search": "example.com", "dns1": "192.0.2.1", "dns2": "1.1.1.1"}
DOMAIN = "example.com"
PRICING_URLS = {
    "pve": "https://www.proxmox.com/en/proxmox-virtual-environment/pricing",
    "pbs": "https://www.proxmox.com/en/proxmox-backup-server/pricing",
    "pdm": "https://www.proxmox.com/en/proxmox-datacenter-manager/pricing",
}
TIMEZONE = "Europe/Vienna"

DISKS: tuple[dict[str, Any], ...] = (
    {
        "devpath": "/dev/sda",
        "model": "Samsung_SSD_870_EVO_1TB",
        "vendor": "ATA",
        "size": 1000204886016,
        "rpm": 0,
        "type": "ssd",
        "used": "BIOS boot",
        "gpt": 1,
        "wearout": 99,
    },
    {
        "devpath": "/dev/sdb",
        "model": "Samsung_SSD_870_EVO_1TB",
        "vendor": "ATA",
        "size": 1000204886016,
        "rpm": 0,
        "type": "ssd",
        "used": "",
        "gpt": 0,
        "wearout": 100,
    },
    {
        "devpath": "/dev/nvme0n1",
        "model": "KINGSTON SNV2S1000G",
        "vendor": "unknown",
        "size": 1000204886016,
        "rpm": 0,
        "type": "nvme",
        "used": "LVM",
        "gpt": 1,
        "wearout": 98,
    },
)

# systemd units `GET /nodes/{node}/services` lists: (service, description, running).
SERVICES: tuple[tuple[str, str, bool], ...] = (
    ("chrony", "chrony, an NTP client/server", True),
    ("corosync", "Corosync Cluster Engine", True),
    ("cron", "Regular background program processing daemon", True),
    ("ksmtuned", "Kernel Samepage Merging (KSM) Tuning Daemon", True),
    ("postfix", "Postfix Mail Transport Agent (instance -)", True),
    ("pve-cluster", "The Proxmox VE cluster filesystem", True),
    ("pve-firewall", "Proxmox VE firewall", True),
    ("pve-ha-crm", "PVE Cluster HA Resource Manager Daemon", True),
    ("pve-ha-lrm", "PVE Local HA Resource Manager Daemon", True),
    ("pvedaemon", "PVE API Daemon", True),
    ("pvefw-logger", "Proxmox VE firewall logger", True),
    ("pveproxy", "PVE API Proxy Server", True),
    ("pvescheduler", "Proxmox VE scheduler", True),
    ("pvestatd", "PVE Status Daemon", True),
    ("spiceproxy", "PVE SPICE Proxy Server", True),
    ("sshd", "OpenBSD Secure Shell server", True),
    ("syslog", "System Logging Service", True),
    ("systemd-journald", "Journal Service", True),
    ("systemd-timesyncd", "Network Time Synchronization", False),
)

# `pveversion -v` as `GET /nodes/{node}/apt/versions` lists it: (package, version, title).
PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("proxmox-ve", "9.0.0", "Proxmox Virtual Environment"),
    ("pve-manager", "9.2.0", "Proxmox Virtual Environment Management Tools"),
    ("proxmox-kernel-6.14", "6.14.8-2", "Latest Proxmox Kernel Image"),
    ("ceph-fuse", "19.2.3-pve1", "FUSE-based client for the Ceph distributed file system"),
    ("corosync", "3.1.9-pve2", "cluster engine daemon and utilities"),
    ("libpve-access-control", "9.0.3", "Proxmox VE access control library"),
    ("libpve-common-perl", "9.0.9", "Proxmox VE base library"),
    ("libpve-storage-perl", "9.0.13", "Proxmox VE storage management library"),
    ("lxc-pve", "6.0.5-1", "Linux containers userspace tools"),
    ("proxmox-backup-client", "4.0.14-1", "Proxmox Backup Client tools"),
    ("pve-container", "6.0.13", "Proxmox VE Container management tool"),
    ("pve-firewall", "6.0.3", "Proxmox VE Firewall"),
    ("pve-ha-manager", "5.0.5", "Proxmox VE HA Manager"),
    ("pve-qemu-kvm", "10.0.2-4", "Full virtualization on x86 hardware"),
    ("qemu-server", "9.0.22", "Qemu Server Tools"),
    ("zfsutils-linux", "2.3.4-pve1", "command-line tools to manage OpenZFS filesystems"),
)

# Pending upgrades `GET /nodes/{node}/apt/update` lists: (package, old, new, title).
UPDATES: tuple[tuple[str, str, str, str], ...] = (
    ("pve-manager", "9.2.0", "9.2.1", "Proxmox Virtual Environment Management Tools"),
    ("qemu-server", "9.0.22", "9.0.23", "Qemu Server Tools"),
)

REPOSITORY_FILE = "/etc/apt/sources.list.d/proxmox.sources"
REPOSITORIES: tuple[dict[str, Any], ...] = (
    {
        "Types": ["deb"],
        "URIs": ["http://deb.debian.org/debian"],
        "Suites": ["trixie", "trixie-updates"],
        "Components": ["main", "contrib", "non-free-firmware"],
        "Enabled": 1,
        "FileType": "sources",
    },
    {
        "Types": ["deb"],
        "URIs": ["http://download.proxmox.com/debian/pve"],
        "Suites": ["trixie"],
        "Components": ["pve-no-subscription"],
        "Enabled": 1,
        "FileType": "sources",
    },
)
STANDARD_REPOS: tuple[dict[str, Any], ...] = (
    {"handle": "enterprise", "name": "Enterprise", "status": 0, "description": "The enterprise repository."},
    {"handle": "no-subscription", "name": "No-Subscription", "status": 1, "description": "Not for production use."},
    {"handle": "test", "name": "Test", "description": "Latest packages, for testing only."},
)

PCI_DEVICES: tuple[dict[str, Any], ...] = (
    {"id": "0000:00:00.0", "class": "0x060000", "vendor": "0x8086", "vendor_name": "Intel Corporation",
     "device": "0x3e30", "device_name": "8th Gen Core 8-core Desktop Processor Host Bridge", "iommugroup": 0},
    {"id": "0000:00:02.0", "class": "0x030000", "vendor": "0x8086", "vendor_name": "Intel Corporation",
     "device": "0x3e98", "device_name": "CoffeeLake-S GT2 [UHD Graphics 630]", "iommugroup": 1},
    {"id": "0000:00:17.0", "class": "0x010601", "vendor": "0x8086", "vendor_name": "Intel Corporation",
     "device": "0xa352", "device_name": "Cannon Lake PCH SATA AHCI Controller", "iommugroup": 5},
    {"id": "0000:00:1f.6", "class": "0x020000", "vendor": "0x8086", "vendor_name": "Intel Corporation",
     "device": "0x15bb", "device_name": "Ethernet Connection (7) I219-LM", "iommugroup": 9},
    {"id": "0000:01:00.0", "class": "0x010802", "vendor": "0x2646", "vendor_name": "Kingston Technology Company, Inc.",
     "device": "0x5017", "device_name": "NV2 NVMe SSD SM2267XT", "iommugroup": 10},
)  # fmt: skip

USB_DEVICES: tuple[dict[str, Any], ...] = (
    {"busnum": 1, "devnum": 1, "port": 0, "level": 0, "class": 9, "vendid": "1d6b", "prodid": "0002",
     "manufacturer": "Linux 6.14.8-2-pve xhci-hcd", "product": "xHCI Host Controller", "speed": "480",
     "usbpath": "1"},
    {"busnum": 1, "devnum": 2, "port": 4, "level": 1, "class": 0, "vendid": "046d", "prodid": "c31c",
     "manufacturer": "Logitech", "product": "USB Keyboard", "speed": "1.5", "usbpath": "1-4"},
)  # fmt: skip

CPU_MODELS: tuple[tuple[str, str], ...] = (
    ("host", "default"),
    ("kvm64", "default"),
    ("qemu64", "default"),
    ("x86-64-v2-AES", "default"),
    ("x86-64-v3", "default"),
    ("x86-64-v4", "default"),
    ("Broadwell", "GenuineIntel"),
    ("Cascadelake-Server", "GenuineIntel"),
    ("Haswell", "GenuineIntel"),
    ("Icelake-Server", "GenuineIntel"),
    ("SapphireRapids", "GenuineIntel"),
    ("Skylake-Server", "GenuineIntel"),
    ("EPYC", "AuthenticAMD"),
    ("EPYC-Genoa", "AuthenticAMD"),
    ("EPYC-Milan", "AuthenticAMD"),
    ("EPYC-Rome", "AuthenticAMD"),
)

# QEMU machine versions (`pc-q35-X.Y`, `pc-i440fx-X.Y`), newest first.
MACHINE_VERSIONS = ("10.0", "9.2", "9.1", "9.0", "8.2", "8.1", "8.0")

# The appliance index (`pveam available`), as http://download.proxmox.com/images/aplinfo-pve-9.dat.
APPLIANCES_URL = "http://download.proxmox.com/images"
APPLIANCES: tuple[dict[str, Any], ...] = (
    {"os": "debian-12", "package": "debian-12-standard", "version": "12.12-1",
     "headline": "Debian 12 Bookworm (standard)", "section": "system",
     "file": "system/debian-12-standard_12.12-1_amd64.tar.zst"},
    {"os": "debian-13", "package": "debian-13-standard", "version": "13.1-2",
     "headline": "Debian 13 Trixie (standard)", "section": "system",
     "file": "system/debian-13-standard_13.1-2_amd64.tar.zst"},
    {"os": "ubuntu-24.04", "package": "ubuntu-24.04-standard", "version": "24.04-2",
     "headline": "Ubuntu 24.04 Noble (standard)", "section": "system",
     "file": "system/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"},
    {"os": "ubuntu-22.04", "package": "ubuntu-22.04-standard", "version": "22.04-1",
     "headline": "Ubuntu 22.04 Jammy (standard)", "section": "system",
     "file": "system/ubuntu-22.04-standard_22.04-1_amd64.tar.zst"},
    {"os": "alpine-3.22", "package": "alpine-3.22-default", "version": "20250617",
     "headline": "Alpine Linux 3.22 (default)", "section": "system",
     "file": "system/alpine-3.22-default_20250617_amd64.tar.xz"},
    {"os": "rockylinux-9", "package": "rockylinux-9-default", "version": "20240912",
     "headline": "Rocky Linux 9 (default)", "section": "system",
     "file": "system/rockylinux-9-default_20240912_amd64.tar.xz"},
    {"os": "archlinux", "package": "archlinux-base", "version": "20240911-1",
     "headline": "ArchLinux base image", "section": "system",
     "file": "system/archlinux-base_20240911-1_amd64.tar.zst"},
    {"os": "debian-12", "package": "turnkey-wordpress", "version": "18.2-1",
     "headline": "TurnKey WordPress", "section": "turnkeylinux",
     "file": "turnkeylinux/debian-12-turnkey-wordpress_18.2-1_amd64.tar.gz"},
)  # fmt: skip

LOG_UNITS: tuple[tuple[str, str], ...] = (
    ("systemd[1]", "Started pvestatd.service - PVE Status Daemon."),
    ("pvedaemon[{pid}]", "<root@pam> successful auth for user 'root@pam'"),
    ("pveproxy[{pid}]", "worker {pid2} started"),
    ("pmxcfs[{pid}]", "[status] notice: received log"),
    ("chronyd[{pid}]", "Selected source 192.0.2.1"),
    ("pvescheduler[{pid}]", "starting server"),
    ("systemd[1]", "Starting apt-daily.service - Daily apt download activities..."),
    ("kernel", "vmbr0: port 1(eno1) entered forwarding state"),
)

# A PBS host's disks as `GET /nodes/{node}/disks/list` shows them (its own schema).
PBS_DISKS: tuple[dict[str, Any], ...] = (
    {"name": "sda", "devpath": "/dev/sda", "disk-type": "ssd", "model": "Samsung SSD 870 EVO 500GB",
     "vendor": "ATA", "size": 500107862016, "used": "partitions", "gpt": 1, "rpm": 0, "wearout": 2.0},
    {"name": "sdb", "devpath": "/dev/sdb", "disk-type": "hdd", "model": "WDC WD80EFZZ-68BTXN0",
     "vendor": "ATA", "size": 8001563222016, "used": "zfs", "gpt": 1, "rpm": 5400},
    {"name": "sdc", "devpath": "/dev/sdc", "disk-type": "hdd", "model": "WDC WD80EFZZ-68BTXN0",
     "vendor": "ATA", "size": 8001563222016, "used": "zfs", "gpt": 1, "rpm": 5400},
)  # fmt: skip

# A PBS or PDM host: its address on the network above, its packages and (PBS) its services.
REST_HOST_OCTET = {"pbs": 20, "pdm": 30}
REST_PACKAGES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pbs": (
        ("proxmox-backup", "4.0.0", "Proxmox Backup Server metapackage"),
        ("proxmox-backup-server", "4.0.16-1", "Proxmox Backup Server daemon with tools and GUI"),
        ("proxmox-backup-client", "4.0.16-1", "Proxmox Backup Client tools"),
        ("proxmox-kernel-6.14", "6.14.8-2", "Latest Proxmox Kernel Image"),
        ("proxmox-widget-toolkit", "5.0.5", "Core Widgets and Mixins for Proxmox Web GUIs"),
        ("zfsutils-linux", "2.3.4-pve1", "command-line tools to manage OpenZFS filesystems"),
    ),
    "pdm": (
        ("proxmox-datacenter-manager", "1.0.1", "Proxmox Datacenter Manager API and daemon"),
        ("proxmox-datacenter-manager-ui", "1.0.1", "Proxmox Datacenter Manager web interface"),
        ("proxmox-kernel-6.14", "6.14.8-2", "Latest Proxmox Kernel Image"),
        ("proxmox-widget-toolkit", "5.0.5", "Core Widgets and Mixins for Proxmox Web GUIs"),
    ),
}
REST_UPDATES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "pbs": (("proxmox-backup-server", "4.0.16-1", "4.0.18-1", "Proxmox Backup Server daemon with tools and GUI"),),
    "pdm": (("proxmox-datacenter-manager", "1.0.1", "1.0.2", "Proxmox Datacenter Manager API and daemon"),),
}
PBS_SERVICES: tuple[tuple[str, str, bool], ...] = (
    ("chrony", "chrony, an NTP client/server", True),
    ("postfix", "Postfix Mail Transport Agent (instance -)", True),
    ("proxmox-backup", "Proxmox Backup API Server", True),
    ("proxmox-backup-proxy", "Proxmox Backup API Proxy Server", True),
    ("sshd", "OpenBSD Secure Shell server", True),
    ("syslog", "System Logging Service", True),
    ("systemd-journald", "Journal Service", True),
    ("systemd-timesyncd", "Network Time Synchronization", False),
)

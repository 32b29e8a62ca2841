package kmod

// BootModules are the modules the homestaker init loads on every boot,
// whatever the devices: what the boot needs and no device's modalias
// asks for (the volume's filesystems, the tunnel's tun), and the disk
// drivers for devices found asynchronously, after the controller's driver
// has probed and so often after the last coldplug scan: sd_mod for every
// SCSI disk (SATA behind ahci, the HBAs' disks, USB mass storage),
// usb_storage and uas for USB disks. The initramfs builder carries them
// in every initramfs, also one built for a single machine.
var BootModules = []string{"btrfs", "ext4", "xfs", "tun", "sd_mod", "usb_storage", "uas"}

// VLANModule is loaded too when the kernel command line asks for a VLAN
// (vlan=): no device asks for it either.
const VLANModule = "8021q"
